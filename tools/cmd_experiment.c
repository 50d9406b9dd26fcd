/* cmd_experiment.c - `traceq experiment`: option parsing for the chunking-strategy experiment (experiment/experiment.h):
 * every strategy run through `traceq run` on synthetic cubes, results.csv, a table per case and a plot. */
#include <limits.h>
#include <stdio.h>

#include "../experiment/exp_config.h"
#include "../experiment/experiment.h"
#include "../common/units.h"
#include "cli.h"

const struct tq_cli_command cli_experiment = {
    .name = "experiment",
    .opts = TQ_OPTIONS(
        TQ_OPT_OUTPUT("DIR", "results folder (volumes, models, outputs, results.csv) (required)", NULL),
        TQ_OPT('O', "ops", "LIST", "operators, comma-separated", "gst3d"),
        TQ_OPT('s', "shapes", "LIST", "cube sides, comma-separated", "200"),
        TQ_OPT('l', "limits", "LIST", "per-worker limits: sizes (1.5GB) or fractions of the unchunked peak (0.5)",
               "0.5,0.75"),
        TQ_OPT('f', "fixed", "LIST", "fractions of the side for fixed cubes", "0.5,0.25,0.125"),
        TQ_OPT('r', "runs", "N", "runs per strategy", "3"),
        TQ_OPT_WORKERS("workers per run", "2"),
        TQ_OPT('R', "retries", "N", "OOM splits allowed per block (all strategies)", "2"),
        TQ_OPT('m', "models", "DIR", "use DIR/OP.model.json instead of sweeping and fitting one", NULL),
        TQ_OPT('P', "replot", "CSV",
               "run nothing: draw DIR/results.svg from the rows of CSV (results.csv files of several experiments may "
               "be concatenated)",
               NULL)),
    .usage = "traceq experiment -o DIR [options]",
    .about = "Compare chunking strategies with the same runner (`traceq run`) on synthetic cubes: none (one block),\n"
             "auto (dask's chunks=\"auto\", 128 MiB of input), seed (the original's planner), traceq (ours), adapt\n"
             "(ours with `run --adapt`: corrected from every block) and fixed cubes of several sizes (the\n"
             "brute-force best). Writes DIR/results.csv and prints a table.",
    .epilog = "The original's cases are `--shapes 200 --limits 1.5GB` and `--shapes 400 --limits 3GB`.",
};

/* Draw DIR/results.svg; a plot that cannot be drawn is reported and does not change the exit code. */
static void exp_plot(const struct tq_exp_results *r, const char *dir)
{
    struct tq_err err = {0};
    tq_status st = tq_exp_write_plot(r, dir, stdout, &err);
    if (st)
        fprintf(stderr, "traceq experiment: no plot: %s\n", err.msg[0] ? err.msg : tq_strerror(st));
}

/* --replot: only the plot, from the rows of an earlier results.csv. */
static int exp_replot(const char *csv, const char *dir)
{
    struct tq_err err = {0};
    struct tq_exp_results *r = tq_exp_results_new();
    if (!r)
        return tq_cli_usage_error("experiment", "out of memory");
    tq_status st = tq_exp_replot_read(csv, r, &err);
    if (st == TQ_OK)
        st = tq_exp_make_dir(dir, &err);
    if (st) {
        tq_exp_results_free(r);
        return tq_cli_usage_error("experiment", "%s", err.msg);
    }
    exp_plot(r, dir);
    tq_exp_results_free(r);
    return TQ_EXIT_OK;
}

int cmd_experiment(int argc, char **argv)
{
    struct tq_exp_config a = {.ops = "gst3d", .shapes = "200", .limits = "0.5,0.75", .fixed = "0.5,0.25,0.125",
                              .runs = 3, .workers = 2, .retries = 2, .report = stdout, .diag = stderr};
    char self[PATH_MAX];
    struct tq_err err = {0};
    const char *replot = NULL;
    long v;
    int c;
    optind = 1;
    while ((c = tq_cli_next(&cli_experiment, argc, argv)) > 0) {
        switch (c) {
        case 'o': a.out = optarg; break;
        case 'm': a.models = optarg; break;
        case 'P': replot = optarg; break;
        case 'O': a.ops = optarg; break;
        case 's': a.shapes = optarg; break;
        case 'l': a.limits = optarg; break;
        case 'f': a.fixed = optarg; break;
        case 'r':
        case 'w':
        case 'R':
            if (tq_parse_long(optarg, c == 'R' ? 0 : 1, c == 'r' ? 64 : 30, c == 'r' ? "--runs" : c == 'w' ?
                              "--workers" : "--retries", &v, &err))
                return tq_cli_fail("experiment", &err);
            *(c == 'r' ? &a.runs : c == 'w' ? &a.workers : &a.retries) = (int)v;
            break;
        }
    }
    if (c != TQ_CLI_END)
        return tq_cli_exit_code(c);
    if (optind < argc)
        return tq_cli_usage_error("experiment", "unexpected argument '%s'", argv[optind]);
    if (!a.out)
        return tq_cli_usage_error("experiment", "missing -o DIR");
    if (replot)
        return exp_replot(replot, a.out);
    if (tq_exp_check_config(&a, &err))
        return tq_cli_usage_error("experiment", "%s", err.msg);
    if (tq_cli_self_exe(self, sizeof self) != 0)
        return tq_cli_usage_error("experiment", "cannot find the traceq binary");
    a.self = self;
    a.scope_argc = argc;
    a.scope_argv = argv;
    struct tq_exp_results *r = tq_exp_results_new();
    if (!r)
        return tq_cli_usage_error("experiment", "out of memory");
    tq_status st = tq_exp_run(&a, r, &err);
    if (st && st != TQ_ERR_CHILD) {
        tq_exp_results_free(r);
        return tq_cli_usage_error("experiment", "%s", err.msg);
    }
    exp_plot(r, a.out);
    tq_exp_results_free(r);
    return st ? TQ_EXIT_FAIL : TQ_EXIT_OK;
}
