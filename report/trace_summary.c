/* trace_summary.c - fold a trace's records, one at a time, into a struct tq_trace_summary (see trace_summary.h). */
#include "trace_summary.h"
#include "../common/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/printable.h"
#include "../common/units.h"
#include "../traces/reader.h"

/* *field = a copy of a record's string text[0..len), the one it held freed. */
static tq_status summary_keep_string(struct tq_trace_summary *s, char **field, const char *text, uint32_t len,
                                     struct tq_err *err)
{
    free(*field);
    if (!(*field = tq_strndup(text, len)))
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory reading %s", s->path);
    return TQ_OK;
}

static tq_status summary_process(struct tq_trace_summary *s, const struct tq_rec *rec, struct tq_err *err)
{
    struct tq_rec_process p;
    if (tq_rec_get_process(rec, &p))
        return tq_fail(err, TQ_ERR_FORMAT, "%s: corrupt PROCESS record", s->path);
    if (s->exe)
        return tq_fail(err, TQ_ERR_FORMAT, "%s: corrupt trace: a second PROCESS record", s->path);
    s->pid = p.pid;
    s->ppid = p.ppid;
    s->start_unix_ns = p.start_unix_ns;
    s->interval_us = p.interval_us;
    s->page_size = p.page_size;
    s->flags = p.flags;
    s->exe = tq_strndup(p.exe, p.exe_len);
    /* argc is bounded by the record length (each argument takes at least 4 bytes), so this cannot overflow. */
    s->argv = tq_calloc((size_t)p.argc + 1, sizeof *s->argv);
    if (!s->exe || !s->argv)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory reading %s", s->path);
    for (uint32_t i = 0; i < p.argc; i++) {
        const char *a;
        uint32_t n;
        if (tq_rec_process_arg(&p, i, &a, &n) || !(s->argv[i] = tq_strndup(a, n)))
            return tq_fail(err, TQ_ERR_NOMEM, "out of memory reading %s", s->path);
        s->argc = (int)i + 1;
    }
    return TQ_OK;
}

/* Raise the heap (requested, usable) and mmap peaks to a SAMPLE's or END's figures, stamping new peaks with t_ns. */
static void summary_heap_mmap(struct tq_trace_summary *s, uint64_t heap_peak, uint64_t heap_usable, uint64_t mmap_peak,
                              uint64_t t_ns)
{
    if (heap_peak > s->peak_heap) {
        s->peak_heap = heap_peak;
        s->peak_heap_t_ns = t_ns;
    }
    if (heap_usable > s->peak_heap_usable)
        s->peak_heap_usable = heap_usable;
    if (mmap_peak > s->peak_mmap) {
        s->peak_mmap = mmap_peak;
        s->peak_mmap_t_ns = t_ns;
    }
}

/* The trace has reached t_ns. */
static void summary_reach(struct tq_trace_summary *s, uint64_t t_ns)
{
    if (t_ns > s->duration_ns)
        s->duration_ns = t_ns;
}

/* What a SAMPLE or an END at t says: its peaks (RSS at rss_t, heap and mmap at t) raise the summary's, and its live
 * heap and mmap are the latest. */
static void summary_figures(struct tq_trace_summary *s, uint64_t rss, uint64_t rss_t, uint64_t heap_req,
                            uint64_t heap_usable, uint64_t mmap_peak, uint64_t heap_live, uint64_t mmap_live,
                            uint64_t t)
{
    if (rss > s->peak_rss) {
        s->peak_rss = rss;
        s->peak_rss_t_ns = rss_t;
        s->shim_at_peak_rss = s->shim_last < rss ? s->shim_last : rss;
    }
    summary_heap_mmap(s, heap_req, heap_usable, mmap_peak, t);
    s->final_heap = heap_live;
    s->final_mmap = mmap_live;
    summary_reach(s, t);
}

/* Keep a sample's figures (keep_points). */
static tq_status summary_point(struct tq_trace_summary *s, const struct tq_rec_sample *x, struct tq_err *err)
{
    if (s->samples == s->points_cap) {
        size_t cap = s->points_cap ? 2 * s->points_cap : 256;
        struct tq_summary_point *v = tq_realloc(s->points, cap * sizeof *v);
        if (!v)
            return tq_fail(err, TQ_ERR_NOMEM, "out of memory for %zu samples of %s", cap, s->path);
        s->points = v;
        s->points_cap = cap;
    }
    int64_t held = x->heap_live_req + x->mmap_live;
    s->points[s->samples] = (struct tq_summary_point){x->t_ns, x->vm_rss, held > 0 ? (uint64_t)held : 0};
    return TQ_OK;
}

