/* plan.h - chunk plans: the blocks an operator's output is cut into so each fits a memory limit.
 *
 * A plan is written as JSON (format "traceq-plan", version 1): {"format","version","op","shape":[I,X,S],
 * "output_shape":[..],"memory_bytes","safety","workers","planner","blocks":[{"lo":[..],"hi":[..],
 * "predicted_bytes":N}, ...]}. Blocks are output-coordinate boxes; they tile the output exactly.
 * A plan for a user's command (op "cmd") also records "halo":"H,H,H" ("whole" per axis allowed), "trim":T and
 * "split_axes":[a,...], which `traceq run --cmd` checks against its own. A plan sized by a model records the
 * figure that model predicts, "model_target" (e.g. "charged_peak_bytes": `traceq run` then needs memory cgroups;
 * absent in plans without a model and in plans written before the key existed). */
#ifndef TQ_PLAN_H
#define TQ_PLAN_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "../common/status.h"
#include "../operators/box.h"
#include "../operators/operator.h"

struct tq_plan_block {
    struct tq_box out;         /* output region */
    uint64_t predicted_bytes;  /* predicted peak of the process computing it (0 when unknown) */
};

struct tq_plan {
    char op[32];
    size_t shape[3];        /* input volume shape */
    size_t out_shape[3];    /* output volume shape */
    uint64_t memory_bytes;  /* per-worker limit the plan was made for (0 = none) */
    double safety;
    int workers;
    char planner[16];       /* "traceq", "seed", "auto", "none", "fixed" */
    size_t halo[3];         /* op "cmd" only: the command's halo (TQ_HALO_WHOLE allowed), trim and split axes */
    size_t trim;
    unsigned split_axes;
    char model_target[32];  /* the dataset column the sizing model predicts ("" = none, or an older plan) */
    size_t nblocks;
    struct tq_plan_block *blocks; /* owned */
};

/* Read and validate a plan: keys present and typed, blocks inside out_shape, tiling exact (no gap, no overlap).
 * Fails with TQ_ERR_FORMAT naming the problem. Caller frees with tq_plan_free. */
tq_status tq_plan_read(const char *path, struct tq_plan **out, struct tq_err *err);
/* Write a plan as JSON to path (temporary name + rename; never clobbers unless overwrite). */
tq_status tq_plan_write(const struct tq_plan *plan, const char *path, int overwrite, struct tq_err *err);
/* Print a plan as JSON (the same text tq_plan_write writes) to f; fails with TQ_ERR_IO or TQ_ERR_NOMEM. */
tq_status tq_plan_dump(const struct tq_plan *plan, FILE *f, struct tq_err *err);
/* Check that the blocks tile out_shape exactly. */
tq_status tq_plan_check_tiling(const struct tq_plan *plan, struct tq_err *err);
void tq_plan_free(struct tq_plan *plan);
/* Record op's name, and for a command pseudo-operator its halo, trim and split axes, in the plan. Can't fail. */
void tq_plan_set_op(struct tq_plan *plan, const struct tq_op *op, const struct tq_op_params *p);
/* 1 when the plan's blocks were sized by a model of what a memory cgroup charges (charged_peak_bytes), which only
 * a cgroup enforces (the RSS watchdog would kill blocks the plan counts on). Can't fail. */
int tq_plan_needs_cgroup(const struct tq_plan *plan);

#endif
