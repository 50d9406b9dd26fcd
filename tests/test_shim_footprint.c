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

/* Programs linked with libzstd.so (binutils: objcopy compresses debug sections with zstd, readelf decompresses them)
 * give the same bytes under the shim as without it. */
Test(shim_footprint, a_program_with_its_own_libzstd_is_unchanged)
{
    if (tq_runf("objcopy --help | grep -q zstd && ldd \"$(command -v readelf)\" | grep -q libzstd") != 0)
        cr_skip_test("this binutils does not use libzstd");
    char *d = tq_tmpdir(), *bare = NULL, *shim = NULL, cmd[8600];
    tq_write_file(d, "z.c", "int f(int x) { return x * 3; }\nint main(void) { return f(1); }\n", 0644);
    cr_assert_eq(tq_runf("cd %s && cc -g -c z.c -o z.o && objcopy --compress-debug-sections=zstd z.o bare.o", d), 0);
    snprintf(cmd, sizeof cmd, "%s record -q -o %s/t1 -- objcopy --compress-debug-sections=zstd %s/z.o %s/shim.o",
             tq_build_path("traceq"), d, d, d);
    cr_assert_eq(tq_run(cmd, NULL, NULL), 0, "%s failed", cmd);
    cr_expect(tq_same_file_in(d, "bare.o", "shim.o"), "objcopy compressed otherwise under the shim");
    snprintf(cmd, sizeof cmd, "readelf --debug-dump=info %s/bare.o", d);
    cr_assert_eq(tq_run(cmd, &bare, NULL), 0, "%s failed", cmd);
    cr_expect(strstr(bare, "DW_TAG_subprogram") != NULL, "readelf decompressed nothing:\n%s", bare);
    snprintf(cmd, sizeof cmd, "%s record -q -o %s/t2 -- readelf --debug-dump=info %s/bare.o", tq_build_path("traceq"),
             d, d);
    cr_assert_eq(tq_run(cmd, &shim, NULL), 0, "%s failed", cmd);
    cr_expect_str_eq(shim, bare, "readelf printed otherwise under the shim");
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/t2", d);
    cr_expect_eq(shim_count(dir), 1, "readelf's trace was not written");
    free(bare);
    free(shim);
    tq_rmtree(d);
    free(d);
}
