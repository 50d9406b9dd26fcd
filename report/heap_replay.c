/* heap_replay.c - one streaming pass over a trace's EVENTS/STACK/MODULE records (see heap_replay.h).
 *
 * What each stack held at the heap's peak is caught on the way, without a second pass to the peak: every new peak
 * only bumps peak_version, and a stack about to change first saves what it holds if it has not changed since the
 * latest peak (its figure then is still the peak's). A stack not changed since then holds its peak figure at the
 * end. Replaying the trace a second time up to the peak (as before) cost as much again as the first pass. */
#define _GNU_SOURCE
#include "heap_replay.h"
#include "../common/alloc.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../traces/reader.h"
#include "event_match.h"
#include "pycode.h"
#include "symbolize.h"

struct site {
    struct tq_heap_site pub;
    uint64_t live;        /* bytes held now, during the pass */
    uint64_t live_blocks; /* blocks held now, during the pass */
    uint64_t at_peak;     /* bytes held at the latest peak, valid when version == the replay's peak_version */
    double var_at_peak;   /* var_live then */
    uint64_t version;
    double est_calls, var_alloc, var_live, est_live_blocks; /* sampled traces: estimates and their variances */
};

struct tq_heap_replay {
    const char *path;
    struct tq_event_match *match; /* frees matched to allocations, and the live blocks */
    struct site *sites; /* indexed by stack id */
    size_t nsites;
    struct tq_symbolizer *sym;
    struct tq_pycodes py; /* Python code objects (PYCODE records) named by Python frames */
    uint64_t total_live, peak_live, peak_t_ns, peak_event, event, events_with_stack;
    uint64_t peak_version; /* new peaks so far */
    bool until_snapshot; /* stop the pass at the first SNAPSHOT record */
    struct tq_trace_summary *summary; /* read in the same pass (opts.summary), or NULL */
    bool summary_samples;
    struct tq_heap_replay_facts facts; /* AGGREGATE, END, KILLED, SNAPSHOT records seen; PROCESS.sample_bytes */
    uint64_t last_alloc; /* key of the latest allocation while no free followed it (0: none) */
};

/* Ids are dense small integers in practice; refuse absurd ones rather than allocate gigabytes. */
enum { MAX_STACK_ID = 1 << 24 };

static tq_status site_of(struct tq_heap_replay *r, uint32_t id, struct site **out, struct tq_err *err)
{
    if (id >= MAX_STACK_ID)
        return tq_fail(err, TQ_ERR_FORMAT, "%s: stack id %u out of range", r->path, id);
    if (id >= r->nsites) {
        size_t n = (size_t)id + 1 > r->nsites * 2 ? (size_t)id + 1 : r->nsites * 2;
        struct site *s = tq_realloc(r->sites, n * sizeof *s);
        if (!s)
            return tq_fail(err, TQ_ERR_NOMEM, "out of memory for stacks");
        memset(s + r->nsites, 0, (n - r->nsites) * sizeof *s);
        for (size_t i = r->nsites; i < n; i++)
            s[i].pub.stack_id = (uint32_t)i;
        r->sites = s;
        r->nsites = n;
    }
    *out = &r->sites[id];
    return TQ_OK;
}

static bool is_alloc(unsigned k)
{
    return k == TQ_CALL_MALLOC || k == TQ_CALL_CALLOC || k == TQ_CALL_POSIX_MEMALIGN || k == TQ_CALL_ALIGNED_ALLOC ||
           k == TQ_CALL_MEMALIGN || k == TQ_CALL_VALLOC || k == TQ_CALL_PVALLOC;
}

/* What a recorded allocation of s bytes stands for (FORMAT.md PROCESS): s itself when every allocation is recorded,
 * else s / P(recorded) = s / (1 - exp(-s / sample_bytes)), the Horvitz-Thompson weight that keeps sums unbiased. */
