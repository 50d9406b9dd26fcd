/* test_shim_inert.c - an inert shim (a heap layout it does not know, TRACEQ_ENABLED=0) is a pure pass-through: the
 * program's blocks are exactly glibc's (no size tag, no chunk header read), its output and status as bare, and no
 * trace. The test build's TQ_TESTING_HEAP_FOREIGN=1 makes the start-up layout check fail (preload/session.c). */
#include "shim_util.h"

/* Run `ENV LD_PRELOAD=shim PROG ARGS` and `PROG ARGS` bare in dir; the stdout of both must match byte for byte, the
 * status too (want_status), and the shim must have written no trace into dir. */
static void same_as_bare(const char *d, const char *env, const char *prog, const char *args, int want_status)
{
    int st_bare = tq_runf("cd %s && %s %s > bare.out", d, tq_build_path(prog), args);
    int st_shim = tq_runf("cd %s && %s TRACEQ_OUTPUT_DIR=%s LD_PRELOAD=%s %s %s > shim.out", d, env, d,
                          tq_build_path("libtraceq.so"), tq_build_path(prog), args);
    cr_expect_eq(st_bare, want_status, "%s %s: bare status %d", prog, args, st_bare);
    cr_expect_eq(st_shim, st_bare, "%s %s (%s): status %d under the shim, %d without", prog, args, env, st_shim,
                 st_bare);
    cr_expect(tq_same_file_in(d, "bare.out", "shim.out"), "%s %s (%s): stdout differs under the inert shim", prog,
              args, env);
    cr_expect_eq(shim_count(d), 0, "%s (%s): an inert shim wrote a trace", prog, env);
}

/* heap_calls prints, for blocks of every entry point (malloc, calloc, realloc chains, memalign, posix_memalign,
 * aligned_alloc, valloc, reallocarray, a storm of 20000 live blocks), whether their usable size is one glibc gives:
 * a tagged block (one byte larger, the tag in its last byte) has 8k - 1 or 8k - 9 usable bytes. */
Test(shim_inert, unknown_heap_layout_passes_every_call_through)
{
    char *d = tq_tmpdir();
    same_as_bare(d, "TQ_TESTING_HEAP_FOREIGN=1", "progs/heap_calls", "3", 0);
    same_as_bare(d, "TQ_TESTING_HEAP_FOREIGN=1", "progs/every_call", "200", 0);
    same_as_bare(d, "TQ_TESTING_HEAP_FOREIGN=1", "progs/stress_mix", "4 20000", 0);
    same_as_bare(d, "TQ_TESTING_HEAP_FOREIGN=1 TRACEQ_STACKS=1", "progs/heap_calls", "1", 0);
    tq_rmtree(d);
    free(d);
}

Test(shim_inert, disabled_shim_passes_every_call_through)
{
    char *d = tq_tmpdir();
    same_as_bare(d, "TRACEQ_ENABLED=0", "progs/heap_calls", "2", 0);
    tq_rmtree(d);
    free(d);
}

/* Under valgrind, __libc_malloc is valgrind's allocator: its blocks have no glibc chunk header, only no-access
 * redzones. The start-up check must find that out without reading before a block (it did: "Invalid read of size 8"
 * in tq_session_init, valgrind's error status), and the inert shim must leave the program's output alone. */
Test(shim_inert, valgrind_allocator_is_never_read_outside_a_block)
{
    if (tq_runf("command -v valgrind >/dev/null") != 0)
        cr_skip_test("valgrind is not installed (make deps installs it)");
    char *d = tq_tmpdir(), *err = NULL;
    const char *vg = "valgrind -q --error-exitcode=9 --trace-children=yes";
    int st_bare = tq_runf("cd %s && %s %s 1 > bare.out", d, vg, tq_build_path("progs/heap_calls"));
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "cd %s && TRACEQ_OUTPUT_DIR=%s/traces %s env LD_PRELOAD=%s %s 1 > shim.out", d, d, vg,
             tq_build_path("libtraceq.so"), tq_build_path("progs/heap_calls"));
    int st_shim = tq_run(cmd, NULL, &err);
    cr_expect_eq(st_bare, 0, "bare under valgrind: status %d", st_bare);
    cr_expect_eq(st_shim, 0, "the shim under valgrind: status %d: %s", st_shim, err ? err : "");
    cr_expect(!err || !strstr(err, "Invalid read"), "valgrind found an invalid read: %s", err);
    cr_expect(tq_same_file_in(d, "bare.out", "shim.out"), "stdout differs under valgrind with the shim");
    free(err);
    tq_rmtree(d);
    free(d);
}
