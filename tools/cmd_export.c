/* cmd_export.c - `traceq export`: a trace to massif.out, folded stacks, Chrome trace JSON or CSV. */
#include <stdio.h>
#include <unistd.h>

#include "../export/export.h"
#include "../common/outfile.h"
#include "cli.h"

struct export_opts {
    enum tq_export_format fmt;
    enum tq_folded_by by;
    const char *output;
    int have_format, force, have_by, python_only;
};

/* --format, --by: checked and stored (a tq_cli_call). */
static int parse_choice(const struct tq_cli_command *cmd, int key, const char *value, void *opts)
{
    struct export_opts *o = opts;
    struct tq_err err = {0};
    tq_status st = key == 'f' ? tq_export_parse_format(value, &o->fmt, &err)
                              : tq_export_parse_folded_by(value, &o->by, &err);
    if (st)
        return tq_cli_fail(cmd->name, &err);
    *(key == 'f' ? &o->have_format : &o->have_by) = 1;
    return -1;
}

const struct tq_cli_command cli_export = {
    .name = "export",
    .opts = TQ_OPTIONS(
        TQ_OPT_SHORT('f', "format", "FMT", "one of massif, folded, chrome, csv (required)", NULL,
                     TQ_STORE_CALL(parse_choice)),
        TQ_OPT_OUTPUT("FILE", "write to FILE, via a temporary name renamed when complete", "stdout",
                      TQ_STORE_STR(struct export_opts, output)),
        TQ_OPT('b', "by", "WEIGHT",
               "folded only: peak (heap held at the heap peak) or allocated (all heap bytes allocated)", "peak",
               TQ_STORE_CALL(parse_choice)),
        TQ_OPT('P', "python-only", NULL,
               "folded only: keep the Python frames of each stack (a CPython 3.11 process recorded with --stacks), "
               "fold native frames away",
               "mixed stacks", TQ_STORE_FLAG(struct export_opts, python_only)),
        TQ_OPT_FORCE('F', "FILE", TQ_STORE_FLAG(struct export_opts, force))),
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
    struct export_opts o = {.fmt = TQ_EXPORT_CSV, .by = TQ_FOLDED_PEAK};
    int rc = tq_cli_parse(&cli_export, argc, argv, &o);
    if (rc >= 0)
        return rc;
    if (!o.have_format)
        return tq_cli_usage_error("export", "missing --format (massif, folded, chrome or csv)");
    if (optind + 1 != argc)
        return tq_cli_usage_error("export", optind >= argc ? "missing the TRACE file" : "takes exactly one TRACE");
    if (o.have_by && o.fmt != TQ_EXPORT_FOLDED)
        return tq_cli_usage_error("export", "--by only applies to --format folded");
    if (o.python_only && o.fmt != TQ_EXPORT_FOLDED)
        return tq_cli_usage_error("export", "--python-only only applies to --format folded");
    const char *trace = argv[optind];
    if (access(trace, R_OK) != 0)
        return tq_cli_usage_error("export", "cannot read trace '%s'", trace);
    if (!o.output) {
        if (run_export(trace, o.fmt, o.by, o.python_only, stdout, &err) || fflush(stdout))
            return tq_cli_fail("export", err.msg[0] ? &err : &(struct tq_err){TQ_ERR_IO, "cannot write stdout"});
        return TQ_EXIT_OK;
    }
    struct tq_outfile of;
    if (tq_outfile_open(&of, o.output, o.force, &err))
        return tq_cli_fail("export", &err);
    if (run_export(trace, o.fmt, o.by, o.python_only, of.fp, &err)) {
        tq_outfile_abort(&of);
        return tq_cli_fail("export", &err);
    }
    return tq_outfile_commit(&of, &err) ? tq_cli_fail("export", &err) : TQ_EXIT_OK;
}
