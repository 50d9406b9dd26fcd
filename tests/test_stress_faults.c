/* test_stress_faults.c - the profiled program dies or the disk fills: SIGKILL at random moments, an OOM kill in a
 * memory cgroup, a full output file system. The trace must stay readable, say it was cut short, and hold data up
 * to one flush interval before the end; a full disk must not disturb the program. */
#include <sys/mount.h>
#include <sys/stat.h>

#include "../runner/cgroup.h"
#include "rel_util.h"

#define FLUSH_MS 100    /* traceq record's default --flush-ms */
#define INTERVAL_MS 10  /* and --interval */
#define SLACK_MS 40     /* scheduling on a loaded 2-core machine */

/* The one trace in dir (the test fails unless there is exactly one). */
static struct tq_trace_summary only_trace(const char *dir)
{
    struct tq_trace_summary *all;
    size_t n = rel_load_all(dir, &all);
    cr_assert_eq(n, 1, "%zu traces in %s, want 1", n, dir);
    struct tq_trace_summary s = all[0];
    free(all);
    return s;
}

Test(stress_faults, sigkill_at_random_moments, .timeout = 120)
{
    unsigned seed = (unsigned)rel_now_ns();
    uint64_t worst_ms = 0;
    for (int trial = 0; trial < 10; trial++) {
        char *dir = tq_tmpdir(), pidfile[4200];
        snprintf(pidfile, sizeof pidfile, "%s.pid", dir);
        unlink(pidfile);
        /* 64 KiB every ms, up to 512 MiB: always busy when the kill comes. */
        char *argv[] = {(char *)tq_build_path("traceq"), "record", "-q", "-o", dir, "--",
                        (char *)tq_build_path("progs/alloc_loop"), pidfile, "64", "1000", "512", "0", NULL};
        pid_t rec = rel_spawn(argv, 1);
        pid_t victim = rel_wait_pidfile(pidfile, 10000);
        usleep((useconds_t)(150000 + rand_r(&seed) % 600000)); /* past the first flush */
        uint64_t death = rel_now_ns();
        cr_assert_eq(kill(victim, SIGKILL), 0);
        cr_expect_eq(rel_wait_status(rec), 128 + SIGKILL, "traceq record passes the signal death on");
        struct tq_trace_summary s = only_trace(dir);
        cr_expect(s.truncated, "trial %d: a SIGKILLed trace says it was cut short", trial);
        cr_expect_eq(s.ending, TQ_ENDED_UNKNOWN);
        cr_expect_gt(s.samples, 0);
        uint64_t last = s.start_unix_ns + s.duration_ns;
        uint64_t gap_ms = death > last ? (death - last) / 1000000 : 0;
        if (gap_ms > worst_ms)
            worst_ms = gap_ms;
        cr_expect_leq(gap_ms, FLUSH_MS + INTERVAL_MS + SLACK_MS,
                      "trial %d: last sample %llu ms before the kill (flush interval %d ms)", trial,
                      (unsigned long long)gap_ms, FLUSH_MS);
        cr_expect_gt(s.peak_heap, 0, "trial %d: the heap growth before the kill is in the trace", trial);
        tq_trace_summary_clear(&s);
        unlink(pidfile);
        tq_rmtree(dir);
        free(dir);
    }
    cr_log_info("SIGKILL x10: last sample at most %llu ms before death", (unsigned long long)worst_ms);
}