static double weight_of(const struct tq_heap_replay *r, uint64_t s)
{
    if (!r->facts.sample_bytes || !s)
        return (double)s;
    return (double)s / -expm1(-(double)s / (double)r->facts.sample_bytes);
}

/* Whether a recorded allocation of s bytes stands for exactly s: every allocation recorded, and s a whole number as
 * a double (below 2^53), so that weight_of and llround would give s back and add nothing to the variances. */
static bool exact(const struct tq_heap_replay *r, uint64_t s)
{
    return !r->facts.sample_bytes && s < ((uint64_t)1 << 53);
}

/* Before a stack's figures change: keep what it held at the latest peak if it has not changed since. */
static void note_peak(const struct tq_heap_replay *r, struct site *s)
{
    if (s->version != r->peak_version) {
        s->at_peak = s->live;
        s->var_at_peak = s->var_live;
        s->version = r->peak_version;
    }
}

/* A free (or a realloc's old block) of the block named key: m says whether a live block was released, and which. */
static void release(struct tq_heap_replay *r, uint64_t key, const struct tq_matched_event *m)
{
    bool temporary = key && key == r->last_alloc;
    r->last_alloc = 0; /* any free ends the "nothing allocated in between" window, as heaptrack's does */
    if (m->released && m->released_stack < r->nsites) {
        uint64_t size = m->released_size;
        struct site *s = &r->sites[m->released_stack];
        note_peak(r, s);
        if (exact(r, size)) { /* the sums below with w = size, without the floating point */
            s->est_live_blocks -= 1;
        } else {
            double w = weight_of(r, size);
            s->var_live -= w * w - w * (double)size;
            s->est_live_blocks -= size ? w / (double)size : 1;
            size = (uint64_t)llround(w);
        }
        s->live -= size;
        s->live_blocks--;
        r->total_live -= size;
        if (temporary) {
            s->pub.temporary_calls++;
            s->pub.temporary_bytes += size;
        }
    }
}

static tq_status acquire(struct tq_heap_replay *r, const struct tq_event *ev, struct tq_err *err)
{
    struct site *s;
    TQ_TRY(site_of(r, ev->stack_id, &s, err));
    uint64_t bytes = ev->size;
    note_peak(r, s);
    if (exact(r, ev->size)) { /* the sums below with w = size, without the floating point */
        s->est_calls += 1;
        s->est_live_blocks += 1;
    } else {
        double w = weight_of(r, ev->size);
        bytes = (uint64_t)llround(w);
        s->est_calls += ev->size ? w / (double)ev->size : 1;
        s->var_alloc += w * w - w * (double)ev->size;
        s->var_live += w * w - w * (double)ev->size;
        s->est_live_blocks += ev->size ? w / (double)ev->size : 1;
    }
    s->pub.allocated_bytes += bytes;
    s->pub.calls++;
    r->last_alloc = ev->addr;
    s->live += bytes;
    s->live_blocks++;
    r->total_live += bytes;
    return TQ_OK;
}

/* Apply one heap event; other kinds (mmap family) are not heap and are skipped. */
static tq_status replay(struct tq_heap_replay *r, const struct tq_matched_event *m, struct tq_err *err)
{
    const struct tq_event *ev = &m->ev;
    unsigned k = ev->kind;
    if (k == TQ_CALL_FREE) {
        release(r, ev->addr, m);
    } else if (k == TQ_CALL_REALLOC || k == TQ_CALL_REALLOCARRAY) {
        release(r, ev->old_addr, m);
        if (ev->addr)
            TQ_TRY(acquire(r, ev, err));
    } else if (is_alloc(k) && ev->addr) {
        TQ_TRY(acquire(r, ev, err));
    } else {
        return TQ_OK;
    }
    r->events_with_stack += ev->stack_id != 0;
    r->event++;
    if (r->total_live > r->peak_live) {
        r->peak_version++;
        r->peak_live = r->total_live;
        r->peak_event = r->event;
        r->peak_t_ns = ev->t_ns;
    }
    return TQ_OK;
}

