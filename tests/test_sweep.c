/* test_sweep.c - `traceq sweep` with a stand-in operator: measured peaks, failures recorded, resume, CPU lists. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../model/dataset.h"
#include "../model/sweep.h"
#include "helpers.h"

Test(sweep, measures_records_failures_and_resumes)
{
    char *dir = tq_tmpdir(), *out = NULL, *err = NULL, cmd[4096];
    snprintf(cmd, sizeof cmd,
             "cd %s && %s sweep --op gst3d --grid-inlines 100:200:100 --grid-xlines 100 --grid-samples 12:13 "
             "--runs 2 --backend proc --traceq %s -o d.csv",
             dir, tq_build_path("traceq"), tq_src_path("tests/data/fake_traceq.py"));
    cr_assert_eq(tq_run(cmd, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "8 runs done (4 failed)"), "%s", out);
    cr_assert_str_eq(err, "", "no progress output without a terminal");
    free(out);
    free(err);

    char *csv;
    cr_assert(asprintf(&csv, "%s/d.csv", dir) > 0);
    struct tq_dataset *ds = NULL;
    struct tq_err e = {0};
    cr_assert_eq(tq_dataset_read(csv, &ds, &e), TQ_OK, "%s", e.msg);
    cr_assert_eq(ds->n, 8);
    for (size_t i = 0; i < ds->n; i++) {
        const struct tq_dataset_row *r = &ds->rows[i];
        if (r->shape[2] == 13) {
            cr_assert_eq(r->ok, 0);
            cr_assert(strstr(r->reason, "exit status 3: fake: cannot do 13 samples"), "%s", r->reason);
            continue;
        }
        cr_assert_eq(r->ok, 1, "%s", r->reason);
        /* the stand-in holds 20 MB + 100 B/voxel on top of the interpreter (a few MB) */
        double want = 20e6 + 100.0 * r->shape[0] * r->shape[1] * r->shape[2];
        cr_assert(r->vmhwm_bytes > want && r->vmhwm_bytes < want + 40e6, "VmHWM %llu for %g",
                  (unsigned long long)r->vmhwm_bytes, want);
        cr_assert(r->peak_rss_bytes > want * 0.9 && r->peak_rss_bytes <= r->vmhwm_bytes * 1.02, "sampled %llu",
                  (unsigned long long)r->peak_rss_bytes);
        cr_assert(r->wall_s > 0.1);
    }
    tq_dataset_free(ds);

    /* a rerun (even with more runs) only does what is missing */
    snprintf(cmd, sizeof cmd,
             "cd %s && %s sweep --op gst3d --grid-inlines 100:200:100 --grid-xlines 100 --grid-samples 12:13 "
             "--runs 3 --backend proc --traceq %s -o d.csv",
             dir, tq_build_path("traceq"), tq_src_path("tests/data/fake_traceq.py"));
    cr_assert_eq(tq_run(cmd, &out, NULL), 0);
    cr_assert(strstr(out, "4 runs done (2 failed), 8 already in d.csv"), "%s", out);
    free(out);

    /* under `record` the stand-in writes no trace: recorded as failed, not a crash (exit 1: every run failed) */
    snprintf(cmd, sizeof cmd,
             "cd %s && %s sweep --op gaussian --grid 10 --runs 1 --traceq %s -o d.csv", dir,
             tq_build_path("traceq"), tq_src_path("tests/data/fake_traceq.py"));
    cr_assert_eq(tq_run(cmd, &out, NULL), 1);
    cr_assert(strstr(out, "1 runs done (1 failed)"), "%s", out);
    free(out);
    cr_assert_eq(tq_dataset_read(csv, &ds, &e), TQ_OK, "%s", e.msg);
    cr_assert(strstr(ds->rows[ds->n - 1].reason, "no readable trace"), "%s", ds->rows[ds->n - 1].reason);
    tq_dataset_free(ds);
    cr_assert_eq(tq_runf("%s sweep --op gst3d -o %s/x.csv --runs 0 2>/dev/null", tq_build_path("traceq"), dir), 2);
    cr_assert_eq(tq_runf("%s sweep --op gst3d -o %s/x.csv --cpus 0-x 2>/dev/null", tq_build_path("traceq"), dir), 2);
    tq_rmtree(dir);
    free(dir);
    free(csv);
}

Test(sweep, cpu_lists)
{
    cpu_set_t s;
    struct tq_err err = {0};
    cr_assert_eq(tq_sweep_parse_cpus("0", &s, &err), TQ_OK);
    cr_assert_eq(CPU_COUNT(&s), 1);
    cr_assert_eq(tq_sweep_parse_cpus("0,2-4", &s, &err), TQ_OK);
    cr_assert_eq(CPU_COUNT(&s), 4);
    cr_assert(CPU_ISSET(3, &s) && !CPU_ISSET(1, &s));
    cr_assert_eq(tq_sweep_parse_cpus("3-1", &s, &err), TQ_ERR_USAGE);
    cr_assert_eq(tq_sweep_parse_cpus("a", &s, &err), TQ_ERR_USAGE);
    cr_assert_eq(tq_sweep_parse_cpus("", &s, &err), TQ_ERR_USAGE);
    cr_assert_eq(tq_sweep_parse_cpus("99999", &s, &err), TQ_ERR_USAGE);
}

Test(sweep, real_operator_under_record)
{
#ifdef __SANITIZE_ADDRESS__
    cr_skip_test("an ASan-built traceq cannot run under the LD_PRELOAD shim (ASan must be the first library)");
#endif
    char *dir = tq_tmpdir(), *out = NULL, *err = NULL, cmd[4096];
    snprintf(cmd, sizeof cmd, "cd %s && %s sweep --op gaussian --grid 20:40:20 --grid-samples 30 --runs 1 -o d.csv",
             dir, tq_build_path("traceq"));
    cr_assert_eq(tq_run(cmd, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "4 runs done (0 failed)"), "%s / %s", out, err);
    char *csv;
    cr_assert(asprintf(&csv, "%s/d.csv", dir) > 0);
    struct tq_dataset *ds = NULL;
    struct tq_err e = {0};
    cr_assert_eq(tq_dataset_read(csv, &ds, &e), TQ_OK, "%s", e.msg);
    for (size_t i = 0; i < ds->n; i++) {
        const struct tq_dataset_row *r = &ds->rows[i];
        cr_assert_eq(r->ok, 1, "%s", r->reason);
        cr_assert(r->peak_rss_bytes > 0 && r->vmhwm_bytes >= r->peak_rss_bytes / 2, "rss %llu hwm %llu",
                  (unsigned long long)r->peak_rss_bytes, (unsigned long long)r->vmhwm_bytes);
        /* the trace sees at least the output slab of float32 voxels on the heap or in mmaps */
        cr_assert(r->peak_heap_bytes + r->peak_mmap_bytes >= 4 * r->shape[1] * r->shape[2], "heap %llu",
                  (unsigned long long)r->peak_heap_bytes);
        cr_assert(strstr(r->trace, ".tq"), "trace path %s", r->trace);
    }
    tq_dataset_free(ds);
    free(out);
    free(err);
    free(csv);
    tq_rmtree(dir);
    free(dir);
}
