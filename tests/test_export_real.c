/* test_export_real.c - exports, plot, report --top and diff on traces the shim really recorded (--stacks and
 * --aggregate, short and multi-threaded programs): ms_print reads every massif export, trees sum consistently,
 * folded totals equal the replayed totals, Chrome/CSV tracks are sane. */
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <unistd.h>

#include "../report/sites.h"
#include "../traces/codec.h"
#include "../traces/writer.h"
#include "shim_util.h"

/* Record ARGS (a program of build/progs and its arguments) with OPTS; return the one trace's path (caller frees)
 * and the new directory in *dir. */
static char *record_one(const char *opts, const char *args, char **dir)
{
    *dir = tq_tmpdir();
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "%s/%s", tq_build_path("progs"), args);
    cr_assert_eq(shim_record_opts(*dir, opts, cmd, NULL), 0, "record %s %s failed", opts, args);
    return shim_one_trace(*dir, "*", 0);
}

/* Lines "nN: BYTES in K places, all below massif's threshold" the last check_massif_trees call saw. */
static int massif_below_lines;

/* Check every detailed snapshot of a massif.out: its root equals mem_heap_B, no node's children sum to more than
 * the node, and (massif's default threshold) every node named by a frame holds at least 1% of its tree's root, the
 * smaller ones being summed into one "in K places, all below massif's threshold" line per parent. Returns the peak
 * snapshot's mem_heap_B. */
static uint64_t check_massif_trees(const char *path)
{
    massif_below_lines = 0;
    char *text = tq_slurp(path, NULL);
    cr_assert_not_null(text, "cannot read %s", path);
    uint64_t heap = 0, peak = 0, bytes[1100], kids_sum[1100];
    int depth = -1, peaks = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        unsigned long long v;
        unsigned nk;
        if (sscanf(line, "mem_heap_B=%llu", &v) == 1) {
            heap = v;
            depth = -1;
        } else if (!strcmp(line, "heap_tree=peak")) {
            peaks++;
            peak = heap;
        } else if (sscanf(line, " n%u: %llu", &nk, &v) == 2) {
            int d = (int)strspn(line, " ");
            cr_assert(d <= depth + 1 && d < 1100, "bad indentation in %s: %s", path, line);
            /* Close the nodes at depth >= d: their children sums are complete. */
            for (; depth >= d; depth--)
                cr_assert_leq(kids_sum[depth], bytes[depth], "%s: children of a node sum to more than it", path);
            bool below = strstr(line, " places, all below massif's threshold (1.00%)") ||
                         strstr(line, " place, all below massif's threshold (1.00%)");
            massif_below_lines += below;
            if (below)
                cr_assert_eq(nk, 0, "%s: a below-threshold line with children: %s", path, line);
            if (d == 0)
                cr_assert_eq(v, heap, "%s: tree root %llu, mem_heap_B %" PRIu64, path, v, heap);
            else
                kids_sum[d - 1] += v;
            if (d > 0 && !below)
                cr_assert_geq((double)v * 100.0, (double)bytes[0], "%s: node below 1%% of the root: %s", path, line);
            bytes[d] = v;
            kids_sum[d] = 0;
            depth = d;
        }
    }
    for (; depth >= 0; depth--)
        cr_assert_leq(kids_sum[depth], bytes[depth], "%s: children of a node sum to more than it", path);
    cr_assert_eq(peaks, 1, "%s has %d peak snapshots", path, peaks);
    free(text);
    return peak;
}

/* Sum of a folded export's weights (--by BY); its exit status must be 0. */
static uint64_t folded_sum(const char *trace, const char *by)
{
    char cmd[8400], *out, *err;
    snprintf(cmd, sizeof cmd, "%s export %s --format folded --by %s", tq_build_path("traceq"), trace, by);
    cr_assert_eq(tq_run(cmd, &out, &err), 0, "%s: %s", cmd, err);
    uint64_t sum = 0;
    for (char *l = strtok(out, "\n"); l; l = strtok(NULL, "\n")) {
        char *sp = strrchr(l, ' ');
        cr_assert_not_null(sp, "bad folded line %s", l);
        sum += strtoull(sp + 1, NULL, 10);
    }
    free(out);
    free(err);
    return sum;
}

