/* test_shim_fds.c - the shim keeps its trace whatever the program does with its descriptors (issue 12): closing
 * them all (close loop, close_range, closefrom, raw system calls), dup2 over them, chdir, dropping privileges,
 * Python's os.closerange; lowest-fd semantics stay as without the shim; a killed program's report says its trace
 * ends without exit. Programs: tests/progs/fd_closer.c. */
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shim_util.h"

#define MIB ((uint64_t)1 << 20)

/* Record `fd_closer MODE` into a fresh folder, check its exit status, and summarize its one trace. Returns the
 * folder (caller frees, after tq_rmtree). */
static char *record_mode(const char *mode, int want_status, struct tq_trace_summary *s)
{
    char *d = tq_tmpdir(), *out, args[4200];
    snprintf(args, sizeof args, "%s %s", tq_build_path("progs/fd_closer"), mode);
    int st = shim_record(d, args, &out);
    cr_assert_eq(st, want_status, "fd_closer %s: status %d, stdout: %s", mode, st, out);
    free(out);
    shim_summary(d, "fd_closer", 0, s);
    return d;
}

/* The trace of a program that allocated 200 MiB after doing MODE is whole: right peaks, an END record. */
static void expect_whole(const char *mode, uint32_t want_reopened)
{
    struct tq_trace_summary s;
    char *d = record_mode(mode, 0, &s);
    cr_expect_geq(s.peak_heap, 200 * MIB, "%s: peak heap %llu", mode, (unsigned long long)s.peak_heap);
    cr_expect_geq(s.peak_rss, 190 * MIB, "%s: peak RSS %llu", mode, (unsigned long long)s.peak_rss);
    cr_expect_eq(s.ending, TQ_ENDED_EXIT, "%s: no END record", mode);
    cr_expect_eq(s.exit_status, 0);
    cr_expect_not(s.truncated, "%s", mode);
    cr_expect_geq(s.calls[TQ_CALL_MALLOC], 1, "%s: the mallocs after the closing were counted", mode);
    cr_expect_eq(s.reopened, want_reopened, "%s: %u reopenings", mode, s.reopened);
    tq_trace_summary_clear(&s);
    tq_rmtree(d);
    free(d);
}

Test(shim_fds, close_loop_over_all_descriptors)
{
    expect_whole("close_loop", 0); /* close() is interposed: the shim's descriptors never go */
}

Test(shim_fds, close_range_over_all_descriptors)
{
    expect_whole("close_range", 0);
}

Test(shim_fds, closefrom_over_all_descriptors)
{
    expect_whole("closefrom", 0);
}

Test(shim_fds, dup2_dev_null_over_3_to_1023)
{
    expect_whole("dup2_null", 0); /* the program gets every number it asked for (checked by fd_closer) */
}

/* With soft = hard = 1024 and every number 3..1023 taken by the program, the shim has nowhere to go: it gives its
 * number up (the program gets it), says so in the trace first, and reopens the trace when numbers come back. */
static void record_with_1024_fds(const char *mode, int want_status, struct tq_trace_summary *s, char **dir)
{
    char *d = tq_tmpdir(), cmd[8400];
    snprintf(cmd, sizeof cmd, "cd %s && { ulimit -S -n 1024 && ulimit -H -n 1024 || exit 77; } && LD_PRELOAD=%s %s %s > out.txt", d,
             tq_build_path("libtraceq.so"), tq_build_path("progs/fd_closer"), mode);
    int st = tq_runf("%s", cmd);
    if (st == 77)
        cr_skip_test("cannot set RLIMIT_NOFILE to 1024 here");
    cr_assert_eq(st, want_status, "fd_closer %s: status %d", mode, st);
    shim_summary(d, "fd_closer", 0, s);
    *dir = d;
}

