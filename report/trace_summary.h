/* trace_summary.h - read one trace (streaming) into the figures `traceq report` and the analyzer need. */
#ifndef TQ_TRACE_SUMMARY_H
#define TQ_TRACE_SUMMARY_H

#include <stdbool.h>
#include <stdint.h>

#include "../common/status.h"
#include "../traces/codec.h"

/* How a traced process ended, as far as its trace tells. */
enum tq_trace_ending {
    TQ_ENDED_EXIT,      /* END record: exit()/return from main; exit_status is valid */
    TQ_ENDED_UEXIT,     /* END record: _exit()/_Exit(); exit_status is valid */
    TQ_ENDED_EXEC,      /* last record is EXEC: the process became exec_path (its own trace follows) */
    TQ_ENDED_UNKNOWN,   /* no END record: killed (SIGKILL, OOM, abort...) or still running */
};

/* One SAMPLE's figures, kept in file order when asked (tq_trace_summarize_samples): the timeline of a process tree's
 * memory at once is built from them (report/tree_peak.h), without reading the trace again. */
struct tq_summary_point {
    uint64_t t_ns; /* since the trace's start */
    uint64_t rss;  /* VmRSS */
    uint64_t held; /* live heap (requested bytes) + live mmap, 0 when that is below 0 */
};

/* Everything one trace says. Strings are owned by the summary; free with tq_trace_summary_clear. */
struct tq_trace_summary {
    char *path;                 /* the trace file */
    uint32_t pid, ppid;
    char *exe;                  /* executable path as the process saw it */
    int argc;
    char **argv;                /* argc strings + NULL */
    uint64_t start_unix_ns;     /* wall-clock start */
    uint32_t interval_us;       /* sampling interval */
    uint32_t page_size;
    uint32_t flags;             /* TQ_PROC_* (forked child, stacks) */
    unsigned minor_version;

    uint64_t duration_ns;       /* last timestamp seen (END, EXEC or last sample) */
    uint64_t samples;           /* SAMPLE records */
    uint64_t peak_rss, peak_rss_t_ns;           /* highest sampled VmRSS (bytes) and when */
    uint64_t shim_at_peak_rss;                  /* of peak_rss, the profiler's own memory (0 before format 1.6) */
    uint64_t shim_last;                         /* the profiler's own memory in the last SAMPLE */
    uint64_t peak_heap, peak_heap_t_ns;         /* peak live heap, requested bytes, and when first seen */
    uint64_t peak_heap_usable;                  /* peak live heap, malloc_usable_size bytes */
    uint64_t peak_mmap, peak_mmap_t_ns;         /* peak live mmap bytes and when first seen */
    int64_t final_heap, final_mmap;             /* live heap (requested) and mmap at the end / last sample */
    uint64_t vm_hwm;            /* VmHWM from the END record (0 without one) */
    uint64_t vm_peak;           /* VmPeak from the END record */
    uint64_t ru_maxrss;         /* getrusage ru_maxrss in bytes from the END record */
    uint64_t calls[TQ_CALL_COUNT];              /* last CALLS record (cumulative) */
    uint64_t calls_total;                       /* sum of calls[] (or the last sample's total, if larger) */
    uint64_t events, stacks, modules;           /* record counts of the --stacks kinds */

    enum tq_trace_ending ending;
    int exit_status;            /* TQ_ENDED_EXIT / TQ_ENDED_UEXIT only */
    char *exec_path;            /* TQ_ENDED_EXEC only */
    bool truncated;             /* the file ends mid-frame/mid-record, or without END/EXEC */

