/* parallel.h - the operators' one threading helper: hand the items of a kernel to a few pthreads. */
#ifndef TQ_PARALLEL_H
#define TQ_PARALLEL_H

#include <stddef.h>

#include "../common/status.h"

/* One item of work; `worker` in [0, tq_par_workers()) names the caller's per-thread scratch. */
typedef tq_status (*tq_par_fn)(void *ctx, size_t item, int worker, struct tq_err *err);

/* Workers tq_par_for uses for n items when `threads` are asked for: min(threads, n), at least 1. Can't fail. */
int tq_par_workers(int threads, size_t n);

/* Call fn(ctx, item, worker, err) for every item in [0, n), on tq_par_workers(threads, n) threads (the calling
 * thread is worker 0). Items go out in increasing order through an atomic counter. Returns the first failure of fn
 * (the remaining items are skipped). A thread that cannot be started is not an error: the others do its share. */
tq_status tq_par_for(int threads, size_t n, tq_par_fn fn, void *ctx, struct tq_err *err);

#endif
