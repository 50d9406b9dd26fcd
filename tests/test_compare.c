/* test_compare.c - `traceq compare`: every available backend on a program with a known 128 MiB peak, skipping
 * of missing backends, and the JSON / CSV / CLI contract. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../compare/compare.h"
#include "helpers.h"

#define MIB (1024.0 * 1024.0)

/* Accepted band per backend for a program that mallocs and touches 128 MiB and holds it for 300 ms:
 * resident figures may add the process's own code, libraries and stack (a few MiB) but not lose pages;
 * heap figures count the one 128 MiB block plus a few small allocations (massif exact to 64 KiB; heaptrack
 * prints 2 decimals of decimal megabytes, so 1 MiB). */
struct band {
    double lo, hi;
};

static struct band tolerance(enum tq_backend b)
{
    switch (b) {
    case TQ_BACKEND_STATM:  /* sampled every 10 ms over a 300 ms plateau: cannot miss it */
    case TQ_BACKEND_HWM:
        return (struct band){128 * MIB, 136 * MIB};
    case TQ_BACKEND_CGROUP: /* also charges page tables and any page cache the run touches */
        return (struct band){128 * MIB, 144 * MIB};
    case TQ_BACKEND_MASSIF:
        return (struct band){128 * MIB, 128 * MIB + 65536};
    case TQ_BACKEND_HEAPTRACK:
    case TQ_BACKEND_SHIM:
        return (struct band){127 * MIB, 129 * MIB};
    default:
        return (struct band){0, 0};
    }
}