    /* GAP records (FORMAT.md): the program took the trace's descriptor away, or made the file unreachable. */
    uint32_t gaps;                              /* all GAP records */
    uint32_t reopened;                          /* CLOSED/REPLACED: the shim reopened the trace */
    uint64_t first_reopen_t_ns;
    uint64_t lost_bytes;                        /* record bytes the shim says it could not keep */
    bool unreachable;                           /* UNREACHABLE: after a credential change, no reopening possible */
    uint64_t unreachable_t_ns;
    uint32_t unreachable_uid, unreachable_gid;
    bool no_room;                               /* NO_ROOM: the shim had to give its descriptor number up */
    uint64_t no_room_t_ns;
    /* KILLED (appended by `traceq run --trace-blocks` after the worker was reaped; FORMAT.md). */
    bool killed;
    uint32_t killed_cause;                      /* enum tq_killed_cause */
    uint64_t killed_limit;
    char *killed_where;                         /* the cgroup's path, "" for the watchdog */
    /* SNAPSHOT (record --snapshot-at): the first crossing of the threshold. */
    bool snapshot;
    struct tq_rec_snapshot snap;
#define TQ_SUMMARY_GAPS 16
    struct tq_rec_gap gap[TQ_SUMMARY_GAPS];     /* the first ones */
    /* tq_trace_summarize_samples only: every SAMPLE's figures, samples of them (owned; NULL otherwise). */
    struct tq_summary_point *points;
    size_t points_cap;
    bool keep_points;
};

/* Read the trace at path into *s (zeroed first). A truncated trace is not an error: s->truncated is set and the
 * figures cover what was readable. Fails with the reader's errors (TQ_ERR_IO, TQ_ERR_FORMAT, TQ_ERR_TRUNCATED,
 * TQ_ERR_NOMEM), or TQ_ERR_FORMAT for a record that does not decode; then *s holds nothing to free. */
tq_status tq_trace_summarize(const char *path, struct tq_trace_summary *s, struct tq_err *err);
/* The same, keeping every sample's figures in s->points[0..s->samples) (24 bytes a sample; TQ_ERR_NOMEM when they do
 * not fit). */
tq_status tq_trace_summarize_samples(const char *path, struct tq_trace_summary *s, struct tq_err *err);

/* A summary read in another pass over the trace's records (report/heap_replay.h's, for report --top: the trace is
 * read once): begin (*s zeroed; keep_points as tq_trace_summarize_samples), add each record in file order, then
 * finish with the pass's reader and status (st: the status so far, returned or replaced by the summary's own
 * failure). After a failure *s holds nothing to free. */
struct tq_trace_reader;
tq_status tq_trace_summary_begin(struct tq_trace_summary *s, const char *path, bool keep_points, struct tq_err *err);
tq_status tq_trace_summary_add(struct tq_trace_summary *s, const struct tq_rec *rec, struct tq_err *err);
tq_status tq_trace_summary_finish(struct tq_trace_summary *s, struct tq_trace_reader *r, tq_status st,
                                  struct tq_err *err);

/* Name of a GAP cause ("closed", "replaced", "unreachable", "no_room", "unknown"). Can't fail. */
const char *tq_gap_cause_name(uint32_t cause);

/* One line about the GAP records, e.g. "the program closed the trace's descriptor 2 times (first at 0.310 s);
 * reopened each time, nothing lost", into buf. Returns buf, "" when there were none. Can't fail. */
char *tq_trace_summary_gaps(const struct tq_trace_summary *s, char *buf, unsigned size);

/* "OOM in cgroup /sys/fs/cgroup/memory/traceq-12/worker0 (limit 64.0 MiB)" or "OOM by the RSS watchdog (limit
 * 64.0 MiB)" for a trace with a KILLED record, into buf. Returns buf, "" without one. Can't fail. */
char *tq_trace_summary_killed(const struct tq_trace_summary *s, char *buf, unsigned size);

/* "at 0.412 s the process reached 80% of the RLIMIT_AS limit of 512 MiB (409.6 MiB)", into buf. Returns buf, ""
 * without a SNAPSHOT record. Can't fail. */
char *tq_trace_summary_snapshot(const struct tq_trace_summary *s, char *buf, unsigned size);

/* Free what a summary owns and zero it. Safe on a zeroed summary. Can't fail. */
void tq_trace_summary_clear(struct tq_trace_summary *s);

/* One line describing how the trace ends, e.g. "exit status 0", or for a trace without END/EXEC "none: trace ends
 * without exit (killed?); figures as of its last flush at 1.200 s; truncated after 12 samples", or with a KILLED
 * record "killed: OOM in cgroup PATH (limit 64.0 MiB); figures as of ..." (plus why the trace
 * may have been lost when a credential change made it unreachable); an exec'd path is escaped for the terminal
 * (common/printable.h).
 * Writes into buf[size] and returns buf. Can't fail. */
char *tq_trace_summary_ending(const struct tq_trace_summary *s, char *buf, unsigned size);

#endif
