/* cmd_run.c - `traceq run`: compute an operator over a volume block by block with a pool of memory-limited
 * workers, following a chunk plan (a plan file, fixed chunks, or a planner), resumable through a journal. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../model/plan.h"
#include "../common/alloc.h"
#include "../runner/run_plan.h"
#include "../common/units.h"
#include "../runner/cgroup.h"
#include "../runner/journal.h"
#include "../runner/cmdjob.h"
#include "../runner/opjob.h"
#include "../runner/runner.h"
#include "../runner/adapt.h"
#include "../common/process.h"
#include "cli.h"
#ifdef TQ_HAVE_MPI
#include "../runner/mpi_run.h"
#endif

#ifdef TQ_HAVE_MPI
#define MPI_OPT_FLAGS 0
#else
#define MPI_OPT_FLAGS TQ_CLI_HIDDEN /* parsed, to say that this build has no MPI */
#endif

static const struct tq_cli_opt run_opts[] = {
    TQ_OPT('o', "op", "OP", "envelope, gaussian or gst3d (this or --cmd)", NULL),
    TQ_OPT('C', "cmd", "TEMPLATE",
           "a user's operator, e.g. 'PROG {in} {out}': reads the float32 .npy {in} (a block plus its halo), "
           "writes its result for all of it to the .npy {out}; split into words without a shell ('..' and \"..\" quote, {{ }} are literal braces)",
           NULL),
    TQ_OPT('H', "halo", "H|H,H,H", "--cmd: voxels of context per axis, or whole", "0"),
    TQ_OPT('T', "trim", "T", "--cmd: {out} is {in} less T voxels per face", "0"),
    TQ_OPT('A', "split-axes", "A,B|none", "--cmd: axes blocks may be cut along", "all not whole"),
    TQ_OPT('i', "input", "IN", "input volume (.npy, .segy/.sgy) (required)", NULL),
    TQ_OPT('O', "output", "OUT", "output volume (.npy, .segy/.sgy) (required)", NULL),
    TQ_OPT('p', "plan", "PLAN.json", "blocks from `traceq plan` (must match OP and IN's shape)", NULL),
    TQ_OPT('c', "chunks", "none|auto|I,X,S",
           "one block / dask's auto chunks (128 MiB of input) / fixed output chunks", NULL),
    TQ_OPT('P', "planner", "traceq|seed", "plan now with a model (needs --model and a memory limit)", NULL),
    TQ_OPT('m', "model", "M.json", "memory model from `traceq fit`", NULL),
    TQ_OPT('w', "workers", "N", "worker processes at once", "2"),
    TQ_OPT('M', "memory-per-worker", "SIZE", "limit per worker, e.g. 3GiB (0 = none)", "the plan's, else 0"),
    TQ_OPT('s', "safety", "F", "share of the limit a planned block may use", "0.8"),
    TQ_OPT('r', "retries", "N",
           "retries per block, both kinds counted together: a split after an OOM kill (halves inherit the count) "
           "and a whole rerun after its worker died of a signal",
           "2"),
    TQ_OPT('e', "enforce", "auto|cgroup|watchdog", "how the limit is held", "auto"),
    TQ_OPT('t', "threads", "N", "threads per block (0 = cores / blocks at once)", "0"),
    TQ_OPT('g', "sigma", "S", "Gaussian sigma, all axes", "3"),
    TQ_OPT('F', "full-size", NULL, "GST3D: keep the border instead of trimming 1 voxel", "trim"),
    TQ_OPT('R', "resume", NULL, "continue a killed run from OUT.journal (same op, input and plan)", NULL),
    TQ_OPT('f', "force", NULL, "overwrite OUT (and a stale journal)", "refuse"),
    TQ_OPT('j', "json", NULL, "print the report as JSON on stdout", NULL),
    TQ_OPT('a', "adapt", NULL,
           "correct --model from every block's measured peak and re-cut the blocks not started (smaller near the "
           "limit, larger below half of it); prints predicted vs measured per block", "static plan"),
    TQ_OPT('L', "learn", "M.json", "--adapt: write the corrected model to M.json (for `traceq plan --model`)", NULL),
    TQ_OPT_FLAGS('x', "pad-per-voxel", "BYTES", "each worker also touches BYTES per output voxel", NULL,
                 TQ_CLI_TESTING),
    TQ_OPT_FLAGS('K', "kill-worker", "N[,COUNT]",
                 "worker starts N..N+COUNT-1 SIGKILL themselves after computing (before reporting)",
                 "none; COUNT 1", TQ_CLI_TESTING),
    TQ_OPT_FLAGS('I', "mpi", NULL, "run under mpirun: rank 0 hands blocks out, every rank runs its own pool", NULL,
                 MPI_OPT_FLAGS),
    TQ_OPT_END,
};