static void summary_sample(struct tq_trace_summary *s, const struct tq_rec_sample *x)
{
    s->samples++;
    s->shim_last = x->shim_bytes;
    summary_figures(s, x->vm_rss, x->t_ns, x->heap_peak_req, x->heap_peak_usable, x->mmap_peak, x->heap_live_req,
                    x->mmap_live, x->t_ns);
    if (x->calls_total > s->calls_total)
        s->calls_total = x->calls_total;
}

static void summary_end(struct tq_trace_summary *s, const struct tq_rec_end *e)
{
    s->ending = e->reason == TQ_END_UEXIT ? TQ_ENDED_UEXIT : TQ_ENDED_EXIT;
    s->exit_status = e->status;
    s->vm_hwm = e->vm_hwm;
    s->vm_peak = e->vm_peak;
    s->ru_maxrss = e->ru_maxrss;
    summary_figures(s, e->rss_peak, e->rss_peak_t_ns, e->heap_peak_req, e->heap_peak_usable, e->mmap_peak,
                    e->heap_live_req, e->mmap_live, e->t_ns);
}

static void summary_gap(struct tq_trace_summary *s, const struct tq_rec_gap *g)
{
    if (s->gaps < TQ_SUMMARY_GAPS)
        s->gap[s->gaps] = *g;
    s->gaps++;
    s->lost_bytes += g->lost_bytes;
    summary_reach(s, g->t_ns);
    if (g->cause == TQ_GAP_NO_ROOM) {
        if (!s->no_room)
            s->no_room_t_ns = g->t_ns;
        s->no_room = true;
    } else if (g->cause == TQ_GAP_UNREACHABLE) {
        if (!s->unreachable) {
            s->unreachable_t_ns = g->t_ns;
            s->unreachable_uid = g->uid;
            s->unreachable_gid = g->gid;
        }
        s->unreachable = true;
    } else if (g->cause == TQ_GAP_CLOSED || g->cause == TQ_GAP_REPLACED) {
        if (!s->reopened)
            s->first_reopen_t_ns = g->t_ns;
        s->reopened++;
    }
}

/* Apply one record; anything after END/EXEC reopens the ending (a failed exec continues the trace). */
static tq_status summary_record(struct tq_trace_summary *s, const struct tq_rec *rec, struct tq_err *err)
{
    struct tq_rec_sample x;
    struct tq_rec_calls c;
    struct tq_rec_end e;
    struct tq_rec_exec ex;
    if (rec->type != TQ_REC_PROCESS && rec->type <= TQ_REC_MODULE && s->ending != TQ_ENDED_UNKNOWN)
        s->ending = TQ_ENDED_UNKNOWN;
    switch (rec->type) {
    case TQ_REC_PROCESS:
        return summary_process(s, rec, err);
    case TQ_REC_SAMPLE:
        if (tq_rec_get_sample(rec, &x))
            break;
        if (s->keep_points)
            TQ_TRY(summary_point(s, &x, err));
        summary_sample(s, &x);
        return TQ_OK;
    case TQ_REC_CALLS: {
        if (tq_rec_get_calls(rec, &c))
            break;
        uint64_t total = 0;
        for (unsigned i = 0; i < TQ_CALL_COUNT; i++)
            total += (s->calls[i] = c.count[i]);
        if (total > s->calls_total)
            s->calls_total = total;
        return TQ_OK;
    }
    case TQ_REC_END:
        if (tq_rec_get_end(rec, &e))
            break;
        summary_end(s, &e);
        return TQ_OK;
    case TQ_REC_EXEC:
        if (tq_rec_get_exec(rec, &ex))
            break;
        s->ending = TQ_ENDED_EXEC;
        summary_reach(s, ex.t_ns);
        return summary_keep_string(s, &s->exec_path, ex.path, ex.path_len, err);
    case TQ_REC_GAP: {
        struct tq_rec_gap g;
        if (tq_rec_get_gap(rec, &g))
            break;
        summary_gap(s, &g);
        return TQ_OK;
    }
    case TQ_REC_KILLED: {
        struct tq_rec_killed k;
        if (tq_rec_get_killed(rec, &k))
            break;
        s->killed = true;
        s->killed_cause = k.cause;
        s->killed_limit = k.limit;
        return summary_keep_string(s, &s->killed_where, k.where, k.where_len, err);
    }
    case TQ_REC_SNAPSHOT:
        if (tq_rec_get_snapshot(rec, &s->snap))
            break;
        s->snapshot = true;
        return TQ_OK;
    case TQ_REC_EVENTS: case TQ_REC_ADDR_EVENTS: case TQ_REC_PACKED_EVENTS: case TQ_REC_CTX_EVENTS: case TQ_REC_INFO_EVENTS:
    case TQ_REC_REPEAT_EVENTS:
        s->events++;
        return TQ_OK;
    case TQ_REC_STACK: s->stacks++; return TQ_OK;
    case TQ_REC_MODULE: s->modules++; return TQ_OK;
    default: return TQ_OK; /* FORMAT.md: unknown types are skipped */
    }
    return tq_fail(err, TQ_ERR_FORMAT, "%s: corrupt trace: record type %u does not decode (after %llu samples)",
                   s->path, rec->type, (unsigned long long)s->samples);
}