/* Export massif, run ms_print on it, check the trees; the peak carries the replay's exact heap peak. */
static void massif_of_real_trace(const char *opts, const char *args)
{
    char *dir, *trace = record_one(opts, args, &dir), cmd[8400], *out, *err;
    snprintf(cmd, sizeof cmd, "%s export %s --format massif -o %s/m.out && ms_print %s/m.out",
             tq_build_path("traceq"), trace, dir, dir);
    cr_assert_eq(tq_run(cmd, &out, &err), 0, "%s %s: %s", opts, args, err);
    cr_assert(strstr(out, "(peak)"), "%s %s: no peak in\n%s", opts, args, out);
    free(out);
    free(err);
    snprintf(cmd, sizeof cmd, "%s/m.out", dir);
    uint64_t peak = check_massif_trees(cmd);
    struct tq_sites s;
    struct tq_err e = {0};
    cr_assert_eq(tq_sites_load(trace, &s, &e), TQ_OK, "%s", e.msg);
    /* mem_heap_B = the exact heap peak + the program's mmap bytes (0 for these programs, though a thread's stack
     * cache may have been unmapped: never below the heap peak). */
    cr_assert_geq(peak, s.peak, "%s %s: peak snapshot %" PRIu64 " < replayed peak %" PRIu64, opts, args, peak,
                  s.peak);
    cr_assert_leq(peak, s.peak + (1 << 20), "%s %s: peak snapshot %" PRIu64 " far above %" PRIu64, opts, args,
                  peak, s.peak);
    cr_assert_eq(folded_sum(trace, "peak"), s.peak, "%s %s: folded peak total", opts, args);
    tq_sites_clear(&s);
    free(trace);
    tq_rmtree(dir);
    free(dir);
}

Test(export_real, ms_print_reads_massif_of_a_short_stacks_run)
{
    massif_of_real_trace("--stacks", "stack_paths");
}

Test(export_real, ms_print_reads_massif_of_multithreaded_stacks_runs)
{
    massif_of_real_trace("--stacks", "stack_paths 8 20000 4");
    /* the startup's small blocks (libc, the loader) are far below 1% of the 16 MiB peak: summed into one line */
    cr_assert_geq(massif_below_lines, 1, "no below-threshold line in stack_paths 8 20000 4's peak tree");
    massif_of_real_trace("--stacks", "handoff 5000");
}

Test(export_real, ms_print_reads_massif_of_aggregate_runs)
{
    massif_of_real_trace("--aggregate", "stack_paths");
    massif_of_real_trace("--aggregate", "stack_paths 8 20000 4");
}