const struct tq_cli_command cli_run = {
    .name = "run",
    .usage = "traceq run (--op OP | --cmd 'PROG ARGS {in} {out}' --halo H) --input IN --output OUT\n"
             "                  (--plan PLAN.json | --chunks none|auto|I,X,S |\n"
             "                  --planner traceq|seed --model M.json) [options]",
    .about = "Compute operator OP over the volume IN block by block and write OUT (.npy or .segy), equal to the\n"
             "unchunked result. Each block runs in a fresh worker process held to --memory-per-worker by its own\n"
             "memory cgroup (v2 memory.max, else v1 memory.limit_in_bytes), or by an RSS watchdog where no cgroup\n"
             "can be made. A block whose worker is OOM-killed is split in two and retried; a block whose worker\n"
             "dies of any other signal (killed from outside, crashed) is run again whole. A worker that exits with\n"
             "an error (bad input, full disk) is not retried: the run fails and names the block.",
    .opts = run_opts,
    .epilog = "OUT is written under a temporary name and renamed when complete. Finished blocks are recorded in\n"
              "OUT.journal; after a kill, the same command with --resume computes only the rest.\n"
              "Exit codes: 0 done, 1 a block failed (cause printed), 2 usage or bad input, 128+N interrupted by N.",
};

/* Parse one option into a; returns -1 to go on, else the exit code. */
static int run_parse_opt(int c, struct tq_run_args *a)
{
    struct tq_err err = {0};
    long v;
    switch (c) {
    case 'o': a->op = optarg; break;
    case 'C': a->cmd = optarg; break;
    case 'H': a->halo = optarg; break;
    case 'T': a->trim = optarg; break;
    case 'A': a->split_axes = optarg; break;
    case 'i': a->input = optarg; break;
    case 'O': a->output = optarg; break;
    case 'p': a->plan = optarg; break;
    case 'c': a->chunks = optarg; break;
    case 'P': a->planner = optarg; break;
    case 'm': a->model = optarg; break;
    case 'F': a->full_size = 1; break;
    case 'R': a->resume = 1; break;
    case 'f': a->force = 1; break;
    case 'j': a->json = 1; break;
    case 'I': a->mpi = 1; break;
    case 'a': a->adapt = 1; break;
    case 'L': a->learn = optarg; break;
    case 'w':
        if (tq_parse_long(optarg, 1, TQ_RUNNER_MAX_WORKERS, "--workers", &v, &err))
            return tq_cli_fail("run", &err);
        a->workers = (int)v;
        break;
    case 'r':
        if (tq_parse_long(optarg, 0, 30, "--retries", &v, &err))
            return tq_cli_fail("run", &err);
        a->retries = (int)v;
        break;
    case 't':
        if (tq_parse_long(optarg, 0, 1024, "--threads", &v, &err))
            return tq_cli_fail("run", &err);
        a->threads = (int)v;
        break;
    case 'M':
        if (tq_parse_bytes(optarg, &a->memory, &err))
            return tq_cli_fail("run", &err);
        a->memory_given = 1;
        break;
#ifdef TQ_TESTING
    case 'x':
        if (tq_parse_bytes(optarg, &a->pad, &err))
            return tq_cli_fail("run", &err);
        break;
    case 'K': {
        char *end;
        errno = 0;
        a->kill_worker = strtol(optarg, &end, 10);
        a->kill_count = 1;
        if (*end == ',')
            a->kill_count = strtol(end + 1, &end, 10);
        if (*end || errno || a->kill_worker < 1 || a->kill_count < 1)
            return tq_cli_usage_error("run", "bad value '%s' for --kill-worker (want N or N,COUNT, both >= 1)",
                                      optarg);
        break;
    }
#endif
    case 's':
    case 'g': {
        char *end;
        double d = strtod(optarg, &end);
        if (*end || !(d > 0) || (c == 's' && d > 1))
            return tq_cli_usage_error("run", "bad value '%s' for --%s", optarg, c == 's' ? "safety" : "sigma");
        if (c == 's')
            a->safety = d;
        else
            a->sigma = d;
        break;
    }
    case 'e':
        if (!strcmp(optarg, "auto"))
            a->enforce = TQ_ENFORCE_AUTO;
        else if (!strcmp(optarg, "cgroup"))
            a->enforce = TQ_ENFORCE_CGROUP;
        else if (!strcmp(optarg, "watchdog"))
            a->enforce = TQ_ENFORCE_WATCHDOG;
        else
            return tq_cli_usage_error("run", "--enforce must be auto, cgroup or watchdog, not '%s'", optarg);
        break;
    }
    return -1;
}

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

