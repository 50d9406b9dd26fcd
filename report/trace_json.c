/* trace_json.c - build the JSON object of one trace summary with jansson (see trace_json.h). */
#include "trace_json.h"
#include "../common/alloc.h"

#include <stdlib.h>
#include <string.h>

static double secs(uint64_t ns)
{
    return (double)ns / 1e9;
}

static const char *ending_name(enum tq_trace_ending e)
{
    switch (e) {
    case TQ_ENDED_EXIT: return "exit";
    case TQ_ENDED_UEXIT: return "_exit";
    case TQ_ENDED_EXEC: return "exec";
    case TQ_ENDED_UNKNOWN: break;
    }
    return "unknown";
}

static json_t *calls_json(const struct tq_trace_summary *s)
{
    json_t *c = json_object();
    for (unsigned i = 0; c && i < TQ_CALL_COUNT; i++)
        json_object_set_new(c, tq_call_name(i), json_integer((json_int_t)s->calls[i]));
    return c;
}

json_t *tq_json_text(const char *s)
{
    if (!s)
        return json_null();
    json_t *j = json_string(s);
    if (j)
        return j;
    /* Not UTF-8: jansson refuses it, and the trace would vanish from the report (found by fuzz_trace). */
    size_t n = strlen(s);
    char *copy = tq_malloc(n + 1);
    if (!copy)
        return NULL;
    for (size_t i = 0; i <= n; i++)
        copy[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
    j = json_string(copy);
    free(copy);
    return j;
}

json_t *tq_trace_summary_json(const struct tq_trace_summary *s)
{
    json_t *argv = json_array();
    for (int i = 0; argv && i < s->argc; i++)
        json_array_append_new(argv, tq_json_text(s->argv[i]));
    json_t *o = json_pack("{s:o, s:i, s:i, s:o, s:o, s:f, s:f, s:f, s:I}", "path", tq_json_text(s->path), "pid",
                          (int)s->pid, "ppid", (int)s->ppid, "exe", tq_json_text(s->exe), "argv", argv ? argv : json_null(), "start_unix",
                          secs(s->start_unix_ns), "interval_s", (double)s->interval_us / 1e6, "duration_s",
                          secs(s->duration_ns), "samples", (json_int_t)s->samples);
    if (!o)
        return NULL;
    json_object_set_new(o, "peak_rss", json_integer((json_int_t)s->peak_rss));
    json_object_set_new(o, "peak_rss_at_s", json_real(secs(s->peak_rss_t_ns)));
    json_object_set_new(o, "vm_hwm", json_integer((json_int_t)s->vm_hwm));
    json_object_set_new(o, "profiler_rss_at_peak", json_integer((json_int_t)s->shim_at_peak_rss));
    json_object_set_new(o, "program_peak_rss", json_integer((json_int_t)(s->peak_rss - s->shim_at_peak_rss)));
    json_object_set_new(o, "ru_maxrss", json_integer((json_int_t)s->ru_maxrss));
    json_object_set_new(o, "peak_heap", json_integer((json_int_t)s->peak_heap));
    json_object_set_new(o, "peak_heap_at_s", json_real(secs(s->peak_heap_t_ns)));
    json_object_set_new(o, "peak_heap_usable", json_integer((json_int_t)s->peak_heap_usable));
    json_object_set_new(o, "peak_mmap", json_integer((json_int_t)s->peak_mmap));
    json_object_set_new(o, "peak_mmap_at_s", json_real(secs(s->peak_mmap_t_ns)));
    json_object_set_new(o, "final_heap", json_integer((json_int_t)s->final_heap));
    json_object_set_new(o, "final_mmap", json_integer((json_int_t)s->final_mmap));
    json_object_set_new(o, "calls_total", json_integer((json_int_t)s->calls_total));
    json_object_set_new(o, "calls", calls_json(s));
    json_object_set_new(o, "forked", json_boolean(s->flags & TQ_PROC_FORKED));
    json_object_set_new(o, "ending", json_string(ending_name(s->ending)));
    if (s->ending == TQ_ENDED_EXIT || s->ending == TQ_ENDED_UEXIT)
        json_object_set_new(o, "exit_status", json_integer(s->exit_status));
    if (s->exec_path)
        json_object_set_new(o, "exec_path", tq_json_text(s->exec_path));
    json_object_set_new(o, "truncated", json_boolean(s->truncated));
    /* Said plainly (issue 12/15): no END/EXEC record means the figures are those of the last flush. */
    json_object_set_new(o, "ended_without_exit", json_boolean(s->ending == TQ_ENDED_UNKNOWN));
    char line[1024];
    json_object_set_new(o, "ending_text", tq_json_text(tq_trace_summary_ending(s, line, sizeof line)));
    if (s->ending == TQ_ENDED_UNKNOWN)
        json_object_set_new(o, "last_flush_s", json_real(secs(s->duration_ns)));
    if (s->killed)
        json_object_set_new(o, "killed", json_pack("{s:s, s:o, s:I, s:o}", "cause",
                                                   s->killed_cause == TQ_KILLED_OOM_CGROUP ? "oom_cgroup"
                                                   : s->killed_cause == TQ_KILLED_OOM_WATCHDOG ? "oom_watchdog"
                                                                                               : "other",
                                                   "cgroup", tq_json_text(s->killed_where ? s->killed_where : ""),
                                                   "limit_bytes", (json_int_t)s->killed_limit, "text",
                                                   tq_json_text(tq_trace_summary_killed(s, line, sizeof line))));
    if (s->snapshot)
        json_object_set_new(o, "snapshot", json_pack("{s:f, s:I, s:I, s:i, s:I, s:o}", "at_s", secs(s->snap.t_ns),
                                                     "threshold_bytes", (json_int_t)s->snap.threshold, "limit_bytes",
                                                     (json_int_t)s->snap.limit, "permille", (int)s->snap.permille,
                                                     "value_bytes", (json_int_t)s->snap.value, "text",
                                                     tq_json_text(tq_trace_summary_snapshot(s, line, sizeof line))));
    json_object_set_new(o, "descriptor_reopened", json_integer((json_int_t)s->reopened));
    json_object_set_new(o, "trace_unreachable", json_boolean(s->unreachable));
    json_object_set_new(o, "descriptor_given_up", json_boolean(s->no_room));
    json_t *gaps = json_array();
    for (uint32_t i = 0; gaps && i < s->gaps && i < TQ_SUMMARY_GAPS; i++) {
        const struct tq_rec_gap *g = &s->gap[i];
        json_array_append_new(gaps, json_pack("{s:s, s:f, s:f, s:i, s:I, s:I, s:I}", "cause",
                                              tq_gap_cause_name(g->cause), "at_s", secs(g->t_ns), "since_s",
                                              secs(g->since_ns), "fd", (int)g->fd, "uid", (json_int_t)g->uid, "gid",
                                              (json_int_t)g->gid, "lost_bytes", (json_int_t)g->lost_bytes));
    }
    json_object_set_new(o, "gaps", gaps ? gaps : json_null());
    json_object_set_new(o, "events", json_integer((json_int_t)s->events));
    return o;
}
