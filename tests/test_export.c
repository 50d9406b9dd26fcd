/* test_export.c - `traceq export` (massif, folded, chrome, csv) and `traceq plot` on traces built here with the
 * trace codec, so every expected figure follows from the fixture's own data. */
#include <cairo.h>
#include <criterion/criterion.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../traces/codec.h"
#include "../traces/writer.h"
#include "helpers.h"

enum { NSAMPLES = 50 };

/* The scripted heap of the fixture: who allocates what, and when it is freed. */
struct script_ev {
    unsigned kind;
    uint64_t addr, size, old_addr;
    uint32_t stack;
};

static const struct script_ev script[] = {
    {TQ_CALL_MALLOC, 0xa000, 1000, 0, 1},       {TQ_CALL_MALLOC, 0xb000, 5000, 0, 2},
    {TQ_CALL_CALLOC, 0xc000, 300, 0, 3},        {TQ_CALL_FREE, 0xa000, 0, 0, 1},
    {TQ_CALL_REALLOC, 0xd000, 8000, 0xb000, 2}, {TQ_CALL_MALLOC, 0xe000, 2000, 0, 1},
    {TQ_CALL_FREE, 0xd000, 0, 0, 2},            {TQ_CALL_FREE, 0xe000, 0, 0, 1},
    {TQ_CALL_MMAP, 0x70000, 1 << 20, 0, 3},     {TQ_CALL_MALLOC, 0xf000, 100, 0, 3},
};
enum { NSCRIPT = sizeof script / sizeof script[0] };

static const uint64_t stack_ips[4][2] = {{0, 0}, {0x10100, 0x400200}, {0x10300, 0x400200}, {0x400300, 0}};
static const uint32_t stack_depth[4] = {0, 2, 2, 1};

static struct tq_rec_sample fixture_sample(int i)
{
    struct tq_rec_sample s = {0};
    s.t_ns = (uint64_t)i * 10000000u;
    s.vm_rss = (4u << 20) + (uint64_t)(i < 25 ? i : 50 - i) * 65536u;
    s.vm_size = s.vm_rss * 2;
    s.heap_live_req = 1000 * (i <= 20 ? i : 40 - i > 0 ? 40 - i : 0);
    s.heap_live_usable = s.heap_live_req + 16 * i;
    s.mmap_live = i >= 30 && i < 36 ? 65536 : 0;
    s.calls_total = (uint64_t)i * 3;
    return s;
}

/* Write a fixture trace to path: process, modules, stacks + events (when with_stacks), samples, end. */
static void write_fixture(const char *path, bool with_stacks)
{
    struct tq_trace_writer w;
    tq_fixture_trace_open(path, &w);
    static uint8_t buf[1 << 16];
    char *argv[] = {"fixture", "--n", "3", NULL};
    struct tq_rec_process p = {.pid = 4242, .ppid = 1, .interval_us = 10000, .page_size = 4096,
                               .flags = with_stacks ? TQ_PROC_STACKS : 0};
    tq_fixture_put(&w, buf, tq_rec_put_process(buf, sizeof buf, &p, "/usr/bin/fixture", 3, argv));
    if (with_stacks) {
        struct tq_rec_module lib = {.generation = 0, .perms = 5, .start = 0x10000, .end = 0x20000};
        struct tq_rec_module exe = {.generation = 0, .perms = 5, .start = 0x400000, .end = 0x500000};
        tq_fixture_put(&w, buf, tq_rec_put_module(buf, sizeof buf, &lib, "/usr/lib/libfix.so"));
        tq_fixture_put(&w, buf, tq_rec_put_module(buf, sizeof buf, &exe, "/usr/bin/fixture"));
        for (uint32_t id = 1; id < 4; id++)
            tq_fixture_put(&w, buf, tq_rec_put_stack(buf, sizeof buf, id, stack_ips[id], stack_depth[id]));
        struct tq_event ev[NSCRIPT];
        for (int i = 0; i < NSCRIPT; i++)
            ev[i] = (struct tq_event){.kind = (uint8_t)script[i].kind, .t_ns = 1000u * i, .addr = script[i].addr,
                                      .size = script[i].size, .old_addr = script[i].old_addr,
                                      .stack_id = script[i].stack};
        tq_fixture_put(&w, buf, tq_rec_put_events(buf, sizeof buf, 4242, ev, NSCRIPT));
    }
    for (int i = 0; i < NSAMPLES; i++) {
        struct tq_rec_sample s = fixture_sample(i);
        tq_fixture_put(&w, buf, tq_rec_put_sample(buf, sizeof buf, &s));
        if (i % 10 == 9) /* several frames, as the shim's periodic flushes make */
            cr_assert_eq(tq_writer_flush(&w), 0);
    }
    struct tq_rec_end e = {.t_ns = NSAMPLES * 10000000u, .reason = TQ_END_EXIT, .heap_peak_req = 20000};
    tq_fixture_put(&w, buf, tq_rec_put_end(buf, sizeof buf, &e));
    cr_assert_eq(tq_writer_close(&w), 0);
}

