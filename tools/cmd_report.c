/* cmd_report.c - `traceq report TRACE... [--json]`: what each trace says, totals, and the process tree. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/printable.h"
#include "../report/process_tree.h"
#include "../report/report_top.h"
#include "../report/tree_peak.h"
#include "../common/alloc.h"
#include "../report/trace_json.h"
#include "../report/trace_summary.h"
#include "../common/units.h"
#include "cli.h"

const struct tq_cli_command cli_report = {
    .name = "report",
    .opts = TQ_OPTIONS(
        TQ_OPT_JSON("the same"),
        TQ_OPT('t', "top", "N",
               "also list the N allocation sites (function, file:line, module) that held the most heap at the peak, "
               "allocated the most bytes, made the most calls; needs traces recorded with --stacks or --aggregate; for "
               "a trace without exit (killed), also the sites holding heap at its last flush, as --leaks",
               "off"),
        TQ_OPT('l', "leaks", NULL,
               "list the sites whose blocks were never freed (live when the trace ends), by bytes, with block counts; "
               "a trace without an exit record says it was cut. Needs --stacks (not --aggregate); lists --top N sites",
               "off, N 10"),
        TQ_OPT('P', "python-only", NULL,
               "with --top/--leaks/--temporary: only the Python frames of each stack (a CPython 3.11 process recorded "
               "with --stacks); native frames are folded away",
               NULL),
        TQ_OPT('T', "temporary", NULL,
               "list the sites of temporary allocations: blocks freed with no other allocation in between "
               "(heaptrack's definition). Needs --stacks (not --aggregate)",
               "off"),
        TQ_OPT('S', "snapshot", NULL,
               "list the sites that held heap at the trace's snapshot (record --snapshot-at), replayed up to it; shown "
               "by default for a --stacks trace that has one (this makes a trace without one an error)",
               "when there is one")),
    .usage = "traceq report [OPTIONS] TRACE...",
    .about = "Summarize traces written by `traceq record` (or LD_PRELOAD=libtraceq.so): duration, peak RSS and\n"
             "when, peak heap and when, peak mmap, VmHWM, calls, samples, how the process ended, and whether\n"
             "the trace is truncated. Several traces (a fork tree) get one section each, totals and the tree.",
    .stop_at_operand = 1,
};

static const char *fmt_b(uint64_t b, char *buf)
{
    return tq_format_bytes(b, buf, 32);
}

static void print_one(const struct tq_trace_summary *s)
{
    char a[32], b[32], c[32], line[4096], text[4096]; /* names and arguments escaped for the terminal */
    printf("== %s\n", tq_printable(s->path, text, sizeof text));
    printf("process     pid %u, parent %u%s: %s\n", s->pid, s->ppid, (s->flags & TQ_PROC_FORKED) ? " (forked)" : "",
           tq_printable(s->exe, text, sizeof text));
    printf("command    ");
    for (int i = 0; i < s->argc; i++)
        printf(" %s", tq_printable(s->argv[i], text, sizeof text));
    printf("\nduration    %.3f s, %llu samples every %.3g ms\n", s->duration_ns / 1e9,
           (unsigned long long)s->samples, s->interval_us / 1000.0);
    printf("peak RSS    %s at %.3f s (", fmt_b(s->peak_rss, a), s->peak_rss_t_ns / 1e9);
    if (s->shim_at_peak_rss) /* format 1.6: the SAMPLE records say what the profiler itself held */
        printf("of which the profiler's own %s: the program's %s; ", fmt_b(s->shim_at_peak_rss, a),
               fmt_b(s->peak_rss - s->shim_at_peak_rss, b));
    printf("VmHWM %s, ru_maxrss %s)\n", s->vm_hwm ? fmt_b(s->vm_hwm, b) : "unknown",
           s->ru_maxrss ? fmt_b(s->ru_maxrss, c) : "unknown");
    printf("peak heap   %s requested (%s usable) at %.3f s\n", fmt_b(s->peak_heap, a),
           fmt_b(s->peak_heap_usable, b), s->peak_heap_t_ns / 1e9);
    printf("peak mmap   %s at %.3f s\n", fmt_b(s->peak_mmap, a), s->peak_mmap_t_ns / 1e9);
    printf("calls       %llu", (unsigned long long)s->calls_total);
    const char *sep = " (";
    for (unsigned i = 0; i < TQ_CALL_COUNT; i++)
        if (s->calls[i]) {
            printf("%s%s %llu", sep, tq_call_name(i), (unsigned long long)s->calls[i]);
            sep = ", ";
        }
    printf("%s\n", *sep == ',' ? ")" : "");
    if (s->gaps)
        printf("descriptor  %s\n", tq_trace_summary_gaps(s, line, sizeof line));
    if (s->snapshot)
        printf("snapshot    %s\n", tq_trace_summary_snapshot(s, line, sizeof line));
    printf("ending      %s\n\n", tq_trace_summary_ending(s, line, sizeof line));
}