tq_status tq_trace_summary_begin(struct tq_trace_summary *s, const char *path, bool keep_points, struct tq_err *err)
{
    memset(s, 0, sizeof *s);
    s->ending = TQ_ENDED_UNKNOWN;
    s->keep_points = keep_points;
    if (!(s->path = tq_strdup(path)))
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory");
    return TQ_OK;
}

tq_status tq_trace_summary_add(struct tq_trace_summary *s, const struct tq_rec *rec, struct tq_err *err)
{
    return summary_record(s, rec, err);
}

tq_status tq_trace_summary_finish(struct tq_trace_summary *s, struct tq_trace_reader *r, tq_status st,
                                  struct tq_err *err)
{
    if (!st && !s->exe)
        st = tq_fail(err, TQ_ERR_TRUNCATED, "%s: truncated trace: no complete PROCESS record", s->path);
    s->truncated = !st && (tq_trace_truncated(r) || s->ending == TQ_ENDED_UNKNOWN);
    s->minor_version = tq_trace_minor_version(r);
    if (st)
        tq_trace_summary_clear(s);
    return st;
}

static tq_status summarize(const char *path, bool keep_points, struct tq_trace_summary *s, struct tq_err *err)
{
    struct tq_trace_reader *r;
    TQ_TRY(tq_trace_summary_begin(s, path, keep_points, err));
    tq_status st = tq_trace_open(path, &r, err);
    if (st) {
        tq_trace_summary_clear(s);
        return st;
    }
    bool done = false;
    struct tq_rec rec;
    while (!st && !(st = tq_trace_next(r, &rec, &done, err)) && !done)
        st = summary_record(s, &rec, err);
    st = tq_trace_summary_finish(s, r, st, err);
    tq_trace_close(r);
    return st;
}

tq_status tq_trace_summarize(const char *path, struct tq_trace_summary *s, struct tq_err *err)
{
    return summarize(path, false, s, err);
}

tq_status tq_trace_summarize_samples(const char *path, struct tq_trace_summary *s, struct tq_err *err)
{
    return summarize(path, true, s, err);
}

void tq_trace_summary_clear(struct tq_trace_summary *s)
{
    free(s->path);
    free(s->exe);
    free(s->exec_path);
    free(s->killed_where);
    for (int i = 0; s->argv && i < s->argc; i++)
        free(s->argv[i]);
    free(s->argv);
    free(s->points);
    memset(s, 0, sizeof *s);
}

