/* sweep.h - one profiled run of `traceq op` on a synthetic shape, or of a user's command (on a synthetic input
 * volume of that shape, or with integer parameters), in its own pinned process, as a dataset row. */
#ifndef TQ_SWEEP_H
#define TQ_SWEEP_H

#define _GNU_SOURCE
#include <sched.h>
#include <stddef.h>

#include "../common/status.h"
#include "dataset.h"
#include "../operators/usercmd.h"

struct tq_sweep_job {
    const char *exe;        /* the traceq binary to run (borrowed) */
    const char *op;
    size_t shape[3];
    int run;                /* 1-based */
    int interval_ms;        /* sampling interval */
    const cpu_set_t *cpus;  /* CPUs the run is pinned to (sched_setaffinity); NULL = not pinned */
    const char *trace_root; /* a fresh directory per run is made under it for traces and the run's stderr */
    int use_record;         /* 1: run under `traceq record` and read the trace; 0: sample /proc/PID/status here */
    /* A user's command instead of `traceq op` (op should then be "cmd"; needs use_record). Without params it is a
     * volume operator: {in} is a synthetic float32 .npy of `shape` (seed 1) written to a private temporary
     * directory first, {out} a path there; both are removed after the run. With params (at most 3 names), the
     * placeholders are the parameters and shape[i] is the value of params[i]. Every process of the command's
     * tree is traced; the row's peaks are the sum over processes of each one's peak (an upper bound of the
     * tree's peak: processes alive at different times are counted as if together). */
    const struct tq_ucmd *cmd;
    const char *const *params;
    size_t nparams;
    /* 1: run in a fresh memory cgroup of its own (common/cgroup.h, no limit) where one can be made, and record
     * what the cgroup charges (charged_peak_bytes: the peak of anonymous + shmem memory, see sweep.c); 0, or no
     * cgroup here: charged_peak_bytes stays 0 (not measured). */
    int charged;
};

/* Run the job and fill *row: ok with the measured peaks, or failed with a reason (exit status or signal and the
 * last line the run printed on stderr, or a missing trace). Fails (TQ_ERR_IO, TQ_ERR_CHILD) only when the run
 * could not even be started; the caller records that as a failed row too. */
tq_status tq_sweep_run(const struct tq_sweep_job *job, struct tq_dataset_row *row, struct tq_err *err);

/* Parse a swept parameter "name=START:STOP:STEP" or "name=START:STOP:xF" (common/units.h ranges) into its name
 * (letters, digits, '_'; not in, out or _) and at most cap values. Fails with TQ_ERR_USAGE. */
tq_status tq_sweep_parse_param(const char *s, char name[32], size_t *values, size_t cap, size_t *n,
                               struct tq_err *err);

/* Parse a CPU list "0", "0,2", "1-3" into set. Fails with TQ_ERR_USAGE on junk or a CPU >= CPU_SETSIZE. */
tq_status tq_sweep_parse_cpus(const char *s, cpu_set_t *set, struct tq_err *err);

#endif