/* FNV-1a over the plan's blocks: the journal's proof that a resumed run follows the same plan. */
static unsigned long long run_plan_hash(const struct tq_plan *plan)
{
    unsigned long long h = 1469598103934665603ull;
    for (size_t i = 0; i < plan->nblocks; i++)
        for (int a = 0; a < 3; a++) {
            size_t v[2] = {plan->blocks[i].out.lo[a], plan->blocks[i].out.hi[a]};
            const unsigned char *p = (const unsigned char *)v;
            for (size_t k = 0; k < sizeof v; k++)
                h = (h ^ p[k]) * 1099511628211ull;
        }
    return h;
}

/* The line naming this run in its journal. */
static void run_journal_key(const struct tq_run_setup *s, char *key, size_t size)
{
    char in[PATH_MAX];
    if (!realpath(s->args->input, in))
        snprintf(in, sizeof in, "%s", s->args->input);
    char halo[64] = "";
    if (s->args->cmd)
        tq_ucmd_format_halo(s->params.cmd_halo, halo, sizeof halo);
    /* a command's key holds its template with line breaks blanked (the journal's key is one line) */
    char cmd[1024] = "";
    snprintf(cmd, sizeof cmd, "%s", s->args->cmd ? s->args->cmd : "");
    for (char *c = cmd; *c; c++)
        *c = *c == '\n' || *c == '\r' ? ' ' : *c;
    snprintf(key, size, "op=%s sigma=%g full=%d halo=%s trim=%zu cmd=[%s] input=%s shape=%zux%zux%zu "
             "out=%zux%zux%zu blocks=%zu plan=%016llx%s",
             s->op->name, s->params.sigma[0], s->params.full_size, halo, s->params.cmd_trim, cmd, in,
             s->plan->shape[0], s->plan->shape[1],
             s->plan->shape[2], s->plan->out_shape[0], s->plan->out_shape[1], s->plan->out_shape[2],
             s->plan->nblocks, run_plan_hash(s->plan), s->args->adapt ? " adapt" : "");
}

