/* sweep_guard.h - when a sweep should give up: its first runs all failing for one and the same reason (a bad
 * --traceq, a broken operator, no permission) is not a property of the shapes, so running the rest of the grid
 * would only fill the dataset with failed rows that a rerun then skips. The guard holds the first failed rows back
 * until a run succeeds or the reasons differ; when TQ_SWEEP_GUARD_RUNS runs in a row failed alike it stops the
 * sweep and writes none of them, so a rerun after the fix measures those shapes. */
#ifndef TQ_SWEEP_GUARD_H
#define TQ_SWEEP_GUARD_H

#include <stddef.h>

#include "../common/status.h"
#include "dataset.h"

#define TQ_SWEEP_GUARD_RUNS 3

struct tq_sweep_guard {
    const char *dataset; /* the CSV rows are appended to (borrowed) */
    size_t ok, failed;   /* runs seen */
    size_t held;         /* failed rows held back, all with held_rows[0].reason */
    int decided;         /* a run succeeded or reasons differed: rows are written as they come */
    struct tq_dataset_row held_rows[TQ_SWEEP_GUARD_RUNS];
};

/* Start a guard over `dataset`. Can't fail. */
void tq_sweep_guard_init(struct tq_sweep_guard *g, const char *dataset);

/* Account for one finished run and append its row (and any held ones) when that is decided. Fails with
 * TQ_ERR_CHILD ("the first 3 runs all failed: REASON") when the first TQ_SWEEP_GUARD_RUNS runs failed with the
 * same reason (nothing of them written), or like tq_dataset_append. */
tq_status tq_sweep_guard_add(struct tq_sweep_guard *g, const struct tq_dataset_row *row, struct tq_err *err);

/* After the last run: write rows still held, then fail with TQ_ERR_CHILD when runs were made and none
 * succeeded (so the command does not exit 0). Fails like tq_dataset_append too. */
tq_status tq_sweep_guard_finish(struct tq_sweep_guard *g, struct tq_err *err);

#endif
