/* test_dask_driver.c - experiment/dask_vs_traceq.py without running Dask: its argument errors (exit 2 with a
 * message) and its --report, which turns results CSVs (old and new columns) into the tables, the goal verdicts and
 * an SVG; and experiment/dask_peer.py's stall detection on real Dask (a limit under a bare worker's footprint). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

static int driver(const char *args, char **out, char **err)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' '%s' %s", tq_python(), tq_src_path("experiment/dask_vs_traceq.py"), args);
    return tq_run(cmd, out, err);
}

static void expect_usage(const char *args, const char *message)
{
    char *out = NULL, *err = NULL;
    int rc = driver(args, &out, &err);
    cr_expect_eq(rc, 2, "%s: exit %d, %s", args, rc, err);
    cr_expect(err && strstr(err, message), "%s: stderr '%s' lacks '%s'", args, err, message);
    free(out);
    free(err);
}

Test(dask_driver, bad_arguments_exit_2, .timeout = 60)
{
    char args[2048];
    const char *tq = tq_build_path("traceq");
    expect_usage("--workdir /nonexistent", "--traceq and --workdir are required");
    snprintf(args, sizeof args, "--traceq '%s' --workdir /tmp --ops envelope,median", tq);
    expect_usage(args, "unknown operator median");
    snprintf(args, sizeof args, "--traceq '%s' --workdir /tmp --limits original,1.5", tq);
    expect_usage(args, "bad limit 1.5");
    snprintf(args, sizeof args, "--traceq '%s' --workdir /tmp --strategies traceq,magic", tq);
    expect_usage(args, "unknown strategy magic");
    snprintf(args, sizeof args, "--traceq '%s' --workdir /tmp --fixed 0", tq);
    expect_usage(args, "--fixed fractions");
    expect_usage("--traceq /nonexistent/traceq --workdir /tmp", "not an executable");
    expect_usage("--fast --full --traceq x --workdir y", "not allowed with");
    expect_usage("--report /nonexistent/dask.csv", "no such file");
}

static const char header[] =
    "op,side,limit,limit_bytes,strategy,run,completed,error,oom_kills,restarts,killed_worker,guard_oom,blocks,chunk,"
    "wall_s,cpu_s,peak_worker_bytes,peaks,equal,max_abs_diff,whole_peak_bytes,load_start,load_end,utc\n";

/* Case A: Dask completes at 20 s, traceq at 10 s (-50%): met. Case B: Dask restarts workers and fails, traceq
 * completes: met. Case C: traceq slower than Dask: not met. */
Test(dask_driver, report_tables_verdicts_and_svg, .timeout = 60)
{
    char *dir = tq_tmpdir(), path[1024], args[2048], *out = NULL, *err = NULL;
    snprintf(path, sizeof path, "%s/r.csv", dir);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs(header, f);
    fputs("gst3d,200,original,1500000000,traceq,1,1,,0,0,0,0,8,100x100x100,10,9,900000000,1;2,bit,0,2e9,1,2,t\n"
          "gst3d,200,original,1500000000,traceq,2,1,,0,0,0,0,8,100x100x100,12,9,900000000,1;2,bit,0,2e9,1,2,t\n"
          "gst3d,200,original,1500000000,traceq,3,1,,0,0,0,0,8,100x100x100,8,9,900000000,1;2,bit,0,2e9,1,2,t\n"
          "gst3d,200,original,1500000000,dask-seed,1,1,,0,0,0,0,8,100x100x100,20,19,1e9,1;2,bit,0,2e9,1,2,t\n"
          "gst3d,200,0.5,800000000,traceq,1,1,,0,0,0,0,27,66x66x66,15,14,600000000,1;2,tol,1e-05,2e9,1,2,t\n"
          "gst3d,200,0.5,800000000,dask-auto,1,0,KilledWorker: x,2,2,1,0,1,200x200x200,60,30,8e8,1;2,,,2e9,1,2,t\n"
          "envelope,200,original,1500000000,traceq,1,1,,0,0,0,0,1,200x200x200,5,4,3e8,1;2,bit,0,3e8,1,2,t\n"
          "envelope,200,original,1500000000,dask-auto,1,1,,0,0,0,0,1,200x200x200,4,4,3e8,1;2,bit,0,3e8,1,2,t\n",
          f);
    fclose(f);
    snprintf(args, sizeof args, "--report '%s' --svg-prefix '%s/chart'", path, dir);
    int rc = driver(args, &out, &err);
    cr_assert_eq(rc, 0, "%s", err);
    /* traceq's median of 10, 12, 8 s and its min..max */
    cr_expect(strstr(out, "| gst3d | 200^3 | original (1.5 GB) | traceq | 3/3 | 0 | 0 / 0 | 10.0 (8.0..12.0) | "
                          "9.0 (9.0..9.0) |"), "%s", out);
    cr_expect(strstr(out, "| dask-auto | 0/1 | 4 | 1 / 0 | - |"), "%s", out);
    cr_expect(strstr(out, "| 10@1-2, 12@1-2, 8@1-2 |"), "every run's wall time and load: %s", out);
    cr_expect(strstr(out, "-50% vs dask-seed | met |"), "%s", out);
    cr_expect(strstr(out, "dask-auto: 0/1 completed, 4 worker deaths | - | met |"), "%s", out);
    cr_expect(strstr(out, "+25% vs dask-auto | not met |"), "%s", out);
    free(out);
    out = NULL;
    snprintf(path, sizeof path, "%s/chart-200.svg", dir);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "grep -c '<rect' '%s'", path);
    cr_assert_eq(tq_run(cmd, &out, NULL), 0);
    cr_expect_eq(atoi(out), 5, "bars of the 5 completed strategy-cases: %s", out); /* 6 strategies, 1 failed */
    free(out);
    free(err);
    tq_rmtree(dir);
    free(dir);
}

