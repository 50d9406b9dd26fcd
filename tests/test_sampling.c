/* test_sampling.c - record --sample-bytes: the weighted estimates of a program with known totals
 * (tests/progs/sample_sizes.c) fall within a few standard errors of the truth, the exact counters stay exact, and
 * bad values are refused. */
#include <jansson.h>
#include <math.h>

#include "shim_util.h"
#include "site_json.h"

struct truth {
    const char *site;
    double bytes, calls;
};

Test(sampling, estimates_are_within_their_errors, .timeout = 120)
{
    char *d = tq_tmpdir(), args[4200], cmd[8400], *out = NULL;
    snprintf(args, sizeof args, "%s 2", tq_build_path("progs/sample_sizes"));
    cr_assert_eq(shim_record_opts(d, "--sample-bytes 64K", args, NULL), 0);
    char *t = shim_one_trace(d, "sample_sizes", 0);
    snprintf(cmd, sizeof cmd, "%s report --json --top 10 %s", tq_build_path("traceq"), t);
    cr_assert_eq(tq_run(cmd, &out, NULL), 0);
    json_error_t je;
    json_t *root = json_loads(out, 0, &je), *one = json_array_get(json_object_get(root, "traces"), 0);
    cr_assert_not_null(root, "%s", je.text);
    json_t *top = json_object_get(one, "top");
    cr_expect_eq(json_integer_value(json_object_get(top, "sample_bytes")), 65536);
    /* two threads, each: 200000 x 100 B, 20000 x 4000 B, 100 x 1 MiB */
    const struct truth want[] = {{"small_site", 2 * 200000 * 100.0, 2 * 200000},
                                 {"mid_site", 2 * 20000 * 4000.0, 2 * 20000},
                                 {"big_site", 2 * 100 * 1048576.0, 2 * 100}};
    for (int i = 0; i < 3; i++) {
        json_t *row = site_row(json_object_get(top, "allocated"), want[i].site);
        cr_assert_not_null(row, "%s missing", want[i].site);
        double got = (double)json_integer_value(json_object_get(row, "allocated_bytes"));
        double err = json_real_value(json_object_get(row, "allocated_bytes_err"));
        double calls = (double)json_integer_value(json_object_get(row, "calls"));
        /* 5 standard errors (and at least 1 KiB: big blocks are always recorded, their error is ~0) */
        cr_expect(fabs(got - want[i].bytes) <= 5 * err + 1024, "%s: %.0f +- %.0f bytes, truth %.0f", want[i].site, got,
                  err, want[i].bytes);
        cr_expect(err < 0.05 * want[i].bytes, "%s: error %.0f is too wide", want[i].site, err);
        cr_expect(fabs(calls - want[i].calls) <= 0.15 * want[i].calls, "%s: %.0f calls, truth %.0f", want[i].site,
                  calls, want[i].calls);
    }
    /* the exact counters do not sample: every malloc is counted */
    json_t *calls = json_object_get(one, "calls");
    json_int_t mallocs = json_integer_value(json_object_get(calls, "malloc"));
    cr_expect_geq(mallocs, 2 * (200000 + 20000 + 100), "%s", out);
    free(out);
    json_decref(root);
    snprintf(cmd, sizeof cmd, "%s report --top 3 %s", tq_build_path("traceq"), t);
    cr_assert_eq(tq_run(cmd, &out, NULL), 0);
    cr_expect_not_null(strstr(out, "sampled: one allocation per 64.0 KiB on average"), "%s", out);
    cr_expect_not_null(strstr(out, "+- "), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s report --temporary %s", tq_build_path("traceq"), t);
    cr_expect_eq(tq_run(cmd, NULL, NULL), 2, "--temporary needs every allocation");
    free(t);
    tq_rmtree(d);
    free(d);
}

Test(sampling, bad_values_are_refused)
{
    const char *bad[] = {"--sample-bytes 0", "--sample-bytes abc", "--sample-bytes -5", "--sample-bytes 2T",
                         "--sample-bytes 64K --aggregate", "--sample-bytes ''"};
    char *d = tq_tmpdir(), cmd[8400];
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *err = NULL;
        snprintf(cmd, sizeof cmd, "%s record -q -o %s %s -- /bin/true", tq_build_path("traceq"), d, bad[i]);
        cr_expect_eq(tq_run(cmd, NULL, &err), 2, "%s", bad[i]);
        cr_expect_not_null(strstr(err, "sample-bytes"), "%s: %s", bad[i], err);
        free(err);
    }
    char *err = NULL;
    snprintf(cmd, sizeof cmd, "TRACEQ_SAMPLE_BYTES=zero %s record -q -o %s -- /bin/true", tq_build_path("traceq"), d);
    cr_expect_eq(tq_run(cmd, NULL, &err), 2);
    cr_expect_not_null(strstr(err, "TRACEQ_SAMPLE_BYTES"), "%s", err);
    free(err);
    tq_rmtree(d);
    free(d);
}

