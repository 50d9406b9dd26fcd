/* cmd_sweep.c - `traceq sweep`: profile an operator over a grid of synthetic shapes into a dataset CSV. */
#include "../model/sweep.h"
#include "../model/sweep_guard.h"
#include "../model/sweep_target.h"
#include "../operators/operator.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/alloc.h"
#include "../common/clock.h"
#include "../common/units.h"
#include "cli.h"

#define MAX_AXIS 1024

struct sweep_opts {
    const char *op, *output, *traces, *grid[4], *cpus, *exe, *cmd, *param[4];
    const char *target, *target_set, *components; /* the targeted sweep (model/sweep_target.h) */
    double budget_s;
    uint64_t max_memory;
    int grid_given, runs_given;
    size_t target_shape[3];
    size_t nparams;
    char pnames[3][32];
    const char *pname_ptr[3];
    struct tq_ucmd ucmd;
    long runs, interval_ms;
    int use_record;
    size_t vals[3][MAX_AXIS], nvals[3];
    cpu_set_t cpuset;
};

static const struct tq_cli_opt sweep_opts[] = {
    TQ_OPT('p', "op", "OP", "operator to profile (this, or --cmd)", NULL),
    TQ_OPT('C', "cmd", "TEMPLATE", "a user's command: words split without a shell (see `traceq run`)", NULL),
    TQ_OPT('P', "param", "NAME=A:B:STEP",
           "a parameter of --cmd ({NAME}) and its range; A:B:xF for a geometric one (e.g. rows=1000:64000:x2); up "
           "to 3 of them, instead of a grid",
           NULL),
    TQ_OPT_SHORT('o', "output", "FILE", "dataset CSV to create or extend (required)", NULL),
    TQ_OPT('0', "grid", "A:B:STEP", "range of every axis", "100:400:100"),
    TQ_OPT('1', "grid-inlines", "R", "range of inlines", "--grid"),
    TQ_OPT('2', "grid-xlines", "R", "range of xlines", "--grid"),
    TQ_OPT('3', "grid-samples", "R", "range of samples", "--grid"),
    TQ_OPT('r', "runs", "N", "runs per shape", "3"),
    TQ_OPT('i', "interval-ms", "MS", "sampling interval", "10"),
    TQ_OPT('c', "cpus", "LIST",
           "CPUs to pin each run to, e.g. 0 or 0,2 or 1-3; the operator gets one thread per CPU", "0"),
    TQ_OPT('b', "backend", "record|proc",
           "record: under `traceq record` (peak heap/mmap from the trace);\nproc: sample /proc/PID/status only",
           "record"),
    TQ_OPT('T', "traces", "DIR", "where traces go", "DATASET.csv.traces"),
    TQ_OPT('x', "traceq", "PATH", "traceq binary to run", "this one"),
    TQ_OPT('t', "target", "IxXxS",
           "aim at this shape: choose the shapes, small first, growing toward it, refitting after each, until the "
           "prediction for it is stable or the budget is spent (a --grid given is the initial design)",
           NULL),
    TQ_OPT('S', "target-set", "NAME=V,..", "--target for --cmd with parameters, e.g. rows=500000,cols=40", NULL),
    TQ_OPT('B', "budget", "TIME", "with --target: wall-clock budget, e.g. 90s, 2m", "2m"),
    TQ_OPT('M', "max-memory", "BYTES", "with --target: stop before a shape whose predicted bound is above this", "no limit"),
    TQ_OPT('m', "components", "LIST", "with --target: components fitted (as `traceq fit --components`)",
           "heap,mmap,rest"),
    TQ_OPT_END,
};

