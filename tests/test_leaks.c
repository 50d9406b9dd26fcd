/* test_leaks.c - report --leaks and --temporary on a program with known answers (tests/progs/leaks_temps.c), a
 * killed program whose trace ends without exit, --aggregate traces refused, diff comparing both; no false leaks
 * of blocks passed between threads (records read out of the order of their events). */
#include <jansson.h>

#include "../traces/writer.h"
#include "shim_util.h"
#include "site_json.h"

/* Record leaks_temps (ARG: "" or "kill") with --stacks into a new directory; returns its one trace's path. */
static char *record_leaks(const char *arg, char **dir)
{
    char args[4200];
    *dir = tq_tmpdir();
    snprintf(args, sizeof args, "%s %s", tq_build_path("progs/leaks_temps"), arg);
    shim_record_opts(*dir, "--stacks", args, NULL);
    return shim_one_trace(*dir, "leaks_temps", 0);
}

static json_t *report_json(const char *trace, const char *opts)
{
    char cmd[8400], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s report --json %s %s", tq_build_path("traceq"), opts, trace);
    cr_assert_eq(tq_run(cmd, &out, NULL), 0, "%s", cmd);
    json_error_t je;
    json_t *root = json_loads(out, 0, &je);
    cr_assert_not_null(root, "%s: %s", je.text, out);
    free(out);
    return root;
}

static long long field(json_t *row, const char *key)
{
    return (long long)json_integer_value(json_object_get(row, key));
}

Test(leaks, known_leaks_and_temporaries)
{
    char *dir, *t = record_leaks("", &dir);
    json_t *root = report_json(t, "--leaks --temporary");
    json_t *one = json_array_get(json_object_get(root, "traces"), 0);
    json_t *leaks = json_object_get(one, "leaks"), *temps = json_object_get(one, "temporary");
    cr_assert_not_null(leaks);
    cr_assert_not_null(temps);
    cr_expect(json_is_true(json_object_get(leaks, "trace_ended")));
    json_t *ls = json_object_get(leaks, "sites");
    json_t *small = site_row(ls, "leak_small"), *big = site_row(ls, "leak_big");
    cr_assert_not_null(small, "leak_small missing");
    cr_assert_not_null(big, "leak_big missing");
    cr_expect_eq(field(small, "leaked_bytes"), 10000);
    cr_expect_eq(field(small, "leaked_blocks"), 10);
    cr_expect_eq(field(big, "leaked_bytes"), 1 << 20);
    cr_expect_eq(field(big, "leaked_blocks"), 1);
    cr_expect_null(site_row(ls, "freed_later"), "freed_later frees everything");
    cr_expect_null(site_row(ls, "temp_site"));
    /* the program's own sites are all the leaks there are (glibc may keep a few blocks of its own) */
    cr_expect_geq(field(leaks, "leaked_bytes"), 10000 + (1 << 20));
    json_t *ts = json_object_get(temps, "sites"), *tmp = site_row(ts, "temp_site");
    cr_assert_not_null(tmp, "temp_site missing");
    cr_expect_eq(field(tmp, "temporary_calls"), 100);
    cr_expect_eq(field(tmp, "temporary_bytes"), 6400);
    cr_expect_null(site_row(ts, "interleaved"), "another allocation came between: not temporary");
    cr_expect_null(site_row(ts, "freed_later"), "freed in allocation order: only the last could be, and is not");
    json_decref(root);

    char cmd[8400], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s report --leaks --temporary --top 3 %s", tq_build_path("traceq"), t);
    cr_assert_eq(tq_run(cmd, &out, NULL), 0);
    cr_expect_not_null(strstr(out, "leaks (never freed before exit): "), "%s", out);
    cr_expect_not_null(strstr(out, "1.00 MiB in 1 block  leak_big (leaks_temps.c:"), "%s", out);
    cr_expect_not_null(strstr(out, "100 of 100 calls (6.25 KiB)  temp_site (leaks_temps.c:"), "%s", out);
    free(out);
    free(t);
    tq_rmtree(dir);
    free(dir);
}

Test(leaks, killed_trace_says_live_at_the_end)
{
    char *dir, *t = record_leaks("kill", &dir);
    json_t *root = report_json(t, "--leaks");
    json_t *leaks = json_object_get(json_array_get(json_object_get(root, "traces"), 0), "leaks");
    cr_expect(json_is_false(json_object_get(leaks, "trace_ended")));
    cr_expect_not_null(site_row(json_object_get(leaks, "sites"), "leak_big"));
    json_decref(root);
    char cmd[8400], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s report --leaks %s", tq_build_path("traceq"), t);
    cr_assert_eq(tq_run(cmd, &out, NULL), 0);
    cr_expect_not_null(strstr(out, "live when the trace ends (no exit record: killed?)"), "%s", out);
    free(out);
    free(t);
    tq_rmtree(dir);
    free(dir);
}

