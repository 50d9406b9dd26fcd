/* test_stress_threads.c - 16 threads mixing every kind of allocation with cross-thread frees: exact counters under
 * the shim, nothing left live, no deadlock (the timeout catches one). */
#include "rel_util.h"

/* Run stress_mix 16 OPS under `traceq record OPTS` into its own directory; its stdout (call counts) goes to *out. */
static struct tq_trace_summary run_mix(const char *opts, int ops, char **out)
{
    char *dir = tq_tmpdir(), cmd[8192];
    snprintf(cmd, sizeof cmd, "%s record -q %s -o %s -- %s 16 %d", tq_build_path("traceq"), opts, dir,
             tq_build_path("progs/stress_mix"), ops);
    cr_assert_eq(tq_run(cmd, out, NULL), 0, "%s failed", cmd);
    struct tq_trace_summary *all;
    size_t n = rel_load_all(dir, &all);
    cr_assert_eq(n, 1, "%zu traces for one process", n);
    struct tq_trace_summary s = all[0];
    free(all); /* the summary's strings now belong to s */
    tq_rmtree(dir);
    free(dir);
    return s;
}

/* The count stress_mix printed for `name`. */
static unsigned long printed(const char *out, const char *name)
{
    char key[64];
    snprintf(key, sizeof key, "%s ", name);
    for (const char *p = out; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, key, strlen(key)) == 0)
            return strtoul(p + strlen(key), NULL, 10);
    cr_assert_fail("no '%s' count in stress_mix output", name);
    return 0;
}

/* The same check with or without `record --stacks` (opts). */
static void check_mix(const char *opts)
{
    char *out0 = NULL, *out = NULL;
    struct tq_trace_summary s0 = run_mix(opts, 0, &out0), s = run_mix(opts, 40000, &out);
    static const struct { unsigned call; const char *name; } kinds[] = {
        {TQ_CALL_MALLOC, "malloc"}, {TQ_CALL_CALLOC, "calloc"}, {TQ_CALL_REALLOC, "realloc"},
        {TQ_CALL_POSIX_MEMALIGN, "posix_memalign"}, {TQ_CALL_FREE, "free"}, {TQ_CALL_MMAP, "mmap"},
        {TQ_CALL_MUNMAP, "munmap"}};
    unsigned long made = 0;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        /* The OPS = 0 run has the same threads and prints the same lines: its calls are the C library's own. */
        unsigned long want = printed(out, kinds[i].name) + s0.calls[kinds[i].call];
        cr_expect_eq(s.calls[kinds[i].call], want, "%s: shim counted %llu, program made %lu (+%llu baseline)",
                     kinds[i].name, (unsigned long long)s.calls[kinds[i].call], printed(out, kinds[i].name),
                     (unsigned long long)s0.calls[kinds[i].call]);
        made += printed(out, kinds[i].name);
    }
    cr_expect_gt(made, 16ul * 40000, "the program made its calls");
    cr_expect_eq(s.final_heap, s0.final_heap, "live heap at exit %lld, baseline %lld", (long long)s.final_heap,
                 (long long)s0.final_heap);
    cr_expect_eq(s.final_mmap, s0.final_mmap, "live mmap at exit %lld", (long long)s.final_mmap);
    cr_expect_gt(s.peak_heap, 0);
    cr_expect_eq(s.ending, TQ_ENDED_EXIT);
    cr_expect_not(s.truncated);
    if (*opts)
        cr_expect(s.events > 0 && s.stacks > 0, "--stacks: %llu EVENTS and %llu STACK records",
                  (unsigned long long)s.events, (unsigned long long)s.stacks);
    tq_trace_summary_clear(&s0);
    tq_trace_summary_clear(&s);
    free(out0);
    free(out);
}

Test(stress_threads, sixteen_threads_mixed_calls_exact, .timeout = 120)
{
    check_mix("");
}

Test(stress_threads, sixteen_threads_mixed_calls_exact_with_stacks, .timeout = 180)
{
    check_mix("--stacks");
}
