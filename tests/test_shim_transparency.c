/* test_shim_transparency.c - unmodified programs under the shim: byte-identical stdout, same exit status. */
#include "shim_util.h"

/* Run shell text `cmd` bare and under `traceq record`; stdout of both must match byte for byte, and the status. */
static void same_with_and_without(const char *d, const char *cmd, int want_status)
{
    char bare[4200], shim[4200], traces[4200], line[16800];
    snprintf(bare, sizeof bare, "%s/bare.out", d);
    snprintf(shim, sizeof shim, "%s/shim.out", d);
    snprintf(traces, sizeof traces, "%s/traces", d);
    snprintf(line, sizeof line, "%s > %s", cmd, bare);
    int st_bare = tq_runf("%s", line);
    snprintf(line, sizeof line, "%s record -q -o %s -- %s > %s", tq_build_path("traceq"), traces, cmd, shim);
    int st_shim = tq_runf("%s", line);
    cr_expect_eq(st_bare, want_status, "%s: bare status %d", cmd, st_bare);
    cr_expect_eq(st_shim, st_bare, "%s: status %d under the shim, %d without", cmd, st_shim, st_bare);
    size_t nb, ns;
    char *b = tq_slurp(bare, &nb), *s = tq_slurp(shim, &ns);
    cr_assert(b && s);
    if (want_status == 0)
        cr_expect_gt(nb, 0, "%s printed nothing", cmd);
    cr_expect(nb == ns && memcmp(b, s, nb) == 0, "%s: stdout differs under the shim (%zu vs %zu bytes)", cmd, ns, nb);
    cr_expect_geq(shim_count(traces), 1, "%s: no trace written", cmd);
    free(b);
    free(s);
}

Test(shim_transparency, sort_and_gzip)
{
    char *d = tq_tmpdir(), cmd[8400];
    cr_assert_eq(tq_runf("awk 'BEGIN{for(i=0;i<200000;i++) printf \"%%d line %%x\\n\", (i*7919)%%100003, i}' > %s/in.txt",
                         d), 0);
    snprintf(cmd, sizeof cmd, "sort %s/in.txt", d);
    same_with_and_without(d, cmd, 0);
    snprintf(cmd, sizeof cmd, "gzip -c %s/in.txt", d);
    same_with_and_without(d, cmd, 0);
    snprintf(cmd, sizeof cmd, "sort --no-such-flag %s/in.txt", d); /* a failing status passes through too */
    same_with_and_without(d, cmd, 2);
    tq_rmtree(d);
    free(d);
}

Test(shim_transparency, python_allocating)
{
    char *d = tq_tmpdir(), cmd[8400];
    snprintf(cmd, sizeof cmd,
             "%s -c 'import sys, hashlib\n"
             "d = {i: bytes(i %% 977) * 3 for i in range(60000)}\n"
             "l = sorted((v[:5], k) for k, v in d.items())\n"
             "print(len(d), sum(len(v) for v in d.values()), hashlib.sha256(repr(l).encode()).hexdigest())\n"
             "sys.exit(3)'",
             tq_python());
    same_with_and_without(d, cmd, 3);
    tq_rmtree(d);
    free(d);
}

Test(shim_transparency, sqlite3_script)
{
    char *d = tq_tmpdir(), cmd[8400];
    if (tq_runf("command -v sqlite3 >/dev/null") != 0)
        cr_skip_test("sqlite3 is not installed (make deps installs it)");
    char script[4200];
    snprintf(script, sizeof script, "%s/q.sql", d);
    FILE *f = fopen(script, "w");
    fputs("CREATE TABLE t(a INTEGER, b TEXT);\n"
          "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 20000)\n"
          "  INSERT INTO t SELECT x, printf('%08d', x*37 % 10007) FROM c;\n"
          "CREATE INDEX ib ON t(b);\n"
          "SELECT count(*), sum(a), min(b), max(b) FROM t;\n"
          "SELECT b, count(*) FROM t GROUP BY b ORDER BY 2 DESC, 1 LIMIT 5;\n",
          f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "sqlite3 :memory: < %s", script);
    same_with_and_without(d, cmd, 0);
    tq_rmtree(d);
    free(d);
}

/* glibc's mmap threshold is the program's: the shim never frees an mmapped chunk of its own above it (its layout
 * check at start used to, and a fork child's writer freed its parent's 256 KiB buffers), which made glibc raise the
 * threshold and its trim threshold and changed the program's heap growth (git log -p: 909 brk calls -> 14). */
Test(shim_transparency, heap_growth_as_bare)
{
    char *d = tq_tmpdir(), cmd[8400];
    char *bare = NULL;
    cr_assert_eq(tq_run(tq_build_path("progs/heap_growth"), &bare, NULL), 0);
    if (strcmp(bare, "start mmap\nchild mmap\nlater mmap\n") != 0)
        cr_skip_test("glibc serves 160 KiB from the heap here (a tuned mmap threshold?): %s", bare);
    const char *modes[] = {"", "--stacks", "--stacks --aggregate"};
    for (unsigned i = 0; i < sizeof modes / sizeof *modes; i++) {
        char *shim = NULL;
        snprintf(cmd, sizeof cmd, "--flush-ms 20 %s", modes[i]);
        cr_assert_eq(shim_record_opts(d, cmd, tq_build_path("progs/heap_growth"), &shim), 0, "%s", modes[i]);
        cr_expect_str_eq(shim, bare, "record %s: glibc's mmap threshold moved", modes[i]);
        cr_expect_eq(shim_count(d), 2 * (i + 1), "record %s: the parent's and the child's traces", modes[i]);
        free(shim);
    }
    free(bare);
    tq_rmtree(d);
    free(d);
}