/* Create the output (or reopen the killed run's) and its journal. */
static tq_status run_open_output(struct tq_run_setup *s, struct tq_err *err)
{
    const struct tq_run_args *a = s->args;
    char jpath[PATH_MAX + 16], key[PATH_MAX + 2048];
    snprintf(jpath, sizeof jpath, "%s.journal", a->output);
    run_journal_key(s, key, sizeof key);
    if (a->resume) {
        TQ_TRY(tq_journal_open(jpath, key, NULL, a->input, 1, &s->journal, err));
        if (!tq_journal_data(s->journal))
            return tq_fail(err, TQ_ERR_FORMAT, "journal %s names no unfinished output", jpath);
        return tq_vol_writer_reopen(a->output, tq_journal_data(s->journal), s->plan->out_shape, a->force, &s->writer,
                                    err);
    }
    if (!a->force && access(jpath, F_OK) == 0)
        return tq_fail(err, TQ_ERR_USAGE, "%s exists: an earlier run was interrupted; add --resume to continue it or "
                       "--force to start over", jpath);
    if (a->force && !a->mpi)
        TQ_TRY(tq_journal_discard(jpath, a->output, err));
    /* A SEG-Y output of a SEG-Y input copies its geometry and headers. */
    tq_vol_reader *like = NULL;
    enum tq_vol_format ofmt;
    if (tq_vol_format_of(a->output, &ofmt, NULL) == TQ_OK && ofmt == TQ_VOL_SEGY &&
        tq_vol_reader_open(a->input, &like, NULL) == TQ_OK && tq_vol_reader_format(like) != TQ_VOL_SEGY) {
        tq_vol_reader_free(like);
        like = NULL;
    }
    tq_status st = tq_vol_writer_create(a->output, s->plan->out_shape, a->force, like, &s->writer, err);
    tq_vol_reader_free(like);
    if (st == TQ_OK && !a->mpi)
        st = tq_journal_open(jpath, key, tq_vol_writer_tmp_path(s->writer), a->input, 0, &s->journal, err);
    if (st == TQ_OK && s->journal) /* a signal leaves the temporary with its journal, for --resume */
        tq_vol_writer_keep(s->writer);
    return st;
}

/* Fill the runner's options from the arguments and the plan. */
static void run_fill_opts(const struct tq_run_setup *s, struct tq_runner_opts *o)
{
    const struct tq_run_args *a = s->args;
    *o = (struct tq_runner_opts){.workers = a->workers,
                                 .memory_per_worker = a->memory_given ? a->memory : s->plan->memory_bytes,
                                 .retries = a->retries,
                                 .enforce = a->enforce,
                                 .journal = s->journal,
                                 .progress = !a->json && isatty(2),
                                 .pad_per_voxel = a->pad,
                                 .kill_worker = a->kill_worker,
                                 .kill_count = a->kill_count};
}

/* The human report on stdout. */
static void run_print_report(const struct tq_run_setup *s, const struct tq_runner_report *r)
{
    char lim[32], a[32], b[32];
    tq_format_bytes(r->limit, lim, sizeof lim);
    double mibs = r->wall_s > 0 ? (double)r->bytes_out / 1048576.0 / r->wall_s : 0;
    printf("traceq run: %s on %zux%zux%zu -> %s (%zux%zux%zu), %s plan of %zu blocks, %d workers\n", s->op->name,
           s->plan->shape[0], s->plan->shape[1], s->plan->shape[2], s->args->output, s->plan->out_shape[0],
           s->plan->out_shape[1], s->plan->out_shape[2], s->plan->planner, s->plan->nblocks, r->workers);
    printf("  wall %.2f s, %zu blocks run, %zu resumed from the journal, %zu retries (splits), %zu OOM kills, "
           "%.1f MiB/s\n", r->wall_s, r->blocks_run, r->blocks_skipped, r->splits, r->oom_kills, mibs);
    if (r->crash_retries) {
        printf("  %zu crash rerun(s) of blocks whose worker died of a signal without an OOM kill:", r->crash_retries);
        for (int sig = 1; sig < TQ_RUNNER_NSIG; sig++)
            if (r->crash_signal[sig]) {
                char name[32];
                tq_proc_signal_name(sig, name, sizeof name);
                printf(" %zu x %s (%s)", r->crash_signal[sig], name, strsignal(sig));
            }
        putchar('\n');
    }
    printf("  limit %s per worker, enforced by: %s\n", r->limit ? lim : "none", r->mechanism);
    for (int i = 0; i < r->workers; i++)
        printf("  worker %d: %zu blocks, peak %s (cgroup, page cache included), %s RSS (VmHWM), busy %.2f s\n", i,
               r->worker[i].blocks, r->worker[i].cg_peak ? tq_format_bytes(r->worker[i].cg_peak, a, sizeof a) : "-",
               tq_format_bytes(r->worker[i].rss_peak, b, sizeof b), r->worker[i].busy_s);
    if (s->adapt)
        tq_adapt_print(s->adapt, stdout);
}

