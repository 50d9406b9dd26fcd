/* cmd_run.c - `traceq run`: compute an operator over a volume block by block with a pool of memory-limited
 * workers, following a chunk plan (a plan file, fixed chunks, or a planner), resumable through a journal. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/units.h"
#include "../runner/run_job.h"
#include "cli.h"
#ifdef TQ_HAVE_MPI
#include "../runner/mpi_run.h"
#endif

#ifdef TQ_HAVE_MPI
#define MPI_OPT_FLAGS 0
#else
#define MPI_OPT_FLAGS TQ_CLI_HIDDEN /* parsed, to say that this build has no MPI */
#endif

/* --memory-per-worker, --kill-worker: checked and stored (a tq_cli_call). */
static int run_opt_value(const struct tq_cli_command *cmd, int c, const char *arg, void *opts)
{
    struct tq_run_args *a = opts;
    struct tq_err err = {0};
    switch (c) {
    case 'M':
        if (tq_parse_bytes(arg, &a->memory, &err))
            return tq_cli_fail(cmd->name, &err);
        a->memory_given = 1;
        break;
    default: { /* --kill-worker */
        char *end;
        errno = 0;
        a->kill_worker = strtol(arg, &end, 10);
        a->kill_count = 1;
        if (*end == ',')
            a->kill_count = strtol(end + 1, &end, 10);
        if (*end || errno || a->kill_worker < 1 || a->kill_count < 1)
            return tq_cli_usage_error(cmd->name, "bad value '%s' for --kill-worker (want N or N,COUNT, both >= 1)",
                                      arg);
        break;
    }
    }
    return -1;
}

