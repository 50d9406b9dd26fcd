/* test_transparency_argv.c - programs that rewrite their own argv (git's option parser does) and then fork:
 * the shim must not read the program's argv array after start-up. */
#include "rel_util.h"

Test(transparency_argv, argv_shortened_in_place_then_fork, .timeout = 60)
{
    char *traces = tq_tmpdir(), cmd[8192], *bare = NULL, *shim = NULL;
    snprintf(cmd, sizeof cmd, "%s a b c", tq_build_path("progs/argv_nulled"));
    cr_assert_eq(tq_run(cmd, &bare, NULL), 0);
    snprintf(cmd, sizeof cmd, "%s record -q -o %s -- %s a b c", tq_build_path("traceq"), traces,
             tq_build_path("progs/argv_nulled"));
    cr_expect_eq(tq_run(cmd, &shim, NULL), 0);
    cr_expect_str_eq(shim, bare, "the forked child must exit as without the shim");
    struct tq_trace_summary *s;
    size_t n = rel_load_all(traces, &s);
    cr_expect_eq(n, 2, "parent and child traces: %zu", n);
    rel_free_all(s, n);
    free(bare), free(shim);
    tq_rmtree(traces);
    free(traces);
}

Test(transparency_argv, git_commit_in_a_temporary_repository, .timeout = 60)
{
    char *dir = tq_tmpdir(), *traces = tq_tmpdir(), cmd[16384], *out[2] = {0}, *err[2] = {0};
    int rc[2];
    for (int shim = 0; shim < 2; shim++) {
        /* git commit runs `git maintenance run --auto` after its option parser rewrote argv. */
        snprintf(cmd, sizeof cmd,
                 "cd %s && rm -rf r && export GIT_AUTHOR_DATE=@1000000000 GIT_COMMITTER_DATE=@1000000000 HOME=%s && "
                 "git init -q -b main r && cd r && seq 1 100 > f && git add f && %s%s%s git -c user.name=t "
                 "-c user.email=t@t commit -q -m first && git log --format='%%H %%s'",
                 dir, dir, shim ? tq_build_path("traceq") : "", shim ? " record -q -o " : "", shim ? traces : "");
        rc[shim] = tq_run(cmd, &out[shim], &err[shim]);
    }
    cr_expect_eq(rc[1], rc[0]);
    cr_expect_str_eq(out[1], out[0]);
    cr_expect_str_eq(err[1], err[0], "stderr under the shim: %s", err[1]);
    struct tq_trace_summary *s;
    size_t n = rel_load_all(traces, &s);
    cr_expect_geq(n, 2, "git and the maintenance child it runs");
    rel_free_all(s, n);
    for (int i = 0; i < 2; i++)
        free(out[i]), free(err[i]);
    tq_rmtree(dir), tq_rmtree(traces);
    free(dir), free(traces);
}
