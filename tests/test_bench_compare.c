/* test_bench_compare.c - tools/bench_compare.py, the parsing and comparing `make bench` does on heaptrack_print,
 * massif and traceq output, on fixed inputs with known answers (no timing here). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

static char *dir;

static void setup(void) { dir = tq_tmpdir(); }
static void teardown(void)
{
    tq_rmtree(dir);
    free(dir);
}

TestSuite(bench_compare, .init = setup, .fini = teardown);

/* Write `text` to DIR/name; returns the path (static buffer per slot, 4 slots). */
static const char *fixture(const char *name, const char *text)
{
    static char paths[4][512];
    static int slot;
    char *p = paths[slot++ % 4];
    snprintf(p, 512, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

/* Run bench_compare.py with ARGS; its stdout into *out; returns the exit status. */
static int compare(char **out, const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s %s", tq_python(), tq_src_path("tools/bench_compare.py"), args);
    return tq_run(cmd, out, NULL);
}

static const char *leaks_json(const char *bytes_a, const char *bytes_b)
{
    static char text[1024];
    snprintf(text, sizeof text,
             "{\"traces\": [{\"leaks\": {\"leaked_bytes\": %d, \"leaked_blocks\": 16, \"sites\": ["
             "{\"site\": \"operator new(unsigned long)\", \"callers\": \"leak_int() < main < _start\", "
             "\"leaked_bytes\": %s, \"leaked_blocks\": 15},"
             "{\"site\": \"_IO_file_doallocate (filedoalloc.c:101)\", \"callers\": \"_IO_doallocbuf < x\", "
             "\"leaked_bytes\": %s, \"leaked_blocks\": 1}]}}]}\n",
             atoi(bytes_a) + atoi(bytes_b), bytes_a, bytes_b);
    return text;
}

static const char *ht_folded = "main (a.c);leak_int (a.c); 40\n"
                               "main (a.c);several_paths (a.c);leak_int (a.c); 20\n"
                               "main (a.c);owns_int::owns_int() (a.c); 0\n"
                               "main (a.c);__printf (printf.c);__GI__IO_file_doallocate (filedoalloc.c); 4096\n";

Test(bench_compare, leaks_match_by_innermost_function)
{
    char a[512], b[512], args[1100], *out = NULL;
    snprintf(a, sizeof a, "%s", fixture("ht.folded", ht_folded));
    snprintf(b, sizeof b, "%s", fixture("tq.json", leaks_json("60", "4096")));
    snprintf(args, sizeof args, "leaks %s %s", a, b);
    cr_assert_eq(compare(&out, args), 0, "%s", out);
    cr_expect(strstr(out, "leak_int") && strstr(out, "_IO_file_doallocate"), "%s", out);
    cr_expect_not_null(strstr(out, "4156         4156"), "%s", out);
    free(out);
}

Test(bench_compare, leaks_differing_bytes_exit_1)
{
    char a[512], b[512], args[1100], *out = NULL;
    snprintf(a, sizeof a, "%s", fixture("ht.folded", ht_folded));
    snprintf(b, sizeof b, "%s", fixture("tq.json", leaks_json("64", "4096")));
    snprintf(args, sizeof args, "leaks %s %s", a, b);
    cr_assert_eq(compare(&out, args), 1, "%s", out);
    cr_expect_not_null(strstr(out, "NO"), "%s", out);
    free(out);
}

Test(bench_compare, heaptrack_print_units_are_powers_of_1000)
{
    char args[600], *out = NULL;
    snprintf(args, sizeof args, "ht-peak %s",
             fixture("ht.txt", "calls to allocation functions: 404499 (54662/s)\n"
                               "peak heap memory consumption: 39.82M\n"
                               "peak RSS (including heaptrack overhead): 51.10M\n"
                               "total memory leaked: 17.24M\n"));
    cr_assert_eq(compare(&out, args), 0);
    cr_expect_str_eq(out, "39820000 51100000\n");
    free(out);
    snprintf(args, sizeof args, "ht-leaks %s",
             fixture("ht2.txt", "total memory leaked: 0B\nsuppressed leaks: 52B\n"));
    cr_assert_eq(compare(&out, args), 0);
    cr_expect_str_eq(out, "0 52\n");
    free(out);
}

Test(bench_compare, massif_peak_is_the_largest_snapshot)
{
    char args[600], *out = NULL;
    snprintf(args, sizeof args, "massif-peak %s",
             fixture("massif.out", "snapshot=0\nmem_heap_B=100\nmem_heap_extra_B=8\nmem_stacks_B=0\n"
                                   "snapshot=1\nmem_heap_B=5000\nmem_heap_extra_B=40\nmem_stacks_B=0\n"
                                   "snapshot=2\nmem_heap_B=300\nmem_heap_extra_B=16\nmem_stacks_B=0\n"));
    cr_assert_eq(compare(&out, args), 0);
    cr_expect_str_eq(out, "5040 5000\n");
    free(out);
}

static const char *top_json(long a, long b)
{
    static char text[2][512];
    static int slot;
    char *t = text[slot++ % 2];
    snprintf(t, 512,
             "{\"traces\": [{\"top\": {\"allocated\": ["
             "{\"site\": \"site_a (s.c:1)\", \"allocated_bytes\": %ld, \"allocated_bytes_err\": 1000000.0},"
             "{\"site\": \"site_b (s.c:2)\", \"allocated_bytes\": %ld, \"allocated_bytes_err\": 1000000.0}],"
             "\"peak\": [{\"site\": \"ones (numeric.py:205)\", \"peak_bytes\": 33554432, "
             "\"callers\": \"big_work (numpy_work.py:20) < main (numpy_work.py:26)\"}]}}]}\n",
             a, b);
    return t;
}

Test(bench_compare, sampled_sites_within_5_percent)
{
    char a[512], b[512], args[1100], *out = NULL;
    snprintf(a, sizeof a, "%s", fixture("exact.json", top_json(100000000, 50000000)));
    snprintf(b, sizeof b, "%s", fixture("sampled.json", top_json(104000000, 48000000)));
    snprintf(args, sizeof args, "sites %s %s", a, b);
    cr_assert_eq(compare(&out, args), 0, "%s", out);
    cr_expect_not_null(strstr(out, "worst difference 4.00%"), "%s", out);
    free(out);
    snprintf(b, sizeof b, "%s", fixture("sampled.json", top_json(100000000, 47000000)));
    snprintf(args, sizeof args, "sites %s %s", a, b);
    cr_assert_eq(compare(&out, args), 1, "%s", out);
    cr_expect_not_null(strstr(out, "NOT met"), "%s", out);
    free(out);
}

Test(bench_compare, top1_gives_site_bytes_and_callers)
{
    char args[600], *out = NULL;
    snprintf(args, sizeof args, "top1 %s", fixture("top.json", top_json(1, 1)));
    cr_assert_eq(compare(&out, args), 0);
    cr_expect_str_eq(out, "ones (numeric.py:205)\t33554432\tbig_work (numpy_work.py:20) < main (numpy_work.py:26)\n");
    free(out);
}

Test(bench_compare, bad_input_exit_2)
{
    char args[600], *out = NULL;
    cr_expect_eq(compare(&out, "no-such-command x"), 2);
    free(out);
    snprintf(args, sizeof args, "ht-peak %s/missing.txt", dir);
    cr_expect_eq(compare(&out, args), 2);
    free(out);
    snprintf(args, sizeof args, "sites %s %s", fixture("bad.json", "{not json"), fixture("bad2.json", "[]"));
    cr_expect_eq(compare(&out, args), 2);
    free(out);
}
