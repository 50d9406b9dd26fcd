/* export_folded.c - `traceq export --format folded`: "root;...;leaf bytes" per call stack, weighed by heap bytes
 * held at the heap peak or allocated in total. Replays the allocation events (record --stacks) twice: once to
 * find the peak, once to stop at it. Memory grows with live blocks and distinct stacks, not trace length. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../traces/reader.h"
#include "export.h"
#include "live_map.h"
#include "symbolize.h"

struct stack_info {
    uint64_t *ips; /* innermost first */
    uint32_t depth;
    uint64_t allocated, live;
};

struct folded {
    const char *path;
    struct tq_live_map *live;
    struct stack_info *stacks; /* indexed by stack id */
    size_t nstacks;
    struct tq_symbolizer *sym;
    uint64_t total_live, peak_live, peak_event, event, events_with_stack;
    bool stop_at_peak; /* second pass: stop after event number peak_event */
};

/* Ids are dense small integers in practice; refuse absurd ones rather than allocate gigabytes. */
enum { MAX_STACK_ID = 1 << 24 };

static tq_status stack_slot(struct folded *f, uint32_t id, struct stack_info **out, struct tq_err *err)
{
    if (id >= MAX_STACK_ID)
        return tq_fail(err, TQ_ERR_FORMAT, "%s: stack id %u out of range", f->path, id);
    if (id >= f->nstacks) {
        size_t n = (size_t)id + 1 > f->nstacks * 2 ? (size_t)id + 1 : f->nstacks * 2;
        struct stack_info *s = realloc(f->stacks, n * sizeof *s);
        if (!s)
            return tq_fail(err, TQ_ERR_NOMEM, "out of memory for stacks");
        memset(s + f->nstacks, 0, (n - f->nstacks) * sizeof *s);
        f->stacks = s;
        f->nstacks = n;
    }
    *out = &f->stacks[id];
    return TQ_OK;
}

static bool is_alloc(unsigned k)
{
    return k == TQ_CALL_MALLOC || k == TQ_CALL_CALLOC || k == TQ_CALL_POSIX_MEMALIGN || k == TQ_CALL_ALIGNED_ALLOC ||
           k == TQ_CALL_MEMALIGN || k == TQ_CALL_VALLOC || k == TQ_CALL_PVALLOC;
}

static void release(struct folded *f, uint64_t addr)
{
    uint64_t size;
    uint32_t stack;
    if (tq_live_map_take(f->live, addr, &size, &stack) && stack < f->nstacks) {
        f->stacks[stack].live -= size;
        f->total_live -= size;
    }
}

static tq_status acquire(struct folded *f, const struct tq_event *ev, struct tq_err *err)
{
    struct stack_info *s;
    TQ_TRY(stack_slot(f, ev->stack_id, &s, err));
    if (!tq_live_map_put(f->live, ev->addr, ev->size, ev->stack_id))
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory for live blocks");
    s->allocated += ev->size;
    s->live += ev->size;
    f->total_live += ev->size;
    return TQ_OK;
}

/* Apply one heap event (mmap family events are not heap and are left out). */
static tq_status replay(struct folded *f, const struct tq_event *ev, struct tq_err *err)
{
    unsigned k = ev->kind;
    if (k == TQ_CALL_FREE) {
        release(f, ev->addr);
    } else if (k == TQ_CALL_REALLOC || k == TQ_CALL_REALLOCARRAY) {
        release(f, ev->old_addr);
        if (ev->addr)
            TQ_TRY(acquire(f, ev, err));
    } else if (is_alloc(k) && ev->addr) {
        TQ_TRY(acquire(f, ev, err));
    } else {
        return TQ_OK;
    }
    f->events_with_stack += ev->stack_id != 0;
    f->event++;
    if (f->total_live > f->peak_live) {
        f->peak_live = f->total_live;
        f->peak_event = f->event;
    }
    return TQ_OK;
}

static tq_status on_events(struct folded *f, const struct tq_rec *rec, bool *stop, struct tq_err *err)
{
    struct tq_rec_events e;
    struct tq_events_iter it;
    struct tq_event ev;
    if (tq_rec_get_events(rec, &e, &it))
        return tq_fail(err, TQ_ERR_FORMAT, "%s: corrupt EVENTS record", f->path);
    int r;
    while ((r = tq_events_next(&it, &ev)) == 1) {
        TQ_TRY(replay(f, &ev, err));
        if (f->stop_at_peak && f->event == f->peak_event) {
            *stop = true;
            return TQ_OK;
        }
    }
    return r < 0 ? tq_fail(err, TQ_ERR_FORMAT, "%s: corrupt event", f->path) : TQ_OK;
}

