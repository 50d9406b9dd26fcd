/* test_dask_driver.c - experiment/dask_vs_traceq.py without running Dask: its argument errors (exit 2 with a
 * message) and its --report, which turns a results CSV into the tables, the goal verdicts and an SVG. */
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
    cr_expect(strstr(out, "| gst3d | 200^3 | original (1.5 GB) | traceq | 3/3 | 0 | 0 | 10.0 (8.0..12.0) |"), "%s", out);
    cr_expect(strstr(out, "| dask-auto | 0/1 | 4 | 1 | - |"), "%s", out);
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
