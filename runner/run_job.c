/* run_job.c - one whole chunked run: prepare, open the output and its journal, run the blocks, commit, report
 * (see run_job.h). */
#include "run_job.h"

#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/alloc.h"
#include "../common/process.h"
#include "../common/units.h"
#include "adapt.h"
#include "cgroup.h"
#include "cmdjob.h"
#include "journal.h"
#include "opjob.h"

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

/* The runner's options from the arguments and the plan. */
static void run_fill_opts(const struct tq_run_setup *s, struct tq_runner_opts *o)
{
    const struct tq_run_args *a = s->args;
    *o = (struct tq_runner_opts){.workers = a->workers,
                                 .memory_per_worker = a->memory_given ? a->memory : s->plan->memory_bytes,
                                 .retries = a->retries,
                                 .enforce = a->enforce,
                                 .needs_cgroup = tq_plan_needs_cgroup(s->plan),
                                 .journal = s->journal,
                                 .progress = !a->json && isatty(2),
                                 .pad_per_voxel = a->pad,
                                 .kill_worker = a->kill_worker,
                                 .kill_count = a->kill_count};
}

/* Run the plan's blocks here (or over the spread's ranks) and finish the output: commit on success, keep it for
 * --resume otherwise. */
static tq_status run_blocks(struct tq_run_outcome *o, struct tq_err *err)
{
    struct tq_run_setup *s = &o->setup;
    const struct tq_run_args *a = s->args;
    struct tq_opjob job = {.op = s->op, .params = s->params, .input = a->input, .writer = s->writer};
    memcpy(job.in_shape, s->plan->shape, sizeof job.in_shape);
    struct tq_runner_task task = {.compute = tq_opjob_block, .ctx = &job, .splittable = s->op->splittable,
                                  .bytes_per_voxel = sizeof(float)};
    struct tq_cmdjob *cjob = NULL; /* large (paths) */
    if (a->cmd) {
        if (!(cjob = tq_malloc(sizeof *cjob)))
            return tq_fail(err, TQ_ERR_NOMEM, "out of memory");
        *cjob = (struct tq_cmdjob){.cmd = &s->ucmd, .op = s->op, .params = s->params, .input = a->input,
                                   .writer = s->writer};
        memcpy(cjob->in_shape, s->plan->shape, sizeof cjob->in_shape);
        if (tq_cmdjob_tmpdir_open(cjob, a->output, err)) {
            free(cjob);
            return err->status;
        }
        task = (struct tq_runner_task){.compute = tq_cmdjob_block, .ctx = cjob, .splittable = s->op->splittable,
                                       .bytes_per_voxel = sizeof(float), .reaped = tq_cmdjob_reaped, .spawns = 1};
    }
    struct tq_runner_opts opts;
    run_fill_opts(s, &opts);
    opts.traces = o->traces;
    struct tq_box *boxes = tq_malloc((s->plan->nblocks + 1) * sizeof *boxes);
    if (!boxes) {
        if (cjob)
            tq_cmdjob_tmpdir_close(cjob);
        free(cjob);
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < s->plan->nblocks; i++)
        boxes[i] = s->plan->blocks[i].out;
    o->ran = 1;
    tq_status st;
    if (a->spread)
        st = a->spread->run(&task, boxes, s->plan->nblocks, &opts, &o->rep, &o->root, err);
    else if (s->adapt)
        st = tq_adapt_run(s->adapt, &task, &opts, &o->rep, err);
    else
        st = tq_runner_run(&task, boxes, s->plan->nblocks, &opts, &o->rep, err);
    free(boxes);
    if (cjob)
        tq_cmdjob_tmpdir_close(cjob);
    free(cjob);
    if (st == TQ_OK && o->root)
        st = tq_vol_writer_commit(s->writer, err);
    if (st == TQ_OK && s->journal) {
        st = tq_journal_finish(s->journal, err);
        s->journal = NULL;
    }
    if (st == TQ_OK && a->learn)
        st = tq_adapt_learn(s->adapt, a->learn, a->force, err);
    if (st && s->journal) {
        tq_vol_writer_keep(s->writer);
        o->resumable = 1;
    }
    return st;
}

/* A plan sized in cgroup-charged memory needs a cgroup to enforce its limit: refuse before the output exists when
 * the limit would fall to the RSS watchdog (the runner checks again as it sets its limits up). */