/* Apply the batch ev[0..n) and the matcher's next ones (replay's one caller: it stays inlined in this loop). */
static tq_status replay_all(struct tq_heap_replay *r, const struct tq_matched_event *ev, uint32_t n,
                            struct tq_err *err)
{
    while (n) {
        for (uint32_t i = 0; i < n; i++)
            TQ_TRY(replay(r, &ev[i], err));
        TQ_TRY(tq_event_match_more(r->match, &ev, &n, err));
    }
    return TQ_OK;
}

static tq_status on_events(struct tq_heap_replay *r, const struct tq_rec *rec, struct tq_err *err)
{
    const struct tq_matched_event *ev;
    uint32_t n;
    TQ_TRY(tq_event_match_record(r->match, r->path, rec, &ev, &n, err));
    return replay_all(r, ev, n, err);
}

static tq_status on_stack(struct tq_heap_replay *r, const struct tq_rec *rec, struct tq_err *err)
{
    struct tq_rec_stack s;
    struct site *site;
    if (tq_rec_get_stack(rec, &s))
        return tq_fail(err, TQ_ERR_FORMAT, "%s: corrupt STACK record", r->path);
    TQ_TRY(site_of(r, s.id, &site, err));
    if (site->pub.ips) /* a repeated STACK record keeps the first */
        return TQ_OK;
    uint64_t *ips = tq_malloc((s.depth ? s.depth : 1) * sizeof *ips);
    if (!ips)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory for stacks");
    for (uint32_t i = 0; i < s.depth; i++)
        ips[i] = tq_rec_stack_ip(&s, i);
    site->pub.ips = ips;
    site->pub.depth = s.depth;
    return TQ_OK;
}

static tq_status on_module(struct tq_heap_replay *r, const struct tq_rec *rec, struct tq_err *err)
{
    struct tq_rec_module m;
    if (tq_rec_get_module(rec, &m))
        return tq_fail(err, TQ_ERR_FORMAT, "%s: corrupt MODULE record", r->path);
    char *path = tq_strndup(m.path, m.path_len);
    if (!path)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory for modules");
    tq_status st = tq_symbolizer_add_mapping(r->sym, m.start, m.end, m.offset, path, err);
    free(path);
    return st;
}

static tq_status on_pycode(struct tq_heap_replay *r, const struct tq_rec *rec, struct tq_err *err)
{
    struct tq_rec_pycode c;
    if (tq_rec_get_pycode(rec, &c))
        return tq_fail(err, TQ_ERR_FORMAT, "%s: corrupt PYCODE record", r->path);
    return tq_pycodes_add(&r->py, &c, err);
}

/* Cumulative per-stack totals of record --aggregate: the last record of a stack holds its final figures. */
static tq_status on_aggregate(struct tq_heap_replay *r, const struct tq_rec *rec, struct tq_err *err)
{
    struct tq_rec_aggregate a;
    if (tq_rec_get_aggregate(rec, &a))
        return tq_fail(err, TQ_ERR_FORMAT, "%s: corrupt AGGREGATE record", r->path);
    for (uint32_t i = 0; i < a.count; i++) {
        struct tq_agg_entry e = tq_rec_aggregate_entry(&a, i);
        struct site *s;
        TQ_TRY(site_of(r, e.stack_id, &s, err));
        s->pub.allocated_bytes = e.bytes;
        s->pub.calls = e.calls;
        s->pub.peak_bytes = e.peak_bytes;
    }
    r->peak_live = a.heap_peak;
    r->peak_t_ns = a.peak_t_ns;
    r->facts.aggregated = true;
    return TQ_OK;
}

/* The events still held for their place in the order (event_match.h), at the end of the pass or at a snapshot:
 * every event read before that point is replayed. */