/* Two threads dup2 a regular file over the numbers where the shim keeps its descriptors (996..1023 with a hard limit
 * of 1024) and close them again, while the program allocates and the shim samples and flushes every millisecond
 * (fd_closer race). The test build's TQ_TESTING_FD_RACE_US=300 widens both windows to 300 us: between a hooked
 * call's check of the shim's numbers and its system call, and between the writer's check of its descriptor and its
 * write. Before the descriptor gate (preload/hooks_fd.c), a dup2 checked a number while it was free, the shim moved
 * its trace there, and the dup2 replaced it between the writer's check and write: the victim file got 128-609
 * bytes of trace in each of 10 runs (58-609) and the trace ended without END. Now the victim stays empty and the trace ends
 * with END, its descriptor notes (moved, no number free, reopened) in the report. */
Test(shim_fds, racing_dup2_and_close_never_get_trace_bytes)
{
    char *d = tq_tmpdir(), cmd[8400];
    snprintf(cmd, sizeof cmd,
             "cd %s && { ulimit -S -n 1024 && ulimit -H -n 1024 || exit 77; } && TQ_TESTING_FD_RACE_US=300 "
             "TRACEQ_FLUSH_MS=1 TRACEQ_INTERVAL_MS=1 LD_PRELOAD=%s timeout 120 %s race > out.txt",
             d, tq_build_path("libtraceq.so"), tq_build_path("progs/fd_closer"));
    int st = tq_runf("%s", cmd);
    if (st == 77)
        cr_skip_test("cannot set RLIMIT_NOFILE to 1024 here");
    char path[4200];
    snprintf(path, sizeof path, "%s/out.txt", d);
    char *out = tq_slurp(path, NULL);
    cr_expect_eq(st, 0, "fd_closer race: status %d: %s", st, out ? out : "");
    free(out);
    snprintf(path, sizeof path, "%s/victim", d);
    struct stat vs;
    cr_assert_eq(stat(path, &vs), 0);
    cr_expect_eq(vs.st_size, 0, "the program's file got %lld bytes of the trace", (long long)vs.st_size);
    struct tq_trace_summary s;
    shim_summary(d, "fd_closer", 0, &s);
    cr_expect_eq(s.ending, TQ_ENDED_EXIT, "the trace ends with END");
    cr_expect_geq(s.peak_heap, 200 * MIB);
    cr_expect_eq(s.lost_bytes, 0);
    tq_trace_summary_clear(&s);
    tq_rmtree(d);
    free(d);
}

Test(shim_fds, no_free_number_left_is_said_in_the_trace)
{
    struct tq_trace_summary s;
    char *d;
    record_with_1024_fds("dup2_null", 0, &s, &d);
    cr_expect(s.no_room);
    cr_expect_eq(s.ending, TQ_ENDED_UNKNOWN);
    char line[1024];
    tq_trace_summary_ending(&s, line, sizeof line);
    cr_expect(strstr(line, "trace ends without exit") && strstr(line, "no other was free"), "%s", line);
    tq_trace_summary_clear(&s);
    tq_rmtree(d);
    free(d);
}

Test(shim_fds, trace_comes_back_when_numbers_are_free_again)
{
    struct tq_trace_summary s;
    char *d;
    record_with_1024_fds("dup2_null_then_close", 0, &s, &d);
    cr_expect(s.no_room);
    cr_expect_eq(s.reopened, 1);
    cr_expect_eq(s.ending, TQ_ENDED_EXIT, "the END record after the reopening");
    cr_expect_geq(s.peak_heap, 200 * MIB);
    tq_trace_summary_clear(&s);
    tq_rmtree(d);
    free(d);
}

Test(shim_fds, dup2_onto_the_shims_own_descriptors)
{
    expect_whole("dup2_null_all_open", 0); /* the shim moves out of the way; fd_closer checks it got /dev/null */
}

Test(shim_fds, raw_close_syscalls_are_repaired_by_reopening)
{
    expect_whole("raw_close", 1);
}

Test(shim_fds, raw_dup2_syscalls_are_repaired_by_reopening)
{
    expect_whole("raw_dup2", 1);
}

