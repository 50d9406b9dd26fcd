/* test_aggregate_mem.c - record --aggregate's in-process tables (per-stack totals, the table by block id, the block
 * matcher's) are the profiler's own memory: the report's program peak RSS under --aggregate is the program's, as
 * without it. */
#include "shim_util.h"

/* The summary of `many_blocks N SIZE` recorded with opts. */
static void summary_of(const char *opts, long n, long size, struct tq_trace_summary *s)
{
    char *d = tq_tmpdir(), args[4200];
    snprintf(args, sizeof args, "%s %ld %ld", tq_build_path("progs/many_blocks"), n, size);
    char *out = NULL;
    int st = shim_record_opts(d, opts, args, &out);
    cr_assert_eq(st, 0, "record %s %s: status %d: %s", opts, args, st, out ? out : "");
    free(out);
    shim_summary(d, "many_blocks", 0, s);
    tq_rmtree(d);
    free(d);
}

/* 600,000 live blocks of 40 B (~30 MiB of heap): --aggregate holds ~39 MiB of tables for them (block ids, the
 * matcher's tables and id pools). Counted at their mapped size, the doubling tables overstated the profiler's share
 * by ~10 MiB and the program's peak came out 33.6 MiB instead of 44.3 MiB; counted by their resident pages, the
 * program's peak is within 1 MiB of the run without --aggregate. */
Test(aggregate_mem, the_aggregate_tables_are_the_profilers_not_the_programs)
{
    struct tq_trace_summary plain, agg;
    summary_of("", 600000, 40, &plain);
    summary_of("--aggregate", 600000, 40, &agg);
    cr_assert_gt(agg.shim_at_peak_rss, plain.shim_at_peak_rss + (16u << 20), "own %llu with --aggregate, %llu without",
                 (unsigned long long)agg.shim_at_peak_rss, (unsigned long long)plain.shim_at_peak_rss);
    uint64_t prog_plain = plain.peak_rss - plain.shim_at_peak_rss;
    uint64_t prog_agg = agg.peak_rss - agg.shim_at_peak_rss;
    cr_assert_geq(prog_plain, 600000u * 40);
    uint64_t diff = prog_agg > prog_plain ? prog_agg - prog_plain : prog_plain - prog_agg;
    cr_expect_lt(diff, 1u << 20, "program's peak %llu KiB with --aggregate, %llu KiB without (profiler's own %llu KiB)",
                 (unsigned long long)prog_agg >> 10, (unsigned long long)prog_plain >> 10,
                 (unsigned long long)agg.shim_at_peak_rss >> 10);
    tq_trace_summary_clear(&plain);
    tq_trace_summary_clear(&agg);
}
