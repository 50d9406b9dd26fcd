/* cmd_sweep.c - `traceq sweep`: profile an operator over a grid of synthetic shapes into a dataset CSV. */
#include "../model/sweep_grid.h"
#include "../model/sweep_target.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "../common/units.h"
#include "cli.h"

/* The options: the sweep itself and, for --target, the targeted sweep's. */
struct sweep_opts {
    struct tq_sweep_spec spec;
    struct tq_sweep_target_opts target;
};

/* The options that need more than a store: -1 to go on, else the exit code. */
static int sweep_opt_value(const struct tq_cli_command *cmd, int key, const char *arg, void *opts)
{
    struct sweep_opts *o = opts;
    struct tq_err err = {0};
    tq_status st = TQ_OK;
    switch (key) {
    case 'B': st = tq_parse_seconds(arg, "--budget", &o->target.budget_s, &err); break;
    case 'c': st = tq_sweep_parse_cpus(arg, &o->spec.cpus, &err); break;
    case 'P':
        if (o->spec.nparams == 3)
            st = tq_fail(&err, TQ_ERR_USAGE, "at most 3 --param options");
        else
            o->spec.param[o->spec.nparams++] = arg;
        break;
    }
    return st ? tq_cli_fail(cmd->name, &err) : -1;
}