static tq_status run_check_enforcement(const struct tq_run_setup *s, struct tq_err *err)
{
    const struct tq_run_args *a = s->args;
    uint64_t limit = a->memory_given ? a->memory : s->plan->memory_bytes;
    if (!limit || !tq_plan_needs_cgroup(s->plan))
        return TQ_OK;
    struct tq_err cerr = {0};
    tq_cg_root *root = NULL;
    if (a->enforce != TQ_ENFORCE_WATCHDOG && tq_cg_root_create(&root, &cerr) == TQ_OK) {
        tq_cg_root_free(root);
        return TQ_OK;
    }
    return tq_fail(err, TQ_ERR_USAGE, "the plan was sized by a model of cgroup-charged memory (charged_peak_bytes), "
                   "but this run would enforce the limit with the RSS watchdog (%.300s), which also counts the shared "
                   "library pages a cgroup does not charge: plan with a model of peak_rss_bytes (traceq fit --target "
                   "peak_rss_bytes) or run where memory cgroups can be made",
                   a->enforce == TQ_ENFORCE_WATCHDOG ? "--enforce watchdog" : cerr.msg);
}

/* Prepare the run and open its output: rank 0 creates it under MPI, the others reopen its temporary. */
static tq_status run_open(struct tq_run_outcome *o, struct tq_err *err)
{
    struct tq_run_setup *s = &o->setup;
    const struct tq_run_args *a = s->args;
    tq_status st = tq_run_prepare(s, err);
    if (st == TQ_OK)
        st = run_check_enforcement(s, err);
    if (st == TQ_OK && a->adapt) /* before the output exists: bad input leaves nothing behind */
        st = tq_adapt_prepare(s, a->memory_given ? a->memory : s->plan->memory_bytes, err);
    if (st == TQ_OK && a->learn)
        st = tq_adapt_learn_check(a->learn, a->force, err);
    if (!a->spread)
        return st ? st : run_open_output(s, err);
    if (st == TQ_OK && a->spread->rank() == 0)
        st = run_open_output(s, err);
    return a->spread->share_output(a->output, s->plan ? s->plan->out_shape : NULL, a->force, &s->writer, st, err);
}

tq_status tq_run_job(const struct tq_run_args *a, struct tq_run_outcome *o, struct tq_err *err)
{
    *o = (struct tq_run_outcome){.setup = {.args = a}, .root = 1};
    if (a->mpi && !a->spread)
        return tq_fail(err, TQ_ERR_USAGE, "--mpi: this traceq was built without MPI (install libopenmpi-dev, "
                       "rebuild)");
    if (a->scope_argv && a->enforce != TQ_ENFORCE_WATCHDOG && !a->mpi && !(a->memory_given && !a->memory))
        tq_cg_reexec_in_scope(a->scope_argc, a->scope_argv); /* returns unless systemd can delegate a cgroup */
    if (a->trace_blocks) {
        if (!a->scope_argv || a->spread)
            return tq_fail(err, TQ_ERR_USAGE, "--trace-blocks needs the run's command line, and no MPI");
        if (!(o->traces = tq_calloc(1, sizeof *o->traces)))
            return tq_fail(err, TQ_ERR_NOMEM, "out of memory");
        /* does not return unless already under the shim, or on failure */
        TQ_TRY(tq_block_traces_start(a->trace_blocks, a->stacks, a->scope_argc, a->scope_argv, o->traces, err));
    }
    if (a->spread)
        TQ_TRY(a->spread->start(err));
    tq_status st = run_open(o, err);
    if (st == TQ_OK)
        st = run_blocks(o, err);
    if (o->traces)
        tq_block_traces_finish(o->traces);
    tq_journal_free(o->setup.journal);
    o->setup.journal = NULL;
    tq_vol_writer_free(o->setup.writer);
    o->setup.writer = NULL;
    if (a->spread)
        a->spread->stop();
    return st;
}

void tq_run_outcome_block(const struct tq_run_outcome *o, size_t len[3])
{
    const struct tq_plan *p = o->setup.plan;
    for (int a = 0; a < 3; a++)
        len[a] = p && p->nblocks ? tq_box_len(&p->blocks[0].out, a) : 0;
}