/* The script replayed the simple way: heap bytes per stack at the heap peak, and allocated in total. */
static void script_expect(uint64_t peak_by_stack[4], uint64_t alloc_by_stack[4], uint64_t *peak)
{
    uint64_t live[4] = {0}, size_at[NSCRIPT] = {0}, total = 0;
    *peak = 0;
    memset(alloc_by_stack, 0, 4 * sizeof *alloc_by_stack);
    for (int i = 0; i < NSCRIPT; i++) {
        const struct script_ev *e = &script[i];
        for (int j = 0; j < i; j++) /* free / realloc: find the earlier live block at that address */
            if (size_at[j] && (script[j].addr == (e->kind == TQ_CALL_FREE ? e->addr : e->old_addr))) {
                live[script[j].stack] -= size_at[j];
                total -= size_at[j];
                size_at[j] = 0;
            }
        if (e->kind != TQ_CALL_FREE && e->kind != TQ_CALL_MMAP) {
            size_at[i] = e->size;
            live[e->stack] += e->size;
            alloc_by_stack[e->stack] += e->size;
            total += e->size;
        }
        if (total > *peak) {
            *peak = total;
            memcpy(peak_by_stack, live, sizeof live);
        }
    }
}

static char *run_ok(const char *fmt, const char *a, const char *b)
{
    char cmd[8192], *out, *err;
    snprintf(cmd, sizeof cmd, fmt, tq_build_path("traceq"), a, b);
    int rc = tq_run(cmd, &out, &err);
    cr_assert_eq(rc, 0, "%s -> %d: %s", cmd, rc, err);
    free(err);
    return out;
}

Test(export, csv_has_a_header_and_every_sample)
{
    char *dir = tq_tmpdir(), trace[4200];
    snprintf(trace, sizeof trace, "%s/t.tq", dir);
    write_fixture(trace, false);
    char *out = run_ok("%s export %s --format csv%s", trace, "");
    cr_assert(!strncmp(out, "t_s,vm_size_bytes,vm_rss_bytes,", 31), "%s", out);
    int rows = 0;
    for (char *p = strchr(out, '\n'); p && p[1]; p = strchr(p + 1, '\n'))
        rows++;
    cr_assert_eq(rows, NSAMPLES);
    /* Row 8 (sample 7) holds the fixture's RSS for sample 7. */
    char *line = out;
    for (int i = 0; i < 8; i++)
        line = strchr(line, '\n') + 1;
    double t;
    unsigned long long size, rss;
    cr_assert_eq(sscanf(line, "%lf,%llu,%llu", &t, &size, &rss), 3);
    cr_assert_eq(rss, fixture_sample(7).vm_rss);
    cr_assert_float_eq(t, 0.07, 1e-9);
    free(out);
    tq_rmtree(dir);
    free(dir);
}

