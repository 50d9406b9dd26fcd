/* cmd_sweep.c - `traceq sweep`: profile an operator over a grid of synthetic shapes into a dataset CSV. */
#include "../model/sweep_grid.h"
#include "../model/sweep_target.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "../common/units.h"
#include "cli.h"

const struct tq_cli_command cli_sweep = {
    .name = "sweep",
    .opts = TQ_OPTIONS(
        TQ_OPT('p', "op", "OP", "operator to profile (this, or --cmd)", NULL),
        TQ_OPT('C', "cmd", "TEMPLATE", "a user's command: words split without a shell (see `traceq run`)", NULL),
        TQ_OPT('P', "param", "NAME=A:B:STEP",
               "a parameter of --cmd ({NAME}) and its range; A:B:xF for a geometric one (e.g. rows=1000:64000:x2); up "
               "to 3 of them, instead of a grid",
               NULL),
        TQ_OPT_OUTPUT("FILE", "dataset CSV to create or extend (required)", NULL),
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
        TQ_OPT('G', "charged", "auto|no",
               "auto: run each shape in its own memory cgroup where one can be made and record what it charged "
               "(charged_peak_bytes: anonymous + shmem memory, the figure the runner's cgroup limit enforces); "
               "no: do not",
               "auto"),
        TQ_OPT('x', "traceq", "PATH", "traceq binary to run", "this one"),
        TQ_OPT('t', "target", "IxXxS",
               "aim at this shape: choose the shapes, small first, growing toward it, refitting after each, until the "
               "prediction for it is stable or the budget is spent (a --grid given is the initial design)",
               NULL),
        TQ_OPT('S', "target-set", "NAME=V,..", "--target for --cmd with parameters, e.g. rows=500000,cols=40", NULL),
        TQ_OPT('B', "budget", "TIME", "with --target: wall-clock budget, e.g. 90s, 2m", "2m"),
        TQ_OPT('M', "max-memory", "BYTES", "with --target: stop before a shape whose predicted bound is above this",
               "no limit"),
        TQ_OPT('m', "components", "LIST", "with --target: components fitted (as `traceq fit --components`)",
               "heap,mmap,rest")),
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
    .epilog = "Progress (shapes done, elapsed, ETA) is shown on a terminal only. With --target (or --target-set) the\n"
              "sweep prints each run and, after each fit, the target's prediction and bound; it ends saying whether\n"
              "it converged (two fits within 2%, bound within 10%) and if not, why, and how far (volume factor)\n"
              "the target lies beyond the largest measured shape; --runs defaults to 1 then.",
};

static int sweep_value(int c, const char *arg, struct tq_sweep_spec *o, struct tq_sweep_target_opts *t,
                       struct tq_err *err)
{
    switch (c) {
    case 'r': t->runs_given = 1; return tq_parse_long(arg, 1, 1000, "--runs", &o->runs, err);
    case 't': t->target = arg; return TQ_OK;
    case 'S': t->target_set = arg; return TQ_OK;
    case 'B': return tq_parse_seconds(arg, "--budget", &t->budget_s, err);
    case 'M': return tq_parse_bytes(arg, &t->max_memory, err);
    case 'm': t->components = arg; return TQ_OK;
    case 'i': return tq_parse_long(arg, 1, 60000, "--interval-ms", &o->interval_ms, err);
    case 'b':
        if (strcmp(arg, "record") && strcmp(arg, "proc"))
            return tq_fail(err, TQ_ERR_USAGE, "--backend must be record or proc, not '%s'", arg);
        o->use_record = !strcmp(arg, "record");
        return TQ_OK;
    case 'c': return tq_sweep_parse_cpus(arg, &o->cpus, err);
    case 'p': o->op = arg; return TQ_OK;
    case 'C': o->cmd = arg; return TQ_OK;
    case 'P':
        if (o->nparams == 3)
            return tq_fail(err, TQ_ERR_USAGE, "at most 3 --param options");
        o->param[o->nparams++] = arg;
        return TQ_OK;
    case 'o': o->output = arg; return TQ_OK;
    case 'T': o->traces = arg; return TQ_OK;
    case 'G':
        if (strcmp(arg, "auto") && strcmp(arg, "no"))
            return tq_fail(err, TQ_ERR_USAGE, "--charged must be auto or no, not '%s'", arg);
        o->charged = !strcmp(arg, "auto");
        return TQ_OK;
    case 'x': o->exe = arg; return TQ_OK;
    default: o->grid[c - '0'] = arg; return TQ_OK; /* '0' = all axes, '1'..'3' = one axis */
    }
}

/* Returns -1 to go on, else the exit code. */
static int sweep_parse(int argc, char **argv, struct tq_sweep_spec *o, struct tq_sweep_target_opts *t)
{
    struct tq_err err = {0};
    *o = (struct tq_sweep_spec){.runs = 3, .interval_ms = 10, .use_record = 1, .charged = 1};
    *t = (struct tq_sweep_target_opts){.budget_s = -1};
    tq_sweep_parse_cpus("0", &o->cpus, NULL);
    int c;
    optind = 1;
    while ((c = tq_cli_next(&cli_sweep, argc, argv)) > 0)
        if (sweep_value(c, optarg, o, t, &err))
            return tq_cli_fail("sweep", &err);
    if (c != TQ_CLI_END)
        return tq_cli_exit_code(c);
    if (optind != argc)
        return tq_cli_usage_error("sweep", "unexpected argument '%s'", argv[optind]);
    return -1;
}

int cmd_sweep(int argc, char **argv)
{
    struct tq_sweep_spec spec;
    struct tq_sweep_target_opts target;
    int rc = sweep_parse(argc, argv, &spec, &target);
    if (rc >= 0)
        return rc;
    char exe[PATH_MAX];
    if (!spec.exe && tq_cli_self_exe(exe, sizeof exe))
        return tq_cli_usage_error("sweep", "cannot find the traceq binary; pass --traceq PATH");
    spec.exe = spec.exe ? spec.exe : exe;
    struct tq_sweep_grid g;
    struct tq_err err = {0};
    if (tq_sweep_target_asked(&target))
        return tq_sweep_target_cli(&spec, &target, stdout, &err) ? tq_cli_fail("sweep", &err) : TQ_EXIT_OK;
    if (tq_sweep_grid_parse(&spec, &g, &err))
        rc = err.status == TQ_ERR_USAGE ? tq_cli_usage_error("sweep", "%s", err.msg) : tq_cli_fail("sweep", &err);
    else
        rc = tq_sweep_grid_run(&g, stdout, &err) ? tq_cli_fail("sweep", &err) : TQ_EXIT_OK;
    tq_sweep_grid_free(&g);
    return rc;
}