static void run_print_json(const struct tq_run_setup *s, const struct tq_runner_report *r, const char *error)
{
    json_t *o = tq_runner_report_json(r);
    if (!o)
        return;
    json_object_set_new(o, "op", json_string(s->op->name));
    if (s->args->cmd)
        json_object_set_new(o, "command", json_string(s->args->cmd));
    json_object_set_new(o, "input", json_string(s->args->input));
    json_object_set_new(o, "output", json_string(s->args->output));
    json_object_set_new(o, "planner", json_string(s->plan->planner));
    json_object_set_new(o, "shape", json_pack("[I,I,I]", (json_int_t)s->plan->shape[0],
                                              (json_int_t)s->plan->shape[1], (json_int_t)s->plan->shape[2]));
    /* The first block is the plan's largest along every axis (grids put the short edge blocks last). */
    if (s->plan->nblocks) {
        const struct tq_box *b0 = &s->plan->blocks[0].out;
        json_object_set_new(o, "block", json_pack("[I,I,I]", (json_int_t)tq_box_len(b0, 0),
                                                  (json_int_t)tq_box_len(b0, 1), (json_int_t)tq_box_len(b0, 2)));
    }
    json_object_set_new(o, "threads_per_block", json_integer(s->params.threads));
    if (s->adapt)
        json_object_set_new(o, "adapt", tq_adapt_json(s->adapt));
    json_object_set_new(o, "ok", json_boolean(!error));
    if (error)
        json_object_set_new(o, "error", json_string(error));
    char *text = json_dumps(o, JSON_INDENT(2));
    if (text)
        puts(text);
    free(text);
    json_decref(o);
}

/* Run the plan locally (or over MPI) and finish the output: commit on success, keep it for --resume otherwise. */
static int run_execute(struct tq_run_setup *s)
{
    struct tq_err err = {0};
    struct tq_opjob job = {.op = s->op, .params = s->params, .input = s->args->input, .writer = s->writer};
    memcpy(job.in_shape, s->plan->shape, sizeof job.in_shape);
    struct tq_runner_task task = {.compute = tq_opjob_block, .ctx = &job, .splittable = s->op->splittable,
                                  .bytes_per_voxel = sizeof(float)};
    static struct tq_cmdjob cjob; /* large (paths); one per run */
    if (s->args->cmd) {
        cjob = (struct tq_cmdjob){.cmd = &s->ucmd, .op = s->op, .params = s->params, .input = s->args->input,
                                  .writer = s->writer};
        memcpy(cjob.in_shape, s->plan->shape, sizeof cjob.in_shape);
        if (tq_cmdjob_tmpdir_open(&cjob, s->args->output, &err))
            return tq_cli_fail("run", &err);
        task = (struct tq_runner_task){.compute = tq_cmdjob_block, .ctx = &cjob, .splittable = s->op->splittable,
                                       .bytes_per_voxel = sizeof(float), .reaped = tq_cmdjob_reaped, .spawns = 1};
    }
    struct tq_runner_opts o;
    run_fill_opts(s, &o);
    struct tq_box *boxes = tq_malloc((s->plan->nblocks + 1) * sizeof *boxes);
    if (!boxes)
        return tq_cli_fail("run", &(struct tq_err){TQ_ERR_NOMEM, "out of memory"});
    for (size_t i = 0; i < s->plan->nblocks; i++)
        boxes[i] = s->plan->blocks[i].out;
    struct tq_runner_report rep;
    int print = 1;
    tq_status st;
#ifdef TQ_HAVE_MPI
    if (s->args->mpi)
        st = tq_mpi_run(&task, boxes, s->plan->nblocks, &o, &rep, &print, &err);
    else
#endif
        if (s->args->adapt)
        st = tq_adapt_run(s->adapt, &task, &o, &rep, &err);
    else
        st = tq_runner_run(&task, boxes, s->plan->nblocks, &o, &rep, &err);
    free(boxes);
    if (s->args->cmd)
        tq_cmdjob_tmpdir_close(&cjob);
    if (st == TQ_OK && print)
        st = tq_vol_writer_commit(s->writer, &err);
    if (st == TQ_OK && s->journal) {
        st = tq_journal_finish(s->journal, &err);
        s->journal = NULL;
    }
    if (st == TQ_OK && s->args->learn)
        st = tq_adapt_learn(s->adapt, s->args->learn, s->args->force, &err);
    if (st && s->journal)
        tq_vol_writer_keep(s->writer);
    if (print && s->args->json)
        run_print_json(s, &rep, st ? err.msg : NULL);
    else if (print)
        run_print_report(s, &rep);
    if (st == TQ_OK)
        return TQ_EXIT_OK;
    if (print)
        fprintf(stderr, "traceq run: %s\n", err.msg);
    if (print && s->journal)
        fprintf(stderr, "traceq run: finished blocks are kept; the same command with --resume continues\n");
    return rep.interrupted ? 128 + rep.interrupted : TQ_EXIT_FAIL;
}

