/* test_transparency.c - ordinary programs behave byte for byte the same under the shim: stdout, stderr and exit
 * code, each run in its own fresh directory with the same inputs. Programs the shim cannot reach (static, LD_PRELOAD
 * scrubbed) are named by `traceq record` instead of being silently missed. */
#include <sys/stat.h>

#include "rel_util.h"

/* Inputs every command sees, made without the shim. */
static const char setup[] =
    "seq 1 20000 | awk '{print ($1*7919)%10007, \"line\", $1}' > data.txt && seq 1 1000 > a.txt && "
    "seq 1 2 1000 > b.txt && touch -d @1000000000 data.txt a.txt b.txt";

/* At least 20 ordinary programs; several are multi-threaded (sort --parallel, xz -T2, python threads). */
static const struct { const char *name, *cmd; } programs[] = {
    {"sort", "sort -n data.txt | tail -5"},
    {"sort-parallel", "sort --parallel=2 -S 64K -k3,3n data.txt | sha256sum"},
    {"uniq", "cut -d' ' -f1 data.txt | sort | uniq -c | sort -rn | head -5"},
    {"wc", "wc data.txt"},
    {"sha256sum", "sha256sum data.txt a.txt"},
    {"md5sum-tr", "tr 'a-z' 'A-Z' < data.txt | md5sum"},
    {"tar", "tar --sort=name --owner=0 --group=0 --numeric-owner -cf - data.txt a.txt | sha256sum"},
    {"gzip", "gzip -9 -n -c data.txt | sha256sum && gzip -c -n data.txt | gzip -d | cmp - data.txt"},
    {"xz-threads", "xz -T2 -c data.txt | xz -d | sha256sum"},
    {"python3", "/usr/bin/python3 -c 'd = {i: str(i) * 3 for i in range(200000)}\n"
                "l = [list(range(i % 50)) for i in range(100000)]\nprint(len(d), sum(map(len, l)))'"},
    {"python3-threads", "/usr/bin/python3 -c 'import threading\nout = [0] * 4\n"
                        "def f(k): out[k] = sum(len(str(i)) for i in range(100000 * (k + 1)))\n"
                        "t = [threading.Thread(target=f, args=(k,)) for k in range(4)]\n"
                        "[x.start() for x in t]; [x.join() for x in t]; print(out)'"},
    {"perl", "perl -ne '$h{(split)[0]}++; END { print scalar(keys %h), \"\\n\" }' data.txt"},
    {"awk", "awk '{s += $1; a[$1 % 7]++} END {print s, NR, a[3]}' data.txt"},
    {"sed", "sed -n 's/line 1\\(.*\\)7$/LINE \\1/p' data.txt | tail -3"},
    {"sqlite3", "sqlite3 :memory: 'create table t(a, b); with recursive c(x) as (select 1 union all select x + 1 "
                "from c where x < 50000) insert into t select x, x * x from c; select count(*), sum(b) from t;'"},
    {"paste-cmp", "paste a.txt b.txt | head -3; cmp a.txt b.txt"},
    {"grep", "grep -c 'line 1' data.txt; grep -n 'nothing here' data.txt"},
    {"diff", "diff a.txt b.txt | head -4; diff a.txt b.txt > /dev/null"},
    {"find", "find . -name '*.txt' | sort"},
    {"bc", "echo '2^4000 % 1000007' | bc"},
    {"base64-od", "head -c 300 data.txt | base64 | head -2 && head -c 64 data.txt | od -c | head -3"},
    {"stderr-exit", "ls /nonexistent-tq-path; echo after >&2; exit 3"},
};

/* Make a fresh directory with the inputs; returns it (caller frees). */
static char *fresh_dir(void)
{
    char *d = tq_tmpdir(), cmd[8192];
    snprintf(cmd, sizeof cmd, "cd %s && %s", d, setup);
    cr_assert_eq(tq_runf("%s", cmd), 0, "setup failed");
    return d;
}

struct outcome {
    int rc;
    char *out, *err;
};

