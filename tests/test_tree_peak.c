/* test_tree_peak.c - a process tree's RSS at once (report/tree_peak.c): in `traceq report` of several traces and in
 * the rows of `traceq sweep --cmd`. Steps that run one after another count once, processes that overlap together. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../model/dataset.h"
#include "helpers.h"

#define MIB 1048576.0

/* `traceq report --json` of the traces `traceq record` wrote for the shell line `script` in dir/t: the totals'
 * figures. */
static void tree_totals(const char *dir, const char *script, json_int_t *at_once, json_int_t *sum)
{
    char *out = NULL, *err = NULL;
    tq_write_file(dir, "steps.sh", script, 0755);
    cr_assert_eq(tq_traceq_in(dir, NULL, &err, "record -q -o t -- /bin/sh steps.sh"), 0, "%s", err);
    free(err);
    err = NULL;
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s report --json %s/t/*.tq", tq_build_path("traceq"), dir);
    cr_assert_eq(tq_run(cmd, &out, &err), 0, "%s", err);
    json_error_t je;
    json_t *root = json_loads(out, 0, &je), *totals = json_object_get(root, "totals");
    cr_assert_not_null(totals, "%s", out);
    *at_once = json_integer_value(json_object_get(totals, "peak_rss_at_once"));
    *sum = json_integer_value(json_object_get(totals, "peak_rss_sum"));
    cr_assert_gt(*at_once, 0, "%s", out);
    cr_assert_leq(*at_once, *sum, "%s", out);
    json_decref(root);
    free(out);
    free(err);
}

/* Two 80 MiB steps one after the other: the tree held one of them at a time. */
Test(tree_peak, sequential_steps_count_once, .timeout = 120)
{
    char *dir = tq_tmpdir(), script[4096];
    const char *hog = tq_build_path("progs/tq_hog");
    snprintf(script, sizeof script, "%s 80 100\n%s 80 100\n", hog, hog);
    json_int_t at_once, sum;
    tree_totals(dir, script, &at_once, &sum);
    cr_assert(sum >= 160 * MIB, "sum of peaks %lld", (long long)sum);
    cr_assert(at_once >= 80 * MIB && at_once < 120 * MIB, "at once %lld (sum %lld)", (long long)at_once,
              (long long)sum);
    tq_rmtree(dir);
    free(dir);
}

/* Two 80 MiB processes that hold their memory together for 1.5 s: both count. */
Test(tree_peak, overlapping_processes_count_together, .timeout = 120)
{
    char *dir = tq_tmpdir(), script[4096];
    const char *hog = tq_build_path("progs/tq_hog");
    snprintf(script, sizeof script, "%s 80 1500 &\n%s 80 1500\nwait\n", hog, hog);
    json_int_t at_once, sum;
    tree_totals(dir, script, &at_once, &sum);
    cr_assert(at_once >= 160 * MIB, "at once %lld (sum %lld)", (long long)at_once, (long long)sum);
    tq_rmtree(dir);
    free(dir);
}

/* A user's command whose steps run one after another: the dataset's sampled peak is one step's, not two; VmHWM stays
 * the sum of the processes' high-water marks (an upper bound). */
Test(tree_peak, sweep_rows_of_a_script, .timeout = 180)
{
    char *dir = tq_tmpdir(), script[4096], *out = NULL, *err = NULL;
    const char *hog = tq_build_path("progs/tq_hog");
    snprintf(script, sizeof script, "%s $1 100\n%s $1 100\n", hog, hog);
    tq_write_file(dir, "steps.sh", script, 0755);
    cr_assert_eq(tq_traceq_in(dir, &out, &err, "sweep --cmd '/bin/sh steps.sh {mib}' --param mib=40:80:40 --runs 1 "
                              "-o d.csv"), 0, "%s\n%s", out, err);
    char csv[4200];
    snprintf(csv, sizeof csv, "%s/d.csv", dir);
    struct tq_dataset *ds = NULL;
    struct tq_err e = {0};
    cr_assert_eq(tq_dataset_read(csv, &ds, &e), TQ_OK, "%s", e.msg);
    cr_assert_eq(ds->n, 2);
    for (size_t i = 0; i < ds->n; i++) {
        const struct tq_dataset_row *r = &ds->rows[i];
        double mib = (double)r->shape[0] * MIB;
        cr_assert_eq(r->ok, 1, "%s", r->reason);
        cr_assert(r->peak_rss_bytes >= mib && r->peak_rss_bytes < 1.25 * mib + 16 * MIB, "%g MiB: peak %llu", mib / MIB,
                  (unsigned long long)r->peak_rss_bytes);
        cr_assert(r->vmhwm_bytes >= 2 * mib, "%g MiB: VmHWM sum %llu", mib / MIB, (unsigned long long)r->vmhwm_bytes);
    }
    tq_dataset_free(ds);
    free(out);
    free(err);
    tq_rmtree(dir);
    free(dir);
}