/* Only the frees of sampled blocks are recorded (the shim remembers which blocks it sampled): the frees of the
 * other blocks leave no event, yet no freed block shows as leaked (frees from another thread and realloc included),
 * the leaked site's estimate is right, and the exact counters still count every free. */
Test(sampling, unsampled_frees_are_not_recorded, .timeout = 120)
{
    char *d = tq_tmpdir(), cmd[8400], *out = NULL;
    cr_assert_eq(shim_record_opts(d, "--sample-bytes 64K", tq_build_path("progs/sample_frees"), NULL), 0);
    char *t = shim_one_trace(d, "sample_frees", 0);
    snprintf(cmd, sizeof cmd, "%s report --json --leaks %s", tq_build_path("traceq"), t);
    cr_assert_eq(tq_run(cmd, &out, NULL), 0);
    json_error_t je;
    json_t *root = json_loads(out, 0, &je), *one = json_array_get(json_object_get(root, "traces"), 0);
    cr_assert_not_null(root, "%s", je.text);
    json_t *leaks = json_object_get(one, "leaks"), *sites = json_object_get(leaks, "sites");
    cr_assert_not_null(sites, "%s", out);
    cr_expect_null(site_row(sites, "freed_site"), "every freed_site block is freed: %s", out);
    cr_expect_null(site_row(sites, "grown_site"), "every grown_site block is freed: %s", out);
    json_t *leak = site_row(sites, "leak_site");
    cr_assert_not_null(leak, "%s", out);
    double got = (double)json_integer_value(json_object_get(leak, "leaked_bytes"));
    double err = json_real_value(json_object_get(leak, "leaked_bytes_err"));
    cr_expect(fabs(got - 10000000.0) <= 5 * err + 1024, "leak_site: %.0f +- %.0f leaked, truth 10000000", got, err);
    cr_expect(err < 0.1 * 10000000.0, "leak_site: error %.0f is too wide", err);
    /* everything the report calls leaked is the program's leak (glibc keeps at most a few blocks of its own) */
    cr_expect_leq(json_integer_value(json_object_get(leaks, "leaked_bytes")), got + 5 * 65536.0, "%s", out);
    /* counters are exact: every free is counted */
    json_t *calls = json_object_get(one, "calls");
    cr_expect_geq(json_integer_value(json_object_get(calls, "free")), 400000 + 20000, "%s", out);
    /* recording every free would take at least (400000 + 20000) / 2048 = 205 full event records; the sampled blocks
     * are ~3% of freed_site's and ~5% of grown_site's, so far fewer records are written (a flush every 100 ms
     * writes one per busy thread) */
    json_int_t records = json_integer_value(json_object_get(one, "events"));
    cr_expect(records > 0 && records < 100, "%lld event records", (long long)records);
    free(out);
    json_decref(root);
    free(t);
    tq_rmtree(d);
    free(d);
}
