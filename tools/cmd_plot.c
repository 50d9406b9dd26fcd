/* cmd_plot.c - `traceq plot`: RSS, heap and mmap of one or more traces over time, to an SVG or PNG file. */
#include <stdio.h>
#include <unistd.h>

#include "../plot/plot.h"
#include "../plot/plot_trace.h"
#include "cli.h"

struct plot_opts {
    const char *output;
    int force;
};

const struct tq_cli_command cli_plot = {
    .name = "plot",
    .opts = TQ_OPTIONS(
        TQ_OPT_OUTPUT("FILE", "the chart to write, .svg or .png (required)", NULL,
                      TQ_STORE_STR(struct plot_opts, output)),
        TQ_OPT_FORCE('F', "FILE", TQ_STORE_FLAG(struct plot_opts, force))),
    .usage = "traceq plot TRACE... -o FILE.svg|FILE.png [--force]",
    .about = "Draw RSS, heap and mmap over time for each trace, overlaid in one chart (e.g. one trace per run\n"
             "or per backend); axes in human units, the RSS and heap peaks marked. The format follows the\n"
             "extension of FILE. Long traces are reduced to ~2000 points per line, keeping each slice's maximum.",
};

int cmd_plot(int argc, char **argv)
{
    struct plot_opts o = {0};
    int rc = tq_cli_parse(&cli_plot, argc, argv, &o);
    if (rc >= 0)
        return rc;
    if (!o.output)
        return tq_cli_usage_error("plot", "missing -o FILE.svg|FILE.png");
    if (optind >= argc)
        return tq_cli_usage_error("plot", "missing the TRACE file(s)");
    for (int i = optind; i < argc; i++)
        if (access(argv[i], R_OK) != 0)
            return tq_cli_usage_error("plot", "cannot read trace '%s'", argv[i]);
    struct tq_err err = {0};
    tq_status st = tq_plot_traces((const char *const *)argv + optind, (size_t)(argc - optind), o.output, o.force, &err);
    tq_plot_shutdown();
    return st ? tq_cli_fail("plot", &err) : TQ_EXIT_OK;
}