static void print_totals(const struct tq_trace_summary *s, int n, const struct tq_tree_peak *tree)
{
    uint64_t rss = 0, heap = 0, calls = 0;
    int trunc = 0;
    for (int i = 0; i < n; i++) {
        rss += s[i].peak_rss;
        heap += s[i].peak_heap;
        calls += s[i].calls_total;
        trunc += s[i].truncated;
    }
    char a[32], b[32];
    printf("== totals over %d traces\n", n);
    uint64_t at = tree->t_unix_ns > tree->t0_unix_ns ? tree->t_unix_ns - tree->t0_unix_ns : 0;
    printf("peak RSS    %s at once, at %.3f s (the processes' samples on one clock); their own peaks sum to %s\n",
           fmt_b(tree->peak, a), at / 1e9, fmt_b(rss, b));
    printf("peak heap   %s (sum of per-process peaks)\ncalls       %llu\ntruncated   %d\n", fmt_b(heap, b),
           (unsigned long long)calls, trunc);
    printf("process tree (pid executable):\n");
    tq_report_print_tree(stdout, s, n);
}

static json_t *tree_json(const struct tq_trace_summary *s, int n)
{
    json_t *arr = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:i, s:i, s:o}", "pid", (int)s[i].pid, "ppid", (int)s[i].ppid,
                                             "exe", tq_json_text(s[i].exe ? s[i].exe : "")));
    return arr;
}

struct report_sections {
    int top, leaks, temporary; /* top: sites per list (0: no --top); leaks, temporary: flags */
    int python_only;           /* fold native frames away */
    int snapshot;              /* --snapshot: the sites at the snapshot must be shown */
};

/* Which site lists a trace gets beyond the asked ones: a --stacks trace killed by the runner's OOM kill shows what
 * was live at its last flush, one with a snapshot the sites live then. */
static int killed_sites(const struct tq_trace_summary *s)
{
    return s->killed && s->ending == TQ_ENDED_UNKNOWN && (s->flags & TQ_PROC_STACKS);
}

static int snapshot_sites(const struct tq_trace_summary *s, const struct report_sections *o)
{
    return o->snapshot || (s->snapshot && (s->flags & TQ_PROC_STACKS));
}

static int sites_per_list(const struct report_sections *o)
{
    return o->top ? o->top : 10;
}

static int print_json(const struct tq_trace_summary *s, struct tq_sites *sites, struct tq_sites *snap, int n,
                      const struct report_sections *o, const struct tq_tree_peak *tree)
{
    int top = o->top;
    json_t *root = json_object(), *arr = json_array();
    uint64_t rss = 0, heap = 0, calls = 0;
    int trunc = 0;
    for (int i = 0; i < n; i++) {
        json_t *one = tq_trace_summary_json(&s[i]);
        if (top && one)
            json_object_set_new(one, "top", tq_report_top_json(&sites[i], top));
        if ((o->leaks || killed_sites(&s[i])) && one)
            json_object_set_new(one, "leaks", tq_report_leaks_json(&sites[i], sites_per_list(o)));
        if (snapshot_sites(&s[i], o) && one)
            json_object_set_new(one, "snapshot_sites", tq_report_leaks_json(&snap[i], sites_per_list(o)));
        if (o->temporary && one)
            json_object_set_new(one, "temporary", tq_report_temporary_json(&sites[i], sites_per_list(o)));
        json_array_append_new(arr, one);
        rss += s[i].peak_rss;
        heap += s[i].peak_heap;
        calls += s[i].calls_total;
        trunc += s[i].truncated;
    }
    json_object_set_new(root, "traces", arr);
    json_t *totals = json_pack("{s:i, s:I, s:I, s:I, s:i}", "traces", n, "peak_rss_sum", (json_int_t)rss,
                               "peak_heap_sum", (json_int_t)heap, "calls", (json_int_t)calls, "truncated", trunc);
    if (totals && n > 1) {
        json_object_set_new(totals, "peak_rss_at_once", json_integer((json_int_t)tree->peak));
        json_object_set_new(totals, "peak_rss_at_once_unix_ns", json_integer((json_int_t)tree->t_unix_ns));
    }
    json_object_set_new(root, "totals", totals);
    json_object_set_new(root, "processes", tree_json(s, n));
    int rc = json_dumpf(root, stdout, JSON_INDENT(2)) == 0 ? TQ_EXIT_OK : TQ_EXIT_FAIL;
    printf("\n");
    json_decref(root);
    return rc;
}