Test(leaks, aggregate_and_plain_traces_are_refused)
{
    char *dir = tq_tmpdir(), args[4200], cmd[8400], *err = NULL;
    snprintf(args, sizeof args, "%s", tq_build_path("progs/leaks_temps"));
    shim_record_opts(dir, "--aggregate", args, NULL);
    char *t = shim_one_trace(dir, "leaks_temps", 0);
    snprintf(cmd, sizeof cmd, "%s report --leaks %s", tq_build_path("traceq"), t);
    cr_expect_eq(tq_run(cmd, NULL, &err), 2);
    cr_expect_not_null(strstr(err, "--aggregate"), "%s", err);
    free(err);
    free(t);
    tq_rmtree(dir);
    shim_record_opts(dir, "", args, NULL); /* no stacks at all */
    t = shim_one_trace(dir, "leaks_temps", 0);
    snprintf(cmd, sizeof cmd, "%s report --temporary %s", tq_build_path("traceq"), t);
    cr_expect_eq(tq_run(cmd, NULL, &err), 2);
    cr_expect_not_null(strstr(err, "--stacks"), "%s", err);
    free(err);
    free(t);
    tq_rmtree(dir);
    free(dir);
}

Test(leaks, diff_compares_leaks)
{
    char *da, *db, *ta = record_leaks("", &da), *tb = record_leaks("kill", &db), cmd[8400], *out = NULL;
    /* same program; B is killed before exit: same leaks. By leaked: nothing changed at the program's sites */
    snprintf(cmd, sizeof cmd, "%s diff --by leaked %s %s", tq_build_path("traceq"), ta, tb);
    cr_assert_eq(tq_run(cmd, &out, NULL), 0);
    cr_expect_not_null(strstr(out, "leaked "), "%s", out);
    cr_expect_not_null(strstr(out, "temporary allocations"), "%s", out);
    cr_expect_null(strstr(out, "leak_big ("), "unchanged: %s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s diff --by bogus %s %s", tq_build_path("traceq"), ta, tb);
    cr_expect_eq(tq_run(cmd, NULL, NULL), 2);
    free(ta);
    free(tb);
    tq_rmtree(da);
    tq_rmtree(db);
    free(da);
    free(db);
}

/* A static object's destructor frees its block after main returns: the trace ends after it (END comes from the
 * shim's destructor), so that block is not a leak, and END still carries exit()'s status. */
Test(leaks, static_destructor_free_is_not_a_leak, .timeout = 60)
{
    char *dir = tq_tmpdir();
    cr_assert_eq(shim_record_opts(dir, "--stacks", tq_build_path("progs/static_dtor"), NULL), 3);
    char *t = shim_one_trace(dir, "static_dtor", 0);
    json_t *root = report_json(t, "--leaks");
    json_t *one = json_array_get(json_object_get(root, "traces"), 0);
    json_t *leaks = json_object_get(one, "leaks"), *ls = json_object_get(leaks, "sites");
    cr_expect(json_is_true(json_object_get(leaks, "trace_ended")));
    cr_expect_eq(json_integer_value(json_object_get(one, "exit_status")), 3);
    /* held_block's 5000 B (inlined into the static constructor, _GLOBAL__sub_I_main) are freed by the destructor:
     * main's 3000 B are all there is */
    size_t i;
    json_t *row;
    json_array_foreach(ls, i, row)
    {
        cr_expect_neq(field(row, "leaked_bytes"), 5000, "freed by the static destructor: %s",
                      json_string_value(json_object_get(row, "site")));
    }
    cr_expect_eq(field(leaks, "leaked_bytes"), 3000);
    json_t *main_leak = site_row(ls, "leak_in_main()") ? site_row(ls, "leak_in_main()") : site_row(ls, "leak_in_main");
    cr_assert_not_null(main_leak, "leak_in_main missing");
    cr_expect_eq(field(main_leak, "leaked_bytes"), 3000);
    json_decref(root);
    free(t);
    tq_rmtree(dir);
    free(dir);
}

/* Blocks that report --leaks says were never freed in the trace at path, and how many of them come from the sites
 * named in passed[0..npassed) (functions of the program whose blocks are all freed). */
static long long leaked_blocks(const char *path, const char *const *passed, int npassed, long long *of_passed)
{
    json_t *root = report_json(path, "--leaks");
    json_t *one = json_array_get(json_object_get(root, "traces"), 0);
    json_t *leaks = json_object_get(one, "leaks");
    long long n = field(leaks, "leaked_blocks");
    *of_passed = 0;
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(leaks, "sites"), i, row)
    {
        const char *site = json_string_value(json_object_get(row, "site"));
        for (int k = 0; k < npassed; k++)
            if (site && strstr(site, passed[k]))
                *of_passed += field(row, "leaked_blocks");
    }
    json_decref(root);
    return n;
}

/* Eight threads pass blocks to each other through a queue and free them all (tests/progs/pass_around.c), their
 * buffers flushed every millisecond: frees reach the trace before their allocations, and an address is handed out
 * again in between. The replay puts the threads' records back into the process-wide order of their events
 * (traces/event_order.h), so no block of the program is left live: the only blocks never freed are glibc's thread
 * vectors (allocate_dtv, kept with the threads' cached stacks: at most one per thread). The matching without that
 * order (main before it) left 31-1150 blocks live in every such trace; three recordings here. */
