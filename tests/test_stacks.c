/* test_stacks.c - record --stacks / --aggregate: stacks name the right functions, counters stay exact, fork and
 * exec keep working, report --top and diff find the known sites, aggregate totals equal event totals. */
#include <glob.h>

#include "../report/sites.h"
#include "../traces/event_ctxs.h"
#include "../traces/reader.h"
#include "shim_util.h"

/* Events per kind in a trace, and how many refer to a stack id that no earlier STACK record defined. */
struct scan {
    uint64_t events[TQ_CALL_COUNT], undefined_refs, stacks, modules, aggregates;
};

static void scan_trace(const char *path, struct scan *s)
{
    memset(s, 0, sizeof *s);
    static unsigned char defined[1 << 16];
    memset(defined, 0, sizeof defined);
    struct tq_trace_reader *r;
    struct tq_err err = {0};
    cr_assert_eq(tq_trace_open(path, &r, &err), TQ_OK, "%s", err.msg);
    struct tq_rec rec;
    bool done = false;
    static struct tq_event_ctxs ctxs;
    while (tq_trace_next(r, &rec, &done, &err) == TQ_OK && !done) {
        if (rec.type == TQ_REC_STACK) {
            struct tq_rec_stack st;
            cr_assert_eq(tq_rec_get_stack(&rec, &st), 0);
            cr_assert_lt(st.id, sizeof defined);
            defined[st.id] = 1;
            s->stacks++;
        } else if (rec.type == TQ_REC_MODULE) {
            s->modules++;
        } else if (rec.type == TQ_REC_AGGREGATE) {
            s->aggregates++;
        } else if (TQ_REC_HAS_EVENTS(rec.type)) {
            struct tq_rec_events e;
            struct tq_events_iter it;
            struct tq_event ev;
            cr_assert_eq(tq_event_ctxs_open(&ctxs, path, &rec, &e, &it, &err), TQ_OK, "%s", err.msg);
            int got;
            while ((got = tq_events_next(&it, &ev)) == 1) {
                if (ev.kind < TQ_CALL_COUNT)
                    s->events[ev.kind]++;
                if (ev.stack_id && (ev.stack_id >= sizeof defined || !defined[ev.stack_id]))
                    s->undefined_refs++;
            }
            cr_assert_eq(got, 0, "corrupt event in %s", path);
        }
    }
    cr_assert_not(tq_trace_truncated(r), "%s is truncated", path);
    tq_trace_close(r);
    tq_event_ctxs_clear(&ctxs);
}

static const struct tq_site *site_named(const struct tq_sites *s, const char *fn)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strncmp(s->v[i].key, fn, strlen(fn)) && s->v[i].key[strlen(fn)] == ' ')
            return &s->v[i];
    return NULL;
}

/* Record stack_paths BIG_MIB SMALL THREADS with opts into a new directory; returns the directory. */
static char *record_paths(const char *opts, int mib, long small, int threads)
{
    char *d = tq_tmpdir(), args[4200];
    snprintf(args, sizeof args, "%s %d %ld %d", tq_build_path("progs/stack_paths"), mib, small, threads);
    cr_assert_eq(shim_record_opts(d, opts, args, NULL), 0);
    return d;
}

Test(stacks, name_the_right_functions)
{
    char *d = record_paths("--stacks", 16, 20000, 1), *t = shim_one_trace(d, "stack_paths", 0);
    struct tq_sites s;
    struct tq_err err = {0};
    cr_assert_eq(tq_sites_load(t, &s, &err), TQ_OK, "%s", err.msg);
    tq_sites_sort(&s, TQ_SITES_BY_PEAK);
    cr_assert_gt(s.n, 2);
    cr_expect(!strncmp(s.v[0].key, "hold_big (stack_paths.c:", 24), "biggest at the peak: %s", s.v[0].key);
    cr_expect(!strncmp(s.v[0].callers, "keep_path < main", 16), "callers: %s", s.v[0].callers);
    cr_expect_str_eq(s.v[0].module, "stack_paths");
    cr_expect_eq(s.v[0].peak, (uint64_t)16 << 20);
    tq_sites_sort(&s, TQ_SITES_BY_ALLOCATED);
    cr_expect(!strncmp(s.v[0].key, "churn_big (", 11), "most allocated: %s", s.v[0].key);
    cr_expect(!strncmp(s.v[0].callers, "churn_path < main", 17), "callers: %s", s.v[0].callers);
    cr_expect_eq(s.v[0].allocated, (uint64_t)160 << 20);
    cr_expect_eq(s.v[0].calls, 40);
    tq_sites_sort(&s, TQ_SITES_BY_CALLS);
    cr_expect(!strncmp(s.v[0].key, "tiny_calls (", 12), "most calls: %s", s.v[0].key);
    cr_expect(!strncmp(s.v[0].callers, "small_path < main", 17), "callers: %s", s.v[0].callers);
    cr_expect_eq(s.v[0].calls, 20000);
    cr_expect_eq(s.v[0].allocated, 20000 * 24);
    /* The heap peak: 16 MiB held + one 4 MiB churn block + the pointer array, and the startup's few bytes. */
    cr_expect_geq(s.peak, (uint64_t)20 << 20);
    cr_expect_lt(s.peak, ((uint64_t)20 << 20) + (64 << 10));
    tq_sites_clear(&s);
    free(t);
    tq_rmtree(d);
    free(d);
}

