/* cmd_experiment.c - `traceq experiment`: option parsing for the chunking-strategy experiment (experiment/experiment.h):
 * every strategy run through `traceq run` on synthetic cubes, results.csv, a table per case and a plot. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>

#include "../experiment/exp_config.h"
#include "../experiment/experiment.h"
#include "../common/units.h"
#include "cli.h"

static void exp_usage(void)
{
    printf("usage: traceq experiment -o DIR [options]\n\n"
           "Compare chunking strategies with the same runner (`traceq run`) on synthetic cubes: none (one block),\n"
           "auto (dask's chunks=\"auto\", 128 MiB of input), seed (the original's planner), traceq (ours) and\n"
           "fixed cubes of several sizes (the brute-force best). Writes DIR/results.csv and prints a table.\n\n"
           "  -o, --output DIR     results folder (volumes, models, outputs, results.csv)   [required]\n"
           "  --ops LIST           operators, comma-separated                [Default: gst3d]\n"
           "  --shapes LIST        cube sides, comma-separated                [Default: 200]\n"
           "  --limits LIST        per-worker limits: sizes (1.5GB) or fractions of the unchunked peak (0.5)\n"
           "                                                                   [Default: 0.5,0.75]\n"
           "  --fixed LIST         fractions of the side for fixed cubes      [Default: 0.5,0.25,0.125]\n"
           "  --runs N             runs per strategy                          [Default: 3]\n"
           "  --workers N          workers per run                            [Default: 2]\n"
           "  --retries N          OOM splits allowed per block (all strategies) [Default: 2]\n"
           "  --models DIR         use DIR/OP.model.json instead of sweeping and fitting one\n"
           "  --replot CSV         run nothing: draw DIR/results.svg from the rows of CSV (results.csv files of\n"
           "                       several experiments may be concatenated)\n"
           "  -h, --help           this help\n\n"
           "The original's cases are `--shapes 200 --limits 1.5GB` and `--shapes 400 --limits 3GB`.\n");
}

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
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'}, {"ops", required_argument, NULL, 'O'},
        {"shapes", required_argument, NULL, 's'}, {"limits", required_argument, NULL, 'l'},
        {"fixed", required_argument, NULL, 'f'},  {"runs", required_argument, NULL, 'r'},
        {"workers", required_argument, NULL, 'w'}, {"retries", required_argument, NULL, 'R'},
        {"models", required_argument, NULL, 'm'}, {"replot", required_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct tq_exp_config a = {.ops = "gst3d", .shapes = "200", .limits = "0.5,0.75", .fixed = "0.5,0.25,0.125",
                              .runs = 3, .workers = 2, .retries = 2, .report = stdout, .diag = stderr};
    char self[PATH_MAX];
    struct tq_err err = {0};
    const char *replot = NULL;
    long v;
    int c;
    optind = 1;
    while ((c = tq_cli_getopt("experiment", argc, argv, "o:h", opts)) != -1) {
        switch (c) {
        case 'o': a.out = optarg; break;
        case 'm': a.models = optarg; break;
        case 'P': replot = optarg; break;
        case 'O': a.ops = optarg; break;
        case 's': a.shapes = optarg; break;
        case 'l': a.limits = optarg; break;
        case 'f': a.fixed = optarg; break;
        case 'h': exp_usage(); return TQ_EXIT_OK;
        case 'r':
        case 'w':
        case 'R':
            if (tq_parse_long(optarg, c == 'R' ? 0 : 1, c == 'r' ? 64 : 30, c == 'r' ? "--runs" : c == 'w' ?
                              "--workers" : "--retries", &v, &err))
                return tq_cli_fail("experiment", &err);
            *(c == 'r' ? &a.runs : c == 'w' ? &a.workers : &a.retries) = (int)v;
            break;
        default:
            return TQ_EXIT_USAGE; /* tq_cli_getopt said why */
        }
    }
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