Test(shim_fds, numbers_reused_after_a_raw_close_are_the_programs)
{
    expect_whole("raw_close_reuse", 1); /* fd_closer: close() of its own file at the old number works */
}

Test(shim_fds, chdir_then_raw_close_reopens_by_absolute_path)
{
    expect_whole("chdir_raw_close", 1);
}

Test(shim_fds, lowest_fd_semantics_as_without_the_shim)
{
    expect_whole("lowest_fd", 0); /* fd_closer exits 3 when its first open() is not 3, or not 3 after closing */
}

Test(shim_fds, the_programs_files_are_never_written)
{
    /* raw dup2 of /dev/null over everything: the shim must not write a frame into the program's file. */
    char *d = tq_tmpdir(), args[4200], cmd[8400];
    snprintf(args, sizeof args, "%s raw_dup2", tq_build_path("progs/fd_closer"));
    cr_assert_eq(shim_record(d, args, NULL), 0);
    /* Same with a regular file in place of /dev/null: it must stay empty. */
    snprintf(cmd, sizeof cmd,
             "cd %s && : > victim && LD_PRELOAD=%s %s -c 'import os,ctypes; l=ctypes.CDLL(None); "
             "fd=os.open(\"victim\", os.O_WRONLY); [l.syscall(33, fd, n) for n in range(3, 4096) if n != fd]; "
             "x=bytearray(10**6)' && test ! -s victim",
             d, tq_build_path("libtraceq.so"), tq_python());
    cr_expect_eq(tq_runf("%s", cmd), 0, "the shim wrote into the program's file");
    tq_rmtree(d);
    free(d);
}

Test(shim_fds, dropped_privileges_are_never_silent)
{
    if (geteuid() != 0)
        cr_skip_test("needs root to drop privileges");
    struct tq_trace_summary s;
    char *d = record_mode("setuid_raw_close", 0, &s);
    /* The trace file is 0600 root's: uid 65534 cannot reopen it, so the trace ends where the descriptor went;
     * it said so before that, while it still could. */
    cr_expect(s.unreachable);
    cr_expect_eq(s.unreachable_uid, 65534);
    cr_expect_eq(s.ending, TQ_ENDED_UNKNOWN);
    char line[1024];
    tq_trace_summary_ending(&s, line, sizeof line);
    cr_expect(strstr(line, "trace ends without exit") && strstr(line, "uid 65534"), "%s", line);
    tq_trace_summary_clear(&s);
    tq_rmtree(d);
    free(d);
}

Test(shim_fds, verbose_never_says_wrote_for_a_lost_trace)
{
    if (geteuid() != 0)
        cr_skip_test("needs root to drop privileges");
    char *d = tq_tmpdir(), *err = NULL, cmd[8400];
    snprintf(cmd, sizeof cmd, "cd %s && TRACEQ_VERBOSE=1 LD_PRELOAD=%s %s setuid_raw_close", d,
             tq_build_path("libtraceq.so"), tq_build_path("progs/fd_closer"));
    char *out;
    cr_assert_eq(tq_run(cmd, &out, &err), 0);
    cr_expect(strstr(err, "cannot be reopened if its descriptor is lost"), "%s", err);
    cr_expect(strstr(err, "could not finish"), "%s", err);
    cr_expect_null(strstr(err, "]: wrote "), "%s", err);
    free(out);
    free(err);
    tq_rmtree(d);
    free(d);
}

Test(shim_fds, python_closerange_keeps_the_trace)
{
    char *d = tq_tmpdir(), args[4200];
    snprintf(args, sizeof args,
             "%s -c 'import os;x=bytearray(50*10**6);os.closerange(3,4096);y=bytearray(200*10**6)'", tq_python());
    cr_assert_eq(shim_record(d, args, NULL), 0);
    struct tq_trace_summary s;
    shim_summary(d, "python*", 0, &s);
    cr_expect_geq(s.peak_rss, 235 * MIB, "peak RSS %llu", (unsigned long long)s.peak_rss);
    cr_expect_geq(s.peak_heap, 235 * MIB, "peak heap %llu", (unsigned long long)s.peak_heap);
    cr_expect_eq(s.ending, TQ_ENDED_EXIT);
    cr_expect_not(s.truncated);
    tq_trace_summary_clear(&s);
    tq_rmtree(d);
    free(d);
}

