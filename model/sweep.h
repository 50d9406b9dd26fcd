/* sweep.h - one profiled run of `traceq op` on a synthetic shape, in its own pinned process, as a dataset row. */
#ifndef TQ_SWEEP_H
#define TQ_SWEEP_H

#define _GNU_SOURCE
#include <sched.h>
#include <stddef.h>

#include "../common/status.h"
#include "dataset.h"

struct tq_sweep_job {
    const char *exe;        /* the traceq binary to run (borrowed) */
    const char *op;
    size_t shape[3];
    int run;                /* 1-based */
    int interval_ms;        /* sampling interval */
    const cpu_set_t *cpus;  /* CPUs the run is pinned to (sched_setaffinity); NULL = not pinned */
    const char *trace_root; /* a fresh directory per run is made under it for traces and the run's stderr */
    int use_record;         /* 1: run under `traceq record` and read the trace; 0: sample /proc/PID/status here */
};

/* Run the job and fill *row: ok with the measured peaks, or failed with a reason (exit status or signal and the
 * last line the run printed on stderr, or a missing trace). Fails (TQ_ERR_IO, TQ_ERR_CHILD) only when the run
 * could not even be started; the caller records that as a failed row too. */
tq_status tq_sweep_run(const struct tq_sweep_job *job, struct tq_dataset_row *row, struct tq_err *err);

/* Parse a CPU list "0", "0,2", "1-3" into set. Fails with TQ_ERR_USAGE on junk or a CPU >= CPU_SETSIZE. */
tq_status tq_sweep_parse_cpus(const char *s, cpu_set_t *set, struct tq_err *err);

#endif
