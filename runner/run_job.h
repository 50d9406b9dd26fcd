/* run_job.h - one whole chunked run, as `traceq run` and `traceq experiment` make it: prepare it (operator or user
 * command, input shape, the checked plan: run_plan.h), open the output (or reopen a killed run's, --resume) and its
 * journal, run the blocks with the worker pool (runner.h) on this machine or over MPI ranks, commit the output, and
 * report the run as text or JSON.
 *
 * Usage:
 *     struct tq_run_args a = {.op = "gst3d", .input = in, .output = out, .chunks = "none", .workers = 2, ...};
 *     struct tq_run_outcome o;
 *     tq_status st = tq_run_job(&a, &o, &err);
 *     if (o.ran && o.root)
 *         tq_run_outcome_print(&o, st ? err.msg : NULL, stdout);   (the report, text or JSON as a.json says)
 *     ... o.rep (the runner's report), o.setup.plan (the blocks) ...
 *     tq_run_outcome_free(&o);
 *
 * The workers are forks of the calling process (through common/process.h's primitives, in runner.c); a signal that
 * stops the run (SIGINT, SIGTERM, SIGHUP) is caught while the blocks run and returned as o.rep.interrupted. */
#ifndef TQ_RUN_JOB_H
#define TQ_RUN_JOB_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#include "../common/status.h"
#include "../operators/box.h"
#include "../operators/volume.h"
#include "run_plan.h"
#include "runner.h"

/* How blocks are spread beyond this machine: MPI ranks (mpi_run.h's tq_mpi_spread), set in tq_run_args.spread
 * with args.mpi. Rank 0 creates the output and hands the blocks out; every rank runs its own pool. */
struct tq_run_spread {
    tq_status (*start)(struct tq_err *err);
    int (*rank)(void);
    void (*stop)(void);
    tq_status (*share_output)(const char *output, const size_t out_shape[3], int force, tq_vol_writer **w,
                              tq_status st, struct tq_err *err);
    tq_status (*run)(const struct tq_runner_task *task, const struct tq_box *blocks, size_t nblocks,
                     const struct tq_runner_opts *opts, struct tq_runner_report *rep, int *is_root,
                     struct tq_err *err);
};

/* What a run did. */
struct tq_run_outcome {
    struct tq_run_setup setup;    /* the prepared run: operator, parameters, plan (owned; tq_run_outcome_free) */
    struct tq_runner_report rep;  /* the runner's report, filled when ran */
    int ran;       /* the blocks were started: a failure is the run's (a block, a signal), not its input's */
    int root;      /* this process reports the run (always, but for MPI ranks other than 0) */
    int resumable; /* the run failed and left its journal and finished blocks for --resume */
    struct tq_block_traces *traces; /* args->trace_blocks: where the blocks' traces go (owned) */
};

/* Run args (see above) and fill *o (always; free it with tq_run_outcome_free). When args->scope_argv is set and
 * the limit would be held by a cgroup, first runs that command line again inside a delegated systemd scope where
 * no memory cgroup is at hand (tq_cg_reexec_in_scope; does not return then). Fails before any block ran
 * (o->ran = 0) like tq_run_prepare, the output's creation (TQ_ERR_IO; TQ_ERR_USAGE when OUT.journal exists
 * without --resume or --force), the journal (TQ_ERR_FORMAT for another run's), MPI (TQ_ERR_CHILD, or
 * TQ_ERR_USAGE when args->mpi is set without args->spread); after (o->ran = 1) like tq_runner_run / the spread's
 * run, or the output's commit. */
tq_status tq_run_job(const struct tq_run_args *args, struct tq_run_outcome *o, struct tq_err *err);
/* With args->trace_blocks (which needs args->scope_argv, the command line to run again), tq_run_job first runs
 * that command line again with libtraceq.so preloaded (block_traces.h: does not return then); in the new process
 * every block's worker is traced into DIR, and TQ_ERR_USAGE comes back for a DIR that does not check out. */

/* The report of a run that ran, to f: JSON (args->json: tq_run_outcome_json) or the human lines. `error` is the
 * failure's message, or NULL when the run succeeded. Can't fail (nothing is printed without memory for JSON). */
void tq_run_outcome_print(const struct tq_run_outcome *o, const char *error, FILE *f);

/* The runner's report (tq_runner_report_json) plus op, command, input, output, planner, shape, block (the
 * plan's first, largest block), threads_per_block, ok and error. New reference, NULL when out of memory. */
json_t *tq_run_outcome_json(const struct tq_run_outcome *o, const char *error);

/* The output extent of the plan's first (largest) block into len; zeros when the plan is empty. Can't fail. */
void tq_run_outcome_block(const struct tq_run_outcome *o, size_t len[3]);

/* Free what o owns. Can't fail. */
void tq_run_outcome_free(struct tq_run_outcome *o);

#endif
