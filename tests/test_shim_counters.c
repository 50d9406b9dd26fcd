/* test_shim_counters.c - the shim's counters: exact calls and bytes through every hook, threads, peak RSS. */
#include "shim_util.h"

/* Per round of tests/progs/every_call.c (keep in step with its comments). */
static const unsigned long per_round[TQ_CALL_COUNT] = {
    [TQ_CALL_MALLOC] = 3, [TQ_CALL_CALLOC] = 1, [TQ_CALL_REALLOC] = 4, [TQ_CALL_REALLOCARRAY] = 1,
    [TQ_CALL_FREE] = 10, [TQ_CALL_POSIX_MEMALIGN] = 1, [TQ_CALL_ALIGNED_ALLOC] = 1, [TQ_CALL_MEMALIGN] = 1,
    [TQ_CALL_VALLOC] = 1, [TQ_CALL_PVALLOC] = 1, [TQ_CALL_MALLOC_USABLE_SIZE] = 1, [TQ_CALL_MMAP] = 1,
    [TQ_CALL_MMAP64] = 1, [TQ_CALL_MUNMAP] = 2, [TQ_CALL_MREMAP] = 1};
#define PEAK_HEAP_ROUND 31352   /* bytes requested and held at once in one round */
#define PEAK_MAP_PAGES_ROUND 12 /* pages mapped at once in one round */

/* Run progs/PROG with arguments `base` and then `more` under the shim, each in its own folder, and summarise both
 * (the difference of the two cancels what the C library allocates for itself). */
static void record_pair(const char *prog, const char *base, const char *more, struct tq_trace_summary *s_base,
                        struct tq_trace_summary *s_more)
{
    char *d[2] = {tq_tmpdir(), tq_tmpdir()}, args[4200];
    const char *arg[2] = {base, more};
    struct tq_trace_summary *sum[2] = {s_base, s_more};
    char path[64];
    snprintf(path, sizeof path, "progs/%s", prog);
    for (int i = 0; i < 2; i++) {
        snprintf(args, sizeof args, "%s %s", tq_build_path(path), arg[i]);
        cr_assert_eq(shim_record(d[i], args, NULL), 0, "%s %s crashed or hung under the shim", prog, arg[i]);
        shim_summary(d[i], prog, 0, sum[i]);
        tq_rmtree(d[i]);
        free(d[i]);
    }
}

Test(shim_counters, exact_through_every_hook)
{
    struct tq_trace_summary s0, s5;
    record_pair("every_call", "0", "5", &s0, &s5);
    for (unsigned i = 0; i < TQ_CALL_COUNT; i++)
        cr_expect_eq(s5.calls[i] - s0.calls[i], 5 * per_round[i], "%s: %llu calls, baseline %llu, want +%lu",
                     tq_call_name(i), (unsigned long long)s5.calls[i], (unsigned long long)s0.calls[i],
                     5 * per_round[i]);
    cr_expect_eq(s5.final_heap, s0.final_heap, "everything allocated was freed");
    cr_expect_eq(s5.peak_heap, (uint64_t)s0.final_heap + PEAK_HEAP_ROUND, "peak heap %llu, baseline %lld",
                 (unsigned long long)s5.peak_heap, (long long)s0.final_heap);
    cr_expect_geq(s5.peak_heap_usable, s5.peak_heap);
    cr_expect_eq(s5.peak_mmap, (uint64_t)PEAK_MAP_PAGES_ROUND * s5.page_size);
    cr_expect_eq(s5.final_mmap, 0);
    cr_expect_eq(s5.ending, TQ_ENDED_EXIT);
    cr_expect_eq(s5.exit_status, 0);
    cr_expect_not(s5.truncated);
    tq_trace_summary_clear(&s0);
    tq_trace_summary_clear(&s5);
}

/* tests/progs/hook_paths.c: both paths of malloc and free count alike (per round: 2003 mallocs, 1 memalign, 2004
 * frees, a peak of 1176976 bytes above the baseline). */