/* Run cmd in a fresh directory, directly or (traces != NULL) under `traceq record -q OPTS -o traces`. */
static struct outcome run_in_fresh(const char *cmd, const char *traces, const char *opts)
{
    char *d = fresh_dir(), script[4200], line[16384];
    snprintf(script, sizeof script, "%s/cmd.sh", d);
    FILE *f = fopen(script, "w");
    cr_assert(f && fprintf(f, "%s\n", cmd) > 0 && fclose(f) == 0);
    if (traces)
        snprintf(line, sizeof line, "cd %s && %s record -q %s -o %s -- /bin/sh ./cmd.sh", d,
                 tq_build_path("traceq"), opts, traces);
    else
        snprintf(line, sizeof line, "cd %s && /bin/sh ./cmd.sh", d);
    struct outcome o;
    o.rc = tq_run(line, &o.out, &o.err);
    tq_rmtree(d);
    free(d);
    return o;
}

Test(transparency, ordinary_programs_are_byte_identical, .timeout = 300)
{
    size_t n = sizeof programs / sizeof programs[0];
    cr_assert_geq(n, 20);
    static const char *const modes[] = {"", "--stacks"};
    for (size_t i = 0; i < n; i++) {
        struct outcome bare = run_in_fresh(programs[i].cmd, NULL, "");
        cr_expect_gt(strlen(bare.out) + strlen(bare.err), 0, "%s printed nothing: a useless check", programs[i].name);
        for (size_t m = 0; m < 2; m++) {
            char *traces = tq_tmpdir();
            struct outcome shim = run_in_fresh(programs[i].cmd, traces, modes[m]);
            cr_expect_eq(shim.rc, bare.rc, "%s %s: exit %d under the shim, %d without", programs[i].name, modes[m],
                         shim.rc, bare.rc);
            cr_expect_str_eq(shim.out, bare.out, "%s %s: stdout differs under the shim", programs[i].name, modes[m]);
            cr_expect_str_eq(shim.err, bare.err, "%s %s: stderr differs under the shim", programs[i].name, modes[m]);
            /* It really ran under the shim: every process image left a readable trace. */
            struct tq_trace_summary *s;
            size_t nt = rel_load_all(traces, &s);
            cr_expect_gt(nt, 0, "%s %s: no trace written", programs[i].name, modes[m]);
            rel_free_all(s, nt);
            free(shim.out), free(shim.err);
            tq_rmtree(traces);
            free(traces);
        }
        free(bare.out), free(bare.err);
    }
}

Test(transparency, unreachable_programs_are_named, .timeout = 60)
{
    char *traces = tq_tmpdir(), cmd[8192], *out = NULL, *err = NULL;
    /* A static binary: no trace at all, and record says so even with -q; the program itself is unaffected. */
    snprintf(cmd, sizeof cmd, "%s record -q -o %s -- %s", tq_build_path("traceq"), traces,
             tq_build_path("progs/static_alloc"));
    cr_expect_eq(tq_run(cmd, &out, &err), 0);
    cr_expect_str_eq(out, "static ok\n");
    cr_expect_not_null(strstr(err, "no trace was written for"), "stderr: %s", err);
    cr_expect_not_null(strstr(err, "static_alloc"), "the message names the program: %s", err);
    free(out), free(err);
    /* LD_PRELOAD scrubbed before an exec: env is traced (it ends in EXEC), sort is not, and record names it. */
    snprintf(cmd, sizeof cmd, "printf 'b\\na\\n' | %s record -q -o %s -- env -u LD_PRELOAD sort",
             tq_build_path("traceq"), traces);
    cr_expect_eq(tq_run(cmd, &out, &err), 0);
    cr_expect_str_eq(out, "a\nb\n");
    cr_expect_not_null(strstr(err, "no trace was written for"), "stderr: %s", err);
    cr_expect_not_null(strstr(err, "(sort)"), "the message names the exec'd program: %s", err);
    free(out), free(err);
    /* And a fully traced run says nothing of the kind. */
    snprintf(cmd, sizeof cmd, "%s record -q -o %s -- sh -c 'exec sort /dev/null'", tq_build_path("traceq"), traces);
    cr_expect_eq(tq_run(cmd, &out, &err), 0);
    cr_expect_str_eq(err, "", "no false alarm: %s", err);
    free(out), free(err);
    tq_rmtree(traces);
    free(traces);
}
