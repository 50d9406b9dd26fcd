/* run_plan.h - what `traceq run` (and `traceq experiment`) decide before any block runs: the operator and its
 * parameters, the input's shape, and the checked list of blocks (a plan file, fixed chunks, or a planner). */
#ifndef TQ_RUN_PLAN_H
#define TQ_RUN_PLAN_H

#include <stdint.h>

#include "../common/status.h"
#include "journal.h"
#include "../operators/operator.h"
#include "../operators/usercmd.h"
#include "runner.h"
#include "../operators/volume.h"
#include "../model/plan.h"

/* The choices of a run, as given on the command line of `traceq run`. */
struct tq_run_spread;
struct tq_run_args {
    const char *op, *input, *output, *plan, *chunks, *planner, *model;
    const char *cmd, *halo, *trim, *split_axes; /* a user's command (instead of op): template, --halo, --trim,
                                                 * --split-axes (NULL = the defaults: trim 0, every finite axis) */
    int workers, retries, threads, full_size, resume, force, json, mpi, memory_given;
    int adapt;          /* --adapt: correct the model from measured blocks and re-cut (adapt.h) */
    const char *learn;  /* --learn M.json: write the corrected model there */
    uint64_t memory, pad;
    long kill_worker, kill_count; /* testing: --kill-worker N,COUNT (0 = none) */
    double safety, sigma;
    enum tq_enforce enforce;
    const struct tq_run_spread *spread; /* with mpi: how blocks go to the MPI ranks (run_job.h), else NULL */
    int scope_argc;                     /* the command line tq_run_job may run again in a delegated cgroup scope */
    char **scope_argv;                  /* (cgroup.h: tq_cg_reexec_in_scope), or NULL */
    const char *trace_blocks; /* --trace-blocks DIR: every block's worker under libtraceq.so (NULL = not) */
    int stacks;               /* --stacks: with --trace-blocks, call stacks too */
};

/* Everything prepared for a run; owned pointers are freed by the caller. */
struct tq_run_setup {
    const struct tq_run_args *args;
    const struct tq_op *op;
    struct tq_op_params params;
    struct tq_ucmd ucmd;     /* args->cmd parsed (owned: tq_ucmd_free) */
    struct tq_op cmd_op;     /* its pseudo-operator; op points here for a command */
    struct tq_plan *plan;    /* owned */
    tq_vol_writer *writer;   /* owned */
    tq_journal *journal;     /* owned; NULL under MPI */
    struct tq_adapt *adapt;  /* owned (tq_adapt_free); --adapt only */
};

/* Find the operator (or parse the user's command), check its parameters, read the input's shape and make or
 * read the plan, checking that it belongs to this operator and input (op, shape, output shape; a command's halo,
 * trim and split axes) and tiles the output. Fails with TQ_ERR_USAGE (unknown op, bad chunks, a bad command,
 * halo or trim), TQ_ERR_FORMAT (a plan that overlaps, leaves gaps, reaches outside the volume or was
 * made for another operator or shape), TQ_ERR_LIMIT (no plan fits the memory) or the input's open error. */
tq_status tq_run_prepare(struct tq_run_setup *s, struct tq_err *err);

/* A plan of a regular grid of `chunk`-sized output blocks (edge blocks smaller) over out_shape, named `planner`.
 * Fails with TQ_ERR_USAGE when a chunk axis is 0 or an axis the operator cannot split is cut, TQ_ERR_NOMEM.
 * Caller frees with tq_plan_free. */
tq_status tq_run_grid_plan(const struct tq_op *op, const struct tq_op_params *params, const size_t shape[3],
                           const size_t out_shape[3], const size_t chunk[3], const char *planner,
                           struct tq_plan **out, struct tq_err *err);

/* Parse a run's user command (args->cmd, halo, trim, split_axes) into s->ucmd, s->cmd_op and s->params and point
 * s->op at it. Fails with TQ_ERR_USAGE: a template without {in} or {out} or with another placeholder, a halo or
 * axes that do not parse, a trim larger than a halo. */
tq_status tq_run_setup_cmd(struct tq_run_setup *s, struct tq_err *err);

#endif
