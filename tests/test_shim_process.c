/* test_shim_process.c - process trees under the shim: fork, fork+exec, abort, SIGKILL, exit from a thread. */
#include <signal.h>

#include "shim_util.h"

/* Read "pid P" and (if present) "child C" from a forker's stdout. */
static void parse_pids(const char *out, int *pid, int *child)
{
    *pid = *child = 0;
    const char *p = strstr(out, "pid ");
    const char *c = strstr(out, "child ");
    cr_assert_not_null(p, "stdout: %s", out);
    *pid = atoi(p + 4);
    if (c)
        *child = atoi(c + 6);
}

Test(shim_process, fork_child_gets_its_own_trace)
{
    char *d = tq_tmpdir(), *out, args[4200];
    snprintf(args, sizeof args, "%s fork", tq_build_path("progs/forker"));
    cr_assert_eq(shim_record(d, args, &out), 0);
    int pid, child;
    parse_pids(out, &pid, &child);
    free(out);
    cr_assert_gt(child, 0);
    struct tq_trace_summary p, c;
    shim_summary(d, "forker", pid, &p);
    shim_summary(d, "forker", child, &c);
    cr_expect_eq(p.pid, (uint32_t)pid);
    cr_expect_eq(c.pid, (uint32_t)child);
    cr_expect_eq(c.ppid, (uint32_t)pid);
    cr_expect(c.flags & TQ_PROC_FORKED);
    cr_expect_eq(c.ending, TQ_ENDED_UEXIT);
    cr_expect_eq(c.exit_status, 5);
    cr_expect_geq(c.peak_heap, (uint64_t)2 << 20, "the child's own 2 MiB");
    cr_expect_eq(p.ending, TQ_ENDED_EXIT);
    cr_expect_not(p.truncated);
    cr_expect_not(c.truncated);
    cr_expect_eq(shim_count(d), 2);
    tq_trace_summary_clear(&p);
    tq_trace_summary_clear(&c);
    tq_rmtree(d);
    free(d);
}

Test(shim_process, fork_exec_traces_both_images)
{
    char *d = tq_tmpdir(), *out, args[4200];
    snprintf(args, sizeof args, "%s forkexec %s 0", tq_build_path("progs/forker"), tq_build_path("progs/every_call"));
    cr_assert_eq(shim_record(d, args, &out), 0);
    int pid, child;
    parse_pids(out, &pid, &child);
    free(out);
    struct tq_trace_summary c, e;
    shim_summary(d, "forker", child, &c);
    shim_summary(d, "every_call", child, &e);
    cr_expect_eq(c.ending, TQ_ENDED_EXEC);
    cr_expect_not(c.truncated);
    cr_expect_str_eq(c.exec_path, tq_build_path("progs/every_call"));
    cr_expect_eq(e.pid, (uint32_t)child);
    cr_expect_eq(e.ppid, (uint32_t)pid);
    cr_expect_eq(e.ending, TQ_ENDED_EXIT);
    cr_expect_eq(e.interval_us, 10000, "settings passed through exec");
    cr_expect_eq(shim_count(d), 3);
    tq_trace_summary_clear(&c);
    tq_trace_summary_clear(&e);
    tq_rmtree(d);
    free(d);
}

Test(shim_process, abort_leaves_readable_trace)
{
    char *d = tq_tmpdir(), *out, args[4200];
    snprintf(args, sizeof args, "%s abort", tq_build_path("progs/forker"));
    cr_assert_eq(shim_record(d, args, &out), 128 + SIGABRT);
    int pid, child;
    parse_pids(out, &pid, &child);
    free(out);
    struct tq_trace_summary s;
    shim_summary(d, "forker", pid, &s);
    cr_expect_eq(s.pid, (uint32_t)pid);
    cr_expect_geq(s.samples, 1);
    cr_expect(s.truncated, "no END record after abort()");
    tq_trace_summary_clear(&s);
    tq_rmtree(d);
    free(d);
}