Test(compare, every_available_backend_finds_the_known_peak)
{
    char *argv[] = {(char *)tq_build_path("progs/compare_touch"), "128", "300", NULL};
    struct tq_compare_opts o = {.runs = 1, .traceq = tq_build_path("traceq")};
    struct tq_compare *c = NULL;
    struct tq_err err;
    cr_assert_eq(tq_compare_run(&o, argv, &c, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(c->bare_exit_status, 0);
    int measured = 0;
    for (int b = 0; b < TQ_BACKEND_COUNT; b++) {
        const struct tq_compare_row *r = &c->rows[b];
        if (r->skipped) {
            cr_assert(r->note[0], "%s skipped without a note", r->backend);
            cr_log_info("%s skipped: %s", r->backend, r->note);
            continue;
        }
        struct band t = tolerance((enum tq_backend)b);
        cr_assert_eq(r->exit_status, 0, "%s: %s", r->backend, r->note);
        cr_assert((double)r->peak_bytes >= t.lo && (double)r->peak_bytes <= t.hi,
                  "%s peak %.2f MiB outside [%.2f, %.2f] MiB", r->backend, r->peak_bytes / MIB, t.lo / MIB,
                  t.hi / MIB);
        double rel, ratio;
        if (r->kind == TQ_MEASURE_RSS && tq_compare_error(c, r, &rel))
            cr_assert(rel > -0.05 && rel < 0.10, "%s is %.1f%% off the cgroup truth", r->backend, 100 * rel);
        cr_assert(tq_compare_overhead(c, r, &ratio) && ratio > 0.3, "%s overhead %.2f", r->backend, ratio);
        measured++;
    }
    /* statm and hwm need nothing but /proc and wait4, so they always run. */
    cr_assert(!c->rows[TQ_BACKEND_STATM].skipped && !c->rows[TQ_BACKEND_HWM].skipped);
    cr_assert_gt(c->rows[TQ_BACKEND_STATM].nt, 10, "statm gave no timeline");
    if (geteuid() == 0)
        cr_assert(c->has_truth, "running as root, the cgroup backend should work: %s",
                  c->rows[TQ_BACKEND_CGROUP].note);
    cr_assert_geq(measured, 2);
    tq_compare_free(c);
}

Test(compare, missing_backends_are_skipped_with_a_note)
{
    char *out, *err, cmd[8192];
    /* An empty PATH hides valgrind and heaptrack; the program is given by absolute path. */
    char *dir = tq_tmpdir();
    snprintf(cmd, sizeof cmd, "/usr/bin/env PATH=%s %s compare --backends hwm,massif,heaptrack -- %s 8 10", dir,
             tq_build_path("traceq"), tq_build_path("progs/compare_touch"));
    cr_assert_eq(tq_run(cmd, &out, &err), 0, "stderr: %s", err);
    cr_assert(strstr(out, "skipped: valgrind is not installed"), "%s", out);
    cr_assert(strstr(out, "skipped: heaptrack"), "%s", out);
    cr_assert(strstr(out, "\nhwm "), "%s", out);
    free(out);
    free(err);
    tq_rmtree(dir);
    free(dir);
}

Test(compare, json_and_csv_outputs)
{
    char *out, cmd[8192];
    snprintf(cmd, sizeof cmd, "%s compare --json --backends hwm,statm -- %s 16 50", tq_build_path("traceq"),
             tq_build_path("progs/compare_touch"));
    cr_assert_eq(tq_run(cmd, &out, NULL), 0);
    json_error_t je;
    json_t *root = json_loads(out, 0, &je);
    cr_assert_not_null(root, "bad JSON: %s", je.text);
    json_t *rows = json_object_get(root, "backends");
    cr_assert_eq(json_array_size(rows), TQ_BACKEND_COUNT);
    json_t *hwm = json_array_get(rows, TQ_BACKEND_HWM);
    cr_assert_str_eq(json_string_value(json_object_get(hwm, "backend")), "hwm");
    cr_assert_str_eq(json_string_value(json_object_get(hwm, "kind")), "rss");
    cr_assert_geq(json_integer_value(json_object_get(hwm, "peak_bytes")), 16 << 20);
    cr_assert(json_is_true(json_object_get(json_array_get(rows, TQ_BACKEND_MASSIF), "skipped")));
    json_decref(root);
    free(out);

    snprintf(cmd, sizeof cmd, "%s compare --csv --backends hwm -- %s 16 50", tq_build_path("traceq"),
             tq_build_path("progs/compare_touch"));
    cr_assert_eq(tq_run(cmd, &out, NULL), 0);
    cr_assert(!strncmp(out, "backend,kind,skipped,peak_bytes,", 32), "%s", out);
    cr_assert(strstr(out, "\nhwm,rss,0,"), "%s", out);
    free(out);
}

Test(compare, usage_errors_exit_2)
{
    char *out, *err, cmd[8192];
    const char *bad[] = {"--backends nope -- true", "--runs 0 -- true", "--json --csv -- true", "", "--frob -- true"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(cmd, sizeof cmd, "%s compare %s", tq_build_path("traceq"), bad[i]);
        cr_assert_eq(tq_run(cmd, &out, &err), 2, "'%s' did not exit 2", bad[i]);
        cr_assert(strstr(err, "traceq compare:"), "'%s': %s", bad[i], err);
        free(out);
        free(err);
    }
    snprintf(cmd, sizeof cmd, "%s compare --help", tq_build_path("traceq"));
    cr_assert_eq(tq_run(cmd, &out, NULL), 0);
    cr_assert(strstr(out, "--backends") && strstr(out, "[Default: all]"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s compare --backends hwm -- /nonexistent/prog", tq_build_path("traceq"));
    cr_assert_eq(tq_run(cmd, &out, &err), 1);
    cr_assert(strstr(err, "cannot run /nonexistent/prog"), "%s", err);
    free(out);
    free(err);
}

Test(compare, plot_of_the_timelines)
{
    char *dir = tq_tmpdir(), cmd[8400], svg[4200];
    snprintf(svg, sizeof svg, "%s/compare.svg", dir);
    snprintf(cmd, sizeof cmd, "%s compare --backends statm,hwm --plot %s -- %s 16 100 > /dev/null",
             tq_build_path("traceq"), svg, tq_build_path("progs/compare_touch"));
    cr_assert_eq(tq_runf("%s", cmd), 0);
    cr_assert_eq(tq_runf("%s -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' %s", tq_python(), svg),
                 0, "the compare plot is not valid XML");
    cr_assert_eq(tq_runf("%s 2>/dev/null", cmd), 2, "an existing plot was replaced without --force");
    /* hwm alone has no timeline: asking for a plot is an error, said clearly. */
    char *out, *err;
    snprintf(cmd, sizeof cmd, "%s compare --backends hwm --plot %s/none.png -- %s 1 1", tq_build_path("traceq"), dir,
             tq_build_path("progs/compare_touch"));
    cr_assert_eq(tq_run(cmd, &out, &err), 2);
    cr_assert(strstr(err, "no backend gave a timeline"), "%s", err);
    free(out);
    free(err);
    tq_rmtree(dir);
    free(dir);
}

/* A command that starts other processes: the shim counts all of them (two children holding 32 and 48 MiB at the
 * same time: 80 MiB) and says which process held the most alone; every row says which processes it covers. */
Test(compare, shim_follows_child_processes, .timeout = 120)
{
    char *out, cmd[8192];
    const char *touch = tq_build_path("progs/compare_touch");
    snprintf(cmd, sizeof cmd, "%s compare --json --backends shim,statm,hwm -- /bin/sh -c '%s 32 600 & %s 48 600; wait'",
             tq_build_path("traceq"), touch, touch);
    cr_assert_eq(tq_run(cmd, &out, NULL), 0);
    json_error_t je;
    json_t *root = json_loads(out, 0, &je);
    cr_assert_not_null(root, "bad JSON: %s", je.text);
    json_t *rows = json_object_get(root, "backends");
    json_t *shim = json_array_get(rows, TQ_BACKEND_SHIM);
    double peak = (double)json_integer_value(json_object_get(shim, "peak_bytes"));
    cr_assert(peak >= 79.9 * MIB && peak <= 82 * MIB, "shim peak %.2f MiB, want the tree's 80 MiB", peak / MIB);
    const char *note = json_string_value(json_object_get(shim, "note"));
    cr_assert(note && strstr(note, "process images (a tree)") && strstr(note, "compare_touch with 48.0 MiB"), "%s",
              note);
    for (int b = 0; b < TQ_BACKEND_COUNT; b++) {
        const char *covers = json_string_value(json_object_get(json_array_get(rows, b), "covers"));
        cr_assert(covers && covers[0], "backend %d does not say what it covers", b);
    }
    cr_assert(strstr(json_string_value(json_object_get(json_array_get(rows, TQ_BACKEND_STATM), "covers")),
                     "started process only"));
    json_decref(root);
    free(out);

    /* the table says it too */
    snprintf(cmd, sizeof cmd, "%s compare --backends shim,statm -- /bin/sh -c '%s 8 50; true'",
             tq_build_path("traceq"), touch);
    cr_assert_eq(tq_run(cmd, &out, NULL), 0);
    cr_assert(strstr(out, "which processes each figure counts"), "%s", out);
    cr_assert(strstr(out, "statm      the started process only"), "%s", out);
    free(out);
}