Test(shim_counters, fast_and_general_paths_exact)
{
    struct tq_trace_summary s0, s3;
    record_pair("hook_paths", "0", "3", &s0, &s3);
    cr_expect_eq(s3.calls[TQ_CALL_MALLOC] - s0.calls[TQ_CALL_MALLOC], 3 * 2003);
    cr_expect_eq(s3.calls[TQ_CALL_MEMALIGN] - s0.calls[TQ_CALL_MEMALIGN], 3);
    cr_expect_eq(s3.calls[TQ_CALL_FREE] - s0.calls[TQ_CALL_FREE], 3 * 2004);
    cr_expect_eq(s3.final_heap, s0.final_heap, "everything allocated was freed");
    cr_expect_eq(s3.peak_heap, (uint64_t)s0.final_heap + 1176976, "peak heap %llu, baseline %lld",
                 (unsigned long long)s3.peak_heap, (long long)s0.final_heap);
    cr_expect_geq(s3.peak_heap_usable, s3.peak_heap);
    tq_trace_summary_clear(&s0);
    tq_trace_summary_clear(&s3);
}

/* tests/progs/guarded_calls.c: the shim's own blocks (allocated with the guard up, here from malloc_usable_size in a
 * test build) are not counted, also in a thread whose heap hooks' fast path is open. */
Test(shim_counters, the_shims_own_blocks_are_not_counted_on_the_fast_path)
{
    setenv("TQ_TESTING_GUARDED_ALLOC", "1", 1);
    struct tq_trace_summary s0, s1;
    record_pair("guarded_calls", "0 0", "5000 100", &s0, &s1);
    cr_expect_eq(s1.calls[TQ_CALL_MALLOC] - s0.calls[TQ_CALL_MALLOC], 5100);
    cr_expect_eq(s1.calls[TQ_CALL_FREE] - s0.calls[TQ_CALL_FREE], 5100);
    cr_expect_eq(s1.calls[TQ_CALL_MALLOC_USABLE_SIZE] - s0.calls[TQ_CALL_MALLOC_USABLE_SIZE], 100);
    cr_expect_eq(s1.final_heap, s0.final_heap);
    tq_trace_summary_clear(&s0);
    tq_trace_summary_clear(&s1);
}

Test(shim_counters, eight_threads_million_pairs_exact)
{
    struct tq_trace_summary s0, s8;
    record_pair("threads", "8 0", "8 1000000", &s0, &s8);
    cr_expect_eq(s8.calls[TQ_CALL_MALLOC] - s0.calls[TQ_CALL_MALLOC], 8000000);
    cr_expect_eq(s8.calls[TQ_CALL_FREE] - s0.calls[TQ_CALL_FREE], 8000000);
    cr_expect_eq(s8.final_heap, s0.final_heap);
    /* At most 8 blocks of at most 263 bytes are live at once beyond the baseline, plus the publishing slack. */
    cr_expect_leq(s8.peak_heap, s0.peak_heap + 8 * 263 + 8 * (64 << 10));
    cr_expect_eq(s8.ending, TQ_ENDED_EXIT);
    tq_trace_summary_clear(&s0);
    tq_trace_summary_clear(&s8);
}

static double rel_diff(uint64_t a, uint64_t b)
{
    return a > b ? (double)(a - b) / (double)b : (double)(b - a) / (double)b;
}

Test(shim_counters, peak_rss_matches_vmhwm_for_256_mib)
{
    char *d = tq_tmpdir();
    char *out;
    cr_assert_eq(shim_record(d, tq_build_path("progs/touch256"), &out), 0);
    unsigned long own_hwm_kb = strtoul(out, NULL, 10); /* what the program read itself */
    free(out);
    struct tq_trace_summary s;
    shim_summary(d, "touch256", 0, &s);
    cr_assert_gt(s.vm_hwm, (uint64_t)256 << 20, "VmHWM %llu", (unsigned long long)s.vm_hwm);
    cr_expect_lt(rel_diff(s.peak_rss, s.vm_hwm), 0.01, "peak RSS %llu vs VmHWM %llu",
                 (unsigned long long)s.peak_rss, (unsigned long long)s.vm_hwm);
    cr_expect_lt(rel_diff(s.peak_rss, s.ru_maxrss), 0.01, "peak RSS %llu vs ru_maxrss %llu",
                 (unsigned long long)s.peak_rss, (unsigned long long)s.ru_maxrss);
    cr_expect_lt(rel_diff(s.peak_rss, own_hwm_kb * 1024), 0.01);
    cr_expect_geq(s.peak_heap, (uint64_t)256 << 20);
    cr_expect_gt(s.samples, 10, "300 ms at 10 ms");
    tq_trace_summary_clear(&s);
    tq_rmtree(d);
    free(d);
}

