/* test_forensics.c - forensics for killed processes (issue 15 part 4): `traceq run --trace-blocks DIR` files one
 * trace per block attempt, an OOM-killed block's trace says "killed: OOM" and names the function that held the
 * memory; the KILLED record is appended safely (also after a cut frame); bad values of the new options exit 2. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../report/trace_summary.h"
#include "../traces/append.h"
#include "../traces/codec.h"
#include "../traces/writer.h"
#include "helpers.h"

/* The one file matching dir/pattern (asserts there is exactly one); malloc'd. */
static char *one_file(const char *dir, const char *pattern)
{
    char pat[4200];
    snprintf(pat, sizeof pat, "%s/%s", dir, pattern);
    glob_t g;
    cr_assert_eq(glob(pat, 0, NULL, &g), 0, "no file matches %s", pat);
    cr_assert_eq(g.gl_pathc, 1, "%zu files match %s", g.gl_pathc, pat);
    char *p = strdup(g.gl_pathv[0]);
    globfree(&g);
    return p;
}

static size_t count_files(const char *dir, const char *pattern)
{
    char pat[4200];
    snprintf(pat, sizeof pat, "%s/%s", dir, pattern);
    glob_t g;
    size_t n = glob(pat, 0, NULL, &g) == 0 ? g.gl_pathc : 0;
    if (n)
        globfree(&g);
    return n;
}

/* An ASan build refuses --trace-blocks (ASan and the shim cannot both replace malloc in the runner). */
static void skip_if_asan(int rc, const char *err)
{
    if (rc == 2 && err && strstr(err, "AddressSanitizer"))
        cr_skip_test("--trace-blocks does not run in an AddressSanitizer build");
}

