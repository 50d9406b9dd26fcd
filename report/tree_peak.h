/* tree_peak.h - a process tree's memory over time, all processes at once: at every sample of any of them, the sum
 * of what each live process held at its last sample; and the highest such sum.
 *
 * A command's processes rarely peak together (a shell script's steps run one after another), so the sum of their
 * own peaks overstates what the tree needs at once. Each trace's samples are placed on one clock (its start time,
 * CLOCK_REALTIME, plus the samples' monotonic offsets); a process holds its last sample until its trace ends (its
 * last timestamp: END, EXEC, GAP or sample), and nothing after. For TQ_TREE_RSS, a process never sampled (shorter
 * than one interval) holds its VmHWM over its whole life. At equal times processes start before others end, so two
 * that touch are counted together. `traceq report` of several traces, `traceq sweep --cmd` and the shim backend of
 * `traceq compare` use it, from the summaries they read the traces into (report/trace_summary.h). */
#ifndef TQ_TREE_PEAK_H
#define TQ_TREE_PEAK_H

#include <stddef.h>
#include <stdint.h>

#include "../common/status.h"
#include "trace_summary.h"

enum tq_tree_figure {
    TQ_TREE_RSS,       /* sampled VmRSS */
    TQ_TREE_HEAP_MMAP, /* live heap (requested bytes) + live mmap bytes, as the shim counts them */
};

struct tq_tree_peak {
    uint64_t peak;         /* the highest sum of the processes' figures at one moment (bytes) */
    uint64_t t_unix_ns;    /* when (CLOCK_REALTIME) */
    uint64_t t0_unix_ns;   /* the first trace's start */
    uint64_t sum_of_peaks; /* the sum of each process's own sampled peak: an upper bound of peak */
};

/* Called at each change of the tree's total, in time order: when (ns since out->t0_unix_ns) and the total then. */
typedef tq_status (*tq_tree_step_fn)(uint64_t t_ns, uint64_t total, void *ctx, struct tq_err *err);

/* The timeline of the n traces summarized in s[0..n) with their samples (tq_trace_summarize_samples: each trace is
 * read once, for its summary and this), into *out, calling step (when not NULL) along it; own_peaks (when not NULL)
 * gets each trace's own sampled peak. Memory: 16 bytes per sample of all of them. TQ_ERR_NOMEM when the samples do
 * not fit, TQ_ERR_USAGE for a summary without its samples; step's own failure is returned as it is. */
tq_status tq_tree_timeline(const struct tq_trace_summary *s, size_t n, enum tq_tree_figure fig, tq_tree_step_fn step,
                           void *ctx, struct tq_tree_peak *out, uint64_t *own_peaks, struct tq_err *err);

#endif