const struct tq_cli_command cli_sweep = {
    .name = "sweep",
    .opts = TQ_OPTIONS(
        TQ_OPT('p', "op", "OP", "operator to profile (this, or --cmd)", NULL,
               TQ_STORE_STR(struct sweep_opts, spec.op)),
        TQ_OPT('C', "cmd", "TEMPLATE", "a user's command: words split without a shell (see `traceq run`)", NULL,
               TQ_STORE_STR(struct sweep_opts, spec.cmd)),
        TQ_OPT('P', "param", "NAME=A:B:STEP",
               "a parameter of --cmd ({NAME}) and its range; A:B:xF for a geometric one (e.g. rows=1000:64000:x2); up "
               "to 3 of them, instead of a grid",
               NULL,
               TQ_STORE_CALL(sweep_opt_value)),
        TQ_OPT_OUTPUT("FILE", "dataset CSV to create or extend (required)", NULL,
               TQ_STORE_STR(struct sweep_opts, spec.output)),
        TQ_OPT('0', "grid", "A:B:STEP", "range of every axis", "100:400:100",
               TQ_STORE_STR(struct sweep_opts, spec.grid[0])),
        TQ_OPT('1', "grid-inlines", "R", "range of inlines", "--grid",
               TQ_STORE_STR(struct sweep_opts, spec.grid[1])),
        TQ_OPT('2', "grid-xlines", "R", "range of xlines", "--grid",
               TQ_STORE_STR(struct sweep_opts, spec.grid[2])),
        TQ_OPT('3', "grid-samples", "R", "range of samples", "--grid",
               TQ_STORE_STR(struct sweep_opts, spec.grid[3])),
        TQ_OPT('r', "runs", "N", "runs per shape", "3",
               TQ_STORE_LONG(struct sweep_opts, spec.runs, 1, 1000)),
        TQ_OPT('i', "interval-ms", "MS", "sampling interval", "10",
               TQ_STORE_LONG(struct sweep_opts, spec.interval_ms, 1, 60000)),
        TQ_OPT('c', "cpus", "LIST",
               "CPUs to pin each run to, e.g. 0 or 0,2 or 1-3; the operator gets one thread per CPU", "0",
               TQ_STORE_CALL(sweep_opt_value)),
        TQ_OPT('b', "backend", "record|proc",
               "record: under `traceq record` (peak heap/mmap from the trace);\nproc: sample /proc/PID/status only",
               "record",
               TQ_STORE_CHOICE(struct sweep_opts, spec.use_record, {"record", 1}, {"proc", 0})),
        TQ_OPT('T', "traces", "DIR", "where traces go", "DATASET.csv.traces",
               TQ_STORE_STR(struct sweep_opts, spec.traces)),
        TQ_OPT('G', "charged", "auto|no",
               "auto: run each shape in its own memory cgroup where one can be made and record what it charged "
               "(charged_peak_bytes: anonymous + shmem memory, the figure the runner's cgroup limit enforces); "
               "no: do not",
               "auto",
               TQ_STORE_CHOICE(struct sweep_opts, spec.charged, {"auto", 1}, {"no", 0})),
        TQ_OPT('x', "traceq", "PATH", "traceq binary to run", "this one",
               TQ_STORE_STR(struct sweep_opts, spec.exe)),
        TQ_OPT('t', "target", "IxXxS",
               "aim at this shape: choose the shapes, small first, growing toward it, refitting after each, until the "
               "prediction for it is stable or the budget is spent (a --grid given is the initial design)",
               NULL,
               TQ_STORE_STR(struct sweep_opts, target.target)),
        TQ_OPT('S', "target-set", "NAME=V,..", "--target for --cmd with parameters, e.g. rows=500000,cols=40", NULL,
               TQ_STORE_STR(struct sweep_opts, target.target_set)),
        TQ_OPT('B', "budget", "TIME", "with --target: wall-clock budget, e.g. 90s, 2m", "2m",
               TQ_STORE_CALL(sweep_opt_value)),
        TQ_OPT('M', "max-memory", "BYTES", "with --target: stop before a shape whose predicted bound is above this",
               "no limit",
               TQ_STORE_BYTES(struct sweep_opts, target.max_memory)),
        TQ_OPT('m', "components", "LIST", "with --target: components fitted (as `traceq fit --components`)",
               "heap,mmap,rest",
               TQ_STORE_STR(struct sweep_opts, target.components))),
    .usage = "traceq sweep (--op OP | --cmd 'PROG {in} {out}' | --cmd 'PROG {p}..' --param p=R..)\n"
             "                    -o DATASET.csv [--target IxXxS | --target-set p=V,.. [--budget 2m]] [options]",
    .about = "Run `traceq op OP --synthetic SHAPE` in its own pinned process for every shape of a grid (the\n"
             "product of the per-axis ranges, inclusive ends) and append one row per run to a CSV dataset.\n"
             "Rerunning skips the runs already in the CSV; a failed run is recorded with its reason (the last\n"
             "line it printed on stderr). When the first 3 runs all fail with the same reason the sweep stops\n"
             "and writes none of them; it exits 1 then and whenever every run failed, 2 on bad options.\n"
             "With --cmd a user's command is profiled instead, under `traceq record` (every process it starts is\n"
             "traced; the row holds their RSS at once, and the sums of their own peaks): with {in} {out}, on a\n"
             "synthetic float32 .npy input of each shape; with --param, on each combination of the parameters'\n"
             "values.",
    .epilog = "Progress (shapes done, elapsed, ETA) is shown on a terminal only. With --target (or --target-set) the\n"
              "sweep prints each run and, after each fit, the target's prediction and bound; it ends saying whether\n"
              "it converged (two fits within 2%, bound within 10%) and if not, why, and how far (volume factor)\n"
              "the target lies beyond the largest measured shape (or that it measured the target itself); --runs\n"
              "defaults to 1 then.",
};

/* Returns -1 to go on, else the exit code. */
static int sweep_parse(int argc, char **argv, struct sweep_opts *o)
{
    *o = (struct sweep_opts){.spec = {.interval_ms = 10, .use_record = 1, .charged = 1}, .target = {.budget_s = -1}};
    tq_sweep_parse_cpus("0", &o->spec.cpus, NULL);
    int rc = tq_cli_parse(&cli_sweep, argc, argv, o);
    if (rc >= 0)
        return rc;
    if (optind != argc)
        return tq_cli_usage_error("sweep", "unexpected argument '%s'", argv[optind]);
    o->target.runs_given = o->spec.runs != 0;
    if (!o->spec.runs)
        o->spec.runs = 3;
    return -1;
}

int cmd_sweep(int argc, char **argv)
{
    struct sweep_opts o;
    int rc = sweep_parse(argc, argv, &o);
    if (rc >= 0)
        return rc;
    struct tq_sweep_spec spec = o.spec;
    struct tq_sweep_target_opts target = o.target;
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