const struct tq_cli_command cli_sweep = {
    .name = "sweep",
    .usage = "traceq sweep (--op OP | --cmd 'PROG {in} {out}' | --cmd 'PROG {p}..' --param p=R..)\n"
             "                    -o DATASET.csv [--target IxXxS | --target-set p=V,.. [--budget 2m]] [options]",
    .about = "Run `traceq op OP --synthetic SHAPE` in its own pinned process for every shape of a grid (the\n"
             "product of the per-axis ranges, inclusive ends) and append one row per run to a CSV dataset.\n"
             "Rerunning skips the runs already in the CSV; a failed run is recorded with its reason (the last\n"
             "line it printed on stderr). When the first 3 runs all fail with the same reason the sweep stops\n"
             "and writes none of them; it exits 1 then and whenever every run failed, 2 on bad options.\n"
             "With --cmd a user's command is profiled instead, under `traceq record` (every process it starts is\n"
             "traced; the row holds the sum of their peaks): with {in} {out}, on a synthetic float32 .npy\n"
             "input of each shape; with --param, on each combination of the parameters' values.",
    .opts = sweep_opts,
    .epilog = "Progress (shapes done, elapsed, ETA) is shown on a terminal only. With --target (or --target-set) the\n"
              "sweep prints each run and, after each fit, the target's prediction and bound; it ends saying whether\n"
              "it converged (two fits within 2%, bound within 10%) and if not, why, and how far (volume factor)\n"
              "the target lies beyond the largest measured shape; --runs defaults to 1 then.",
};

static int sweep_value(int c, const char *arg, struct sweep_opts *o, struct tq_err *err)
{
    switch (c) {
    case 'r': o->runs_given = 1; return tq_parse_long(arg, 1, 1000, "--runs", &o->runs, err);
    case 't': o->target = arg; return tq_parse_shape(arg, o->target_shape, err);
    case 'S': o->target_set = arg; return TQ_OK;
    case 'B': return tq_parse_seconds(arg, "--budget", &o->budget_s, err);
    case 'M': return tq_parse_bytes(arg, &o->max_memory, err);
    case 'm': o->components = arg; return TQ_OK;
    case 'i': return tq_parse_long(arg, 1, 60000, "--interval-ms", &o->interval_ms, err);
    case 'b':
        if (strcmp(arg, "record") && strcmp(arg, "proc"))
            return tq_fail(err, TQ_ERR_USAGE, "--backend must be record or proc, not '%s'", arg);
        o->use_record = !strcmp(arg, "record");
        return TQ_OK;
    case 'c': o->cpus = arg; return tq_sweep_parse_cpus(arg, &o->cpuset, err);
    case 'p': o->op = arg; return TQ_OK;
    case 'C': o->cmd = arg; return TQ_OK;
    case 'P':
        if (o->nparams == 3)
            return tq_fail(err, TQ_ERR_USAGE, "at most 3 --param options");
        o->param[o->nparams++] = arg;
        return TQ_OK;
    case 'o': o->output = arg; return TQ_OK;
    case 'T': o->traces = arg; return TQ_OK;
    case 'x': o->exe = arg; return TQ_OK;
    default: o->grid[c - '0'] = arg; o->grid_given = 1; return TQ_OK; /* '0' = all axes, '1'..'3' = one axis */
    }
}

/* --cmd with a grid of shapes ({in} {out}) or with --param ranges (their names as placeholders). */
static int sweep_parse_cmd(struct sweep_opts *o)
{
    static const char *const volume_names[] = {"in", "out"};
    struct tq_err err = {0};
    o->op = "cmd";
    if (!o->use_record)
        return tq_cli_usage_error("sweep", "--cmd is profiled under `traceq record` only (--backend record)");
    if (tq_ucmd_parse(o->cmd, &o->ucmd, &err))
        return tq_cli_fail("sweep", &err);
    if (o->target_set) { /* the parameters' names and target values */
        if (o->nparams || o->grid_given)
            return tq_cli_usage_error("sweep", "--target-set chooses its own values: no --param or --grid with it");
        if (tq_sweep_target_parse_set(o->target_set, o->pnames, o->target_shape, &o->nparams, &err))
            return tq_cli_fail("sweep", &err);
        for (size_t i = 0; i < 3; i++) {
            o->pname_ptr[i] = o->pnames[i];
            o->target_shape[i] = i < o->nparams ? o->target_shape[i] : 1;
        }
        return tq_ucmd_check_names(&o->ucmd, o->pname_ptr, o->nparams, 1, &err) ? tq_cli_fail("sweep", &err) : 0;
    }
    if (!o->nparams)
        return tq_ucmd_check_names(&o->ucmd, volume_names, 2, 1, &err) ? tq_cli_fail("sweep", &err) : 0;
    if (o->grid[1] || o->grid[2] || o->grid[3] || strcmp(o->grid[0], "100:400:100"))
        return tq_cli_usage_error("sweep", "--grid goes with --op or a volume command, not with --param");
    for (size_t i = 0; i < 3; i++) {
        o->vals[i][0] = 1;
        o->nvals[i] = 1;
    }
    for (size_t i = 0; i < o->nparams; i++) {
        if (tq_sweep_parse_param(o->param[i], o->pnames[i], o->vals[i], MAX_AXIS, &o->nvals[i], &err))
            return tq_cli_fail("sweep", &err);
        for (size_t k = 0; k < i; k++)
            if (!strcmp(o->pnames[k], o->pnames[i]))
                return tq_cli_usage_error("sweep", "--param %s is given twice", o->pnames[i]);
        o->pname_ptr[i] = o->pnames[i];
    }
    if (tq_ucmd_check_names(&o->ucmd, o->pname_ptr, o->nparams, 1, &err))
        return tq_cli_fail("sweep", &err);
    return 0;
}