Test(shim_process, sigkill_mid_run_leaves_readable_trace)
{
    char *d = tq_tmpdir(), *out, cmd[8400];
    /* Killed 600 ms in: at least five 100 ms frames were flushed before. */
    snprintf(cmd, sizeof cmd, "cd %s && LD_PRELOAD=%s %s sleep & p=$!; sleep 0.6; kill -9 $p; wait $p; s=$?; echo pid $p; exit $s", d,
             tq_build_path("libtraceq.so"), tq_build_path("progs/forker"));
    cr_assert_eq(tq_run(cmd, &out, NULL), 128 + SIGKILL);
    int pid = atoi(strrchr(out, ' ') + 1);
    free(out);
    struct tq_trace_summary s;
    shim_summary(d, "forker", pid, &s);
    cr_expect_eq(s.pid, (uint32_t)pid);
    cr_expect(s.truncated);
    cr_expect_geq(s.samples, 10, "%llu samples", (unsigned long long)s.samples);
    cr_expect_geq(s.peak_heap, (uint64_t)1 << 20);
    tq_trace_summary_clear(&s);
    tq_rmtree(d);
    free(d);
}

Test(shim_process, exit_from_another_thread_writes_end)
{
    char *d = tq_tmpdir(), *out, args[4200];
    snprintf(args, sizeof args, "%s thread_exit", tq_build_path("progs/forker"));
    cr_assert_eq(shim_record(d, args, &out), 4);
    int pid, child;
    parse_pids(out, &pid, &child);
    free(out);
    struct tq_trace_summary s;
    shim_summary(d, "forker", pid, &s);
    cr_expect_eq(s.ending, TQ_ENDED_EXIT);
    cr_expect_eq(s.exit_status, 4);
    cr_expect_not(s.truncated);
    tq_trace_summary_clear(&s);
    tq_rmtree(d);
    free(d);
}

Test(shim_process, disabled_shim_writes_nothing)
{
    char *d = tq_tmpdir(), cmd[8400];
    snprintf(cmd, sizeof cmd, "cd %s && TRACEQ_ENABLED=0 LD_PRELOAD=%s %s 1", d, tq_build_path("libtraceq.so"),
             tq_build_path("progs/every_call"));
    cr_assert_eq(tq_runf("%s", cmd), 0);
    cr_expect_eq(shim_count(d), 0);
    tq_rmtree(d);
    free(d);
}

Test(shim_process, symlink_at_trace_path_is_not_followed)
{
    char *d = tq_tmpdir(), *out, args[8400], victim[4200];
    snprintf(victim, sizeof victim, "%s/victim", d);
    FILE *f = fopen(victim, "w");
    fputs("precious", f);
    fclose(f);
    snprintf(args, sizeof args, "%s plant %s %s", tq_build_path("progs/forker"), d, tq_build_path("progs/every_call"));
    cr_assert_eq(shim_record(d, args, &out), 0);
    int pid, child;
    parse_pids(out, &pid, &child);
    free(out);
    char *kept = tq_slurp(victim, NULL);
    cr_expect_str_eq(kept, "precious", "the trace went through the planted symlink");
    free(kept);
    char path[8400];
    snprintf(path, sizeof path, "%s/traceq.every_call.%d.1.tq", d, child);
    struct tq_trace_summary s;
    struct tq_err err = {0};
    cr_assert_eq(tq_trace_summarize(path, &s, &err), TQ_OK, "%s", err.msg);
    cr_expect_eq(s.pid, (uint32_t)child);
    cr_expect_eq(s.ending, TQ_ENDED_EXIT);
    tq_trace_summary_clear(&s);
    tq_rmtree(d);
    free(d);
}

Test(shim_process, program_closing_all_descriptors_keeps_its_files)
{
    char *d = tq_tmpdir(), args[8400], path[4200];
    snprintf(args, sizeof args, "%s closeall %s", tq_build_path("progs/forker"), d);
    cr_assert_eq(shim_record(d, args, NULL), 0);
    snprintf(path, sizeof path, "%s/mine.txt", d);
    size_t n;
    char *mine = tq_slurp(path, &n);
    cr_assert_not_null(mine);
    cr_expect(n == 5 && !memcmp(mine, "mine\n", 5), "the shim wrote into the program's file (%zu bytes)", n);
    free(mine);
    struct tq_trace_summary s;
    shim_summary(d, "forker", 0, &s); /* still readable, cut where the program took the descriptor away */
    cr_expect_geq(s.samples, 1);
    tq_trace_summary_clear(&s);
    tq_rmtree(d);
    free(d);
}
