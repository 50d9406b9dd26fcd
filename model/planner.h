/* planner.h - choosing a chunk plan for one operator, volume and memory limit.
 *
 * Four planners fill a struct tq_plan (plan.h) whose blocks form a regular grid over the output volume (edge
 * blocks may be smaller):
 *   traceq  ours: every block's predicted peak -- the model's BOUND on the block's input box (block grown by the
 *           operator's halo, clamped), which includes the per-process baseline and output buffers because the model
 *           was fitted on whole runs -- stays <= memory * safety; only the operator's splittable axes are cut;
 *           fewest blocks first, then a block count that is a multiple of workers when that costs little extra
 *           halo, then the least halo (input voxels read), then the most cube-like blocks.
 *   seed    the original's (exp-03): the largest cube s^3 dividing every input dimension with s^3 * cost <= memory
 *           * safety, cost = the model's whole-volume prediction / voxels; no halo, no baseline, no axis rules.
 *   auto    Dask's chunks="auto" for a float32 input (array.chunk-size, default 128 MiB), with the operator's
 *           unsplittable axes kept whole (chunks={axis: -1}); ignores the memory limit.
 *   none    one block: the whole volume. */
#ifndef TQ_PLANNER_H
#define TQ_PLANNER_H

#include <stddef.h>
#include <stdint.h>

#include "../common/status.h"
#include "../operators/operator.h"
#include "model.h"
#include "plan.h"

enum tq_planner_kind { TQ_PLANNER_TRACEQ, TQ_PLANNER_SEED, TQ_PLANNER_AUTO, TQ_PLANNER_NONE };

#define TQ_PLAN_AUTO_BYTES (128ull << 20) /* dask's default array.chunk-size */
/* No planner makes more blocks than this: a plan that would need more means a memory limit far too small for the
 * shape (or an unreasonable shape), and is refused (TQ_ERR_LIMIT) instead of allocating and running it. */
#define TQ_PLAN_MAX_BLOCKS 10000

struct tq_plan_request {
    const struct tq_op *op;             /* borrowed */
    const struct tq_op_params *params;  /* borrowed */
    const struct tq_model *model;       /* borrowed; needed by traceq and seed, else used for predictions if set */
    size_t shape[3];                    /* input volume */
    uint64_t memory_bytes;              /* per worker; needed by traceq and seed */
    double safety;                      /* share of memory_bytes a block may use, (0, 1] */
    int workers;                        /* >= 1 */
    enum tq_planner_kind planner;
    uint64_t auto_bytes;                /* auto planner's chunk-size (0 = TQ_PLAN_AUTO_BYTES) */
};

/* Planner named `name` ("traceq", "seed", "auto", "none"); fails with TQ_ERR_USAGE naming it otherwise. */
tq_status tq_planner_parse(const char *name, enum tq_planner_kind *kind, struct tq_err *err);
/* Name of a planner. Can't fail. */
const char *tq_planner_name(enum tq_planner_kind kind);

/* Make a plan. Fails with TQ_ERR_USAGE on a bad request (missing model or memory, model of another operator,
 * safety or workers out of range), TQ_ERR_RANGE when the volume is too small for the operator or a block's
 * predicted bound is not finite or above TQ_MODEL_MAX_BYTES, TQ_ERR_LIMIT when no plan of at most
 * TQ_PLAN_MAX_BLOCKS blocks fits memory * safety (the message names the smallest --memory that would work),
 * TQ_ERR_NOMEM.
 * Caller frees *out with tq_plan_free. */
tq_status tq_plan_make(const struct tq_plan_request *req, struct tq_plan **out, struct tq_err *err);

/* Per-axis block lengths of a grid plan, as dask's chunks= tuple of the INPUT array (the first and last block of
 * each axis grow by the operator's trim so the input is covered): "((c, c, r), (..), (..))". Returns a malloc'd
 * string (caller frees). Fails with TQ_ERR_FORMAT when the blocks are not a grid, TQ_ERR_NOMEM. */
tq_status tq_plan_dask_chunks(const struct tq_plan *plan, size_t trim, char **out, struct tq_err *err);

/* Input box of each block (for tables and the runner): the op's input box of block i. Can't fail. */
void tq_plan_block_input(const struct tq_plan *plan, const struct tq_op *op, const struct tq_op_params *p,
                         size_t i, struct tq_box *in);

#endif
