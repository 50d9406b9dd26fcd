/* cmd_export.c - `traceq export`: a trace to massif.out, folded stacks, Chrome trace JSON or CSV. */
#include <stdio.h>
#include <unistd.h>

#include "../export/export.h"
#include "../common/outfile.h"
#include "cli.h"

const struct tq_cli_command cli_export = {
    .name = "export",
    .opts = TQ_OPTIONS(
        TQ_OPT_SHORT('f', "format", "FMT", "one of massif, folded, chrome, csv (required)", NULL),
        TQ_OPT_OUTPUT("FILE", "write to FILE, via a temporary name renamed when complete", "stdout"),
        TQ_OPT('b', "by", "WEIGHT",
               "folded only: peak (heap held at the heap peak) or allocated (all heap bytes allocated)", "peak"),
        TQ_OPT('P', "python-only", NULL,
               "folded only: keep the Python frames of each stack (a CPython 3.11 process recorded with --stacks), "
               "fold native frames away",
               "mixed stacks"),
        TQ_OPT_FORCE('F', "FILE")),
    .usage = "traceq export TRACE --format massif|folded|chrome|csv [-o FILE] [OPTIONS]",
    .about = "Convert a trace for a standard viewer:\n"
             "  massif   massif.out for ms_print / massif-visualizer (sampled heap + mmap, peak snapshot)\n"
             "  folded   'root;...;leaf bytes' lines for flamegraph.pl / speedscope (needs record --stacks)\n"
             "  chrome   trace-event JSON with RSS, heap and mmap counter tracks (ui.perfetto.dev, about:tracing)\n"
             "  csv      the samples, one row each, with a header row",
};

static tq_status run_export(const char *trace, enum tq_export_format fmt, enum tq_folded_by by, bool python_only,
                            FILE *out, struct tq_err *err)
{
    switch (fmt) {
    case TQ_EXPORT_MASSIF: return tq_export_massif(trace, out, err);
    case TQ_EXPORT_FOLDED: return tq_export_folded(trace, by, python_only, out, err);
    case TQ_EXPORT_CHROME: return tq_export_chrome(trace, out, err);
    default: return tq_export_csv(trace, out, err);
    }
}

int cmd_export(int argc, char **argv)
{
    struct tq_err err = {0};
    enum tq_export_format fmt = TQ_EXPORT_CSV;
    enum tq_folded_by by = TQ_FOLDED_PEAK;
    const char *output = NULL;
    bool have_format = false, force = false, have_by = false, python_only = false;
    int ch;
    optind = 1;
    while ((ch = tq_cli_next(&cli_export, argc, argv)) > 0) {
        switch (ch) {
        case 'f':
            if (tq_export_parse_format(optarg, &fmt, &err))
                return tq_cli_fail("export", &err);
            have_format = true;
            break;
        case 'b':
            if (tq_export_parse_folded_by(optarg, &by, &err))
                return tq_cli_fail("export", &err);
            have_by = true;
            break;
        case 'o': output = optarg; break;
        case 'F': force = true; break;
        case 'P': python_only = true; break;
        }
    }
    if (ch != TQ_CLI_END)
        return tq_cli_exit_code(ch);
    if (!have_format)
        return tq_cli_usage_error("export", "missing --format (massif, folded, chrome or csv)");
    if (optind + 1 != argc)
        return tq_cli_usage_error("export", optind >= argc ? "missing the TRACE file" : "takes exactly one TRACE");
    if (have_by && fmt != TQ_EXPORT_FOLDED)
        return tq_cli_usage_error("export", "--by only applies to --format folded");
    if (python_only && fmt != TQ_EXPORT_FOLDED)
        return tq_cli_usage_error("export", "--python-only only applies to --format folded");
    const char *trace = argv[optind];
    if (access(trace, R_OK) != 0)
        return tq_cli_usage_error("export", "cannot read trace '%s'", trace);
    if (!output) {
        if (run_export(trace, fmt, by, python_only, stdout, &err) || fflush(stdout))
            return tq_cli_fail("export", err.msg[0] ? &err : &(struct tq_err){TQ_ERR_IO, "cannot write stdout"});
        return TQ_EXIT_OK;
    }
    struct tq_outfile of;
    if (tq_outfile_open(&of, output, force, &err))
        return tq_cli_fail("export", &err);
    if (run_export(trace, fmt, by, python_only, of.fp, &err)) {
        tq_outfile_abort(&of);
        return tq_cli_fail("export", &err);
    }
    return tq_outfile_commit(&of, &err) ? tq_cli_fail("export", &err) : TQ_EXIT_OK;
}