const struct tq_cli_command cli_run = {
    .name = "run",
    .opts = TQ_OPTIONS(
        TQ_OPT('o', "op", "OP", "envelope, gaussian or gst3d (this or --cmd)", NULL,
               TQ_STORE_STR(struct tq_run_args, op)),
        TQ_OPT('C', "cmd", "TEMPLATE",
               "a user's operator, e.g. 'PROG {in} {out}': reads the float32 .npy {in} (a block plus its halo), "
               "writes its result for all of it to the .npy {out}; split into words without a shell ('..' and \"..\" quote, {{ }} are literal braces)",
               NULL, TQ_STORE_STR(struct tq_run_args, cmd)),
        TQ_OPT_CMD_CONTRACT('A', struct tq_run_args),
        TQ_OPT_INPUT("IN", "input volume (.npy, .segy/.sgy) (required)", TQ_STORE_STR(struct tq_run_args, input)),
        TQ_OPT('O', "output", "OUT", "output volume (.npy, .segy/.sgy) (required)", NULL,
               TQ_STORE_STR(struct tq_run_args, output)),
        TQ_OPT('p', "plan", "PLAN.json", "blocks from `traceq plan` (must match OP and IN's shape)", NULL,
               TQ_STORE_STR(struct tq_run_args, plan)),
        TQ_OPT('c', "chunks", "none|auto|I,X,S",
               "one block / dask's auto chunks (128 MiB of input) / fixed output chunks", NULL,
               TQ_STORE_STR(struct tq_run_args, chunks)),
        TQ_OPT('P', "planner", "traceq|seed", "plan now with a model (needs --model and a memory limit)", NULL,
               TQ_STORE_STR(struct tq_run_args, planner)),
        TQ_OPT_MODEL('m', "", TQ_STORE_STR(struct tq_run_args, model)),
        TQ_OPT_WORKERS("worker processes at once", "2",
                       TQ_STORE_INT(struct tq_run_args, workers, 1, TQ_RUNNER_MAX_WORKERS)),
        TQ_OPT('M', "memory-per-worker", "SIZE", "limit per worker, e.g. 3GiB (0 = none)", "the plan's, else 0",
               TQ_STORE_CALL(run_opt_value)),
        TQ_OPT('s', "safety", "F", "share of the limit a planned block may use", "0.8",
               TQ_STORE_POSITIVE(struct tq_run_args, safety, 1)),
        TQ_OPT('r', "retries", "N",
               "retries per block, both kinds counted together: a split after an OOM kill (halves inherit the count) "
               "and a whole rerun after its worker died of a signal",
               "2", TQ_STORE_INT(struct tq_run_args, retries, 0, 30)),
        TQ_OPT('e', "enforce", "auto|cgroup|watchdog", "how the limit is held", "auto",
               TQ_STORE_CHOICE(struct tq_run_args, enforce, {"auto", TQ_ENFORCE_AUTO}, {"cgroup", TQ_ENFORCE_CGROUP},
                               {"watchdog", TQ_ENFORCE_WATCHDOG})),
        TQ_OPT_THREADS("threads per block (0 = cores / blocks at once)", struct tq_run_args, threads),
        TQ_OPT('g', "sigma", "S", "Gaussian sigma, all axes", "3",
               TQ_STORE_POSITIVE(struct tq_run_args, sigma, HUGE_VAL)),
        TQ_OPT_FULL_SIZE('F', TQ_STORE_FLAG(struct tq_run_args, full_size)),
        TQ_OPT('R', "resume", NULL, "continue a killed run from OUT.journal (same op, input and plan)", NULL,
               TQ_STORE_FLAG(struct tq_run_args, resume)),
        TQ_OPT_FORCE('f', "OUT (and a stale journal)", TQ_STORE_FLAG(struct tq_run_args, force)),
        TQ_OPT_JSON("the report", TQ_STORE_FLAG(struct tq_run_args, json)),
        TQ_OPT('a', "adapt", NULL,
               "correct --model from every block's measured peak and re-cut the blocks not started (smaller near the "
               "limit, larger below half of it); prints predicted vs measured per block", "static plan",
               TQ_STORE_FLAG(struct tq_run_args, adapt)),
        TQ_OPT('L', "learn", "M.json", "--adapt: write the corrected model to M.json (for `traceq plan --model`)", NULL,
               TQ_STORE_STR(struct tq_run_args, learn)),
        TQ_OPT('B', "trace-blocks", "DIR",
               "run every block's worker under libtraceq.so: each attempt leaves DIR/block-ID-aN.tqt (an OOM-killed one "
               "says so; traceq report it)",
               "off", TQ_STORE_STR(struct tq_run_args, trace_blocks)),
        TQ_OPT('S', "stacks", NULL, "with --trace-blocks: record call stacks too (report names the sites)", "off",
               TQ_STORE_FLAG(struct tq_run_args, stacks)),
        TQ_OPT_FLAGS('x', "pad-per-voxel", "BYTES", "each worker also touches BYTES per output voxel", NULL,
                     TQ_CLI_TESTING, TQ_STORE_BYTES(struct tq_run_args, pad)),
        TQ_OPT_FLAGS('K', "kill-worker", "N[,COUNT]",
                     "worker starts N..N+COUNT-1 SIGKILL themselves after computing (before reporting)",
                     "none; COUNT 1", TQ_CLI_TESTING, TQ_STORE_CALL(run_opt_value)),
        TQ_OPT_FLAGS('I', "mpi", NULL, "run under mpirun: rank 0 hands blocks out, every rank runs its own pool", NULL,
                     MPI_OPT_FLAGS, TQ_STORE_FLAG(struct tq_run_args, mpi))),
    .usage = "traceq run (--op OP | --cmd 'PROG ARGS {in} {out}' --halo H) --input IN --output OUT\n"
             "                  (--plan PLAN.json | --chunks none|auto|I,X,S |\n"
             "                  --planner traceq|seed --model M.json) [options]",
    .about = "Compute operator OP over the volume IN block by block and write OUT (.npy or .segy), equal to the\n"
             "unchunked result. Each block runs in a fresh worker process held to --memory-per-worker by its own\n"
             "memory cgroup (v2 memory.max, else v1 memory.limit_in_bytes), or by an RSS watchdog where no cgroup\n"
             "can be made. A block whose worker is OOM-killed is split in two and retried; a block whose worker\n"
             "dies of any other signal (killed from outside, crashed) is run again whole. A worker that exits with\n"
             "an error (bad input, full disk) is not retried: the run fails and names the block.",
    .epilog = "OUT is written under a temporary name and renamed when complete. Finished blocks are recorded in\n"
              "OUT.journal; after a kill, the same command with --resume computes only the rest.\n"
              "Exit codes: 0 done, 1 a block failed (cause printed), 2 usage or bad input, 128+N interrupted by N.",
};

