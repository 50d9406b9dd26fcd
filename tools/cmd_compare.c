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

struct compare_cli {
    struct tq_compare_opts o;
    const char *plot;
    int json, csv, force;
};

/* --backends, --interval-ms: checked and stored (a tq_cli_call). */
static int compare_opt_value(const struct tq_cli_command *cmd, int c, const char *arg, void *opts)
{
    struct compare_cli *a = opts;
    struct tq_err err = {0};
    long v;
    if (c == 'b' ? tq_compare_parse_backends(arg, &a->o.backends, &err)
                 : tq_parse_long(arg, 1, 10000, "--interval-ms", &v, &err))
        return tq_cli_fail(cmd->name, &err);
    if (c == 'i')
        a->o.interval_s = (double)v / 1000.0;
    return -1;
}

/* stop_at_operand: the profiled command's own flags are left alone. */
const struct tq_cli_command cli_compare = {
    .name = "compare",
    .opts = TQ_OPTIONS(
        TQ_OPT('b', "backends", "LIST", "comma-separated, from shim,statm,hwm,cgroup,massif,heaptrack", "all",
               TQ_STORE_CALL(compare_opt_value)),
        TQ_OPT('r', "runs", "N", "runs per backend and of the bare command; figures are medians", "1",
               TQ_STORE_INT(struct compare_cli, o.runs, 1, 64)),
        TQ_OPT('i', "interval-ms", "MS", "statm sampling interval in milliseconds", "10",
               TQ_STORE_CALL(compare_opt_value)),
        TQ_OPT_JSON("the result, instead of a table,", TQ_STORE_FLAG(struct compare_cli, json)),
        TQ_OPT('c', "csv", NULL, "print the result as CSV (header row) instead of a table", NULL,
               TQ_STORE_FLAG(struct compare_cli, csv)),
        TQ_OPT('p', "plot", "FILE", "also draw the backends' timelines (statm, massif, shim) to FILE.svg|.png", NULL,
               TQ_STORE_STR(struct compare_cli, plot)),
        TQ_OPT_FORCE('f', "the --plot FILE", TQ_STORE_FLAG(struct compare_cli, force)),
        TQ_OPT('k', "keep", "DIR", "keep logs and profiler outputs in DIR (must exist)", "temporary, removed",
               TQ_STORE_STR(struct compare_cli, o.workdir))),
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
    struct compare_cli a = {.o = {.runs = 1, .interval_s = 0.01}};
    struct tq_err err = {0};
    int rc = tq_cli_parse(&cli_compare, argc, argv, &a);
    if (rc >= 0)
        return rc;
    if (a.json && a.csv)
        return tq_cli_usage_error("compare", "use at most one of --json and --csv");
    if (optind >= argc)
        return tq_cli_usage_error("compare", "missing the command to run (traceq compare [OPTIONS] -- CMD ...)");
    if (a.o.workdir && access(a.o.workdir, W_OK) != 0)
        return tq_cli_usage_error("compare", "--keep folder '%s' does not exist or is not writable", a.o.workdir);
    if (a.plot && !a.force && access(a.plot, F_OK) == 0)
        return tq_cli_usage_error("compare", "%s exists; use --force to replace it", a.plot);
    static char self[PATH_MAX];
    if (tq_cli_self_exe(self, sizeof self) == 0)
        a.o.traceq = self;
    struct tq_compare *c = NULL;
    if (tq_compare_run(&a.o, argv + optind, &c, &err))
        return tq_cli_fail("compare", &err);
    tq_status st = a.json ? tq_compare_write_json(c, stdout, &err) : a.csv ? tq_compare_write_csv(c, stdout, &err) : 0;
    if (!a.json && !a.csv)
        print_table(c);
    if (!st && a.plot) {
        st = tq_compare_plot(c, a.plot, a.force, &err);
        tq_plot_shutdown();
    }
    tq_compare_free(c);
    return st ? tq_cli_fail("compare", &err) : TQ_EXIT_OK;
}
