/* adapt.h - the adaptive runner (`traceq run --adapt`): hands the runner its blocks one at a time, compares every
 * finished block's measured peak with the model's prediction for it, keeps a running correction, and re-cuts the
 * part of the output not yet started when the correction says its blocks would come too close to the limit
 * (smaller blocks) or use less than half of it (larger blocks, fewer of them).
 *
 * The correction c is conservative: the largest measured/predicted ratio of any finished block of the run (and of
 * the resumed journal's last cut), and never below L / predicted of any block that was OOM-killed at limit L (the kill says it needed at
 * least L: a lower bound for that shape). The measured peak is the worker's VmHWM (what the model was fitted on);
 * the slot cgroup's peak is reported beside it but not used, since it counts the page cache the block's I/O left.
 * A re-cut plans the whole volume again with the model scaled by c (planner.h, traceq planner, same safety and
 * workers) and takes the plan's block shape; only the region not yet started is cut again (a region partly
 * started keeps its started blocks, the rest becomes up to three boxes cut anew). Every re-cut is journaled
 * ("cut I X S C", journal.h) before any block of it runs; a resumed run starts from the last cut and correction,
 * and the region left is the output minus every box the journal holds, so the output stays what the whole-volume
 * run gives whatever the cuts.
 *
 * Until a block of the run has been measured (again after an OOM kill until a block finishes, and after a re-cut
 * to larger blocks until one of them finishes), only one
 * block of the full cut is out: the other workers get quarter blocks, which a model 2x low still fits, so such a
 * model costs one OOM kill, not one per worker, and no worker waits idle. */
#ifndef TQ_ADAPT_H
#define TQ_ADAPT_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "../common/status.h"
#include "../model/model.h"
#include "../operators/operator.h"
#include "journal.h"
#include "runner.h"

struct tq_adapt_config {
    const struct tq_op *op;            /* borrowed */
    const struct tq_op_params *params; /* borrowed */
    const struct tq_model *model;      /* borrowed: the model the plan came from */
    size_t shape[3], out_shape[3];     /* input and output volume */
    size_t chunk[3];                   /* the static plan's (first, largest) block: the first cut */
    uint64_t limit;                    /* bytes per worker, > 0 */
    double safety;                     /* share of the limit a block may be predicted to use, (0, 1] */
    int workers;
    tq_journal *journal;               /* set by tq_adapt_run from its options */
};

/* One block as it ended. */
struct tq_adapt_block {
    struct tq_box box;
    double predicted;  /* the model's prediction for its input box */
    double corrected;  /* times the correction in force when it started */
    uint64_t rss_peak; /* measured VmHWM (0 for an OOM kill outside the watchdog) */
    uint64_t cg_peak;  /* the slot cgroup's peak (page cache included; 0 without a cgroup) */
    double seconds;
    int oom;           /* OOM-killed: needed more than the limit */
};

/* One re-cut. */
struct tq_adapt_recut {
    size_t after;      /* blocks ended before it */
    double correction;
    size_t from[3], to[3];
    size_t blocks_left; /* blocks of the new cut */
};

typedef struct tq_adapt tq_adapt;

/* A controller for one run. Fails with TQ_ERR_USAGE when the limit is 0 or the chunk is empty, TQ_ERR_NOMEM. */
tq_status tq_adapt_new(const struct tq_adapt_config *cfg, tq_adapt **out, struct tq_err *err);

/* Run `task` under opts with blocks from the controller (tq_runner_run_fed). With opts->journal, the boxes it
 * holds are left out, its last cut is where the run starts, and new cuts are journaled; rep->blocks_skipped gets
 * the journal's finished blocks. Fails as tq_runner_run does, and with TQ_ERR_IO when a
 * cut cannot be journaled. */
tq_status tq_adapt_run(tq_adapt *a, const struct tq_runner_task *task, const struct tq_runner_opts *opts,
                       struct tq_runner_report *rep, struct tq_err *err);

/* The correction now (1 before any block ended, or the resumed journal's). Can't fail. */
double tq_adapt_correction(const tq_adapt *a);
/* Blocks cut so far (handed to the runner, split halves not counted). Can't fail. */
size_t tq_adapt_blocks(const tq_adapt *a);
/* The blocks that ended, in order, and the re-cuts. Can't fail. */
const struct tq_adapt_block *tq_adapt_block(const tq_adapt *a, size_t i, size_t *n);
const struct tq_adapt_recut *tq_adapt_recut(const tq_adapt *a, size_t i, size_t *n);

/* Check before the run that `path` can take the learned model: it must not exist (unless overwrite) and its
 * folder must be writable. Fails with TQ_ERR_USAGE saying why. */
tq_status tq_adapt_learn_check(const char *path, int overwrite, struct tq_err *err);
/* Write the model scaled by the correction to path (model.h format: `traceq plan --model` reads it). Fails with
 * TQ_ERR_IO, TQ_ERR_NOMEM. */
tq_status tq_adapt_learn(const tq_adapt *a, const char *path, int overwrite, struct tq_err *err);

/* The per-block table (predicted vs measured), the re-cuts and the correction, as text on f, and as a JSON
 * object (new reference, NULL when out of memory). */
void tq_adapt_print(const tq_adapt *a, FILE *f);
json_t *tq_adapt_json(const tq_adapt *a);

void tq_adapt_free(tq_adapt *a);

struct tq_run_setup; /* run_plan.h */

/* The controller of a prepared `traceq run --adapt` (runner/adapt_run.c): reads s->args->model for s->op, starts
 * from the plan's first block, the limit given (the run's), the run's safety and workers; sets s->adapt. Called
 * before the output and journal are opened, so that bad input leaves nothing behind.
 * Fails with TQ_ERR_USAGE (no model, no limit), the model's read errors, TQ_ERR_NOMEM. */
tq_status tq_adapt_prepare(struct tq_run_setup *s, uint64_t limit, struct tq_err *err);

#endif