/* Options that must come together or not at all. */
static int run_check_args(const struct tq_run_args *a, int argc, char **argv)
{
    if (optind < argc)
        return tq_cli_usage_error("run", "unexpected argument '%s'", argv[optind]);
    if (!!a->op + !!a->cmd != 1 || !a->input || !a->output)
        return tq_cli_usage_error("run", "one of --op or --cmd, and --input and --output are required");
    if (!a->cmd && (a->halo || a->trim || a->split_axes))
        return tq_cli_usage_error("run", "--halo, --trim and --split-axes go with --cmd");
    if (!!a->plan + !!a->chunks + !!a->planner != 1)
        return tq_cli_usage_error("run", "give exactly one of --plan, --chunks or --planner");
    if (a->planner && !a->model)
        return tq_cli_usage_error("run", "--planner %s needs --model", a->planner);
#ifndef TQ_HAVE_MPI
    if (a->mpi)
        return tq_cli_usage_error("run", "--mpi: this traceq was built without MPI (install libopenmpi-dev, rebuild)");
#endif
    if (a->mpi && a->cmd)
        return tq_cli_usage_error("run", "--cmd is not supported with --mpi (one rank's cleanup would remove "
                                  "another's temporaries)");
    if (a->stacks && !a->trace_blocks)
        return tq_cli_usage_error("run", "--stacks goes with --trace-blocks");
    if (a->trace_blocks && !*a->trace_blocks)
        return tq_cli_usage_error("run", "--trace-blocks needs a directory");
    if (a->mpi && a->trace_blocks)
        return tq_cli_usage_error("run", "--trace-blocks is not supported with --mpi");
    if (a->mpi && a->resume)
        return tq_cli_usage_error("run", "--resume is not supported with --mpi");
    if (a->learn && !a->adapt)
        return tq_cli_usage_error("run", "--learn goes with --adapt");
    if (a->adapt && !a->model)
        return tq_cli_usage_error("run", "--adapt needs --model M.json (the model it corrects)");
    if (a->adapt && a->mpi)
        return tq_cli_usage_error("run", "--adapt is not supported with --mpi");
    return -1;
}

int cmd_run(int argc, char **argv)
{
    struct tq_run_args a = {.workers = 2, .retries = 2, .safety = 0.8, .sigma = 3.0, .scope_argc = argc,
                            .scope_argv = argv};
    int rc = tq_cli_parse(&cli_run, argc, argv, &a);
    if (rc >= 0)
        return rc;
    if ((rc = run_check_args(&a, argc, argv)) >= 0)
        return rc;
#ifdef TQ_HAVE_MPI
    a.spread = a.mpi ? &tq_mpi_spread : NULL;
#endif
    struct tq_run_outcome o;
    struct tq_err err = {0};
    tq_status st = tq_run_job(&a, &o, &err);
    if (!o.ran)
        rc = st ? tq_cli_fail("run", &err) : TQ_EXIT_OK;
    else if (o.root) {
        tq_run_outcome_print(&o, st ? err.msg : NULL, stdout);
        if (st)
            fprintf(stderr, "traceq run: %s\n", err.msg);
        if (st && o.resumable)
            fprintf(stderr, "traceq run: finished blocks are kept; the same command with --resume continues\n");
    }
    if (o.ran)
        rc = st == TQ_OK ? TQ_EXIT_OK : o.rep.interrupted ? 128 + o.rep.interrupted : TQ_EXIT_FAIL;
    tq_run_outcome_free(&o);
    return rc;
}