static tq_status on_stack(struct folded *f, const struct tq_rec *rec, struct tq_err *err)
{
    struct tq_rec_stack s;
    struct stack_info *si;
    if (tq_rec_get_stack(rec, &s))
        return tq_fail(err, TQ_ERR_FORMAT, "%s: corrupt STACK record", f->path);
    TQ_TRY(stack_slot(f, s.id, &si, err));
    if (si->ips) /* the second pass meets the same records again */
        return TQ_OK;
    if (!(si->ips = malloc((s.depth ? s.depth : 1) * sizeof *si->ips)))
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory for stacks");
    for (uint32_t i = 0; i < s.depth; i++)
        si->ips[i] = tq_rec_stack_ip(&s, i);
    si->depth = s.depth;
    return TQ_OK;
}

static tq_status on_module(struct folded *f, const struct tq_rec *rec, struct tq_err *err)
{
    struct tq_rec_module m;
    if (tq_rec_get_module(rec, &m))
        return tq_fail(err, TQ_ERR_FORMAT, "%s: corrupt MODULE record", f->path);
    char *path = strndup(m.path, m.path_len);
    if (!path)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory for modules");
    tq_status st = tq_symbolizer_add_mapping(f->sym, m.start, m.end, m.offset, path, err);
    free(path);
    return st;
}

/* One pass over the records; the second pass ignores modules (already known). */
static tq_status pass(struct folded *f, bool first, struct tq_err *err)
{
    struct tq_trace_reader *r;
    TQ_TRY(tq_trace_open(f->path, &r, err));
    struct tq_rec rec;
    bool done = false, stop = false;
    tq_status st;
    while (!stop && !(st = tq_trace_next(r, &rec, &done, err)) && !done) {
        if (rec.type == TQ_REC_EVENTS)
            st = on_events(f, &rec, &stop, err);
        else if (rec.type == TQ_REC_STACK)
            st = on_stack(f, &rec, err);
        else if (rec.type == TQ_REC_MODULE && first)
            st = on_module(f, &rec, err);
        if (st)
            break;
    }
    tq_trace_close(r);
    return st;
}

/* The function of a frame when symbols are found, else "libfoo.so+0x1234" inside a known module, else the
 * raw "0x7f..." address. Every frame but the innermost is a return address: look up ip - 1, the call itself. */
static void frame_name(const struct folded *f, uint64_t ip, bool innermost, FILE *out)
{
    struct tq_symbol sym;
    uint64_t at = innermost ? ip : ip - 1;
    if (!tq_symbolizer_lookup(f->sym, at, &sym)) {
        fprintf(out, "0x%" PRIx64, ip);
    } else if (sym.function) {
        fputs(sym.function, out);
    } else {
        const char *slash = strrchr(sym.module, '/');
        fprintf(out, "%s+0x%" PRIx64, slash ? slash + 1 : sym.module, sym.offset + (ip - at));
    }
}

static tq_status write_folded(const struct folded *f, enum tq_folded_by by, FILE *out, struct tq_err *err)
{
    for (size_t id = 0; id < f->nstacks; id++) {
        const struct stack_info *s = &f->stacks[id];
        uint64_t w = by == TQ_FOLDED_PEAK ? s->live : s->allocated;
        if (w == 0)
            continue;
        if (id == 0 || s->depth == 0)
            fputs("[no stack]", out);
        /* Folded lines go root first; stacks are stored innermost first. */
        for (uint32_t i = s->depth; i-- > 0;) {
            frame_name(f, s->ips[i], i == 0, out);
            if (i)
                fputc(';', out);
        }
        fprintf(out, " %" PRIu64 "\n", w);
    }
    return ferror(out) ? tq_fail(err, TQ_ERR_IO, "cannot write the folded stacks") : TQ_OK;
}

static void folded_clear(struct folded *f)
{
    tq_live_map_free(f->live);
    for (size_t i = 0; i < f->nstacks; i++)
        free(f->stacks[i].ips);
    free(f->stacks);
    tq_symbolizer_free(f->sym);
}

/* The second pass starts from an empty heap: forget the live blocks and counts of the first. */
static tq_status reset_for_peak(struct folded *f, struct tq_err *err)
{
    tq_live_map_free(f->live);
    if (!(f->live = tq_live_map_new()))
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < f->nstacks; i++)
        f->stacks[i].allocated = f->stacks[i].live = 0;
    f->total_live = 0;
    f->event = 0;
    f->stop_at_peak = true;
    return TQ_OK;
}

tq_status tq_export_folded(const char *path, enum tq_folded_by by, FILE *out, struct tq_err *err)
{
    struct folded f = {.path = path, .live = tq_live_map_new(), .sym = tq_symbolizer_new()};
    if (!f.live || !f.sym) {
        folded_clear(&f);
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory");
    }
    tq_status st = pass(&f, true, err);
    if (!st && f.events_with_stack == 0)
        st = tq_fail(err, TQ_ERR_USAGE, "%s was recorded without stacks; record it with traceq record --stacks "
                                        "to export folded stacks", path);
    if (!st && by == TQ_FOLDED_PEAK && f.peak_event > 0) {
        st = reset_for_peak(&f, err);
        if (!st)
            st = pass(&f, false, err);
    }
    if (!st)
        st = write_folded(&f, by, out, err);
    folded_clear(&f);
    return st;
}