static tq_status on_held_events(struct tq_heap_replay *r, struct tq_err *err)
{
    const struct tq_matched_event *ev;
    uint32_t n;
    TQ_TRY(tq_event_match_finish(r->match, r->path, &ev, &n, err));
    return replay_all(r, ev, n, err);
}

/* The pass over the records (to the first SNAPSHOT record with until_snapshot). */
static tq_status pass(struct tq_heap_replay *r, struct tq_err *err)
{
    struct tq_trace_reader *rd;
    TQ_TRY(tq_trace_open(r->path, &rd, err));
    struct tq_rec rec;
    bool done = false, stop = false;
    tq_status st = r->summary ? tq_trace_summary_begin(r->summary, r->path, r->summary_samples, err) : TQ_OK;
    while (!st && !stop && !(st = tq_trace_next(rd, &rec, &done, err)) && !done) {
        if (r->summary && (st = tq_trace_summary_add(r->summary, &rec, err)))
            break;
        if (TQ_REC_HAS_EVENTS(rec.type))
            st = on_events(r, &rec, err);
        else if (rec.type == TQ_REC_STACK)
            st = on_stack(r, &rec, err);
        else if (rec.type == TQ_REC_MODULE)
            st = on_module(r, &rec, err);
        else if (rec.type == TQ_REC_AGGREGATE)
            st = on_aggregate(r, &rec, err);
        else if (rec.type == TQ_REC_PYCODE)
            st = on_pycode(r, &rec, err);
        else if (rec.type == TQ_REC_END)
            r->facts.ended = true;
        else if (rec.type == TQ_REC_KILLED)
            r->facts.killed = true;
        else if (rec.type == TQ_REC_SNAPSHOT && r->until_snapshot) {
            r->facts.at_snapshot = true;
            stop = true;
        }
        else if (rec.type == TQ_REC_PROCESS) {
            struct tq_rec_process p;
            if (tq_rec_get_process(&rec, &p))
                st = tq_fail(err, TQ_ERR_FORMAT, "%s: corrupt PROCESS record", r->path);
            else
                r->facts.sample_bytes = p.sample_bytes;
            if (!st && !(p.flags & TQ_PROC_FORKED)) /* the process's order numbers start with its trace */
                tq_event_match_begins_at(r->match, 0);
        }
        if (st)
            break;
    }
    if (r->summary)
        st = tq_trace_summary_finish(r->summary, rd, st, err);
    tq_trace_close(rd);
    if (!st)
        st = on_held_events(r, err);
    return st;
}

/* What each stack held at the peak (see the file comment). */
static void keep_peak(struct tq_heap_replay *r)
{
    for (size_t i = 0; i < r->nsites; i++) {
        struct site *s = &r->sites[i];
        note_peak(r, s);
        s->pub.peak_bytes = s->at_peak;
        s->pub.peak_err = sqrt(fmax(s->var_at_peak, 0));
    }
}

/* --python-only: every stack keeps its Python frames only (a stack without any keeps its innermost native frame,
 * so that it still has a name). Fails with TQ_ERR_USAGE when the trace has no Python frames at all. */
static tq_status keep_python_frames(struct tq_heap_replay *r, struct tq_err *err)
{
    bool any = false;
    for (size_t i = 0; i < r->nsites; i++) {
        struct tq_heap_site *s = &r->sites[i].pub;
        uint64_t *ips = (uint64_t *)s->ips;
        uint32_t k = 0;
        for (uint32_t j = 0; j < s->depth; j++)
            if (TQ_IS_PYFRAME(ips[j]))
                ips[k++] = ips[j];
        any |= k > 0;
        if (k > 0 || s->depth == 0)
            s->depth = k;
        else
            s->depth = 1; /* ips[0], the innermost native frame, is where it was */
    }
    if (!any)
        return tq_fail(err, TQ_ERR_USAGE, "%s has no Python frames: --python-only needs a CPython 3.11 process "
                       "recorded with traceq record --stacks", r->path);
    return TQ_OK;
}