Test(export, chrome_json_parses_and_has_the_counter_tracks)
{
    char *dir = tq_tmpdir(), trace[4200], json[4200];
    snprintf(trace, sizeof trace, "%s/t.tq", dir);
    snprintf(json, sizeof json, "%s/t.json", dir);
    write_fixture(trace, false);
    free(run_ok("%s export %s --format chrome -o %s", trace, json));
    json_error_t je;
    json_t *root = json_load_file(json, 0, &je);
    cr_assert_not_null(root, "bad JSON: %s line %d", je.text, je.line);
    json_t *events = json_object_get(root, "traceEvents");
    cr_assert(json_is_array(events));
    int counts[3] = {0}, meta = 0;
    const char *names[3] = {"RSS", "heap", "mmap"};
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev)
    {
        const char *ph = json_string_value(json_object_get(ev, "ph"));
        const char *name = json_string_value(json_object_get(ev, "name"));
        cr_assert(ph && name);
        if (!strcmp(ph, "M")) {
            meta++;
            continue;
        }
        cr_assert_str_eq(ph, "C");
        cr_assert_eq(json_integer_value(json_object_get(ev, "pid")), 4242);
        for (int k = 0; k < 3; k++)
            if (!strcmp(name, names[k])) {
                double bytes = json_number_value(json_object_get(json_object_get(ev, "args"), "bytes"));
                struct tq_rec_sample s = fixture_sample(counts[k]);
                double want = k == 0 ? (double)s.vm_rss : k == 1 ? (double)s.heap_live_req : (double)s.mmap_live;
                cr_assert_float_eq(bytes, want, 0.5, "%s sample %d", name, counts[k]);
                counts[k]++;
            }
    }
    for (int k = 0; k < 3; k++)
        cr_assert_eq(counts[k], NSAMPLES, "track %s has %d events", names[k], counts[k]);
    cr_assert_eq(meta, 1);
    json_decref(root);
    tq_rmtree(dir);
    free(dir);
}

Test(export, ms_print_reads_the_massif_export_and_shows_the_peak)
{
    char *dir = tq_tmpdir(), trace[4200], ms[4200];
    snprintf(trace, sizeof trace, "%s/t.tq", dir);
    snprintf(ms, sizeof ms, "%s/massif.out", dir);
    write_fixture(trace, false);
    free(run_ok("%s export %s --format massif -o %s", trace, ms));
    uint64_t peak = 0;
    for (int i = 0; i < NSAMPLES; i++) {
        struct tq_rec_sample s = fixture_sample(i);
        uint64_t held = (uint64_t)(s.heap_live_req + s.mmap_live);
        peak = held > peak ? held : peak;
    }
    char cmd[8400], *out, *err;
    snprintf(cmd, sizeof cmd, "ms_print %s", ms);
    cr_assert_eq(tq_run(cmd, &out, &err), 0, "ms_print failed: %s", err);
    cr_assert(strstr(out, "(peak)"), "no peak snapshot in:\n%s", out);
    /* ms_print prints the peak total with thousands separators. */
    char want[64];
    snprintf(want, sizeof want, "%" PRIu64 ",%03" PRIu64, peak / 1000, peak % 1000);
    cr_assert(strstr(out, want), "peak %s not shown in:\n%s", want, out);
    free(out);
    free(err);
    tq_rmtree(dir);
    free(dir);
}

/* Sum the weights of folded lines, and check each line is "frames weight". */
static uint64_t folded_total(const char *text, int *lines)
{
    uint64_t sum = 0;
    *lines = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n'), *sp = NULL;
        cr_assert_not_null(nl);
        for (const char *q = p; q < nl; q++)
            if (*q == ' ')
                sp = q;
        cr_assert_not_null(sp, "line without weight");
        sum += strtoull(sp + 1, NULL, 10);
        (*lines)++;
        p = nl + 1;
    }
    return sum;
}

