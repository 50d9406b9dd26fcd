/* compare.h - `traceq compare`: run one command under several memory profilers and line up their peaks. */
#ifndef TQ_COMPARE_H
#define TQ_COMPARE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "../common/status.h"

/* The backends, in the order they run and are reported. See compare/BACKENDS.md for what each measures. */
enum tq_backend {
    TQ_BACKEND_SHIM,      /* traceq's own LD_PRELOAD trace: heap + mmap bytes */
    TQ_BACKEND_STATM,     /* /proc/PID/statm resident pages sampled from outside */
    TQ_BACKEND_HWM,       /* the kernel's RSS high-water mark, wait4() ru_maxrss */
    TQ_BACKEND_CGROUP,    /* the run in its own memory cgroup: max_usage_in_bytes / memory.peak (RSS truth) */
    TQ_BACKEND_MASSIF,    /* valgrind --tool=massif (heap mode): mem_heap_B + mem_heap_extra_B at the peak */
    TQ_BACKEND_HEAPTRACK, /* heaptrack + heaptrack_print: peak heap memory consumption */
    TQ_BACKEND_COUNT
};

/* What a backend's figure is: bytes the program asked the allocator for, or pages resident in RAM. */
enum tq_measure { TQ_MEASURE_HEAP, TQ_MEASURE_RSS };

struct tq_compare_opts {
    unsigned backends;  /* bit (1u << enum tq_backend) per backend to run; 0 = all */
    int runs;           /* runs per backend (and of the bare command), >= 1; figures are medians */
    double interval_s;  /* statm sampling interval (default 0.01 s when 0) */
    const char *traceq; /* the `traceq` executable, for the shim backend (NULL: skip shim) */
    const char *workdir;/* where logs and profiler outputs go (NULL: a fresh temporary folder, removed after) */
};

struct tq_compare_row {
    enum tq_backend id;
    const char *backend;   /* "statm" (static string) */
    const char *measures;  /* one line: what the figure is (static string) */
    const char *covers;    /* which processes of a multi-process command it counts (static string) */
    enum tq_measure kind;
    bool skipped;          /* not available here; `note` says why */
    char note[512];        /* why skipped, or a remark (non-zero exit, tolerance) */
    uint64_t peak_bytes;   /* median over the runs */
    uint64_t peak_min, peak_max;
    double wall_s;         /* median wall time of the profiled runs */
    int exit_status;       /* of the last run (0 = success) */
    double *t, *v;         /* timeline of the last run (seconds, bytes), nt points; NULL when the backend has none */
    size_t nt;
};

struct tq_compare {
    char command[1024];    /* the command line, joined with spaces */
    int runs;
    double bare_wall_s;    /* median wall time without any profiler */
    int bare_exit_status;
    bool has_truth;        /* the cgroup backend ran */
    uint64_t truth_bytes;  /* its peak: the ground truth for resident memory */
    struct tq_compare_row rows[TQ_BACKEND_COUNT];
};

/* Parse "shim,statm,cgroup" into a backend bit mask. Fails with TQ_ERR_USAGE naming an unknown backend. */
tq_status tq_compare_parse_backends(const char *list, unsigned *mask, struct tq_err *err);

/* Name of a backend ("massif"). Can't fail (returns "?" for an out-of-range value). */
const char *tq_compare_backend_name(enum tq_backend b);

/* Run argv (NULL-terminated) bare and under each chosen backend, `runs` times each. Backends whose tools are
 * missing are marked skipped with a note, not an error. *out is the caller's, free with tq_compare_free.
 * Fails with TQ_ERR_USAGE on bad options or an empty command, TQ_ERR_CHILD when the bare command cannot be
 * started, TQ_ERR_IO when the work folder cannot be made, TQ_ERR_NOMEM when memory runs out. */
tq_status tq_compare_run(const struct tq_compare_opts *opts, char *const argv[], struct tq_compare **out,
                         struct tq_err *err);

/* Relative error of a row's peak against the ground truth, (peak - truth) / truth. Returns false (and leaves
 * *rel alone) when there is no truth or the row was skipped. Can't fail. */
bool tq_compare_error(const struct tq_compare *c, const struct tq_compare_row *row, double *rel);

/* Wall time of a row over the bare run's (1.0 = no overhead). Returns false when either is unknown. Can't fail. */
bool tq_compare_overhead(const struct tq_compare *c, const struct tq_compare_row *row, double *ratio);

/* Write the result as one JSON object (jansson) / CSV with a header row to `f`. Fail with TQ_ERR_IO. */
tq_status tq_compare_write_json(const struct tq_compare *c, FILE *f, struct tq_err *err);
tq_status tq_compare_write_csv(const struct tq_compare *c, FILE *f, struct tq_err *err);

/* Plot the timelines of the backends that have one (statm, massif, shim) to an .svg/.png, never clobbering
 * unless `force`. Fails with TQ_ERR_USAGE when no backend gave a timeline, else as tq_plot_write. */
tq_status tq_compare_plot(const struct tq_compare *c, const char *path, bool force, struct tq_err *err);

/* Free a result. tq_compare_free(NULL) is a no-op. */
void tq_compare_free(struct tq_compare *c);

#endif