Test(forensics, oom_killed_command_names_the_allocating_function, .timeout = 120)
{
    char *dir = tq_tmpdir(), *out = NULL, *err = NULL;
    cr_assert_eq(tq_traceq_in(dir, NULL, NULL, "synth --shape 16x16x16 --seed 3 -o in.npy"), 0);
    /* grow_heap allocates 8 MiB every 20 ms until killed: the limit is crossed after several flushes */
    int rc = tq_traceq_in(dir, &out, &err,
                "run --cmd '%s 8 {in} {out}' --input in.npy --output out.npy --chunks none --workers 1 "
                "--memory-per-worker 96MiB --retries 0 --trace-blocks tr --stacks --json",
                tq_build_path("progs/oom_grow"));
    skip_if_asan(rc, err);
    cr_assert_eq(rc, 1, "rc %d, stderr: %s", rc, err);
    cr_assert(strstr(err, "was OOM-killed") && strstr(err, "traceq report "), "stderr: %s", err);
    cr_assert(strstr(out, "\"block_traces\"") && strstr(out, "\"oom_killed\""), "json: %s", out);
    char trdir[4200];
    snprintf(trdir, sizeof trdir, "%s/tr", dir);
    struct stat sb;
    cr_assert_eq(stat(trdir, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0700);
    char *cmd_trace = one_file(trdir, "block-0-a1.*.tqt"); /* the command's (its pid in the name) */
    char *worker_trace = one_file(trdir, "block-0-a1.tqt");
    cr_assert(strstr(out, cmd_trace), "the run's report points at %s: %s", cmd_trace, out);
    cr_assert_eq(count_files(trdir, ".traceq-staging*"), 0, "the staging folder is removed");
    free(out);
    free(err);
    rc = tq_traceq_in(dir, &out, &err, "report '%s'", cmd_trace);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert(strstr(out, "killed: OOM in cgroup ") || strstr(out, "killed: OOM by the runner's RSS watchdog"), "%s",
              out);
    cr_assert(strstr(out, "(limit 96.0 MiB)"), "%s", out);
    cr_assert(strstr(out, "live at the last flush before the OOM kill"), "%s", out);
    char *site = strstr(out, "live at the last flush");
    cr_assert(site && strstr(site, "grow_heap (oom_grow.c:"), "the site that held the memory: %s", out);
    free(out);
    free(err);
    rc = tq_traceq_in(dir, &out, &err, "report --json '%s'", cmd_trace);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert(strstr(out, "\"killed\"") && strstr(out, "\"limit_bytes\": 100663296"), "%s", out);
    free(out);
    free(err);
    /* The worker itself (the command's parent) was killed too, and says so. */
    rc = tq_traceq_in(dir, &out, &err, "report '%s'", worker_trace);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert(strstr(out, "killed: OOM"), "%s", out);
    free(out);
    free(err);
    free(cmd_trace);
    free(worker_trace);
    tq_rmtree(dir);
    free(dir);
}

Test(forensics, builtin_operator_blocks_each_leave_a_trace, .timeout = 120)
{
    char *dir = tq_tmpdir(), *out = NULL, *err = NULL;
    cr_assert_eq(tq_traceq_in(dir, NULL, NULL, "synth --shape 16x16x16 --seed 3 -o in.npy"), 0);
    cr_assert_eq(tq_traceq_in(dir, NULL, NULL, "run --op gaussian --sigma 1 --input in.npy --output whole.npy --chunks none"),
                 0);
    int rc = tq_traceq_in(dir, &out, &err,
                "run --op gaussian --sigma 1 --input in.npy --output out.npy --chunks 8,16,16 --workers 2 "
                "--trace-blocks tr");
    skip_if_asan(rc, err);
    cr_assert_eq(rc, 0, "rc %d, stderr: %s", rc, err);
    cr_assert(strstr(out, "block traces: 2 in "), "%s", out);
    char wp[4200], op[4200], trdir[4200];
    snprintf(wp, sizeof wp, "%s/whole.npy", dir);
    snprintf(op, sizeof op, "%s/out.npy", dir);
    snprintf(trdir, sizeof trdir, "%s/tr", dir);
    cr_assert(tq_files_equal(wp, op), "traced blocks compute the same result");
    cr_assert_eq(count_files(trdir, "*"), 2, "one trace per block, nothing else");
    for (int b = 0; b < 2; b++) {
        char name[64];
        snprintf(name, sizeof name, "block-%d-a1.tqt", b);
        char *t = one_file(trdir, name);
        struct tq_trace_summary s;
        struct tq_err e = {0};
        cr_assert_eq(tq_trace_summarize(t, &s, &e), TQ_OK, "%s", e.msg);
        cr_assert(s.ending == TQ_ENDED_UEXIT && s.exit_status == 0, "a finished worker's trace has its _exit(0)");
        cr_assert(!s.killed);
        cr_assert(s.peak_heap > 0, "the worker's heap was traced");
        tq_trace_summary_clear(&s);
        free(t);
    }
    free(out);
    free(err);
    /* The same folder again: the names are taken, nothing is overwritten. */
    rc = tq_traceq_in(dir, &out, &err,
            "run --op gaussian --sigma 1 --input in.npy --output out2.npy --chunks none --trace-blocks tr");
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_eq(count_files(trdir, "*"), 3);
    cr_assert_eq(count_files(trdir, "block-0-a1~1.tqt"), 1);
    free(out);
    free(err);
    tq_rmtree(dir);
    free(dir);
}

Test(forensics, builtin_block_oom_split_attempts_are_named, .timeout = 120)
{
    char *dir = tq_tmpdir(), *out = NULL, *err = NULL;
    cr_assert_eq(tq_traceq_in(dir, NULL, NULL, "synth --shape 32x32x32 --seed 3 -o in.npy"), 0);
    /* 32^3 voxels x 8 KiB of padding = 256 MiB for the whole block, over the 160 MiB limit; a half fits */
    int rc = tq_traceq_in(dir, &out, &err,
                "run --op gaussian --sigma 1 --input in.npy --output out.npy --chunks none --workers 1 "
                "--memory-per-worker 160MiB --pad-per-voxel 8KiB --retries 2 --trace-blocks tr");
    skip_if_asan(rc, err);
    cr_assert_eq(rc, 0, "rc %d, stderr: %s", rc, err);
    cr_assert(strstr(out, "OOM-killed attempt: traceq report "), "%s", out);
    char trdir[4200];
    snprintf(trdir, sizeof trdir, "%s/tr", dir);
    char *killed = one_file(trdir, "block-0-a1.tqt");
    cr_assert_eq(count_files(trdir, "block-0.0-a1.tqt"), 1, "the halves of the split block have their own traces");
    cr_assert_eq(count_files(trdir, "block-0.1-a1.tqt"), 1);
    struct tq_trace_summary s;
    struct tq_err e = {0};
    cr_assert_eq(tq_trace_summarize(killed, &s, &e), TQ_OK, "%s", e.msg);
    cr_assert(s.killed, "the OOM-killed attempt's trace has the runner's KILLED record");
    cr_assert_eq(s.killed_limit, 160ull << 20);
    char line[2048];
    cr_assert(strstr(tq_trace_summary_ending(&s, line, sizeof line), "killed: OOM"), "%s", line);
    tq_trace_summary_clear(&s);
    free(killed);
    free(out);
    free(err);
    tq_rmtree(dir);
    free(dir);
}

Test(forensics, killed_record_appended_after_a_cut_frame)
{
    char *dir = tq_tmpdir(), path[4200];
    snprintf(path, sizeof path, "%s/t.tq", dir);
    struct tq_trace_writer w;
    tq_fixture_trace_open(path, &w);
    uint8_t rec[512];
    struct tq_rec_process p = {.pid = 7, .ppid = 1, .interval_us = 10000, .page_size = 4096};
    char *argv[] = {"prog"};
    tq_fixture_put(&w, rec, tq_rec_put_process(rec, sizeof rec, &p, "/bin/prog", 1, argv));
    struct tq_rec_sample smp = {.t_ns = 1000000, .vm_rss = 1 << 20};
    tq_fixture_put(&w, rec, tq_rec_put_sample(rec, sizeof rec, &smp));
    cr_assert_eq(tq_writer_flush(&w), 0);
    smp.t_ns = 2000000;
    tq_fixture_put(&w, rec, tq_rec_put_sample(rec, sizeof rec, &smp));
    cr_assert_eq(tq_writer_flush(&w), 0);
    tq_writer_close(&w);
    /* Cut the last frame in the middle, as a kill during its write would. */
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_eq(truncate(path, sb.st_size - 5), 0);
    struct tq_rec_killed k = {.cause = TQ_KILLED_OOM_CGROUP, .signal = 9, .limit = 1 << 30, .worker_pid = 7};
    size_t n = tq_rec_put_killed(rec, sizeof rec, &k, "/sys/fs/cgroup/x/worker0");
    struct tq_err e = {0};
    cr_assert_eq(tq_trace_append_record(path, rec, n, &e), TQ_OK, "%s", e.msg);
    struct tq_trace_summary s;
    cr_assert_eq(tq_trace_summarize(path, &s, &e), TQ_OK, "%s", e.msg);
    cr_assert(s.killed);
    cr_assert_eq(s.samples, 1, "the cut frame's sample is gone, the first frame's kept");
    char line[2048];
    cr_assert(strstr(tq_trace_summary_ending(&s, line, sizeof line),
                     "killed: OOM in cgroup /sys/fs/cgroup/x/worker0 (limit 1.00 GiB)"), "%s", line);
    tq_trace_summary_clear(&s);
    /* Not a trace, a symbolic link: refused, nothing written. */
    char other[4200], link[4200];
    snprintf(other, sizeof other, "%s/other", dir);
    snprintf(link, sizeof link, "%s/link.tq", dir);
    FILE *f = fopen(other, "w");
    fputs("hello, not a trace at all, but long enough", f);
    fclose(f);
    cr_assert_eq(tq_trace_append_record(other, rec, n, &e), TQ_ERR_FORMAT);
    cr_assert_eq(symlink(path, link), 0);
    cr_assert_eq(tq_trace_append_record(link, rec, n, &e), TQ_ERR_IO);
    tq_rmtree(dir);
    free(dir);
}

Test(forensics, bad_trace_blocks_values_exit_2, .timeout = 60)
{
    char *dir = tq_tmpdir(), *err = NULL;
    cr_assert_eq(tq_traceq_in(dir, NULL, NULL, "synth --shape 8x8x8 --seed 3 -o in.npy"), 0);
    const char *base = "run --op gaussian --input in.npy --output out.npy --chunks none";
    cr_assert_eq(tq_traceq_in(dir, NULL, NULL, "touch afile 2>/dev/null; true"), 0);
    FILE *f;
    char p[4200];
    snprintf(p, sizeof p, "%s/afile", dir);
    cr_assert((f = fopen(p, "w")));
    fclose(f);
    snprintf(p, sizeof p, "%s/alink", dir);
    cr_assert_eq(symlink("/tmp", p), 0);
    static const struct {
        const char *extra, *says;
    } cases[] = {
        {"--trace-blocks afile", "is not a directory"},
        {"--trace-blocks alink", "symbolic link"},
        {"--trace-blocks no/such/dir", "cannot create the directory"},
        {"--trace-blocks ''", "needs a directory"},
        {"--stacks", "--stacks goes with --trace-blocks"},
        {"--trace-blocks tr --mpi", "mpi"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int rc = tq_traceq_in(dir, NULL, &err, "%s %s", base, cases[i].extra);
        cr_assert_eq(rc, 2, "%s: rc %d, %s", cases[i].extra, rc, err);
        cr_assert(strcasestr(err, cases[i].says), "%s: %s", cases[i].extra, err);
        free(err);
    }
    cr_assert_eq(access(p, F_OK), 0);
    snprintf(p, sizeof p, "%s/out.npy", dir);
    cr_assert_neq(access(p, F_OK), 0, "nothing ran");
    tq_rmtree(dir);
    free(dir);
}

/* ---- record --snapshot-at ---- */

Test(forensics, snapshot_at_a_share_of_rlimit_as_names_the_site, .timeout = 180)
{
    char *dir = tq_tmpdir(), *out = NULL, *err = NULL;
    /* RLIMIT_AS 1 GiB (ulimit -v, for record and the program); 50% = 512 MiB is crossed while grow_big holds
     * most of the heap; later_site allocates only after everything was freed, so it is not live at the snapshot */
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "ulimit -v 1048576 && '%s' --version >/dev/null 2>&1", tq_build_path("traceq"));
    if (tq_run(cmd, NULL, NULL) != 0) /* ASan reserves terabytes of address space for its shadow */
        cr_skip_test("this traceq cannot start under a 1 GiB RLIMIT_AS (a sanitizer build)");
    snprintf(cmd, sizeof cmd, "cd '%s' && ulimit -v 1048576 && '%s' record -q -o t --stacks --snapshot-at 50%% -- '%s' 600",
             dir, tq_build_path("traceq"), tq_build_path("progs/snap_grow"));
    int rc = tq_run(cmd, &out, &err);
    cr_assert_eq(rc, 0, "rc %d: %s", rc, err);
    free(out);
    free(err);
    char tdir[4200];
    snprintf(tdir, sizeof tdir, "%s/t", dir);
    char *trace = one_file(tdir, "traceq.snap_grow.*.tq");
    rc = tq_traceq_in(dir, &out, &err, "report '%s'", trace);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert(strstr(out, "50% of its RLIMIT_AS limit of 1.00 GiB (512 MiB)"), "%s", out);
    char *sec = strstr(out, "live at the snapshot: ");
    cr_assert(sec, "%s", out);
    char *first = strstr(sec, "\n") + 1; /* the first row is the biggest site */
    cr_assert(strstr(first, "grow_big (snap_grow.c:") == strstr(first, "grow_big"), "%s", sec);
    cr_assert(strstr(first, "grow_big") < strstr(first, "hold_small"), "grow_big before hold_small: %s", sec);
    cr_assert_null(strstr(sec, "later_site"), "later_site allocated after the snapshot: %s", sec);
    /* the replay up to the marker holds about the threshold: more than 400 MiB, at most 512 MiB + one block */
    double mib = strtod(sec + strlen("live at the snapshot: "), NULL);
    cr_assert(mib > 400 && mib <= 520, "%g MiB live at the snapshot: %s", mib, sec);
    free(out);
    free(err);
    /* --json carries the same; --snapshot on a trace without one is an error (exit 2) */
    rc = tq_traceq_in(dir, &out, &err, "report --json '%s'", trace);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert(strstr(out, "\"snapshot_sites\"") && strstr(out, "\"at_snapshot\": true"), "%s", out);
    free(out);
    free(err);
    cr_assert_eq(tq_traceq_in(dir, NULL, NULL, "record -q -o u --stacks -- '%s' 16", tq_build_path("progs/snap_grow")), 0);
    char udir[4200];
    snprintf(udir, sizeof udir, "%s/u", dir);
    char *plain = one_file(udir, "traceq.snap_grow.*.tq");
    rc = tq_traceq_in(dir, &out, &err, "report --snapshot '%s'", plain);
    cr_assert_eq(rc, 2, "rc %d: %s", rc, err);
    cr_assert(strstr(err, "has no snapshot"), "%s", err);
    free(out);
    free(err);
    free(plain);
    free(trace);
    tq_rmtree(dir);
    free(dir);
}

Test(forensics, snapshot_at_absolute_size_without_limit)
{
    char *dir = tq_tmpdir(), *out = NULL, *err = NULL;
    int rc = tq_traceq_in(dir, &out, &err, "record -q -o t --stacks --snapshot-at 100M -- '%s' 200", tq_build_path("progs/snap_grow"));
    cr_assert_eq(rc, 0, "%s", err);
    free(out);
    free(err);
    char tdir[4200];
    snprintf(tdir, sizeof tdir, "%s/t", dir);
    char *trace = one_file(tdir, "traceq.snap_grow.*.tq");
    struct tq_trace_summary s;
    struct tq_err e = {0};
    cr_assert_eq(tq_trace_summarize(trace, &s, &e), TQ_OK, "%s", e.msg);
    cr_assert(s.snapshot);
    cr_assert_eq(s.snap.limit_kind, TQ_SNAP_ABSOLUTE);
    cr_assert_eq(s.snap.threshold, 100ull << 20);
    cr_assert_geq(s.snap.value, 100ull << 20);
    tq_trace_summary_clear(&s);
    free(trace);
    tq_rmtree(dir);
    free(dir);
}

Test(forensics, bad_snapshot_values_exit_2)
{
    char *dir = tq_tmpdir(), *err = NULL;
    static const char *const bad[] = {"0%", "150%", "100.5%", "garbage", "", "-5%", "12.25%", "0", "5X", "80%%",
                                      "2.5G", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = tq_traceq_in(dir, NULL, &err, "record -q -o t --snapshot-at '%s' -- true", bad[i]);
        cr_assert_eq(rc, 2, "--snapshot-at '%s': rc %d %s", bad[i], rc, err);
        cr_assert(strstr(err, "--snapshot-at"), "%s", err);
        free(err);
    }
    /* A percentage with no limit known: a clear message at record time (skipped where this process has one). */
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cd '%s' && ulimit -v unlimited && '%s' record -q -o t --snapshot-at 80%% -- true", dir,
             tq_build_path("traceq"));
    int rc = tq_run(cmd, NULL, &err);
    if (strstr(err, "no memory limit is known")) {
        cr_assert_eq(rc, 2, "%s", err);
    } else {
        cr_log_warn("this test process has a cgroup memory limit: the no-limit case is not checked");
        cr_assert_eq(rc, 0, "%s", err);
    }
    free(err);
    /* and the shim's own variable, as record reads it from the environment */
    rc = tq_runf("cd '%s' && TRACEQ_SNAPSHOT_AT=150%% '%s' record -q -o t -- true 2>/dev/null", dir,
                 tq_build_path("traceq"));
    cr_assert_eq(rc, 2);
    tq_rmtree(dir);
    free(dir);
}