Test(leaks, no_false_leaks_of_blocks_passed_between_threads, .timeout = 300)
{
    static const char *const passed[] = {"produce", "local_pair", "worker"};
    char args[4200];
    snprintf(args, sizeof args, "%s 8 20000", tq_build_path("progs/pass_around"));
    for (int round = 0; round < 3; round++) {
        char *dir = tq_tmpdir();
        cr_assert_eq(shim_record_opts(dir, "--stacks --flush-ms 1", args, NULL), 0);
        char *t = shim_one_trace(dir, "pass_around", 0);
        long long of_passed, n = leaked_blocks(t, passed, 3, &of_passed);
        cr_log_info("pass_around 8 x 20000: %lld blocks never freed, %lld of them passed around", n, of_passed);
        cr_expect_eq(of_passed, 0, "round %d: %lld false leaks of the program's blocks (%lld in all)", round,
                     of_passed, n);
        cr_expect_leq(n, 8, "round %d: %lld blocks never freed", round, n);
        free(t);
        tq_rmtree(dir);
        free(dir);
    }
}

#define EV_ALLOC(s) {.kind = TQ_CALL_MALLOC, .t_ns = 10 + (s), .addr = 0xA000, .size = 16 * ((s) + 1), .stack_id = 1, .seq = (s)}
#define EV_FREE(s) {.kind = TQ_CALL_FREE, .t_ns = 10 + (s), .addr = 0xA000, .seq = (s)}

/* One address handed out four times, by two threads, in the order of the events: thread 2 allocates it (0) and
 * frees it (1), allocates it (2), thread 1 frees it (3), thread 2 allocates it (4), thread 1 frees it (5) and
 * allocates it (6), thread 2 frees it (7). Records in the file: thread 1's [3], thread 2's [0 1], thread 2's [2 4 7],
 * thread 1's [5], thread 1's [6]: thread 1's frees of orders 3 and 5 are read before or after the allocations they
 * end, and thread 2's free of order 7 before the allocation of order 6 in thread 1's record read last. Every block
 * is freed: report --leaks finds none (the matching of records in file order left one live; found by a search over
 * such interleavings). */
Test(leaks, a_free_read_after_the_address_was_handed_out_again_ends_its_own_block)
{
    char *dir = tq_tmpdir(), path[4200];
    snprintf(path, sizeof path, "%s/handed.tq", dir);
    struct tq_trace_writer w;
    tq_fixture_trace_open(path, &w);
    static uint8_t rec[4096];
    struct tq_rec_process p = {.pid = 4343, .ppid = 1, .interval_us = 10000, .page_size = 4096,
                               .flags = TQ_PROC_STACKS};
    char *argv[] = {"handed"};
    tq_fixture_put(&w, rec, tq_rec_put_process(rec, sizeof rec, &p, "/bin/handed", 1, argv));
    uint64_t ips[2] = {0x401000, 0x402000};
    tq_fixture_put(&w, rec, tq_rec_put_stack(rec, sizeof rec, 1, ips, 2));
    static const struct tq_event t1a[] = {EV_FREE(3)}, t2a[] = {EV_ALLOC(0), EV_FREE(1)},
                                 t2b[] = {EV_ALLOC(2), EV_ALLOC(4), EV_FREE(7)}, t1b[] = {EV_FREE(5)},
                                 t1c[] = {EV_ALLOC(6)};
    tq_fixture_put(&w, rec, tq_rec_put_addr_events(rec, sizeof rec, 1, t1a, 1));
    tq_fixture_put(&w, rec, tq_rec_put_addr_events(rec, sizeof rec, 2, t2a, 2));
    tq_fixture_put(&w, rec, tq_rec_put_addr_events(rec, sizeof rec, 2, t2b, 3));
    tq_fixture_put(&w, rec, tq_rec_put_addr_events(rec, sizeof rec, 1, t1b, 1));
    tq_fixture_put(&w, rec, tq_rec_put_addr_events(rec, sizeof rec, 1, t1c, 1));
    struct tq_rec_end e = {.t_ns = 30, .reason = TQ_END_EXIT};
    tq_fixture_put(&w, rec, tq_rec_put_end(rec, sizeof rec, &e));
    cr_assert_eq(tq_writer_close(&w), 0);
    json_t *root = report_json(path, "--leaks");
    json_t *one = json_array_get(json_object_get(root, "traces"), 0);
    json_t *leaks = json_object_get(one, "leaks");
    cr_expect_eq(field(leaks, "leaked_blocks"), 0, "%lld blocks (%lld B) never freed",
                 field(leaks, "leaked_blocks"), field(leaks, "leaked_bytes"));
    cr_expect_eq(field(leaks, "leaked_bytes"), 0);
    json_decref(root);
    tq_rmtree(dir);
    free(dir);
}
