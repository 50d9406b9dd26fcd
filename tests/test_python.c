/* test_python.c - the Python package python/traceq (tests/py/test_package.py) with Debian's python3 against this
 * build's binary: read_trace, predict, plan and dask_chunks on a trace and a model made here. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

Test(python, package_reads_traces_predicts_and_plans, .timeout = 120)
{
    char *dir = tq_tmpdir(), cmd[8192], *out = NULL, *err = NULL;
    const char *tq = tq_build_path("traceq");
    /* RSS, not the charged figure: a memory cgroup charges the `traceq record` around the command too, which under
     * ASan is large enough to swamp this small command's growth and leave no chunk under the test's limit */
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' sweep --charged no --cmd '%s {in} {out}' --grid-inlines 20:80:20 "
             "--grid-xlines 20:40:20 --grid-samples 30 --runs 1 -o ds.csv && '%s' fit ds.csv -o m.json", dir, tq,
             tq_build_path("examples/laplace3"), tq);
    cr_assert_eq(tq_run(cmd, &out, &err), 0, "%s %s", out, err);
    free(out);
    free(err);
    /* the largest sweep run's trace, and a limit below the bound of a 160x40x30 volume */
    snprintf(cmd, sizeof cmd, "cd '%s' && ls ds.csv.traces/cmd-80x40x30-*/*.tq | head -1 | tr -d '\\n'", dir);
    char *trace = NULL;
    cr_assert_eq(tq_run(cmd, &trace, NULL), 0);
    cr_assert(trace && trace[0], "no trace of the sweep");
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' predict --model m.json --shape 160x40x30 --json | sed -n "
             "'s/.*\"bound\": \\([0-9]*\\).*/\\1/p' | tr -d '\\n'", dir, tq);
    char *bound = NULL;
    cr_assert_eq(tq_run(cmd, &bound, NULL), 0);
    long memory = (long)(strtod(bound, NULL) * 0.9);
    cr_assert(memory > 0, "bound '%s'", bound);
    snprintf(cmd, sizeof cmd, "cd '%s' && TRACEQ='%s' PYTHONPATH='%s' '%s' '%s' '%s' m.json 160x40x30 %ld", dir, tq,
             tq_src_path("python"), tq_python(), tq_src_path("tests/py/test_package.py"), trace, memory);
    int rc = tq_run(cmd, &out, &err);
    cr_assert_eq(rc, 0, "%s %s", out, err);
    cr_assert(strstr(out, "all checks passed"), "%s", out);
    free(out);
    free(err);
    free(trace);
    free(bound);
    tq_rmtree(dir);
    free(dir);
}

/* `make install DESTDIR=D`: the binary and the shim side by side, bin/traceq linked to it, the package where
 * python3 looks; the installed traceq records (finds its shim) and the installed package imports. */
Test(python, make_install_puts_binary_shim_and_package_in_place, .timeout = 120)
{
    char *dir = tq_tmpdir(), cmd[8192], *out = NULL, *err = NULL;
    const char *build = tq_build_path("."); /* BUILD as an absolute path: the build under test, not rebuilt */
    /* TESTING=1: the suite's build is a test build (make test, make asan); any other value would rebuild it */
    snprintf(cmd, sizeof cmd, "make -s -C '%s' install TESTING=1 BUILD='%s' DESTDIR='%s' PREFIX=/usr/local "
             "PYTHONDIR=/usr/local/py && cd '%s' && ./usr/local/bin/traceq record -q -o t -- /bin/true && ls t | grep -c '[.]tq$' && "
             "PYTHONPATH=usr/local/py TRACEQ=./usr/local/bin/traceq '%s' -c 'import traceq; print(traceq.binary())'",
             tq_src_path("."), build, dir, dir, tq_python());
    int rc = tq_run(cmd, &out, &err);
    cr_assert_eq(rc, 0, "%s %s", out, err);
    cr_assert(strstr(out, "1\n./usr/local/bin/traceq"), "%s", out);
    free(out);
    free(err);
    tq_rmtree(dir);
    free(dir);
}