Test(export, folded_totals_equal_the_trace_totals)
{
    char *dir = tq_tmpdir(), trace[4200];
    snprintf(trace, sizeof trace, "%s/t.tq", dir);
    write_fixture(trace, true);
    uint64_t at_peak[4] = {0}, allocated[4] = {0}, peak = 0, total_alloc = 0;
    script_expect(at_peak, allocated, &peak);
    int lines;
    char *out = run_ok("%s export %s --format folded%s", trace, "");
    cr_assert_eq(folded_total(out, &lines), peak);
    /* Stack 2 is libfix.so+0x300 called from fixture+0x200 (0x400200 in a mapping at 0x400000): root first. */
    char want[128];
    snprintf(want, sizeof want, "fixture+0x200;libfix.so+0x300 %" PRIu64 "\n", at_peak[2]);
    cr_assert(strstr(out, want), "missing '%s' in:\n%s", want, out);
    free(out);
    out = run_ok("%s export %s --format folded --by allocated%s", trace, "");
    for (int s = 0; s < 4; s++)
        total_alloc += allocated[s];
    cr_assert_eq(folded_total(out, &lines), total_alloc);
    cr_assert_eq(lines, 3);
    free(out);
    tq_rmtree(dir);
    free(dir);
}

Test(export, folded_without_stacks_says_how_to_get_them)
{
    char *dir = tq_tmpdir(), trace[4200], cmd[8400], *out, *err;
    snprintf(trace, sizeof trace, "%s/t.tq", dir);
    write_fixture(trace, false);
    snprintf(cmd, sizeof cmd, "%s export %s --format folded", tq_build_path("traceq"), trace);
    cr_assert_eq(tq_run(cmd, &out, &err), 2);
    cr_assert(strstr(err, "recorded without stacks") && strstr(err, "--stacks"), "%s", err);
    free(out);
    free(err);
    tq_rmtree(dir);
    free(dir);
}

Test(export, usage_errors_exit_2_and_outputs_are_not_clobbered)
{
    char *dir = tq_tmpdir(), trace[4200], cmd[8400], *out, *err;
    snprintf(trace, sizeof trace, "%s/t.tq", dir);
    write_fixture(trace, false);
    const char *bad[] = {"%s export %s --format xml", "%s export %s", "%s export %s.missing --format csv",
                         "%s export %s --format csv -o %s", "%s export %s --format csv --by peak",
                         "%s export %s.txt --format csv"};
    snprintf(cmd, sizeof cmd, "%s.txt", trace);
    FILE *f = fopen(cmd, "w");
    fputs("not a trace\n", f);
    fclose(f);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(cmd, sizeof cmd, bad[i], tq_build_path("traceq"), trace, trace);
        cr_assert_eq(tq_run(cmd, &out, &err), 2, "'%s' did not exit 2 (%s)", cmd, err);
        cr_assert(strstr(err, "traceq export:"), "%s", err);
        free(out);
        free(err);
    }
    tq_rmtree(dir);
    free(dir);
}

Test(export, plot_overlays_several_traces)
{
    char *dir = tq_tmpdir(), a[4200], b[4200], png[4200], svg[4200];
    snprintf(a, sizeof a, "%s/run1.tq", dir);
    snprintf(b, sizeof b, "%s/run2.tq", dir);
    snprintf(png, sizeof png, "%s/timeline.png", dir);
    snprintf(svg, sizeof svg, "%s/timeline.svg", dir);
    write_fixture(a, false);
    write_fixture(b, true);
    char cmd[17000];
    snprintf(cmd, sizeof cmd, "%s plot %s %s -o %s", tq_build_path("traceq"), a, b, png);
    cr_assert_eq(tq_runf("%s", cmd), 0);
    cairo_surface_t *img = cairo_image_surface_create_from_png(png);
    cr_assert_eq(cairo_surface_status(img), CAIRO_STATUS_SUCCESS);
    cairo_surface_destroy(img);
    cr_assert_eq(tq_runf("%s", cmd), 2, "an existing plot was replaced without --force");
    snprintf(cmd, sizeof cmd, "%s plot %s %s -o %s", tq_build_path("traceq"), a, b, svg);
    cr_assert_eq(tq_runf("%s", cmd), 0);
    size_t len;
    char *text = tq_slurp(svg, &len);
    /* Series lines are the 2-px unfilled strokes with more than one segment (legend samples have one; cairo
     * merges collinear points, so a ramp may have few). RSS, heap and mmap of two traces: six. */
    int long_paths = 0;
    for (const char *p = strstr(text, "<path style=\"fill:none;stroke-width:2;"); p;
         p = strstr(p + 1, "<path style=\"fill:none;stroke-width:2;")) {
        const char *d = strstr(p, " d=\"");
        int segs = 0;
        for (const char *c = d + 4; *c && *c != '"'; c++)
            segs += *c == 'L';
        long_paths += segs >= 2;
    }
    cr_assert_eq(long_paths, 6, "%d long paths in %s", long_paths, svg);
    free(text);
    tq_rmtree(dir);
    free(dir);
}