char *tq_trace_summary_ending(const struct tq_trace_summary *s, char *buf, unsigned size)
{
    switch (s->ending) {
    case TQ_ENDED_EXIT: snprintf(buf, size, "exit status %d", s->exit_status); break;
    case TQ_ENDED_UEXIT: snprintf(buf, size, "_exit status %d", s->exit_status); break;
    case TQ_ENDED_EXEC: {
        char name[1024];
        snprintf(buf, size, "exec %s", tq_printable(s->exec_path, name, sizeof name));
        break;
    }
    case TQ_ENDED_UNKNOWN:
        if (s->killed) {
            char why[1200];
            snprintf(buf, size, "killed: %s; figures as of its last flush at %.3f s",
                     tq_trace_summary_killed(s, why, sizeof why), s->duration_ns / 1e9);
        } else {
            snprintf(buf, size, "none: trace ends without exit (killed?); figures as of its last flush at %.3f s",
                     s->duration_ns / 1e9);
        }
        break;
    }
    if (s->ending == TQ_ENDED_UNKNOWN && s->unreachable) {
        size_t n = strlen(buf);
        snprintf(buf + n, size - n,
                 "; at %.3f s the process changed to uid %u gid %u, which cannot reopen the trace: if the program "
                 "closed the trace's descriptor after that, the trace was lost there",
                 s->unreachable_t_ns / 1e9, s->unreachable_uid, s->unreachable_gid);
    }
    if (s->ending == TQ_ENDED_UNKNOWN && s->no_room) {
        size_t n = strlen(buf);
        snprintf(buf + n, size - n,
                 "; at %.3f s the program took the trace's descriptor number and no other was free: the trace was "
                 "probably lost there",
                 s->no_room_t_ns / 1e9);
    }
    if (s->truncated) {
        size_t n = strlen(buf);
        snprintf(buf + n, size - n, "; truncated after %llu samples", (unsigned long long)s->samples);
    }
    return buf;
}

char *tq_trace_summary_killed(const struct tq_trace_summary *s, char *buf, unsigned size)
{
    char lim[32], where[1024];
    tq_format_bytes(s->killed_limit, lim, sizeof lim);
    if (!s->killed)
        snprintf(buf, size, "%s", "");
    else if (s->killed_cause == TQ_KILLED_OOM_CGROUP)
        snprintf(buf, size, "OOM in cgroup %s (limit %s)", tq_printable(s->killed_where, where, sizeof where), lim);
    else if (s->killed_cause == TQ_KILLED_OOM_WATCHDOG)
        snprintf(buf, size, "OOM by the runner's RSS watchdog limit (limit %s)", lim);
    else
        snprintf(buf, size, "by the runner (cause %u, limit %s)", s->killed_cause, lim);
    return buf;
}

char *tq_trace_summary_snapshot(const struct tq_trace_summary *s, char *buf, unsigned size)
{
    static const char *const kinds[] = {"", "cgroup v2 memory.max", "cgroup v1 memory.limit_in_bytes", "RLIMIT_AS"};
    char a[32], b[32];
    const struct tq_rec_snapshot *x = &s->snap;
    tq_format_bytes(x->threshold, a, sizeof a);
    if (!s->snapshot)
        snprintf(buf, size, "%s", "");
    else if (x->limit_kind == TQ_SNAP_ABSOLUTE || x->limit_kind >= sizeof kinds / sizeof *kinds)
        snprintf(buf, size, "at %.3f s the process's memory first reached %s", x->t_ns / 1e9, a);
    else
        snprintf(buf, size, "at %.3f s the process's memory first reached %g%% of its %s limit of %s (%s)",
                 x->t_ns / 1e9, x->permille / 10.0, kinds[x->limit_kind], tq_format_bytes(x->limit, b, sizeof b), a);
    return buf;
}

const char *tq_gap_cause_name(uint32_t cause)
{
    switch (cause) {
    case TQ_GAP_CLOSED: return "closed";
    case TQ_GAP_REPLACED: return "replaced";
    case TQ_GAP_UNREACHABLE: return "unreachable";
    case TQ_GAP_NO_ROOM: return "no_room";
    }
    return "unknown";
}

char *tq_trace_summary_gaps(const struct tq_trace_summary *s, char *buf, unsigned size)
{
    buf[0] = 0;
    if (!s->gaps)
        return buf;
    size_t n = 0;
    if (s->reopened)
        n += (size_t)snprintf(buf, size,
                              "the program closed or replaced the trace's descriptor %u time%s (first at %.3f s); "
                              "the shim reopened the trace each time, %s",
                              s->reopened, s->reopened == 1 ? "" : "s", s->first_reopen_t_ns / 1e9,
                              s->lost_bytes ? "but some records were lost" : "nothing lost");
    if (s->unreachable && n < size)
        n += (size_t)snprintf(buf + n, size - n,
                              "%sat %.3f s the process changed to uid %u gid %u, which cannot reopen the trace",
                              n ? "; " : "", s->unreachable_t_ns / 1e9, s->unreachable_uid, s->unreachable_gid);
    if (s->no_room && n < size)
        snprintf(buf + n, size - n, "%sat %.3f s the program took the trace's descriptor number and no other was free",
                 n ? "; " : "", s->no_room_t_ns / 1e9);
    return buf;
}