tq_status tq_heap_replay_run(const char *path, struct tq_heap_replay **out, struct tq_err *err)
{
    return tq_heap_replay_run_opts(path, false, out, err);
}

tq_status tq_heap_replay_run_opts(const char *path, bool python_only, struct tq_heap_replay **out,
                                  struct tq_err *err)
{
    struct tq_heap_replay_opts o = {.python_only = python_only};
    return tq_heap_replay_run_with(path, &o, out, err);
}

tq_status tq_heap_replay_run_with(const char *path, const struct tq_heap_replay_opts *o, struct tq_heap_replay **out,
                                  struct tq_err *err)
{
    bool python_only = o->python_only;
    if (o->summary) /* nothing to free in it until the pass begins it */
        memset(o->summary, 0, sizeof *o->summary);
    struct tq_heap_replay *r = tq_calloc(1, sizeof *r);
    if (!r)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory");
    r->path = path;
    r->until_snapshot = o->until_snapshot;
    r->summary = o->summary;
    r->summary_samples = o->summary_samples;
    r->sym = tq_symbolizer_new();
    tq_status st = r->sym ? TQ_OK : tq_fail(err, TQ_ERR_NOMEM, "out of memory");
    if (!st && r->summary && r->until_snapshot)
        st = tq_fail(err, TQ_ERR_USAGE, "a summary is read with the whole trace, not up to its snapshot");
    if (!st)
        st = tq_event_match_new(&r->match, err);
    if (!st)
        st = pass(r, err);
    if (!st && r->until_snapshot && !r->facts.at_snapshot)
        st = tq_fail(err, TQ_ERR_USAGE, "%s has no snapshot: record it with traceq record --snapshot-at", path);
    if (!st && r->events_with_stack == 0 && !r->facts.aggregated)
        st = tq_fail(err, TQ_ERR_USAGE, "%s was recorded without stacks; record it with traceq record --stacks",
                     path);
    if (!st && !r->facts.aggregated) { /* what the first pass left live is what the program never freed */
        for (size_t i = 0; i < r->nsites; i++) {
            struct site *s = &r->sites[i];
            s->pub.leaked_bytes = s->live;
            s->pub.leaked_blocks =
                r->facts.sample_bytes ? (uint64_t)llround(fmax(s->est_live_blocks, 0)) : s->live_blocks;
            s->pub.leaked_err = sqrt(fmax(s->var_live, 0));
            s->pub.allocated_err = sqrt(fmax(s->var_alloc, 0));
            if (r->facts.sample_bytes)
                s->pub.calls = (uint64_t)llround(s->est_calls);
        }
        keep_peak(r); /* --aggregate traces carry their peak figures */
    }
    if (!st && python_only)
        st = keep_python_frames(r, err);
    if (st) {
        if (r->summary)
            tq_trace_summary_clear(r->summary);
        tq_heap_replay_free(r);
        return st;
    }
    tq_event_match_free(r->match); /* not needed after the replay */
    r->match = NULL;
    *out = r;
    return TQ_OK;
}

size_t tq_heap_replay_count(const struct tq_heap_replay *r)
{
    return r->nsites;
}

const struct tq_heap_site *tq_heap_replay_site(const struct tq_heap_replay *r, size_t i)
{
    return &r->sites[i].pub;
}

uint64_t tq_heap_replay_peak(const struct tq_heap_replay *r)
{
    return r->peak_live;
}

uint64_t tq_heap_replay_peak_t_ns(const struct tq_heap_replay *r)
{
    return r->peak_t_ns;
}

/* A Python frame: "qualname (file.py:line)", with " [GIL released; Python stack as of the release]" for the innermost
 * Python frame of a thread that allocated without the GIL (the shim keeps the stack it had when it released it). */