Test(shim_counters, one_ms_interval_works)
{
    char *d = tq_tmpdir();
    cr_assert_eq(shim_record_opts(d, "-i 1", tq_build_path("progs/touch256"), NULL), 0);
    struct tq_trace_summary s;
    shim_summary(d, "touch256", 0, &s);
    cr_expect_eq(s.interval_us, 1000);
    /* >= 300 ms of run at 1 ms: at 10 ms it would be about 30 samples. Allow for a loaded machine's wake-up
     * latency, but require clearly more than a 10 ms interval could give. */
    double ms = s.duration_ns / 1e6;
    cr_expect_gt(s.samples, 60, "%llu samples in %.0f ms", (unsigned long long)s.samples, ms);
    cr_expect_gt((double)s.samples, ms / 4, "%llu samples in %.0f ms", (unsigned long long)s.samples, ms);
    tq_trace_summary_clear(&s);
    tq_rmtree(d);
    free(d);
}

/* Record progs/map_race MODE under OPTS with the window after a releasing system call widened to 200 us; check that
 * the mmap figures never count more than the program had mapped at once (most: L = 64 pages in MODE munmap, 2 L in
 * MODE mremap) and end at 0 after its failing and partial calls. */
static void check_map_race(const char *mode, const char *opts, uint64_t most_pages)
{
    char *d = tq_tmpdir(), args[4200], *out = NULL;
    const long rounds = 1000;
    snprintf(args, sizeof args, "%s %s %ld", tq_build_path("progs/map_race"), mode, rounds);
    setenv("TQ_TESTING_MUNMAP_GAP_US", "200", 1);
    cr_assert_eq(shim_record_opts(d, opts, args, &out), 0, "map_race %s crashed or hung under the shim", mode);
    unsetenv("TQ_TESTING_MUNMAP_GAP_US");
    long caught = -1;
    cr_assert_eq(sscanf(out ? out : "", "caught %ld", &caught), 1, "%s", out ? out : "(no output)");
    cr_assert_geq(caught, 20, "%s %s: %ld ranges taken while being released: the race was not run", mode, opts,
                  caught);
    struct tq_trace_summary s;
    shim_summary(d, "map_race", 0, &s);
    uint64_t most = most_pages * s.page_size;
    cr_expect_eq(s.peak_mmap, most, "%s %s: peak mmap %llu bytes, at most %llu mapped at once (%ld caught)", mode,
                 opts, (unsigned long long)s.peak_mmap, (unsigned long long)most, caught);
    cr_expect_eq(s.final_mmap, 0, "%s %s: %lld bytes left mapped", mode, opts, (long long)s.final_mmap);
    /* every thread's rounds, the failing munmap and the three of the split range */
    cr_expect_eq(s.calls[TQ_CALL_MUNMAP], 2 * rounds + 4);
    cr_expect_eq(s.calls[TQ_CALL_MREMAP], (strcmp(mode, "mremap") ? 0 : rounds) + 1);
    tq_trace_summary_clear(&s);
    free(out);
    tq_rmtree(d);
    free(d);
}

/* munmap counts the bytes it releases before its system call (as free() does before glibc's): once the kernel has
 * released a range, another thread's mmap can be given it, and a release counted after the call let the peak count
 * both (2 L where the program never held more than L). A failing munmap gives its bytes back. */
Test(shim_counters, a_munmap_is_counted_before_another_thread_maps_its_range, .timeout = 300)
{
    check_map_race("munmap", "", 64);
    check_map_race("munmap", "--stacks", 64);
}

/* A shrinking mremap releases its tail in the call: counted before it, given back when the call fails. */
Test(shim_counters, a_shrinking_mremap_is_counted_before_another_thread_maps_its_tail, .timeout = 300)
{
    check_map_race("mremap", "", 128);
    check_map_race("mremap", "--stacks", 128);
}