int cmd_run(int argc, char **argv)
{
    struct tq_run_args a = {.workers = 2, .retries = 2, .safety = 0.8, .sigma = 3.0};
    int c, rc;
    optind = 1;
    while ((c = tq_cli_next(&cli_run, argc, argv)) > 0)
        if ((rc = run_parse_opt(c, &a)) >= 0)
            return rc;
    if (c != TQ_CLI_END)
        return tq_cli_exit_code(c);
    if ((rc = run_check_args(&a, argc, argv)) >= 0)
        return rc;
    if (a.enforce != TQ_ENFORCE_WATCHDOG && !a.mpi && !(a.memory_given && !a.memory))
        tq_cg_reexec_in_scope(argc, argv); /* returns unless systemd can give a non-root user a delegated cgroup */
#ifdef TQ_HAVE_MPI
    struct tq_err merr = {0};
    if (a.mpi && tq_mpi_start(&merr))
        return tq_cli_fail("run", &merr);
#endif
    struct tq_run_setup s = {.args = &a};
    struct tq_err err = {0};
    tq_status st = tq_run_prepare(&s, &err);
    if (st == TQ_OK && a.adapt) /* before the output exists: bad input leaves nothing behind */
        st = tq_adapt_prepare(&s, a.memory_given ? a.memory : s.plan->memory_bytes, &err);
    if (st == TQ_OK && a.learn)
        st = tq_adapt_learn_check(a.learn, a.force, &err);
#ifdef TQ_HAVE_MPI
    if (a.mpi) {
        /* Rank 0 creates the output; the others reopen its temporary once they learn its name. */
        if (st == TQ_OK && tq_mpi_rank() == 0)
            st = run_open_output(&s, &err);
        st = tq_mpi_share_output(a.output, s.plan ? s.plan->out_shape : NULL, a.force, &s.writer, st, &err);
    } else
#endif
        if (st == TQ_OK)
        st = run_open_output(&s, &err);
    rc = st ? tq_cli_fail("run", &err) : run_execute(&s);
    tq_adapt_free(s.adapt);
    tq_journal_free(s.journal);
    tq_vol_writer_free(s.writer);
    tq_plan_free(s.plan);
    tq_ucmd_free(&s.ucmd);
#ifdef TQ_HAVE_MPI
    if (a.mpi)
        tq_mpi_stop();
#endif
    return rc;
}