static char *python_frame(struct tq_heap_replay *r, uint64_t ip, int with_line, char *buf, size_t size)
{
    uint32_t instr = TQ_PYFRAME_INSTR(ip);
    const char *nogil = instr & TQ_PYFRAME_NOGIL ? " [GIL released; Python stack as of the release]" : "";
    const struct tq_pycode *c = tq_pycodes_get(&r->py, TQ_PYFRAME_CODE(ip));
    if (!c) {
        snprintf(buf, size, "<python code %u>%s", TQ_PYFRAME_CODE(ip), nogil);
        return buf;
    }
    const char *file = strrchr(c->file, '/');
    int line = tq_pycode_line(c, instr & ~TQ_PYFRAME_NOGIL);
    if (with_line && line >= 0)
        snprintf(buf, size, "%s (%s:%d)%s", c->name, file ? file + 1 : c->file, line, nogil);
    else
        snprintf(buf, size, "%s%s", c->name, nogil);
    return buf;
}

uint32_t tq_heap_replay_site_frame(const struct tq_heap_replay *r, const struct tq_heap_site *s)
{
    (void)r;
    for (uint32_t i = 0; i < s->depth; i++)
        if (TQ_IS_PYFRAME(s->ips[i]))
            return i;
    return 0;
}

bool tq_heap_replay_is_python(const struct tq_heap_site *s, uint32_t i)
{
    return i < s->depth && TQ_IS_PYFRAME(s->ips[i]);
}

uint32_t tq_heap_replay_python_unsupported(const struct tq_heap_replay *r)
{
    return r->py.unsupported ? r->py.python : 0;
}

char *tq_heap_replay_frame(struct tq_heap_replay *r, const struct tq_heap_site *s, uint32_t i, int with_line,
                           char *buf, size_t size)
{
    if (TQ_IS_PYFRAME(s->ips[i]))
        return python_frame(r, s->ips[i], with_line, buf, size);
    uint64_t ip = s->ips[i], at = i == 0 ? ip : ip - 1;
    struct tq_symbol sym;
    if (!tq_symbolizer_lookup(r->sym, at, &sym)) {
        snprintf(buf, size, "0x%" PRIx64, ip);
    } else if (sym.function) {
        const char *file = sym.file ? strrchr(sym.file, '/') : NULL;
        if (with_line && sym.file)
            snprintf(buf, size, "%s (%s:%d)", sym.function, file ? file + 1 : sym.file, sym.line);
        else
            snprintf(buf, size, "%s", sym.function);
    } else {
        const char *slash = strrchr(sym.module, '/');
        snprintf(buf, size, "%s+0x%" PRIx64, slash ? slash + 1 : sym.module, sym.offset + (ip - at));
    }
    return buf;
}

bool tq_heap_replay_lookup(struct tq_heap_replay *r, const struct tq_heap_site *s, uint32_t i, struct tq_symbol *out)
{
    if (TQ_IS_PYFRAME(s->ips[i])) {
        const struct tq_pycode *c = tq_pycodes_get(&r->py, TQ_PYFRAME_CODE(s->ips[i]));
        memset(out, 0, sizeof *out);
        if (!c)
            return false;
        *out = (struct tq_symbol){.function = c->name, .file = c->file, .module = c->file,
                                  .line = tq_pycode_line(c, TQ_PYFRAME_INSTR(s->ips[i]) & ~TQ_PYFRAME_NOGIL)};
        return true;
    }
    return tq_symbolizer_lookup(r->sym, i == 0 ? s->ips[i] : s->ips[i] - 1, out);
}

const struct tq_heap_replay_facts *tq_heap_replay_facts(const struct tq_heap_replay *r)
{
    return &r->facts;
}

void tq_heap_replay_free(struct tq_heap_replay *r)
{
    if (!r)
        return;
    tq_event_match_free(r->match);
    for (size_t i = 0; i < r->nsites; i++)
        free((void *)r->sites[i].pub.ips);
    free(r->sites);
    tq_symbolizer_free(r->sym);
    tq_pycodes_clear(&r->py);
    free(r);
}