__attribute__((noinline)) int folded_probe_leaf(int x)
{
    return x + 1;
}

__attribute__((noinline)) int folded_probe_caller(int x)
{
    return folded_probe_leaf(x) * 2;
}

Test(export, folded_names_functions_from_the_module_map)
{
    char *dir = tq_tmpdir(), trace[4200];
    snprintf(trace, sizeof trace, "%s/sym.tq", dir);
    struct tq_trace_writer w;
    tq_fixture_trace_open(trace, &w);
    static uint8_t buf[1 << 16];
    struct tq_rec_process p = {.pid = 7, .interval_us = 10000, .page_size = 4096, .flags = TQ_PROC_STACKS};
    tq_fixture_put(&w, buf, tq_rec_put_process(buf, sizeof buf, &p, "/proc/self/exe", 0, NULL));
    /* This test process's own mappings stand in for the profiled program's. */
    FILE *maps = fopen("/proc/self/maps", "r");
    char line[4600], path[4096];
    unsigned long start, end, offset;
    while (fgets(line, sizeof line, maps)) {
        path[0] = 0;
        if (sscanf(line, "%lx-%lx %*s %lx %*s %*s %4095s", &start, &end, &offset, path) == 4 && path[0] == '/') {
            struct tq_rec_module m = {.perms = 5, .start = start, .end = end, .offset = offset};
            tq_fixture_put(&w, buf, tq_rec_put_module(buf, sizeof buf, &m, path));
        }
    }
    fclose(maps);
    /* Innermost first: a point inside the leaf, then a return address just after a point inside the caller. */
    uint64_t ips[2] = {(uint64_t)(uintptr_t)&folded_probe_leaf + 1, (uint64_t)(uintptr_t)&folded_probe_caller + 2};
    tq_fixture_put(&w, buf, tq_rec_put_stack(buf, sizeof buf, 1, ips, 2));
    struct tq_event ev[2] = {{.kind = TQ_CALL_MALLOC, .t_ns = 10, .addr = 0x5000, .size = 4096, .stack_id = 1},
                             {.kind = TQ_CALL_MALLOC, .t_ns = 20, .addr = 0x9000, .size = 512, .stack_id = 1}};
    tq_fixture_put(&w, buf, tq_rec_put_events(buf, sizeof buf, 7, ev, 2));
    cr_assert_eq(tq_writer_close(&w), 0);
    char *out = run_ok("%s export %s --format folded --by allocated%s", trace, "");
    cr_assert(strstr(out, "folded_probe_caller;folded_probe_leaf 4608\n"), "%s", out);
    cr_assert_eq(folded_probe_caller(1), 4);
    free(out);
    tq_rmtree(dir);
    free(dir);
}