int cmd_report(int argc, char **argv)
{
    struct report_sections sec = {0};
    int json = 0, top = 0, c;
    optind = 1;
    while ((c = tq_cli_next(&cli_report, argc, argv)) > 0) {
        if (c == 'j')
            json = 1;
        else if (c == 't') {
            long v;
            struct tq_err err = {0};
            if (tq_parse_long(optarg, 1, 100000, "--top", &v, &err))
                return tq_cli_usage_error("report", "%s", err.msg);
            top = (int)v;
        } else if (c == 'l') {
            sec.leaks = 1;
        } else if (c == 'T') {
            sec.temporary = 1;
        } else if (c == 'P') {
            sec.python_only = 1;
        } else if (c == 'S') {
            sec.snapshot = 1;
        }
    }
    if (c != TQ_CLI_END)
        return tq_cli_exit_code(c);
    int n = argc - optind;
    if (n < 1)
        return tq_cli_usage_error("report", "give at least one trace file");
    struct tq_trace_summary *s = tq_calloc((size_t)n, sizeof *s);
    struct tq_sites *sites = tq_calloc((size_t)n, sizeof *sites);
    struct tq_sites *snap = tq_calloc((size_t)n, sizeof *snap);
    if (!s || !sites || !snap) {
        free(s);
        free(sites);
        free(snap);
        return tq_cli_fail("report", &(struct tq_err){TQ_ERR_NOMEM, "out of memory"});
    }
    sec.top = top;
    int rc = TQ_EXIT_OK, want_sites = top || sec.leaks || sec.temporary;
    if (sec.python_only && !want_sites && !sec.snapshot)
        rc = tq_cli_usage_error("report", "--python-only goes with --top, --leaks, --temporary or --snapshot");
    for (int i = 0; i < n && rc == TQ_EXIT_OK; i++) {
        struct tq_err err = {0};
        /* each trace read once: its summary (several traces: with their samples, for the RSS of all processes at
         * once) in the pass that replays its sites when they are wanted (a killed trace's, for its last flush, are
         * only known to be wanted once it is summarized) */
        if ((want_sites ? tq_sites_load_summarized(argv[optind + i], sec.python_only, &s[i], n > 1, &sites[i], &err)
                        : (n > 1 ? tq_trace_summarize_samples : tq_trace_summarize)(argv[optind + i], &s[i], &err)) ||
            (!want_sites && killed_sites(&s[i]) &&
             tq_sites_load_opts(argv[optind + i], sec.python_only, &sites[i], &err)) ||
            (snapshot_sites(&s[i], &sec) &&
             tq_sites_load_with(argv[optind + i], sec.python_only, true, &snap[i], &err)))
            rc = tq_cli_fail("report", &err);
        else if (sec.temporary && sites[i].sample_bytes)
            rc = tq_cli_usage_error("report", "%s was recorded with --sample-bytes: whether another allocation came "
                                    "between two events is unknown, so --temporary needs every allocation",
                                    argv[optind + i]);
        else if ((sec.leaks || sec.temporary) && sites[i].aggregated)
            rc = tq_cli_usage_error("report", "%s was recorded with --aggregate, which keeps no events: --leaks and "
                                    "--temporary need a trace recorded with --stacks alone", argv[optind + i]);
    }
    struct tq_tree_peak tree = {0};
    if (rc == TQ_EXIT_OK && n > 1) { /* the totals' RSS of all processes at once */
        struct tq_err err = {0};
        if (tq_tree_timeline(s, (size_t)n, TQ_TREE_RSS, NULL, NULL, &tree, NULL, &err))
            rc = tq_cli_fail("report", &err);
    }
    if (rc == TQ_EXIT_OK && json)
        rc = print_json(s, sites, snap, n, &sec, &tree);
    else if (rc == TQ_EXIT_OK) {
        for (int i = 0; i < n; i++) {
            print_one(&s[i]);
            if (top)
                tq_report_top_print(stdout, &sites[i], top);
            /* A trace without exit (killed): --top also shows what held the heap at its last flush. */
            if (sec.leaks || killed_sites(&s[i]) || (top && s[i].ending == TQ_ENDED_UNKNOWN && !sites[i].aggregated))
                tq_report_leaks_print(stdout, &sites[i], sites_per_list(&sec));
            if (snapshot_sites(&s[i], &sec))
                tq_report_leaks_print(stdout, &snap[i], sites_per_list(&sec));
            if (sec.temporary)
                tq_report_temporary_print(stdout, &sites[i], sites_per_list(&sec));
        }
        if (n > 1)
            print_totals(s, n, &tree);
    }
    for (int i = 0; i < n; i++) {
        tq_trace_summary_clear(&s[i]);
        tq_sites_clear(&sites[i]);
        tq_sites_clear(&snap[i]);
    }
    free(s);
    free(sites);
    free(snap);
    return rc;
}
