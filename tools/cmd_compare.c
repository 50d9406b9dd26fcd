/* cmd_compare.c - `traceq compare`: one command under every memory profiler backend, one table of peaks. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../compare/compare.h"
#include "../plot/plot.h"
#include "../common/units.h"
#include "../common/printable.h"
#include "cli.h"

/* stop_at_operand: the profiled command's own flags are left alone. */
const struct tq_cli_command cli_compare = {
    .name = "compare",
    .opts = TQ_OPTIONS(
        TQ_OPT('b', "backends", "LIST", "comma-separated, from shim,statm,hwm,cgroup,massif,heaptrack", "all"),
        TQ_OPT('r', "runs", "N", "runs per backend and of the bare command; figures are medians", "1"),
        TQ_OPT('i', "interval-ms", "MS", "statm sampling interval in milliseconds", "10"),
        TQ_OPT_JSON("the result, instead of a table,"),
        TQ_OPT('c', "csv", NULL, "print the result as CSV (header row) instead of a table", NULL),
        TQ_OPT('p', "plot", "FILE", "also draw the backends' timelines (statm, massif, shim) to FILE.svg|.png", NULL),
        TQ_OPT_FORCE('f', "the --plot FILE"),
        TQ_OPT('k', "keep", "DIR", "keep logs and profiler outputs in DIR (must exist)", "temporary, removed")),
    .usage = "traceq compare [OPTIONS] -- CMD [ARGS...]",
    .about = "Run CMD bare (for timing) and once per backend, and print one table: what each backend measures,\n"
             "its peak, its error against the ground truth (the cgroup peak, the truth for resident memory),\n"
             "its wall time and overhead against the bare run. Missing backends are skipped with a note.\n"
             "Heap backends (shim, massif, heaptrack) count bytes asked of the allocator, so they sit below\n"
             "the RSS truth by the program's code, stacks and allocator slack: see compare/BACKENDS.md.",
    .stop_at_operand = 1,
};

static void print_table(const struct tq_compare *c)
{
    char peak[32], truth[32], cmd[4200];
    printf("command: %s  (runs: %d, bare wall %.3f s)\n", tq_printable(c->command, cmd, sizeof cmd), c->runs,
           c->bare_wall_s);
    printf("ground truth: %s\n\n", c->has_truth ? tq_format_bytes(c->truth_bytes, truth, sizeof truth)
                                                    : "none (cgroup backend skipped); errors not shown");
    printf("%-10s %-48s %11s %9s %9s %9s  %s\n", "backend", "measures", "peak", "vs truth", "wall s", "overhead",
           "note");
    for (int b = 0; b < TQ_BACKEND_COUNT; b++) {
        const struct tq_compare_row *r = &c->rows[b];
        if (r->skipped && !strcmp(r->note, "not requested"))
            continue;
        if (r->skipped) {
            printf("%-10s %-48s %11s %9s %9s %9s  skipped: %s\n", r->backend, r->measures, "-", "-", "-", "-",
                   r->note);
            continue;
        }
        double rel, ratio;
        char err[16] = "-", over[16] = "-";
        if (tq_compare_error(c, r, &rel))
            snprintf(err, sizeof err, "%+.1f%%", 100 * rel);
        if (tq_compare_overhead(c, r, &ratio))
            snprintf(over, sizeof over, "%.2fx", ratio);
        char spread[96] = "";
        if (c->runs > 1 && r->peak_min != r->peak_max) {
            char lo[32], hi[32];
            snprintf(spread, sizeof spread, "peaks %s..%s over %d runs%s", tq_format_bytes(r->peak_min, lo, sizeof lo),
                     tq_format_bytes(r->peak_max, hi, sizeof hi), c->runs, r->note[0] ? "; " : "");
        }
        printf("%-10s %-48s %11s %9s %9.3f %9s  %s%s\n", r->backend, r->measures,
               tq_format_bytes(r->peak_bytes, peak, sizeof peak), err, r->wall_s, over, spread, r->note);
    }
    printf("\nwhich processes each figure counts (when CMD starts others):\n");
    for (int b = 0; b < TQ_BACKEND_COUNT; b++)
        if (!c->rows[b].skipped)
            printf("  %-10s %s\n", c->rows[b].backend, c->rows[b].covers);
}

int cmd_compare(int argc, char **argv)
{
    struct tq_compare_opts o = {.runs = 1, .interval_s = 0.01};
    struct tq_err err = {0};
    const char *plot = NULL;
    bool json = false, csv = false, force = false;
    long v;
    int ch;
    optind = 1;
    while ((ch = tq_cli_next(&cli_compare, argc, argv)) > 0) {
        switch (ch) {
        case 'b':
            if (tq_compare_parse_backends(optarg, &o.backends, &err))
                return tq_cli_fail("compare", &err);
            break;
        case 'r':
            if (tq_parse_long(optarg, 1, 64, "--runs", &v, &err))
                return tq_cli_fail("compare", &err);
            o.runs = (int)v;
            break;
        case 'i':
            if (tq_parse_long(optarg, 1, 10000, "--interval-ms", &v, &err))
                return tq_cli_fail("compare", &err);
            o.interval_s = (double)v / 1000.0;
            break;
        case 'j': json = true; break;
        case 'c': csv = true; break;
        case 'p': plot = optarg; break;
        case 'f': force = true; break;
        case 'k': o.workdir = optarg; break;
        }
    }
    if (ch != TQ_CLI_END)
        return tq_cli_exit_code(ch);
    if (json && csv)
        return tq_cli_usage_error("compare", "use at most one of --json and --csv");
    if (optind >= argc)
        return tq_cli_usage_error("compare", "missing the command to run (traceq compare [OPTIONS] -- CMD ...)");
    if (o.workdir && access(o.workdir, W_OK) != 0)
        return tq_cli_usage_error("compare", "--keep folder '%s' does not exist or is not writable", o.workdir);
    if (plot && !force && access(plot, F_OK) == 0)
        return tq_cli_usage_error("compare", "%s exists; use --force to replace it", plot);
    static char self[PATH_MAX];
    if (tq_cli_self_exe(self, sizeof self) == 0)
        o.traceq = self;
    struct tq_compare *c = NULL;
    if (tq_compare_run(&o, argv + optind, &c, &err))
        return tq_cli_fail("compare", &err);
    tq_status st = json ? tq_compare_write_json(c, stdout, &err) : csv ? tq_compare_write_csv(c, stdout, &err) : 0;
    if (!json && !csv)
        print_table(c);
    if (!st && plot) {
        st = tq_compare_plot(c, plot, force, &err);
        tq_plot_shutdown();
    }
    tq_compare_free(c);
    return st ? tq_cli_fail("compare", &err) : TQ_EXIT_OK;
}