static const char header_new[] =
    "op,side,limit,limit_bytes,strategy,run,completed,error,oom_kills,restarts,killed_worker,guard_oom,blocks,chunk,"
    "wall_s,cpu_s,peak_worker_bytes,peaks,equal,max_abs_diff,whole_peak_bytes,load_start,load_end,utc,"
    "stalled,startup_s,order,load_mean,load_max\n";

/* An old CSV and a new one (with stalled runs and sampled load) reported together and combined into one CSV with
 * the current columns; the original's claims table compares dask-seed with dask-auto. */
Test(dask_driver, report_old_and_new_columns_combined, .timeout = 60)
{
    char *dir = tq_tmpdir(), a[512], b[512], c[512], args[2048], *out = NULL, *err = NULL;
    snprintf(a, sizeof a, "%s/old.csv", dir);
    snprintf(b, sizeof b, "%s/new.csv", dir);
    snprintf(c, sizeof c, "%s/all.csv", dir);
    FILE *f = fopen(a, "w");
    cr_assert(f);
    fputs(header, f);
    fputs("envelope,200,0.5,190000000,traceq,1,1,,0,0,0,0,4,100x100x200,20,4,1e8,1;2,bit,0,3e8,5,7,t\n"
          "envelope,200,0.5,190000000,dask-auto,1,1,,0,0,0,0,4,100x100x200,40,9,1e8,1;2,bit,0,3e8,5,7,t\n", f);
    fclose(f);
    f = fopen(b, "w");
    cr_assert(f);
    fputs(header_new, f);
    fputs("envelope,200,0.5,190000000,traceq,2,1,,0,0,0,0,4,100x100x200,22,4,1e8,1;2,bit,0,3e8,5,7,t,,,1,6.4,8\n"
          "envelope,200,0.5,190000000,dask-auto,2,0,TimeoutError: Stalled: x,0,0,0,0,4,100x100x200,80,9,1e8,1;2,,,"
          "3e8,5,7,t,1,15.5,2,6.6,9\n"
          "envelope,200,0.5,190000000,dask-seed,1,0,TimeoutError: Stalled: x,0,0,0,0,8,100x100x100,80,9,1e8,1;2,,,"
          "3e8,5,7,t,1,15.5,3,6.6,9\n", f);
    fclose(f);
    snprintf(args, sizeof args, "--report '%s,%s' --combine '%s'", a, b, c);
    int rc = driver(args, &out, &err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_expect(strstr(out, "| traceq | 2/2 | 0 | 0 / 0 | 21.0 (20.0..22.0) |"), "%s", out);
    cr_expect(strstr(out, "| dask-auto | 1/2 | 0 | 0 / 1 | 40.0 (40.0..40.0) |"), "%s", out);
    cr_expect(strstr(out, "| 40@5-7, stall 80@7 |"), "old rows show start-end load, new ones the sampled mean: %s",
              out);
    cr_expect(strstr(out, "| 1/2, 0, 1 | 0/1, 0, 1 | 1 -> 1 (+0%) | - |"), "claims table: %s", out);
    free(out);
    out = NULL;
    char cmd[2048 + 5 * sizeof c];
    snprintf(cmd, sizeof cmd, "tr -d '\\r' < '%s' > '%s.lf' && head -1 '%s.lf' && wc -l < '%s.lf' && "
             "grep -c ',1,15.5,2,6.6,9$' '%s.lf'", c, c, c, c, c);
    cr_assert_eq(tq_run(cmd, &out, NULL), 0);
    cr_expect(strstr(out, "whole_peak_bytes,load_start,load_end,utc,stalled,startup_s,order,load_mean,load_max\n6\n1"),
              "combined: header, 5 rows, the new columns kept: %s", out);
    free(out);
    free(err);
    tq_rmtree(dir);
    free(dir);
}

/* dask_peer.py on real Dask with a memory limit below a bare worker's footprint: the nanny kills every worker
 * before it registers and nothing runs; the run must end as stalled after --stall seconds, not wait out
 * --timeout. Skipped when python3-distributed is missing. */
Test(dask_driver, peer_ends_a_stalled_run, .timeout = 400)
{
    char cmd[4096], *out = NULL, *err = NULL;
    snprintf(cmd, sizeof cmd, "'%s' -c 'import distributed'", tq_python());
    if (tq_run(cmd, &out, &err) != 0) {
        free(out);
        free(err);
        cr_skip("python3-distributed is not installed");
    }
    free(out);
    free(err);
    char *dir = tq_tmpdir();
    snprintf(cmd, sizeof cmd,
             "cd '%s' && '%s' -c 'import numpy as n; n.save(\"in.npy\", n.ones((24, 24, 24), n.float32))' && "
             "OMP_NUM_THREADS=1 '%s' '%s' --op gaussian_filter --input in.npy --output out.npy --workers 2 "
             "--memory-limit 40000000 --chunks 12,12,12 --timeout 300 --stall 5",
             dir, tq_python(), tq_python(), tq_src_path("experiment/dask_peer.py"));
    out = err = NULL;
    int rc = tq_run(cmd, &out, &err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_expect(strstr(out, "\"completed\": false"), "%s", out);
    cr_expect(strstr(out, "\"stalled\": true"), "%s", out);
    cr_expect(strstr(out, "\"error\": \"TimeoutError: Stalled: no task finished and none executing for 5 s"), "%s",
              out);
    free(out);
    free(err);
    tq_rmtree(dir);
    free(dir);
}
