/* test_shim_footprint.c - what the shim brings into every profiled process: zstd's compressor is linked into
 * libtraceq.so (no libzstd.so mapped beside it, only the code the writer touches resident), and none of its symbols
 * is exported, so a program with its own libzstd still calls its own. */
#include "shim_util.h"

/* The shim's mappings, as the traced program itself sees them (cat reads its own /proc/self/maps). */
Test(shim_footprint, a_traced_process_maps_no_libzstd)
{
    char *d = tq_tmpdir(), *out = NULL;
    for (int stacks = 0; stacks < 2; stacks++) {
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/t%d", d, stacks);
        int st = shim_record_opts(dir, stacks ? "--stacks" : "", "cat /proc/self/maps", &out);
        cr_assert_eq(st, 0, "traceq record -- cat /proc/self/maps: status %d", st);
        cr_expect(strstr(out, "libtraceq.so") != NULL, "the shim is not mapped in the traced cat:\n%s", out);
        cr_expect(strstr(out, "libzstd") == NULL, "a traced process maps libzstd beside the shim:\n%s", out);
        cr_expect_eq(shim_count(dir), 1, "cat's trace was not written");
        free(out);
        out = NULL;
    }
    tq_rmtree(d);
    free(d);
}

/* The static zstd inside the shim must not interpose on a program's own libzstd (LD_PRELOAD puts the shim's exported
 * symbols first): only the malloc family and the other hooks are exported. */
Test(shim_footprint, the_shim_exports_no_zstd_symbols)
{
    char *out = NULL, cmd[4300];
    snprintf(cmd, sizeof cmd, "nm -D --defined-only %s", tq_build_path("libtraceq.so"));
    cr_assert_eq(tq_run(cmd, &out, NULL), 0, "%s failed", cmd);
    cr_expect(strstr(out, " malloc\n") != NULL, "nm -D shows no malloc in the shim:\n%s", out);
    const char *prefixes[] = {" ZSTD_", " ZSTDMT_", " HUF_", " FSE_", " HIST_", " XXH", " POOL_", " ERR_"};
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++)
        cr_expect(strstr(out, prefixes[i]) == NULL, "libtraceq.so exports%s... symbols:\n%s", prefixes[i], out);
    free(out);
}

/* A program linked with libzstd.so (traceq itself: `traceq report` decompresses a trace) reads the same under the
 * shim as without it. */
Test(shim_footprint, a_program_with_its_own_libzstd_is_unchanged)
{
    char *d = tq_tmpdir(), *bare = NULL, *shim = NULL, dir[4200], args[8600];
    snprintf(dir, sizeof dir, "%s/first", d);
    cr_assert_eq(shim_record_opts(dir, "--stacks", "sort /etc/passwd", NULL), 0);
    char *trace = shim_one_trace(dir, "sort", 0);
    snprintf(args, sizeof args, "%s report --json %s", tq_build_path("traceq"), trace);
    cr_assert_eq(tq_run(args, &bare, NULL), 0, "%s failed", args);
    snprintf(dir, sizeof dir, "%s/second", d);
    cr_assert_eq(shim_record_opts(dir, "", args, &shim), 0, "traceq report under the shim failed");
    cr_expect_str_eq(shim, bare, "traceq report printed otherwise under the shim");
    cr_expect_eq(shim_count(dir), 1, "the traced report's trace was not written");
    free(bare);
    free(shim);
    free(trace);
    tq_rmtree(d);
    free(d);
}