Test(export, a_recorded_trace_exports_and_plots)
{
    char *dir = tq_tmpdir(), cmd[8400], *out, *err;
    snprintf(cmd, sizeof cmd, "%s record -o %s -- %s 32 50", tq_build_path("traceq"), dir,
             tq_build_path("progs/compare_touch"));
    cr_assert_eq(tq_run(cmd, &out, &err), 0, "%s", err);
    free(out);
    free(err);
    snprintf(cmd, sizeof cmd, "ls %s/*.tq", dir);
    cr_assert_eq(tq_run(cmd, &out, NULL), 0);
    char trace[4200];
    snprintf(trace, sizeof trace, "%.*s", (int)strcspn(out, "\n"), out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s export %s --format massif -o %s/m.out && ms_print %s/m.out",
             tq_build_path("traceq"), trace, dir, dir);
    cr_assert_eq(tq_run(cmd, &out, &err), 0, "%s", err);
    /* The program holds one 32 MiB block: the peak snapshot shows at least 32 MiB. */
    cr_assert(strstr(out, "(peak)"), "%s", out);
    cr_assert(strstr(out, "33,554,432"), "%s", out);
    free(out);
    free(err);
    snprintf(cmd, sizeof cmd, "%s plot %s -o %s/p.png", tq_build_path("traceq"), trace, dir);
    cr_assert_eq(tq_runf("%s", cmd), 0);
    snprintf(cmd, sizeof cmd, "%s/p.png", dir);
    cairo_surface_t *img = cairo_image_surface_create_from_png(cmd);
    cr_assert_eq(cairo_surface_status(img), CAIRO_STATUS_SUCCESS);
    cairo_surface_destroy(img);
    tq_rmtree(dir);
    free(dir);
}

Test(export, a_truncated_trace_exports_what_it_holds)
{
    char *dir = tq_tmpdir(), trace[4200], cmd[8400], *out, *err;
    snprintf(trace, sizeof trace, "%s/t.tq", dir);
    write_fixture(trace, false);
    /* Cut the file inside its last frames, as a SIGKILL between two writes would. */
    size_t len;
    free(tq_slurp(trace, &len));
    cr_assert_eq(truncate(trace, (off_t)(len * 3 / 4)), 0);
    snprintf(cmd, sizeof cmd, "%s export %s --format csv", tq_build_path("traceq"), trace);
    cr_assert_eq(tq_run(cmd, &out, &err), 0, "%s", err);
    int rows = 0;
    for (char *p = strchr(out, '\n'); p && p[1]; p = strchr(p + 1, '\n'))
        rows++;
    cr_assert(rows >= 10 && rows < NSAMPLES, "%d rows from a cut trace", rows);
    free(out);
    free(err);
    snprintf(cmd, sizeof cmd, "%s export %s --format massif -o %s/m.out && ms_print %s/m.out >/dev/null",
             tq_build_path("traceq"), trace, dir, dir);
    cr_assert_eq(tq_runf("%s", cmd), 0);
    tq_rmtree(dir);
    free(dir);
}

Test(export, massif_peak_snapshot_lists_the_call_sites_when_the_trace_has_stacks)
{
    char *dir = tq_tmpdir(), trace[4200], cmd[8400], *out, *err;
    snprintf(trace, sizeof trace, "%s/t.tq", dir);
    write_fixture(trace, true);
    uint64_t at_peak[4] = {0}, allocated[4] = {0}, peak = 0;
    script_expect(at_peak, allocated, &peak);
    snprintf(cmd, sizeof cmd, "%s export %s --format massif -o %s/m.out && ms_print %s/m.out",
             tq_build_path("traceq"), trace, dir, dir);
    cr_assert_eq(tq_run(cmd, &out, &err), 0, "%s", err);
    /* ms_print prints each tree node as "->PCT% (BYTES B) ADDRESS: NAME", bytes with thousands separators. */
    char want[128];
    snprintf(want, sizeof want, "(%" PRIu64 ",%03" PRIu64 "B) (heap allocation functions)", peak / 1000, peak % 1000);
    cr_assert(strstr(out, want), "root '%s' missing in:\n%s", want, out);
    snprintf(want, sizeof want, "(%" PRIu64 ",%03" PRIu64 "B) 0x10300: libfix.so+0x300", at_peak[2] / 1000,
             at_peak[2] % 1000);
    cr_assert(strstr(out, want), "site '%s' missing in:\n%s", want, out);
    cr_assert(strstr(out, "fixture+0x200"), "the caller is missing:\n%s", out);
    free(out);
    free(err);
    tq_rmtree(dir);
    free(dir);
}