json_t *tq_run_outcome_json(const struct tq_run_outcome *o, const char *error)
{
    const struct tq_run_setup *s = &o->setup;
    json_t *j = tq_runner_report_json(&o->rep);
    if (!j)
        return NULL;
    json_object_set_new(j, "op", json_string(s->op->name));
    if (s->args->cmd)
        json_object_set_new(j, "command", json_string(s->args->cmd));
    json_object_set_new(j, "input", json_string(s->args->input));
    json_object_set_new(j, "output", json_string(s->args->output));
    json_object_set_new(j, "planner", json_string(s->plan->planner));
    json_object_set_new(j, "shape", json_pack("[I,I,I]", (json_int_t)s->plan->shape[0],
                                              (json_int_t)s->plan->shape[1], (json_int_t)s->plan->shape[2]));
    /* The first block is the plan's largest along every axis (grids put the short edge blocks last). */
    if (s->plan->nblocks) {
        size_t b[3];
        tq_run_outcome_block(o, b);
        json_object_set_new(j, "block", json_pack("[I,I,I]", (json_int_t)b[0], (json_int_t)b[1], (json_int_t)b[2]));
    }
    json_object_set_new(j, "threads_per_block", json_integer(s->params.threads));
    if (s->adapt)
        json_object_set_new(j, "adapt", tq_adapt_json(s->adapt));
    json_object_set_new(j, "ok", json_boolean(!error));
    if (error)
        json_object_set_new(j, "error", json_string(error));
    return j;
}

/* The human report. */
static void run_print_text(const struct tq_run_outcome *o, FILE *f)
{
    const struct tq_run_setup *s = &o->setup;
    const struct tq_runner_report *r = &o->rep;
    char lim[32], a[32], b[32];
    tq_format_bytes(r->limit, lim, sizeof lim);
    double mibs = r->wall_s > 0 ? (double)r->bytes_out / 1048576.0 / r->wall_s : 0;
    fprintf(f, "traceq run: %s on %zux%zux%zu -> %s (%zux%zux%zu), %s plan of %zu blocks, %d workers\n",
            s->op->name, s->plan->shape[0], s->plan->shape[1], s->plan->shape[2], s->args->output,
            s->plan->out_shape[0], s->plan->out_shape[1], s->plan->out_shape[2], s->plan->planner, s->plan->nblocks,
            r->workers);
    fprintf(f, "  wall %.2f s, %zu blocks run, %zu resumed from the journal, %zu retries (splits), %zu OOM kills, "
            "%.1f MiB/s\n", r->wall_s, r->blocks_run, r->blocks_skipped, r->splits, r->oom_kills, mibs);
    if (r->crash_retries) {
        fprintf(f, "  %zu crash rerun(s) of blocks whose worker died of a signal without an OOM kill:",
                r->crash_retries);
        for (int sig = 1; sig < TQ_RUNNER_NSIG; sig++)
            if (r->crash_signal[sig]) {
                char name[32];
                tq_proc_signal_name(sig, name, sizeof name);
                fprintf(f, " %zu x %s (%s)", r->crash_signal[sig], name, strsignal(sig));
            }
        fputc('\n', f);
    }
    fprintf(f, "  limit %s per worker, enforced by: %s\n", r->limit ? lim : "none", r->mechanism);
    if (r->trace_dir[0])
        fprintf(f, "  block traces: %zu in %s\n", r->traces_written, r->trace_dir);
    for (size_t i = 0; i < r->nkilled_traces; i++)
        fprintf(f, "  OOM-killed attempt: traceq report %s\n", r->killed_trace[i]);
    for (int i = 0; i < r->workers; i++)
        fprintf(f, "  worker %d: %zu blocks, peak %s (cgroup, page cache included), %s RSS (VmHWM), busy %.2f s\n",
                i, r->worker[i].blocks,
                r->worker[i].cg_peak ? tq_format_bytes(r->worker[i].cg_peak, a, sizeof a) : "-",
                tq_format_bytes(r->worker[i].rss_peak, b, sizeof b), r->worker[i].busy_s);
    if (s->adapt)
        tq_adapt_print(s->adapt, f);
}

void tq_run_outcome_print(const struct tq_run_outcome *o, const char *error, FILE *f)
{
    if (!o->setup.args->json) {
        run_print_text(o, f);
        return;
    }
    json_t *j = tq_run_outcome_json(o, error);
    char *text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
    if (text)
        fprintf(f, "%s\n", text);
    free(text);
    json_decref(j);
}

void tq_run_outcome_free(struct tq_run_outcome *o)
{
    free(o->traces);
    o->traces = NULL;
    tq_journal_free(o->setup.journal);
    tq_vol_writer_free(o->setup.writer);
    tq_plan_free(o->setup.plan);
    tq_ucmd_free(&o->setup.ucmd);
    tq_adapt_free(o->setup.adapt);
    o->setup.adapt = NULL;
    o->setup.journal = NULL;
    o->setup.writer = NULL;
    o->setup.plan = NULL;
}