/* Returns -1 to go on, else the exit code. */
static int sweep_parse(int argc, char **argv, struct sweep_opts *o)
{
    struct tq_err err = {0};
    memset(o, 0, sizeof *o);
    o->grid[0] = "100:400:100";
    o->runs = 3;
    o->interval_ms = 10;
    o->use_record = 1;
    o->budget_s = -1;
    tq_sweep_parse_cpus("0", &o->cpuset, NULL);
    int c;
    optind = 1;
    while ((c = tq_cli_next(&cli_sweep, argc, argv)) > 0)
        if (sweep_value(c, optarg, o, &err))
            return tq_cli_fail("sweep", &err);
    if (c != TQ_CLI_END)
        return tq_cli_exit_code(c);
    if (optind != argc)
        return tq_cli_usage_error("sweep", "unexpected argument '%s'", argv[optind]);
    if (!!o->op + !!o->cmd != 1 || !o->output)
        return tq_cli_usage_error("sweep", "one of --op or --cmd, and -o, are required");
    if (o->op && !tq_op_find(o->op)) {
        char names[128] = "";
        for (const struct tq_op *op = tq_ops; op->name; op++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", names[0] ? ", " : "", op->name);
        return tq_cli_usage_error("sweep", "unknown operator '%s' (one of: %s)", o->op, names);
    }
    if (o->nparams && !o->cmd)
        return tq_cli_usage_error("sweep", "--param goes with --cmd");
    if (o->target && o->target_set)
        return tq_cli_usage_error("sweep", "--target or --target-set, not both");
    if (o->target_set && !o->cmd)
        return tq_cli_usage_error("sweep", "--target-set goes with --cmd (parameters); --target IxXxS otherwise");
    if (o->target && o->nparams)
        return tq_cli_usage_error("sweep", "a command with --param aims at --target-set NAME=V,.., not --target");
    if (!o->target && !o->target_set && (o->budget_s >= 0 || o->max_memory || o->components))
        return tq_cli_usage_error("sweep", "--budget, --max-memory and --components go with --target");
    if ((o->target || o->target_set) && !o->use_record)
        return tq_cli_usage_error("sweep", "a targeted sweep fits heap and mmap from traces: --backend record");
    for (int a = 0; a < 3 && !o->nparams; a++)
        if (tq_parse_range(o->grid[a + 1] ? o->grid[a + 1] : o->grid[0], o->vals[a], MAX_AXIS, &o->nvals[a], &err))
            return tq_cli_fail("sweep", &err);
    int rc = o->cmd ? sweep_parse_cmd(o) : 0;
    return rc ? rc : -1;
}

static void fmt_secs(double s, char *buf, size_t cap)
{
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, cap, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else
        snprintf(buf, cap, "%ldm%02lds", t / 60, t % 60);
}

struct sweep_progress {
    int tty;
    size_t shapes, runs_todo, runs_done;
    double t0; /* tq_clock_now() at the start */
};

static void progress_show(const struct sweep_progress *p, size_t shape_idx, const struct tq_dataset_row *r)
{
    if (!p->tty)
        return;
    char el[32], eta[32] = "?";
    double e = tq_clock_now() - p->t0;
    fmt_secs(e, el, sizeof el);
    if (p->runs_done)
        fmt_secs(e / (double)p->runs_done * (double)(p->runs_todo - p->runs_done), eta, sizeof eta);
    fprintf(stderr, "\r\033[K[shape %zu/%zu] %s %zux%zux%zu run %d | elapsed %s | ETA %s", shape_idx + 1, p->shapes,
            r->op, r->shape[0], r->shape[1], r->shape[2], r->run, el, eta);
    fflush(stderr);
}

/* The traceq binary to run: --traceq, else this process's own executable. */
static int sweep_exe(struct sweep_opts *o, char *buf, size_t cap)
{
    if (o->exe)
        return 0;
    if (tq_cli_self_exe(buf, cap))
        return -1;
    o->exe = buf;
    return 0;
}

static int sweep_one(const struct sweep_opts *o, const char *traces, const size_t shape[3], int run,
                     size_t *failed, struct tq_sweep_guard *guard)
{
    struct tq_sweep_job job = {o->exe,       o->op,          {shape[0], shape[1], shape[2]},
                               run,          (int)o->interval_ms, &o->cpuset, traces, o->use_record,
                               o->cmd ? &o->ucmd : NULL, o->pname_ptr, o->nparams};
    struct tq_dataset_row row;
    struct tq_err err = {0};
    if (tq_sweep_run(&job, &row, &err)) {
        row.ok = 0;
        snprintf(row.reason, sizeof row.reason, "%.250s", err.msg);
    }
    *failed += !row.ok;
    if (tq_sweep_guard_add(guard, &row, &err)) {
        if (isatty(2))
            fprintf(stderr, "\n");
        return tq_cli_fail("sweep", &err);
    }
    return 0;
}

static int sweep_loop(const struct sweep_opts *o, const struct tq_dataset *have, const char *traces)
{
    struct sweep_progress p = {isatty(2), o->nvals[0] * o->nvals[1] * o->nvals[2], 0, 0, 0};
    p.t0 = tq_clock_now();
    size_t idx = 0, failed = 0, skipped = 0;
    struct tq_sweep_guard guard;
    tq_sweep_guard_init(&guard, o->output);
    for (int pass = 0; pass < 2; pass++) /* pass 0 counts what is left to do, pass 1 does it */
        for (size_t i = 0; i < o->nvals[0]; i++)
            for (size_t j = 0; j < o->nvals[1]; j++)
                for (size_t k = 0; k < o->nvals[2]; k++, idx++)
                    for (int run = 1; run <= o->runs; run++) {
                        size_t s[3] = {o->vals[0][i], o->vals[1][j], o->vals[2][k]};
                        if (tq_dataset_has(have, o->op, s, run)) {
                            skipped += pass;
                            continue;
                        }
                        if (!pass) {
                            p.runs_todo++;
                            continue;
                        }
                        struct tq_dataset_row shown = {.shape = {s[0], s[1], s[2]}, .run = run};
                        snprintf(shown.op, sizeof shown.op, "%s", o->op);
                        progress_show(&p, idx % p.shapes, &shown);
                        int rc = sweep_one(o, traces, s, run, &failed, &guard);
                        if (rc)
                            return rc;
                        p.runs_done++;
                    }
    if (p.tty)
        fprintf(stderr, "\n");
    printf("%s: %zu runs done (%zu failed), %zu already in %s\n", o->op, p.runs_done, failed, skipped, o->output);
    struct tq_err err = {0};
    return tq_sweep_guard_finish(&guard, &err) ? tq_cli_fail("sweep", &err) : TQ_EXIT_OK;
}

/* The targeted sweep (model/sweep_target.h): its settings from the options, the run, the verdict. */
static int sweep_target(struct sweep_opts *o, const char *traces)
{
    struct tq_err err = {0};
    size_t n = o->nvals[0] * o->nvals[1] * o->nvals[2], (*grid)[3] = NULL;
    if (o->grid_given && n > TQ_TARGET_MAX_START)
        return tq_cli_usage_error("sweep", "a targeted sweep's --grid has at most %d shapes", TQ_TARGET_MAX_START);
    if (o->grid_given && !(grid = tq_calloc(n, sizeof *grid)))
        return tq_cli_usage_error("sweep", "out of memory");
    for (size_t i = 0, k = 0; grid && i < o->nvals[0]; i++)
        for (size_t j = 0; j < o->nvals[1]; j++)
            for (size_t l = 0; l < o->nvals[2]; l++, k++) {
                grid[k][0] = o->vals[0][i];
                grid[k][1] = o->vals[1][j];
                grid[k][2] = o->vals[2][l];
            }
    struct tq_sweep_target t = {
        .job = {o->exe, o->op, {0}, 0, (int)o->interval_ms, &o->cpuset, traces, 1, o->cmd ? &o->ucmd : NULL,
                o->pname_ptr, o->nparams},
        .dataset = o->output, .start = (const size_t (*)[3])grid, .nstart = grid ? n : 0,
        .min_value = o->nparams ? 1 : 8, .runs = o->runs_given ? (int)o->runs : 1,
        .budget_s = o->budget_s >= 0 ? o->budget_s : 120, .max_memory = o->max_memory, .out = stdout};
    memcpy(t.target, o->target_shape, sizeof t.target);
    tq_fit_dataset_defaults(&t.fit);
    struct tq_sweep_target_result res;
    tq_status st = o->components ? tq_components_parse_list(o->components, t.fit.use, &err) : TQ_OK;
    t.fit.components_asked = o->components && strcmp(o->components, "none");
    if (!st && !(st = tq_sweep_target_check(&t, &err)))
        st = tq_sweep_target_run(&t, &res, &err);
    free(grid);
    if (st)
        return tq_cli_fail("sweep", &err);
    printf("%s: %zu runs done (%zu failed); %s\n", o->op, res.runs_done, res.runs_failed, res.stopped);
    if (res.fitted)
        printf("%s: target %s: prediction %.1f MiB, bound %.1f MiB%s\n", o->op, o->target ? o->target : o->target_set,
               res.pred / 1048576.0, res.bound / 1048576.0, res.converged ? "; converged" : "");
    if (!res.converged)
        printf("not converged: the target lies %.3gx (volume) beyond the largest measured shape\n",
               res.volume_factor);
    return TQ_EXIT_OK;
}

/* Everything after parsing: the binary, the traces folder, the dataset so far, the loop. */
static int sweep_main(struct sweep_opts *o)
{
    char exe[PATH_MAX], traces[PATH_MAX];
    if (sweep_exe(o, exe, sizeof exe))
        return tq_cli_usage_error("sweep", "cannot find the traceq binary; pass --traceq PATH");
    if (access(o->exe, X_OK))
        return tq_cli_usage_error("sweep", "cannot run %s", o->exe);
    if (snprintf(traces, sizeof traces, "%s%s", o->traces ? o->traces : o->output, o->traces ? "" : ".traces") >=
        (int)sizeof traces)
        return tq_cli_usage_error("sweep", "path too long");
    struct tq_dataset *have = NULL;
    struct tq_err err = {0};
    const char *axes[3] = {o->pnames[0][0] ? o->pnames[0] : "_", o->pnames[1][0] ? o->pnames[1] : "_",
                           o->pnames[2][0] ? o->pnames[2] : "_"};
    if (access(o->output, F_OK) == 0 && tq_dataset_read(o->output, &have, &err))
        return tq_cli_fail("sweep", &err);
    int rc;
    if (tq_dataset_check_kind(have, o->cmd ? o->cmd : "", o->nparams ? axes : NULL, &err))
        rc = tq_cli_fail("sweep", &err);
    else if (mkdir(traces, 0755) && errno != EEXIST)
        rc = tq_cli_usage_error("sweep", "cannot create %s: %s", traces, strerror(errno));
    else if (o->target || o->target_set)
        rc = sweep_target(o, traces);
    else
        rc = sweep_loop(o, have, traces);
    tq_dataset_free(have);
    return rc;
}

int cmd_sweep(int argc, char **argv)
{
    struct sweep_opts o;
    int rc = sweep_parse(argc, argv, &o);
    if (rc < 0)
        rc = sweep_main(&o);
    tq_ucmd_free(&o.ucmd);
    return rc;
}