/* With --stacks the counters are those of a run without it, and every allocation became one event. */
Test(stacks, counters_exact_and_one_event_per_call)
{
    char *d0 = tq_tmpdir(), *d5 = tq_tmpdir(), *dn = tq_tmpdir(), args[4200];
    snprintf(args, sizeof args, "%s 0", tq_build_path("progs/every_call"));
    cr_assert_eq(shim_record_opts(d0, "--stacks", args, NULL), 0);
    snprintf(args, sizeof args, "%s 5", tq_build_path("progs/every_call"));
    cr_assert_eq(shim_record_opts(d5, "--stacks", args, NULL), 0);
    cr_assert_eq(shim_record_opts(dn, "", args, NULL), 0);
    struct tq_trace_summary s5, sn;
    shim_summary(d5, "every_call", 0, &s5);
    shim_summary(dn, "every_call", 0, &sn);
    for (unsigned i = 0; i < TQ_CALL_COUNT; i++)
        cr_expect_eq(s5.calls[i], sn.calls[i], "%s: %llu with stacks, %llu without", tq_call_name(i),
                     (unsigned long long)s5.calls[i], (unsigned long long)sn.calls[i]);
    cr_expect_eq(s5.peak_heap, sn.peak_heap);
    /* (usable sizes are not compared: memalign's slack depends on where the heap's free chunks lie, and the
     * unwinder's own blocks move them) */
    cr_expect_eq(s5.final_heap, sn.final_heap);
    cr_expect_eq(s5.peak_mmap, sn.peak_mmap);
    char *t0 = shim_one_trace(d0, "every_call", 0), *t5 = shim_one_trace(d5, "every_call", 0);
    struct scan a, b;
    scan_trace(t0, &a);
    scan_trace(t5, &b);
    cr_expect_eq(b.undefined_refs, 0);
    cr_expect_gt(b.modules, 0, "the module map is in the trace");
    /* Per round (tests/progs/every_call.c): successful allocations each give one event. */
    static const unsigned kinds[] = {TQ_CALL_MALLOC, TQ_CALL_CALLOC, TQ_CALL_REALLOCARRAY, TQ_CALL_POSIX_MEMALIGN,
                                     TQ_CALL_ALIGNED_ALLOC, TQ_CALL_MEMALIGN, TQ_CALL_VALLOC, TQ_CALL_PVALLOC,
                                     TQ_CALL_MMAP, TQ_CALL_MMAP64, TQ_CALL_MREMAP};
    static const unsigned per_round[] = {3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    for (unsigned i = 0; i < sizeof kinds / sizeof *kinds; i++)
        cr_expect_eq(b.events[kinds[i]] - a.events[kinds[i]], 5 * per_round[i], "%s: %llu events, baseline %llu",
                     tq_call_name(kinds[i]), (unsigned long long)b.events[kinds[i]],
                     (unsigned long long)a.events[kinds[i]]);
    tq_trace_summary_clear(&s5);
    tq_trace_summary_clear(&sn);
    free(t0);
    free(t5);
    tq_rmtree(d0);
    tq_rmtree(d5);
    tq_rmtree(dn);
    free(d0);
    free(d5);
    free(dn);
}

/* Every heap entry point (malloc, calloc, realloc, reallocarray, posix_memalign, aligned_alloc, memalign, valloc,
 * pvalloc; some hand their event over by a tail call, posix_memalign not) gives a stack whose innermost frame is the
 * program's line that called it: no frame of the shim is left on top, none of the program's is lost. */
Test(stacks, every_entry_point_starts_at_the_calling_line)
{
    char *d = tq_tmpdir(), args[4200];
    snprintf(args, sizeof args, "%s 3", tq_build_path("progs/every_call"));
    cr_assert_eq(shim_record_opts(d, "--stacks", args, NULL), 0);
    char *t = shim_one_trace(d, "every_call", 0);
    struct tq_sites s;
    struct tq_err err = {0};
    cr_assert_eq(tq_sites_load(t, &s, &err), TQ_OK, "%s", err.msg);
    uint64_t calls = 0;
    for (size_t i = 0; i < s.n; i++) {
        /* heap_round is inlined into main (-O2): every site is a line of main in every_call.c */
        cr_expect(!strncmp(s.v[i].key, "main (every_call.c:", 19), "site %s", s.v[i].key);
        cr_expect_str_eq(s.v[i].module, "every_call", "site %s", s.v[i].key);
        cr_expect_eq(s.v[i].calls % 3, 0, "%s: %llu calls in 3 rounds", s.v[i].key,
                     (unsigned long long)s.v[i].calls);
        calls += s.v[i].calls;
    }
    /* per round: 3 malloc, calloc, 3 realloc that return a block, reallocarray, posix_memalign, aligned_alloc,
     * memalign, valloc, pvalloc (tests/progs/every_call.c) */
    cr_expect_eq(calls, 3 * 13);
    cr_expect_geq(s.n, 10, "the calls are told apart by line: %zu sites", s.n);
    tq_sites_clear(&s);
    free(t);
    tq_rmtree(d);
    free(d);
}

/* Run args under record --stacks with TRACEQ_UNWIND_CHECK=1 (the shim compares its walker's stack with
 * unw_backtrace's at every allocation): same stacks, and the walker's fallback taken when want_left. */
static void expect_walker_agrees(const char *args, bool want_left)
{
    char *d = tq_tmpdir(), cmd[8400], *err = NULL;
    snprintf(cmd, sizeof cmd, "TRACEQ_UNWIND_CHECK=1 timeout 120 %s record -q --stacks -o %s -- %s",
             tq_build_path("traceq"), d, args);
    cr_assert_eq(tq_run(cmd, NULL, &err), 0, "%s: %s", args, err);
    cr_expect_null(strstr(err, "DIFFERENT"), "%s:\n%s", args, err);
    cr_expect_not_null(strstr(err, "unwind check: the same"), "%s: the walker never listed a stack:\n%s", args, err);
    if (want_left)
        cr_expect_not_null(strstr(err, "unwind check: left to unw_backtrace"), "%s:\n%s", args, err);
    free(err);
    tq_rmtree(d);
    free(d);
}

/* The shim's stack walker (preload/unwind.c) lists exactly what unw_backtrace lists: recursion past the 128 frames
 * kept, rbp-addressed and realigned frames, C library frames between, four threads; a signal handler's stack goes
 * to unw_backtrace (the signal frame is not a standard one). Also C++ and CPython's interpreter. */
Test(stacks, the_walker_lists_what_unw_backtrace_lists, .timeout = 300)
{
    char args[4200];
    snprintf(args, sizeof args, "%s 10", tq_build_path("progs/unwind_shapes"));
    expect_walker_agrees(args, true);
    expect_walker_agrees(tq_build_path("progs/cxx_alloc"), false);
    snprintf(args, sizeof args, "%s %s nested", tq_python(), tq_src_path("tests/py/pyframes_prog.py"));
    expect_walker_agrees(args, false);
}

/* Record prog (a program of tests/progs/ with its arguments) under opts and check the process-wide order of its
 * events: every event is in the trace exactly once (order numbers 0..n-1, each once; one malloc event per malloc
 * call, at least min_mallocs), and replayed in that order every free releases a live block and every block of the
 * program is freed (at most max_live stay: the threads' TLS blocks). */
static void check_event_order(const char *opts, const char *prog, const char *args_after, uint64_t min_mallocs,
                              size_t max_live)
{
    char *d = tq_tmpdir(), args[4200];
    snprintf(args, sizeof args, "%s %s", tq_build_path(prog), args_after);
    const char *name = strrchr(prog, '/') + 1;
    cr_assert_eq(shim_record_opts(d, opts, args, NULL), 0);
    char *path = shim_one_trace(d, name, 0);
    struct tq_trace_summary sum;
    shim_summary(d, name, 0, &sum);
    struct shim_order o;
    shim_replay_in_order(path, &o);
    cr_expect_eq(o.kinds[TQ_CALL_MALLOC], sum.calls[TQ_CALL_MALLOC]);
    cr_expect_geq(o.kinds[TQ_CALL_MALLOC], min_mallocs);
    cr_expect_eq(o.kinds[TQ_CALL_CALLOC], sum.calls[TQ_CALL_CALLOC]);
    cr_expect_geq(o.info_low, 0, "an INFO free before its allocation in the process-wide order");
    cr_expect_eq(o.double_allocs, 0);
    cr_expect_eq(o.bad_frees, 0, "frees of blocks that were not live (blocks from before the trace: none here)");
    cr_expect_leq(o.live + (size_t)o.info_live, max_live,
                  "blocks live at the end: %zu + %lld (only the threads' TLS blocks may stay)", o.live,
                  (long long)o.info_live);
    tq_trace_summary_clear(&sum);
    free(path);
    tq_rmtree(d);
    free(d);
}

/* A realloc that moves its block releases the old one inside glibc's call: another thread can be given that address
 * at once, and its allocation's event must come after the release in the process-wide order (else the replay takes
 * the other thread's block for the realloc's old one: it loses that block, finds a free of a block that is not live
 * later, and misses the leak). realloc_race's catchers keep the blocks they get at the address of a block being
 * moved; the test build widens the window after glibc's realloc to 100 us (TQ_TESTING_REALLOC_GAP_US). Replayed in
 * the order, no allocation finds its address live and no free finds it dead; the report finds every caught block
 * leaked by catch_block, and nothing leaked by the movers; a block whose realloc failed stays live. */
Test(stacks, a_realloc_releases_its_old_block_before_another_thread_gets_it, .timeout = 300)
{
    char *d = tq_tmpdir(), args[4200], *out = NULL;
    snprintf(args, sizeof args, "%s 2 2 1000", tq_build_path("progs/realloc_race"));
    setenv("TQ_TESTING_REALLOC_GAP_US", "100", 1);
    cr_assert_eq(shim_record_opts(d, "--stacks", args, &out), 0);
    unsetenv("TQ_TESTING_REALLOC_GAP_US");
    long caught = -1;
    cr_assert_eq(sscanf(out ? out : "", "caught %ld", &caught), 1, "%s", out ? out : "(no output)");
    cr_assert_geq(caught, 20, "the catchers got %ld blocks being moved: the race was not run", caught);
    char *t = shim_one_trace(d, "realloc_race", 0);
    struct shim_order o;
    shim_replay_in_order(t, &o);
    cr_expect_geq(o.kinds[TQ_CALL_REALLOC], 2000);
    cr_expect_eq(o.double_allocs, 0, "allocations at a live address (%ld blocks caught)", caught);
    cr_expect_eq(o.bad_frees, 0, "frees of an address that was not live (%ld blocks caught)", caught);
    cr_expect_geq(o.info_low, 0);
    struct tq_sites s;
    struct tq_err err = {0};
    cr_assert_eq(tq_sites_load(t, &s, &err), TQ_OK, "%s", err.msg);
    const struct tq_site *c = site_named(&s, "catch_block"), *m = site_named(&s, "make_block"),
                         *g = site_named(&s, "grow_block");
    cr_assert_not_null(c);
    cr_assert_not_null(m);
    cr_assert_not_null(g);
    cr_expect_eq(c->leaked, (uint64_t)caught * 2039, "catch_block leaked %llu bytes, %ld blocks of 2039 caught",
                 (unsigned long long)c->leaked, caught);
    cr_expect_eq(m->leaked, 0, "make_block leaked %llu bytes", (unsigned long long)m->leaked);
    cr_expect_eq(g->leaked, 0, "grow_block leaked %llu bytes", (unsigned long long)g->leaked);
    cr_expect_eq(g->calls, 2000);
    /* the 1 MiB block whose reallocs failed stays live: for keep_big, or fail_grow that allocated it again (the
     * shim cannot know a block's stack when its address names it; FORMAT.md 20, OLD value 6) */
    const struct tq_site *b = site_named(&s, "keep_big"), *f = site_named(&s, "fail_grow");
    cr_assert_not_null(b);
    cr_expect_eq(b->leaked + (f ? f->leaked : 0), 1 << 20);
    cr_expect_eq(f ? f->calls : 0, 1, "the realloc past PTRDIFF_MAX leaves no event");
    tq_sites_clear(&s);
    free(t);
    free(out);
    tq_rmtree(d);
    free(d);
}

/* Eight threads allocate, pass blocks to each other through a queue and free them, while the sampler flushes their
 * buffers every millisecond (the threads write their rings without a lock while it reads them). */
Test(stacks, events_of_flushed_threads_are_each_there_once, .timeout = 300)
{
    check_event_order("--stacks --flush-ms 1", "progs/pass_around", "8 20000", 2 * 8 * 20000, 8);
}

/* Three threads take turns of 40,000 frees and 40,000 allocations, each turn freeing the blocks of the turn before
 * (another thread's): a thread that numbers its events alone counts them without the shared counter (seq_solo in
 * preload/stacks.c), and the next thread takes the counting back before its first event. The order still puts every
 * allocation before its free, each number once. */
Test(stacks, threads_taking_turns_keep_the_order_of_events, .timeout = 300)
{
    check_event_order("--stacks", "progs/relay", "3 12 40000", 12 * 40000, 8);
}

/* fork: the child's trace interns its own stacks (every id it uses is defined in its own file); exec: the new
 * image records stacks too. */
Test(stacks, fork_and_exec_keep_working)
{
    char *d = tq_tmpdir(), args[4200];
    snprintf(args, sizeof args, "%s forkexec %s 2", tq_build_path("progs/forker"), tq_build_path("progs/every_call"));
    cr_assert_eq(shim_record_opts(d, "--stacks", args, NULL), 0);
    char *d2 = tq_tmpdir();
    snprintf(args, sizeof args, "%s fork", tq_build_path("progs/forker"));
    cr_assert_eq(shim_record_opts(d2, "--stacks", args, NULL), 0);
    cr_assert_eq(shim_count(d), 3, "parent, child before exec, exec'd image");
    cr_assert_eq(shim_count(d2), 2);
    const char *dirs[] = {d, d2};
    for (int k = 0; k < 2; k++) {
        char pat[4200];
        snprintf(pat, sizeof pat, "%s/traceq.*.tq", dirs[k]);
        glob_t g;
        cr_assert_eq(glob(pat, 0, NULL, &g), 0);
        for (size_t i = 0; i < g.gl_pathc; i++) {
            struct scan s;
            scan_trace(g.gl_pathv[i], &s);
            cr_expect_eq(s.undefined_refs, 0, "%s uses stacks it does not define", g.gl_pathv[i]);
            cr_expect_gt(s.events[TQ_CALL_MALLOC] + s.events[TQ_CALL_CALLOC], 0, "%s has no events", g.gl_pathv[i]);
            cr_expect_gt(s.modules, 0);
        }
        globfree(&g);
    }
    char *e = shim_one_trace(d, "every_call", 0);
    struct tq_sites s;
    struct tq_err err = {0};
    cr_assert_eq(tq_sites_load(e, &s, &err), TQ_OK, "%s", err.msg);
    cr_expect_not_null(site_named(&s, "main"), "the exec'd image's stacks name its functions");
    tq_sites_clear(&s);
    free(e);
    tq_rmtree(d);
    tq_rmtree(d2);
    free(d);
    free(d2);
}

/* The stack table starts small and doubles (preload/stacks.c): 800 new stacks make it grow, every event's stack is
 * still defined, and 3 rounds of the same 800 stacks (progs/repeat_stacks) find them all again (no stack is written
 * twice). */
Test(stacks, the_stack_table_grows_and_finds_its_stacks)
{
    struct scan sc[3];
    const char *rounds[3] = {"0", "1", "3"};
    for (int i = 0; i < 3; i++) {
        char *d = tq_tmpdir(), args[4200];
        snprintf(args, sizeof args, "%s %s", tq_build_path("progs/repeat_stacks"), rounds[i]);
        cr_assert_eq(shim_record_opts(d, "--stacks", args, NULL), 0);
        char *t = shim_one_trace(d, "repeat_stacks", 0);
        scan_trace(t, &sc[i]);
        cr_expect_eq(sc[i].undefined_refs, 0, "%s rounds: %llu events name an undefined stack", rounds[i],
                     (unsigned long long)sc[i].undefined_refs);
        free(t);
        tq_rmtree(d);
        free(d);
    }
    cr_expect_eq(sc[1].stacks, sc[0].stacks + 800, "%llu stacks, %llu without the 800", (unsigned long long)sc[1].stacks,
                 (unsigned long long)sc[0].stacks);
    cr_expect_eq(sc[2].stacks, sc[1].stacks, "3 rounds: %llu stacks, 1 round: %llu", (unsigned long long)sc[2].stacks,
                 (unsigned long long)sc[1].stacks);
    cr_expect_eq(sc[2].events[TQ_CALL_MALLOC] - sc[0].events[TQ_CALL_MALLOC], 3 * 800);
}

Test(stacks, report_top_finds_the_biggest_site)
{
    char *d = record_paths("--stacks", 12, 1000, 1), *t = shim_one_trace(d, "stack_paths", 0), *out = NULL, cmd[8400];
    snprintf(cmd, sizeof cmd, "%s report --top 2 %s", tq_build_path("traceq"), t);
    cr_assert_eq(tq_run(cmd, &out, NULL), 0);
    const char *sec = strstr(out, "sites by heap held at the peak");
    cr_assert_not_null(sec, "%s", out);
    const char *nl = strchr(sec, '\n');
    cr_assert_not_null(nl);
    cr_expect(!strncmp(nl + 1, "      12.0 MiB  hold_big (stack_paths.c:", 40), "first row: %.120s", nl + 1);
    cr_expect_not_null(strstr(out, "from keep_path < main"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s report --json --top 1 %s", tq_build_path("traceq"), t);
    cr_assert_eq(tq_run(cmd, &out, NULL), 0);
    cr_expect_not_null(strstr(out, "\"site\": \"tiny_calls (stack_paths.c:"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s report --top 0 %s", tq_build_path("traceq"), t);
    cr_expect_eq(tq_run(cmd, NULL, NULL), 2);
    free(t);
    tq_rmtree(d);
    free(d);
}

Test(stacks, report_top_without_stacks_says_so)
{
    char *d = tq_tmpdir(), args[4200], cmd[8400], *err = NULL;
    snprintf(args, sizeof args, "%s 1", tq_build_path("progs/every_call"));
    cr_assert_eq(shim_record(d, args, NULL), 0);
    char *t = shim_one_trace(d, "every_call", 0);
    snprintf(cmd, sizeof cmd, "%s report --top 3 %s", tq_build_path("traceq"), t);
    cr_expect_eq(tq_run(cmd, NULL, &err), 2);
    cr_expect_not_null(strstr(err, "--stacks"), "%s", err);
    free(err);
    free(t);
    tq_rmtree(d);
    free(d);
}

Test(stacks, diff_shows_the_grown_site)
{
    char *a = record_paths("--stacks", 8, 1000, 1), *b = record_paths("--stacks", 24, 1000, 1);
    char *ta = shim_one_trace(a, "stack_paths", 0), *tb = shim_one_trace(b, "stack_paths", 0), cmd[8400], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s diff %s %s", tq_build_path("traceq"), ta, tb);
    cr_assert_eq(tq_run(cmd, &out, NULL), 0);
    cr_expect_not_null(strstr(out, "heap at the peak"), "%s", out);
    const char *hdr = strstr(out, "site\n");
    cr_assert_not_null(hdr, "%s", out);
    /* first changed site: hold_big, 16 MiB more at the peak and in total, 16 more calls */
    const char *row = "     +16.0 MiB      +16.0 MiB       24.0 MiB          +16            0 B          +0  hold_big (";
    cr_expect(!strncmp(hdr + 5, row, strlen(row)),
              "first row: %.120s", hdr + 5);
    cr_expect_null(strstr(out, "churn_big"), "unchanged sites are not listed: %s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s diff %s", tq_build_path("traceq"), ta);
    cr_expect_eq(tq_run(cmd, NULL, NULL), 2);
    free(ta);
    free(tb);
    tq_rmtree(a);
    tq_rmtree(b);
    free(a);
    free(b);
}

/* --aggregate matches frees to blocks in the shim (traces/block_match.c, a static matcher in preload/block_ids.c):
 * eight threads passing blocks to each other, flushed every millisecond, send their records out of the order of
 * their events; the program still runs as without the profiler (the look-ahead once had no memory provider there,
 * and the program died of SIGSEGV) and the trace holds every allocation's totals. The matcher puts the records back
 * into the order of their events first (traces/event_order.h), so every freed block ends: the heap it says was held
 * at its peak is at most the counting shim's peak of the whole heap (matching the records in the order they came
 * left blocks live: 125-129 KiB held at the peak against the counters' 85-88 KiB). */
Test(stacks, aggregate_of_blocks_passed_between_threads, .timeout = 300)
{
    char *d = tq_tmpdir(), args[4200];
    snprintf(args, sizeof args, "%s 8 20000", tq_build_path("progs/pass_around"));
    cr_assert_eq(shim_record_opts(d, "--aggregate --flush-ms 1", args, NULL), 0, "the program's exit status changed");
    char *t = shim_one_trace(d, "pass_around", 0);
    struct scan sa;
    scan_trace(t, &sa);
    cr_expect_gt(sa.aggregates, 0);
    struct tq_sites g;
    struct tq_err err = {0};
    cr_assert_eq(tq_sites_load(t, &g, &err), TQ_OK, "%s", err.msg);
    cr_expect_geq(g.calls, 2 * 8 * 20000, "%llu allocation calls", (unsigned long long)g.calls);
    struct tq_trace_summary s;
    shim_summary(d, "pass_around", 0, &s);
    cr_expect_leq(g.peak, s.peak_heap, "held at the peak %llu B by the shim's matching, the heap's peak %llu B",
                  (unsigned long long)g.peak, (unsigned long long)s.peak_heap);
    tq_trace_summary_clear(&s);
    tq_sites_clear(&g);
    free(t);
    tq_rmtree(d);
    free(d);
}

/* --aggregate writes per-stack totals instead of events: the same sites with the same totals. */
Test(stacks, aggregate_totals_equal_event_totals)
{
    char *de = record_paths("--stacks", 4, 30000, 3), *da = record_paths("--aggregate", 4, 30000, 3);
    char *te = shim_one_trace(de, "stack_paths", 0), *ta = shim_one_trace(da, "stack_paths", 0);
    struct scan sa;
    scan_trace(ta, &sa);
    cr_expect_gt(sa.aggregates, 0);
    cr_expect_eq(sa.events[TQ_CALL_MALLOC], 0, "aggregate mode writes no events");
    struct tq_sites e, g;
    struct tq_err err = {0};
    cr_assert_eq(tq_sites_load(te, &e, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(tq_sites_load(ta, &g, &err), TQ_OK, "%s", err.msg);
    cr_expect(g.aggregated);
    cr_expect_not(e.aggregated);
    static const char *const fns[] = {"hold_big", "churn_big", "tiny_calls"};
    for (int i = 0; i < 3; i++) {
        const struct tq_site *x = site_named(&e, fns[i]), *y = site_named(&g, fns[i]);
        cr_assert_not_null(x, "%s", fns[i]);
        cr_assert_not_null(y, "%s", fns[i]);
        cr_expect_eq(x->calls, y->calls, "%s: %llu calls in events, %llu aggregated", fns[i],
                     (unsigned long long)x->calls, (unsigned long long)y->calls);
        cr_expect_eq(x->allocated, y->allocated, "%s", fns[i]);
        cr_expect_eq(x->peak, y->peak, "%s: %llu held at the peak in events, %llu aggregated", fns[i],
                     (unsigned long long)x->peak, (unsigned long long)y->peak);
    }
    cr_expect_eq(e.peak, g.peak, "heap peak: %llu from events, %llu aggregated", (unsigned long long)e.peak,
                 (unsigned long long)g.peak);
    cr_expect_eq(site_named(&g, "tiny_calls")->calls, 90000);
    cr_expect_eq(e.calls, g.calls, "total calls");
    cr_expect_eq(e.allocated, g.allocated, "total bytes");
    tq_sites_clear(&e);
    tq_sites_clear(&g);
    free(te);
    free(ta);
    tq_rmtree(de);
    tq_rmtree(da);
    free(de);
    free(da);
}

/* A library loaded with dlopen after start is in the module map (a new snapshot), so its frames get names. */
Test(stacks, dlopened_library_frames_are_named)
{
    char *d = tq_tmpdir();
    cr_assert_eq(shim_record_opts(d, "--stacks", tq_build_path("progs/dlopener"), NULL), 0);
    char *t = shim_one_trace(d, "dlopener", 0);
    struct tq_sites s;
    struct tq_err err = {0};
    cr_assert_eq(tq_sites_load(t, &s, &err), TQ_OK, "%s", err.msg);
    const struct tq_site *z = site_named(&s, "deflateInit2_");
    if (!z) /* with zlib's debug info installed the key has " (deflate.c:N)"; without, just the name */
        for (size_t i = 0; i < s.n && !z; i++)
            if (!strcmp(s.v[i].key, "deflateInit2_"))
                z = &s.v[i];
    cr_assert_not_null(z, "no site in deflateInit2_");
    cr_expect(!strncmp(z->module, "libz.so", 7), "module %s", z->module);
    cr_expect_geq(z->peak, 256 << 10, "deflate's state is held at the end");
    cr_expect(!strncmp(z->callers, "deflateInit_ < main", 19), "callers %s", z->callers);
    tq_sites_clear(&s);
    free(t);
    tq_rmtree(d);
    free(d);
}

/* Blocks allocated by one thread and freed by another: the threads' event buffers reach the trace in any order,
 * yet every free is matched (the replayed peak is the queue's 64 KiB, not the 49 MiB ever allocated). */
Test(stacks, cross_thread_frees_are_matched)
{
    char *d = tq_tmpdir(), args[4200];
    snprintf(args, sizeof args, "%s 50000", tq_build_path("progs/handoff"));
    cr_assert_eq(shim_record_opts(d, "--stacks", args, NULL), 0);
    char *t = shim_one_trace(d, "handoff", 0);
    struct tq_sites s;
    struct tq_err err = {0};
    cr_assert_eq(tq_sites_load(t, &s, &err), TQ_OK, "%s", err.msg);
    const struct tq_site *p = site_named(&s, "produce_one");
    cr_assert_not_null(p);
    cr_expect_eq(p->calls, 50000);
    cr_expect_eq(p->allocated, 50000 * 1024);
    cr_expect_leq(p->peak, 256 << 10, "held at the peak: %llu bytes", (unsigned long long)p->peak);
    cr_expect_leq(s.peak, 512 << 10, "replayed heap peak: %llu bytes", (unsigned long long)s.peak);
    tq_sites_clear(&s);
    free(t);
    tq_rmtree(d);
    free(d);
}

/* One allocator, two call paths: keep_route holds 6 MiB at the peak (and leaks it), spill_route allocated 48 MiB
 * (more calls, all temporary) but freed it all before. The path shown with the bytes at the peak is the one that
 * held them, and so for the leaks; the paths shown with bytes allocated, calls and temporary allocations are
 * spill_route's. */
Test(stacks, caller_path_at_the_peak_is_the_one_holding_the_bytes)
{
    char *d = tq_tmpdir(), args[4200], cmd[8400], *out = NULL;
    snprintf(args, sizeof args, "%s 6 48", tq_build_path("progs/two_paths"));
    cr_assert_eq(shim_record_opts(d, "--stacks", args, NULL), 0);
    char *t = shim_one_trace(d, "two_paths", 0);
    struct tq_sites s;
    struct tq_err err = {0};
    cr_assert_eq(tq_sites_load(t, &s, &err), TQ_OK, "%s", err.msg);
    const struct tq_site *x = site_named(&s, "shared_alloc");
    cr_assert_not_null(x);
    cr_expect_eq(x->peak, (uint64_t)6 << 20);
    cr_expect_eq(x->allocated, (uint64_t)54 << 20);
    cr_expect_eq(x->calls, 54);
    cr_expect(!strncmp(x->callers, "keep_route < main", 17), "path at the peak: %s", x->callers);
    cr_expect(!strncmp(x->callers_allocated, "spill_route < main", 18), "path allocating most: %s",
              x->callers_allocated);
    cr_expect(!strncmp(x->callers_calls, "spill_route < main", 18), "path calling most: %s", x->callers_calls);
    cr_expect_eq(x->leaked, (uint64_t)6 << 20);
    cr_expect_eq(x->temporary, 48);
    cr_expect(!strncmp(tq_site_callers(x, TQ_SITES_BY_LEAKED), "keep_route < main", 17), "leaks' path: %s",
              tq_site_callers(x, TQ_SITES_BY_LEAKED));
    cr_expect(!strncmp(tq_site_callers(x, TQ_SITES_BY_TEMPORARY), "spill_route < main", 18), "temporaries' path: %s",
              tq_site_callers(x, TQ_SITES_BY_TEMPORARY));
    cr_expect_eq(tq_site_callers(x, TQ_SITES_BY_PEAK), x->callers);
    cr_expect_eq(tq_site_callers(x, TQ_SITES_BY_ALLOCATED), x->callers_allocated);
    tq_sites_clear(&s);
    /* report --top shows each ranking with its own path */
    snprintf(cmd, sizeof cmd, "%s report --top 1 %s", tq_build_path("traceq"), t);
    cr_assert_eq(tq_run(cmd, &out, NULL), 0);
    const char *peak = strstr(out, "sites by heap held at the peak"), *alloc = strstr(out, "sites by bytes allocated");
    cr_assert(peak && alloc, "%s", out);
    const char *keep = strstr(peak, "from keep_route < main"), *spill = strstr(alloc, "from spill_route < main");
    cr_expect(keep && keep < alloc, "the peak's row shows keep_route: %s", out);
    cr_expect_not_null(spill, "the bytes-allocated row shows spill_route: %s", out);
    free(out);
    free(t);
    tq_rmtree(d);
    free(d);
}

/* Bytes of the folded export's stacks that pass through a frame: name is ";function", followed in the line by ';',
 * '.' (outer_a.constprop.0) or ' ' (the leaf). */
static uint64_t folded_bytes_through(const char *folded, const char *name)
{
    uint64_t sum = 0;
    for (const char *l = folded; *l;) {
        const char *nl = strchr(l, '\n'), *end = nl ? nl : l + strlen(l), *f = strstr(l, name);
        if (f && f < end && strchr(";. ", f[strlen(name)])) {
            const char *sp = end;
            while (sp > l && sp[-1] != ' ')
                sp--;
            sum += strtoull(sp, NULL, 10);
        }
        l = nl ? nl + 1 : end;
    }
    return sum;
}

/* The walker's memo: the same return address and stack pointer at each malloc, the paths two frames up taken in turn
 * (a a b): a repeated walk is reused, a changed one is not. */
Test(stacks, a_repeated_walk_is_reused_and_a_changed_one_is_not)
{
    char *d = tq_tmpdir(), args[4200], cmd[8400], *out = NULL;
    snprintf(args, sizeof args, "%s 3000", tq_build_path("progs/memo_paths"));
    cr_assert_eq(shim_record_opts(d, "--stacks", args, NULL), 0);
    char *t = shim_one_trace(d, "memo_paths", 0);
    snprintf(cmd, sizeof cmd, "%s export --format folded --by allocated %s", tq_build_path("traceq"), t);
    cr_assert_eq(tq_run(cmd, &out, NULL), 0);
    cr_expect_eq(folded_bytes_through(out, ";outer_a"), 3000 * 2 * 100, "%s", out);
    cr_expect_eq(folded_bytes_through(out, ";outer_b"), 3000 * 1000, "%s", out);
    cr_expect_eq(folded_bytes_through(out, ";shared_alloc"), 3000 * (2 * 100 + 1000), "%s", out);
    free(out);
    free(t);
    tq_rmtree(d);
    free(d);
}

/* A C++ program: sites and callers are shown demangled, in report --top and in the folded export. */
Test(stacks, cpp_names_are_demangled)
{
    char *d = tq_tmpdir(), args[4200], cmd[8400], *out = NULL;
    snprintf(args, sizeof args, "%s 5", tq_build_path("progs/cxx_alloc"));
    cr_assert_eq(shim_record_opts(d, "--stacks", args, NULL), 0);
    char *t = shim_one_trace(d, "cxx_alloc", 0);
    snprintf(cmd, sizeof cmd, "%s report --top 2 %s", tq_build_path("traceq"), t);
    cr_assert_eq(tq_run(cmd, &out, NULL), 0);
    const char *sec = strstr(out, "sites by heap held at the peak");
    cr_assert_not_null(sec, "%s", out);
    const char *nl = strchr(sec, '\n');
    cr_assert_not_null(nl);
    const char *row = "      5.00 MiB  Widget* pool::grab<Widget>(unsigned long) (cxx_alloc.cc:";
    cr_expect(!strncmp(nl + 1, row, strlen(row)), "first row: %.160s", nl + 1);
    cr_expect_not_null(strstr(out, "from pool::arena<Widget>::fill(int) < main"), "%s", out);
    cr_expect_not_null(strstr(out, "operator new"), "new[]'s site, demangled: %s", out);
    cr_expect_not_null(strstr(out, "from pool::arena<Widget>::spill(int) < main"), "%s", out);
    cr_expect_null(strstr(out, "_ZN"), "no mangled name is left: %s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s export --format folded %s", tq_build_path("traceq"), t);
    cr_assert_eq(tq_run(cmd, &out, NULL), 0);
    cr_expect_not_null(strstr(out, ";main;pool::arena<Widget>::fill(int);Widget* pool::grab<Widget>(unsigned long) "),
                       "%s", out);
    free(out);
    free(t);
    tq_rmtree(d);
    free(d);
}