Test(stress_faults, oom_kill_in_memory_cgroup_keeps_the_peak, .timeout = 120)
{
    if (geteuid() != 0)
        cr_skip_test("memory cgroups need root");
    struct tq_err err = {0};
    tq_cg_root *root = NULL;
    if (tq_cg_root_create(&root, &err))
        cr_skip_test("no usable memory cgroup: %s", err.msg);
    const uint64_t limit = 96ull << 20;
    tq_cgroup *cg = NULL;
    cr_assert_eq(tq_cg_create(root, "rel-oom", limit, &cg, &err), TQ_OK, "%s", err.msg);
    char *dir = tq_tmpdir();
    fflush(NULL);
    pid_t rec = fork();
    cr_assert_geq(rec, 0);
    if (rec == 0) {
        /* In the group before exec, so traceq record and the program it runs are both limited. */
        if (tq_cg_attach(cg, 0, NULL))
            _exit(120);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        /* 64 KiB every ms: 6.4 MiB per flush interval (what a kill can lose), far past the limit if not stopped. */
        execl(tq_build_path("traceq"), "traceq", "record", "-q", "-o", dir, "--", tq_build_path("progs/alloc_loop"),
              "-", "64", "1000", "1024", "0", (char *)NULL);
        _exit(127);
    }
    int status = rel_wait_status(rec);
    struct tq_cg_stats st = {0};
    cr_expect_eq(tq_cg_read(cg, &st, &err), TQ_OK, "%s", err.msg);
    tq_cg_free(cg);
    tq_cg_root_free(root);
    cr_assert_eq(status, 128 + SIGKILL, "the program was OOM-killed (exit %d)", status);
    cr_expect_geq(st.oom_kills, 1, "the kernel counted the OOM kill");
    struct tq_trace_summary s = only_trace(dir);
    cr_expect(s.truncated);
    /* The last samples before the kill show the program close to the limit: within a few intervals' growth. */
    cr_expect_geq(s.peak_rss, limit * 8 / 10, "peak RSS %llu before an OOM kill at %llu",
                  (unsigned long long)s.peak_rss, (unsigned long long)limit);
    /* RSS also counts shared library pages charged elsewhere: allow a little over the group's limit. */
    cr_expect_leq(s.peak_rss, limit + limit / 20);
    char cmd[8192], *report = NULL;
    snprintf(cmd, sizeof cmd, "%s report %s/traceq.*.tq", tq_build_path("traceq"), dir);
    cr_assert_eq(tq_run(cmd, &report, NULL), 0);
    cr_expect_not_null(strstr(report, "peak RSS"), "%s", report);
    cr_expect_not_null(strstr(report, "truncated"), "the report says the trace was cut short:\n%s", report);
    cr_log_info("OOM at %llu MiB: trace peak RSS %.1f MiB", (unsigned long long)(limit >> 20),
                s.peak_rss / 1048576.0);
    free(report);
    tq_trace_summary_clear(&s);
    tq_rmtree(dir);
    free(dir);
}

Test(stress_faults, full_disk_leaves_the_program_alone, .timeout = 120)
{
    if (geteuid() != 0)
        cr_skip_test("mounting a tmpfs needs root");
    char *mnt = tq_tmpdir();
    if (mount("tq-rel-full", mnt, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0700") != 0) {
        tq_rmtree(mnt);
        cr_skip_test("cannot mount a tmpfs: %s", strerror(errno));
    }
    /* Leave one 4 KiB page so the trace fills the disk within the run (format 1.11's run of this program writes
     * about 6.6 KB, 1.10's wrote 10.4 KB: 8 KiB left no longer filled). */
    char filler[4200];
    snprintf(filler, sizeof filler, "%s/filler", mnt);
    FILE *f = fopen(filler, "w");
    static char block[60 << 10];
    cr_assert(f && fwrite(block, 1, sizeof block, f) == sizeof block && fclose(f) == 0);
    char cmd[8192], *out = NULL, *err_text = NULL;
    /* Sampling every ms for about 1.7 s: more trace than 4 KiB. */
    snprintf(cmd, sizeof cmd, "%s record -q -i 1 -o %s -- %s - 64 1000 64 200", tq_build_path("traceq"), mnt,
             tq_build_path("progs/alloc_loop"));
    int rc = tq_run(cmd, &out, &err_text);
    cr_expect_eq(rc, 0, "the program exits normally on a full disk (exit %d, stderr: %s)", rc, err_text);
    cr_expect_str_eq(out, "done 64\n", "its output is intact");
    cr_expect_str_eq(err_text, "", "nothing is printed into the program's stderr");
    struct tq_trace_summary *all;
    size_t n = rel_load_all(mnt, &all);
    cr_expect_eq(n, 1);
    if (n == 1) {
        cr_expect(all[0].truncated, "the trace says it was cut short");
        cr_expect_gt(all[0].samples, 0, "what fitted on the disk is readable");
        snprintf(cmd, sizeof cmd, "%s report %s/traceq.*.tq", tq_build_path("traceq"), mnt);
        char *report = NULL;
        cr_expect_eq(tq_run(cmd, &report, NULL), 0);
        cr_expect_not_null(strstr(report, "truncated"), "report:\n%s", report);
        free(report);
    }
    rel_free_all(all, n);
    free(out);
    free(err_text);
    umount2(mnt, MNT_DETACH);
    tq_rmtree(mnt);
    free(mnt);
}