Test(shim_fds, python_subprocess_close_fds_keeps_both_traces)
{
    char *d = tq_tmpdir(), args[4200];
    snprintf(args, sizeof args,
             "%s -c 'import subprocess,sys; subprocess.run([sys.executable, \"-c\", \"x=bytearray(30*10**6)\"], "
             "close_fds=True, check=True); y=bytearray(20*10**6)'",
             tq_python());
    cr_assert_eq(shim_record(d, args, NULL), 0);
    char pat[4200];
    snprintf(pat, sizeof pat, "%s/traceq.*.tq", d);
    glob_t g;
    cr_assert_eq(glob(pat, 0, NULL, &g), 0);
    int ended = 0, child_heap = 0;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        struct tq_trace_summary s;
        struct tq_err err = {0};
        cr_assert_eq(tq_trace_summarize(g.gl_pathv[i], &s, &err), TQ_OK, "%s", err.msg);
        cr_expect(!s.truncated, "%s ends: %s", s.path, s.exe);
        ended += s.ending == TQ_ENDED_EXIT || s.ending == TQ_ENDED_EXEC;
        child_heap += s.ending == TQ_ENDED_EXIT && s.peak_heap >= 28 * MIB && s.peak_heap < 40 * MIB;
        tq_trace_summary_clear(&s);
    }
    cr_expect_eq((size_t)ended, g.gl_pathc);
    cr_expect_eq(child_heap, 1, "the child's own 30 MB");
    globfree(&g);
    tq_rmtree(d);
    free(d);
}

/* Issue 15 item 4: a killed process's report says so plainly and shows what held the memory at its last flush. */
Test(shim_fds, killed_program_report_says_trace_ends_without_exit)
{
    char *d = tq_tmpdir(), *out, cmd[8400];
    snprintf(cmd, sizeof cmd,
             "cd %s && (TRACEQ_STACKS=1 LD_PRELOAD=%s %s hold > out.txt & p=$!; "
             "for i in $(seq 600); do grep -q ready out.txt && break; sleep 0.1; done; sleep 0.3; kill -9 $p; "
             "wait $p; echo status $?) ; %s report --top 1 traceq.*.tq; %s report --json --leaks traceq.*.tq",
             d, tq_build_path("libtraceq.so"), tq_build_path("progs/fd_closer"), tq_build_path("traceq"),
             tq_build_path("traceq"));
    cr_assert_eq(tq_run(cmd, &out, NULL), 0);
    cr_expect(strstr(out, "status 137"), "%s", out);
    cr_expect(strstr(out, "ending      none: trace ends without exit (killed?); figures as of its last flush at"), "%s",
              out);
    cr_expect(strstr(out, "peak heap   150 MiB"), "the last flush's figures: %s", out);
    /* The peak was hold_temporary's 150 MiB; what was held when it died is hold_forever's 50 MiB. */
    const char *end = strstr(out, "live when the trace ends (no exit record: killed?): 50.0 MiB");
    cr_expect(end, "report --top of a killed trace shows what it held: %s", out);
    cr_expect(end && strstr(end, "50.0 MiB in 1 block  hold_forever (fd_closer.c:"), "%s", out);
    cr_expect(strstr(out, "\"leaked_bytes\": 52428800"), "%s", out);
    cr_expect(strstr(out, "\"ended_without_exit\": true"), "%s", out);
    cr_expect(strstr(out, "\"ending_text\": \"none: trace ends without exit (killed?)"), "%s", out);
    cr_expect(strstr(out, "\"last_flush_s\": "), "%s", out);
    free(out);
    tq_rmtree(d);
    free(d);
}