/* Folded totals of an --aggregate trace equal the AGGREGATE figures and the same run's --stacks figures. */
Test(export_real, folded_totals_of_aggregate_traces)
{
    char *de, *da;
    char *te = record_one("--stacks", "stack_paths 8 20000 4", &de);
    char *ta = record_one("--aggregate", "stack_paths 8 20000 4", &da);
    struct tq_sites e, a;
    struct tq_err err = {0};
    cr_assert_eq(tq_sites_load(te, &e, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(tq_sites_load(ta, &a, &err), TQ_OK, "%s", err.msg);
    cr_assert(a.aggregated);
    uint64_t ap = folded_sum(ta, "peak"), aa = folded_sum(ta, "allocated");
    cr_expect_eq(ap, a.peak, "aggregate folded peak %" PRIu64 ", AGGREGATE heap_peak %" PRIu64, ap, a.peak);
    cr_expect_eq(aa, a.allocated, "aggregate folded allocated %" PRIu64 " vs %" PRIu64, aa, a.allocated);
    cr_expect_eq(aa, folded_sum(te, "allocated"), "allocated: aggregate vs events");
    cr_expect_eq(ap, folded_sum(te, "peak"), "peak: aggregate vs events");
    /* The program's known blocks: 8 x 1 MiB held, 40 x 4 MiB churned one at a time, 80000 x 24 B. */
    cr_expect_geq(ap, (8u << 20) + (4u << 20));
    cr_expect_geq(aa, (8ull << 20) + 40 * (4ull << 20) + 80000 * 24);
    cr_expect_lt(aa, (8ull << 20) + 40 * (4ull << 20) + 80000 * 24 + (1 << 20));
    tq_sites_clear(&e);
    tq_sites_clear(&a);
    free(te);
    free(ta);
    tq_rmtree(de);
    tq_rmtree(da);
    free(de);
    free(da);
}

/* An --aggregate trace whose AGGREGATE record has no peak figures: folded --by peak says so and exits 2. */
Test(export_real, folded_by_peak_of_aggregate_without_peaks_says_so)
{
    char *dir = tq_tmpdir(), trace[4200], cmd[8400], *out, *err;
    snprintf(trace, sizeof trace, "%s/t.tq", dir);
    struct tq_trace_writer w;
    tq_fixture_trace_open(trace, &w);
    static uint8_t buf[1 << 14];
    struct tq_rec_process p = {.pid = 7, .ppid = 1, .interval_us = 10000, .page_size = 4096, .flags = TQ_PROC_STACKS};
    tq_fixture_put(&w, buf, tq_rec_put_process(buf, sizeof buf, &p, "/bin/agg", 0, NULL));
    uint64_t ips[2] = {0x401000, 0x402000};
    tq_fixture_put(&w, buf, tq_rec_put_stack(buf, sizeof buf, 1, ips, 2));
    struct tq_agg_entry a = {.stack_id = 1, .calls = 3, .bytes = 300, .peak_bytes = 0};
    tq_fixture_put(&w, buf, tq_rec_put_aggregate(buf, sizeof buf, 0, 0, &a, 1));
    struct tq_rec_sample s = {.t_ns = 0, .heap_live_req = 100, .heap_peak_req = 100};
    tq_fixture_put(&w, buf, tq_rec_put_sample(buf, sizeof buf, &s));
    struct tq_rec_end end = {.t_ns = 1000000, .reason = TQ_END_EXIT};
    tq_fixture_put(&w, buf, tq_rec_put_end(buf, sizeof buf, &end));
    cr_assert_eq(tq_writer_close(&w), 0);
    snprintf(cmd, sizeof cmd, "%s export %s --format folded --by peak", tq_build_path("traceq"), trace);
    cr_assert_eq(tq_run(cmd, &out, &err), 2, "stdout: %s", out);
    cr_assert(strstr(err, "peak") && strstr(err, "--by allocated"), "unclear message: %s", err);
    cr_assert_eq(out[0], '\0', "printed something: %s", out);
    free(out);
    free(err);
    cr_assert_eq(folded_sum(trace, "allocated"), 300);
    /* massif falls back to the sampled peak with a root-only tree, which ms_print reads. */
    snprintf(cmd, sizeof cmd, "%s export %s --format massif -o %s/m.out && ms_print %s/m.out >/dev/null",
             tq_build_path("traceq"), trace, dir, dir);
    cr_assert_eq(tq_runf("%s", cmd), 0);
    tq_rmtree(dir);
    free(dir);
}

/* CSV rows of an export: the number of data rows; fails the test on a negative byte column. */
static int csv_rows_nonnegative(const char *trace, uint64_t *last_calls, uint64_t *heap_peak)
{
    char cmd[8400], *out, *err;
    snprintf(cmd, sizeof cmd, "%s export %s --format csv", tq_build_path("traceq"), trace);
    cr_assert_eq(tq_run(cmd, &out, &err), 0, "%s", err);
    int rows = 0;
    char *save = NULL;
    for (char *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (l == out)
            continue; /* header */
        double t;
        long long v[10];
        cr_assert_eq(sscanf(l, "%lf,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld", &t, &v[0], &v[1], &v[2],
                            &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]),
                     11, "bad row %s", l);
        for (int i = 0; i < 10; i++)
            cr_assert_geq(v[i], 0, "%s: negative column %d in row %s", trace, i + 1, l);
        *heap_peak = (uint64_t)v[5];
        *last_calls = (uint64_t)v[9];
        rows++;
    }
    free(out);
    free(err);
    return rows;
}

/* Chrome JSON of a trace: parses, has the three counter tracks with one value per sample each, none negative. */
static void check_chrome(const char *trace, int rows)
{
    char cmd[8400], *out, *err;
    snprintf(cmd, sizeof cmd, "%s export %s --format chrome", tq_build_path("traceq"), trace);
    cr_assert_eq(tq_run(cmd, &out, &err), 0, "%s", err);
    json_error_t je;
    json_t *root = json_loads(out, 0, &je);
    cr_assert_not_null(root, "chrome JSON does not parse: %s", je.text);
    json_t *evs = json_object_get(root, "traceEvents"), *ev;
    size_t i;
    int per_track[3] = {0};
    static const char *const tracks[3] = {"RSS", "heap", "mmap"};
    json_array_foreach(evs, i, ev)
    {
        const char *ph = json_string_value(json_object_get(ev, "ph")), *name;
        if (!ph || strcmp(ph, "C"))
            continue;
        name = json_string_value(json_object_get(ev, "name"));
        double b = json_number_value(json_object_get(json_object_get(ev, "args"), "bytes"));
        cr_assert_geq(b, 0, "%s: negative %s counter", trace, name);
        for (int k = 0; k < 3; k++)
            per_track[k] += name && !strcmp(name, tracks[k]);
    }
    for (int k = 0; k < 3; k++)
        cr_assert_eq(per_track[k], rows, "%s: %d %s counters for %d samples", trace, per_track[k], tracks[k], rows);
    json_decref(root);
    free(out);
    free(err);
}

/* csv, chrome, plot, report --top and diff on --stacks and --aggregate traces of a 4-thread program. */
Test(export_real, chrome_csv_plot_report_diff_on_multithreaded_traces)
{
    static const char *const modes[2] = {"--stacks", "--aggregate"};
    char *dirs[2], *traces[2], cmd[8400], *out, *err;
    for (int m = 0; m < 2; m++) {
        traces[m] = record_one(modes[m], "stack_paths 8 20000 4", &dirs[m]);
        uint64_t calls = 0, heap_peak = 0;
        int rows = csv_rows_nonnegative(traces[m], &calls, &heap_peak);
        cr_assert_geq(rows, 1);
        /* 80052 allocations and as many frees at least (the program's own; the runtime adds a few). */
        cr_expect_geq(calls, 2 * 80052, "%s: %" PRIu64 " calls", modes[m], calls);
        cr_expect_lt(calls, 2 * 80052 + 200, "%s: %" PRIu64 " calls", modes[m], calls);
        cr_expect_geq(heap_peak, (8u << 20) + (4u << 20), "%s", modes[m]);
        check_chrome(traces[m], rows);
        snprintf(cmd, sizeof cmd, "%s plot %s -o %s/p.png", tq_build_path("traceq"), traces[m], dirs[m]);
        cr_assert_eq(tq_runf("%s", cmd), 0, "plot %s", modes[m]);
        snprintf(cmd, sizeof cmd, "%s report --top 3 %s", tq_build_path("traceq"), traces[m]);
        cr_assert_eq(tq_run(cmd, &out, &err), 0, "%s", err);
        cr_expect(strstr(out, "hold_big") && strstr(out, "churn_big") && strstr(out, "tiny_calls"), "%s", out);
        cr_expect(strstr(out, "80000  tiny_calls"), "tiny_calls' 80000 calls missing:\n%s", out);
        free(out);
        free(err);
    }
    /* The same deterministic run, events vs aggregate: same totals, no site changed. */
    snprintf(cmd, sizeof cmd, "%s diff %s %s", tq_build_path("traceq"), traces[0], traces[1]);
    cr_assert_eq(tq_run(cmd, &out, &err), 0, "%s", err);
    cr_expect(strstr(out, "0 sites changed"), "%s", out);
    free(out);
    free(err);
    for (int m = 0; m < 2; m++) {
        tq_rmtree(dirs[m]);
        free(dirs[m]);
        free(traces[m]);
    }
}

/* The replay's peak snapshot adds the program's mmap bytes of the sample before it as a node of their own, and
 * comes in time order between the samples. */
Test(export_real, massif_peak_snapshot_counts_mmap_bytes_as_a_node)
{
    char *dir = tq_tmpdir(), trace[4200], cmd[8400], *out, *err;
    snprintf(trace, sizeof trace, "%s/t.tq", dir);
    struct tq_trace_writer w;
    tq_fixture_trace_open(trace, &w);
    static uint8_t buf[1 << 14];
    struct tq_rec_process p = {.pid = 8, .ppid = 1, .interval_us = 10000, .page_size = 4096, .flags = TQ_PROC_STACKS};
    tq_fixture_put(&w, buf, tq_rec_put_process(buf, sizeof buf, &p, "/bin/mm", 0, NULL));
    uint64_t ips[1] = {0x401000};
    tq_fixture_put(&w, buf, tq_rec_put_stack(buf, sizeof buf, 1, ips, 1));
    /* Samples at 0, 10, 20 ms; the heap peaks (7000 B) at 15 ms between two samples that see 3000 B. */
    struct tq_event ev[3] = {{.kind = TQ_CALL_MALLOC, .t_ns = 2000000, .addr = 1, .size = 3000, .stack_id = 1},
                             {.kind = TQ_CALL_MALLOC, .t_ns = 15000000, .addr = 2, .size = 4000, .stack_id = 1},
                             {.kind = TQ_CALL_FREE, .t_ns = 16000000, .addr = 2}};
    for (int i = 0; i < 3; i++) {
        struct tq_rec_sample s = {.t_ns = (uint64_t)i * 10000000u, .heap_live_req = i ? 3000 : 0,
                                  .heap_live_usable = i ? 3000 : 0, .mmap_live = 65536};
        tq_fixture_put(&w, buf, tq_rec_put_sample(buf, sizeof buf, &s));
        if (i == 0)
            tq_fixture_put(&w, buf, tq_rec_put_events(buf, sizeof buf, 8, ev, 3));
    }
    struct tq_rec_end end = {.t_ns = 20000000, .reason = TQ_END_EXIT};
    tq_fixture_put(&w, buf, tq_rec_put_end(buf, sizeof buf, &end));
    cr_assert_eq(tq_writer_close(&w), 0);
    snprintf(cmd, sizeof cmd, "%s export %s --format massif -o %s/m.out && ms_print %s/m.out",
             tq_build_path("traceq"), trace, dir, dir);
    cr_assert_eq(tq_run(cmd, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "(72,536B) (heap allocation functions)"), "root != 7000 + 65536:\n%s", out);
    cr_assert(strstr(out, "(65,536B) 0x0: (mmap bytes"), "no mmap node:\n%s", out);
    free(out);
    free(err);
    snprintf(cmd, sizeof cmd, "%s/m.out", dir);
    cr_assert_eq(check_massif_trees(cmd), 7000 + 65536);
    /* In time order: the peak snapshot (15 ms) between the samples of 10 and 20 ms. */
    char *text = tq_slurp(cmd, NULL), *peak = strstr(text, "heap_tree=peak");
    cr_assert_not_null(peak);
    char *t10 = strstr(text, "time=10\n"), *t15 = strstr(text, "time=15\n"), *t20 = strstr(text, "time=20\n");
    cr_assert(t10 && t15 && t20 && t10 < t15 && t15 < peak && peak < t20, "snapshots out of order:\n%s", text);
    free(text);
    tq_rmtree(dir);
    free(dir);
}
