/* test_runner_cli.c - `traceq run` end to end on small synthetic volumes: chunked output equals the unchunked one
 * for every operator and several plans; OOM kills are split and retried; a worker killed at random is rerun and a
 * block whose worker keeps dying fails cleanly; a SIGKILLed run leaves nothing under the output name and resumes
 * without redoing finished blocks; the watchdog fallback; bad plans are refused with a clear message. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../runner/cgroup.h"
#include "helpers.h"

/* Run `traceq ARGS` in dir (tq_traceq_in with the arguments as they are). */
static int tq(const char *dir, char **out, char **err, const char *args)
{
    return tq_traceq_in(dir, out, err, "%s", args);
}

/* The integer after "key": in a JSON text (-1 when absent). */
static long json_int(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = json ? strstr(json, pat) : NULL;
    return p ? strtol(p + strlen(pat), NULL, 10) : -1;
}

static char *setup(void)
{
    char *dir = tq_tmpdir();
    cr_assert_eq(tq(dir, NULL, NULL, "synth --shape 40x36x50 --seed 7 -o in.npy"), 0);
    return dir;
}

Test(runner_cli, chunked_equals_unchunked_for_every_operator)
{
    static const char *ops[] = {"envelope", "gaussian", "gst3d"};
    static const char *chunks[] = {"20,18,50", "7,36,50", "13,5,50", "1,1,50"};
    static const char *chunks3d[] = {"20,18,25", "9,10,11", "40,36,7", "3,36,48"};
    char *dir = setup(), args[512];
    for (int o = 0; o < 3; o++) {
        snprintf(args, sizeof args, "run --op %s --input in.npy --output %s-whole.npy --chunks none", ops[o], ops[o]);
        cr_assert_eq(tq(dir, NULL, NULL, args), 0, "%s", args);
        for (int c = 0; c < 4; c++) {
            const char *ch = o == 0 ? chunks[c] : chunks3d[c];
            snprintf(args, sizeof args, "run --op %s --input in.npy --output %s-%d.npy --chunks %s --workers 2 "
                     "--memory-per-worker 512MiB", ops[o], ops[o], c, ch);
            char *err;
            cr_assert_eq(tq(dir, NULL, &err, args), 0, "%s: %s", args, err);
            free(err);
            char a[64], b[64];
            snprintf(a, sizeof a, "%s-whole.npy", ops[o]);
            snprintf(b, sizeof b, "%s-%d.npy", ops[o], c);
            cr_assert(tq_same_file_in(dir, a, b), "%s chunks %s differ from the unchunked output", ops[o], ch);
        }
    }
    /* Envelope needs whole traces: a plan cutting samples is refused. */
    char *err;
    cr_assert_eq(tq(dir, NULL, &err, "run --op envelope --input in.npy --output e.npy --chunks 10,10,10"), 2);
    cr_assert(strstr(err, "cannot split samples") != NULL, "%s", err);
    free(err);
    tq_rmtree(dir);
    free(dir);
}

/* One padded block over a 64 MiB limit is OOM-killed, split, retried, and the output is still right. */
static void oom_run(const char *enforce)
{
    char *dir = setup(), *out, *err, args[512];
    cr_assert_eq(tq(dir, NULL, NULL, "run --op gaussian --input in.npy --output whole.npy --chunks none"), 0);
    snprintf(args, sizeof args, "run --op gaussian --input in.npy --output split.npy --chunks none --workers 2 "
             "--memory-per-worker 64MiB --retries 3 --pad-per-voxel 1600 --enforce %s --json", enforce);
    int rc = tq(dir, &out, &err, args);
    cr_assert_eq(rc, 0, "rc %d: %s %s", rc, out, err);
    cr_assert_geq(json_int(out, "oom_kills"), 1, "%s", out);
    cr_assert_geq(json_int(out, "retries"), 1, "%s", out);
    cr_assert(strstr(out, enforce) != NULL, "%s", out);
    cr_assert(tq_same_file_in(dir, "whole.npy", "split.npy"));
    free(out);
    free(err);
    /* Without retries the run fails, names the block and leaves no output behind. */
    snprintf(args, sizeof args, "run --op gaussian --input in.npy --output fail.npy --chunks none "
             "--memory-per-worker 64MiB --retries 0 --pad-per-voxel 1600 --enforce %s", enforce);
    cr_assert_eq(tq(dir, &out, &err, args), 1);
    cr_assert(strstr(err, "OOM-killed") && strstr(err, "[0:40, 0:36, 0:50]"), "%s", err);
    char p[4200];
    snprintf(p, sizeof p, "%s/fail.npy", dir);
    cr_assert_neq(access(p, F_OK), 0);
    free(out);
    free(err);
    /* The failed run kept its journal and partial output for --resume; --force starts over and removes both. */
    cr_assert_eq(tq_runf("test $(ls -a '%s' | grep -c '^.fail.npy.tmp') = 1 && test -f '%s/fail.npy.journal'", dir,
                         dir), 0);
    snprintf(args, sizeof args, "run --op gaussian --input in.npy --output fail.npy --chunks none --force "
             "--memory-per-worker 64MiB --retries 3 --pad-per-voxel 1600 --enforce %s", enforce);
    cr_assert_eq(tq(dir, NULL, NULL, args), 0);
    cr_assert_eq(tq_runf("test $(ls -a '%s' | grep -c 'fail.npy.tmp\\|fail.npy.journal') = 0", dir), 0,
                 "--force left the old partial output or journal behind");
    cr_assert(tq_same_file_in(dir, "whole.npy", "fail.npy"));
    tq_rmtree(dir);
    free(dir);
}

Test(runner_cli, oom_killed_worker_is_split_and_retried)
{
    if (!tq_have_cgroups())
        cr_skip_test("needs root and a writable memory cgroup");
    oom_run("cgroup");
}

Test(runner_cli, watchdog_fallback_when_forced)
{
    oom_run("watchdog");
}

/* Does dir/name exist? */
static int exists(const char *dir, const char *name)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

/* One worker of the run, picked at random, is SIGKILLed (no OOM kill): its block is rerun whole, the output is the
 * unchunked one and the report counts the rerun and its signal. Under a cgroup limit too, where it must not be
 * mistaken for an OOM kill. */
Test(runner_cli, worker_killed_at_random_is_rerun)
{
    char *dir = setup(), *out, *err, args[512];
    cr_assert_eq(tq(dir, NULL, NULL, "run --op gst3d --input in.npy --output whole.npy --chunks none"), 0);
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    for (int limit = 0; limit < 2; limit++) {
        int nth = 1 + rand() % 8; /* 8 blocks: any start of the run */
        snprintf(args, sizeof args, "run --op gst3d --input in.npy --output k%d.npy --chunks 10,18,50 --workers 2 "
                 "--kill-worker %d --json%s", limit, nth, limit ? " --memory-per-worker 512MiB" : "");
        int rc = tq(dir, &out, &err, args);
        cr_assert_eq(rc, 0, "%s: rc %d %s %s", args, rc, out, err);
        cr_assert_eq(json_int(out, "crash_retries"), 1, "%s: %s", args, out);
        cr_assert_eq(json_int(out, "SIGKILL"), 1, "%s: %s", args, out);
        cr_assert_eq(json_int(out, "oom_kills"), 0, "%s: %s", args, out);
        cr_assert_eq(json_int(out, "retries"), 0, "%s: %s", args, out);
        cr_assert_eq(json_int(out, "blocks_run"), 8, "%s: %s", args, out);
        char name[32];
        snprintf(name, sizeof name, "k%d.npy", limit);
        cr_assert(tq_same_file_in(dir, "whole.npy", name), "%s: output differs from the unchunked one", args);
        free(out);
        free(err);
    }
    /* The human report names the cause too. */
    cr_assert_eq(tq(dir, &out, NULL, "run --op gst3d --input in.npy --output t.npy --chunks 10,18,50 "
                    "--kill-worker 5"), 0);
    cr_assert(strstr(out, "1 crash rerun") && strstr(out, "SIGKILL"), "%s", out);
    free(out);
    tq_rmtree(dir);
    free(dir);
}

/* A block whose worker dies every time fails the run after --retries reruns, naming the block, the signal and the
 * attempts, and nothing is left under the output name. */
Test(runner_cli, always_crashing_block_fails_after_retries)
{
    char *dir = setup(), *out, *err;
    /* One worker: starts 2, 3, 4 are the second block and its two reruns. */
    int rc = tq(dir, &out, &err, "run --op gaussian --input in.npy --output f.npy --chunks 10,18,50 --workers 1 "
                "--retries 2 --kill-worker 2,1000 --json");
    cr_assert_eq(rc, 1, "rc %d: %s %s", rc, out, err);
    cr_assert(strstr(err, "[0:10, 18:36, 0:50]") && strstr(err, "SIGKILL") && strstr(err, "attempt 3") &&
              strstr(err, "--retries 2"), "%s", err);
    cr_assert_eq(json_int(out, "crash_retries"), 2, "%s", out);
    cr_assert_eq(json_int(out, "blocks_run"), 1, "%s", out);
    cr_assert(!exists(dir, "f.npy"), "a failed run left f.npy");
    free(out);
    free(err);
    /* --retries 0: no rerun at all. */
    cr_assert_eq(tq(dir, &out, &err, "run --op gaussian --input in.npy --output g.npy --chunks none --retries 0 "
                    "--kill-worker 1 --json"), 1);
    cr_assert(strstr(err, "attempt 1") != NULL, "%s", err);
    cr_assert_eq(json_int(out, "crash_retries"), 0, "%s", out);
    cr_assert(!exists(dir, "g.npy"), "a failed run left g.npy");
    free(out);
    free(err);
    tq_rmtree(dir);
    free(dir);
}

static size_t done_lines(const char *path)
{
    char *t = tq_slurp(path, NULL);
    size_t n = 0;
    for (char *p = t; p && (p = strstr(p, "\ndone ")); p++)
        n++;
    free(t);
    return n;
}

Test(runner_cli, killed_run_resumes_without_recomputing)
{
    char *dir = setup(), jpath[4200];
    snprintf(jpath, sizeof jpath, "%s/part.npy.journal", dir);
    cr_assert_eq(tq(dir, NULL, NULL, "run --op gst3d --input in.npy --output whole.npy --chunks none"), 0);
    pid_t pid = fork();
    if (pid == 0) {
        if (chdir(dir))
            _exit(97);
        freopen("/dev/null", "w", stdout);
        /* One worker and a slow (padded) block each, so the kill lands mid-way. */
        execl(tq_build_path("traceq"), "traceq", "run", "--op", "gst3d", "--input", "in.npy", "--output", "part.npy",
              "--chunks", "2,34,48", "--workers", "1", "--pad-per-voxel", "20000", (char *)NULL);
        _exit(98);
    }
    size_t seen = 0;
    for (int i = 0; i < 20000 && seen < 4; i++) {
        usleep(500);
        seen = done_lines(jpath);
    }
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFSIGNALED(status), "the run finished before it could be killed");
    cr_assert(!exists(dir, "part.npy"), "the killed run left a file under the output name");
    size_t before = done_lines(jpath);
    cr_assert_geq(before, 4);
    cr_assert_lt(before, 19);

    char *out, *err;
    cr_assert_eq(tq(dir, &out, &err, "run --op gst3d --input in.npy --output part.npy --chunks 2,34,48"), 2);
    cr_assert(strstr(err, "--resume") != NULL, "%s", err);
    free(out);
    free(err);
    cr_assert_eq(tq(dir, &out, &err, "run --op gst3d --input in.npy --output part.npy --chunks 3,34,48 --resume"), 2);
    cr_assert(strstr(err, "another run") != NULL, "%s", err);
    free(out);
    free(err);
    /* The resumed run also loses a worker (SIGKILL) and reruns its block. */
    int rc = tq(dir, &out, &err, "run --op gst3d --input in.npy --output part.npy --chunks 2,34,48 --resume --json "
                "--kill-worker 1");
    cr_assert_eq(rc, 0, "%s %s", out, err);
    cr_assert_eq(json_int(out, "crash_retries"), 1, "%s", out);
    cr_assert_eq(json_int(out, "blocks_skipped"), (long)before, "%s", out);
    cr_assert_eq(json_int(out, "blocks_run"), 19 - (long)before, "%s", out);
    cr_assert(tq_same_file_in(dir, "whole.npy", "part.npy"));
    cr_assert_neq(access(jpath, F_OK), 0, "the journal of a finished run was kept");
    free(out);
    free(err);
    tq_rmtree(dir);
    free(dir);
}

/* Write a plan file for gaussian on 40x36x50 with the given blocks JSON. */
static void write_plan(const char *dir, const char *name, const char *shape, const char *blocks)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    fprintf(f, "{\"format\": \"traceq-plan\", \"version\": 1, \"op\": \"gaussian\", \"shape\": %s, "
               "\"output_shape\": %s, \"memory_bytes\": 0, \"safety\": 0.8, \"workers\": 2, \"planner\": \"fixed\", "
               "\"blocks\": [%s]}\n", shape, shape, blocks);
    fclose(f);
}

Test(runner_cli, bad_plans_are_refused_clearly)
{
    char *dir = setup(), *err;
    const char *two = "{\"lo\": [0,0,0], \"hi\": [20,36,50], \"predicted_bytes\": 0}, "
                      "{\"lo\": [20,0,0], \"hi\": [40,36,50], \"predicted_bytes\": 0}";
    write_plan(dir, "good.json", "[40,36,50]", two);
    cr_assert_eq(tq(dir, NULL, &err, "run --op gaussian --input in.npy --output g.npy --plan good.json"), 0, "%s", err);
    free(err);
    write_plan(dir, "overlap.json", "[40,36,50]",
               "{\"lo\": [0,0,0], \"hi\": [21,36,50], \"predicted_bytes\": 0}, "
               "{\"lo\": [20,0,0], \"hi\": [40,36,50], \"predicted_bytes\": 0}");
    write_plan(dir, "outside.json", "[40,36,50]",
               "{\"lo\": [0,0,0], \"hi\": [20,36,50], \"predicted_bytes\": 0}, "
               "{\"lo\": [20,0,0], \"hi\": [41,36,50], \"predicted_bytes\": 0}");
    write_plan(dir, "shape.json", "[40,36,60]",
               "{\"lo\": [0,0,0], \"hi\": [40,36,60], \"predicted_bytes\": 0}");
    static const char *bad[][2] = {{"overlap.json", "overlap"}, {"outside.json", "outside"},
                                   {"shape.json", "40x36x60"}};
    for (int i = 0; i < 3; i++) {
        char args[256];
        snprintf(args, sizeof args, "run --op gaussian --input in.npy --output b.npy --plan %s", bad[i][0]);
        cr_assert_eq(tq(dir, NULL, &err, args), 2, "%s accepted", bad[i][0]);
        cr_assert(strstr(err, bad[i][1]) != NULL, "%s: %s", bad[i][0], err);
        free(err);
    }
    cr_assert_eq(tq(dir, NULL, &err, "run --op gst3d --input in.npy --output b.npy --plan good.json"), 2);
    cr_assert(strstr(err, "for operator gaussian") != NULL, "%s", err);
    free(err);
    char p[4200];
    snprintf(p, sizeof p, "%s/b.npy", dir);
    cr_assert_neq(access(p, F_OK), 0);
    tq_rmtree(dir);
    free(dir);
}

Test(runner_cli, usage_errors_exit_2)
{
    char *dir = setup(), *err, *out;
    cr_assert_eq(tq(dir, &out, NULL, "run --help"), 0);
    cr_assert(strstr(out, "--memory-per-worker") && strstr(out, "Default"), "%s", out);
    free(out);
    cr_assert_eq(tq(dir, NULL, &err, "run --op gst3d --input in.npy --output o.npy"), 2);
    cr_assert(strstr(err, "exactly one of") != NULL, "%s", err);
    free(err);
    cr_assert_eq(tq(dir, NULL, &err, "run --op nope --input in.npy --output o.npy --chunks none"), 2);
    cr_assert(strstr(err, "unknown operator") != NULL, "%s", err);
    free(err);
    cr_assert_eq(tq(dir, NULL, &err, "run --op gst3d --input missing.npy --output o.npy --chunks none"), 2);
    free(err);
    cr_assert_eq(tq(dir, NULL, &err, "run --op gst3d --input in.npy --output o.npy --chunks none --workers 0"), 2);
    free(err);
    cr_assert_eq(tq(dir, NULL, &err, "run --op gst3d --input in.npy --output o.npy --chunks none --kill-worker 0"), 2);
    cr_assert(strstr(err, "--kill-worker") != NULL, "%s", err);
    free(err);
    tq_rmtree(dir);
    free(dir);
}

Test(runner_cli, mpi_two_ranks_equal_one_machine)
{
    char *dir = setup(), *out, *err;
    if (tq_runf("command -v mpirun >/dev/null 2>&1") != 0)
        cr_skip_test("mpirun is not installed");
    cr_assert_eq(tq(dir, &out, NULL, "run --help"), 0);
    int built = strstr(out, "--mpi") != NULL;
    free(out);
    if (!built)
        cr_skip_test("traceq was built without MPI (no mpicc)");
    cr_assert_eq(tq(dir, NULL, NULL, "run --op gaussian --input in.npy --output one.npy --chunks 9,10,11"), 0);
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_warn_on_fork=0 "
             "ASAN_OPTIONS=detect_leaks=0 mpirun -np 2 --oversubscribe '%s' run --mpi --op gaussian --input in.npy "
             "--output two.npy --chunks 9,10,11 --memory-per-worker 256MiB --json",
             dir, tq_build_path("traceq"));
    int rc = tq_run(cmd, &out, &err);
    cr_assert_eq(rc, 0, "mpirun failed (%d): %s %s", rc, out, err);
    cr_assert(strstr(out, "2 MPI ranks") != NULL, "%s", out);
    cr_assert_eq(json_int(out, "blocks_run"), 5 * 4 * 5, "%s", out);
    cr_assert(tq_same_file_in(dir, "one.npy", "two.npy"), "the 2-rank output differs from the 1-machine output");
    free(out);
    free(err);
    tq_rmtree(dir);
    free(dir);
}

Test(runner_cli, experiment_help_and_usage)
{
    char *dir = tq_tmpdir(), *out, *err;
    cr_assert_eq(tq(dir, &out, NULL, "experiment --help"), 0);
    cr_assert(strstr(out, "--limits") && strstr(out, "Default"), "%s", out);
    free(out);
    cr_assert_eq(tq(dir, NULL, &err, "experiment"), 2);
    cr_assert(strstr(err, "missing -o") != NULL, "%s", err);
    free(err);
    cr_assert_eq(tq(dir, NULL, &err, "experiment -o x --limits lots"), 2);
    cr_assert(strstr(err, "bad --limits") != NULL, "%s", err);
    free(err);
    /* A missing model is named, and nothing is run. */
    cr_assert_eq(tq(dir, NULL, &err, "experiment -o res --models nowhere --shapes 8"), 1);
    cr_assert(strstr(err, "nowhere/gst3d.model.json") != NULL, "%s", err);
    free(err);
    tq_rmtree(dir);
    free(dir);
}

/* A whole small experiment: its model is swept up to the largest cube it plans (so the grid covers the planned
 * plane sizes), every strategy completes with the unchunked result, and the CSV has CPU time and load columns. */
Test(runner_cli, experiment_small_case_end_to_end)
{
    char *dir = tq_tmpdir(), *out = NULL, *err = NULL;
    int rc = tq(dir, &out, &err, "experiment -o res --shapes 24 --limits 1GB --runs 1 --fixed 0.5");
    cr_assert_eq(rc, 0, "%s%s", out, err);
    cr_assert(strstr(out, "goals over 1 case(s): traceq had 0 OOM kills") != NULL, "%s", out);
    char path[4200];
    snprintf(path, sizeof path, "%s/res/gst3d.dataset.csv", dir);
    char *ds = tq_slurp(path, NULL);
    cr_assert(ds && strstr(ds, "\ngst3d,24,24,24,") && strstr(ds, "\ngst3d,6,6,6,"), "grid does not reach 24: %s", ds);
    snprintf(path, sizeof path, "%s/res/results.csv", dir);
    char *csv = tq_slurp(path, NULL);
    cr_assert(csv && strstr(csv, ",cpu_median_s,") && strstr(csv, ",load1_start,load1_end,"), "%s", csv);
    const char *names[] = {"none", "auto", "seed", "traceq", "fixed-12"};
    for (int i = 0; i < 5; i++) {
        char key[64];
        snprintf(key, sizeof key, ",%s,", names[i]);
        const char *row = strstr(csv, key);
        cr_assert(row != NULL, "no row for %s: %s", names[i], csv);
        /* ...,blocks,block,threads,runs,ok,failed,...: the run succeeded and matched the unchunked output */
        int fields = 0;
        const char *f = row + 1;
        long ok = -1;
        while (*f && *f != '\n' && fields < 6)
            if (*f++ == ',' && ++fields == 5)
                ok = strtol(f, NULL, 10);
        cr_assert_eq(ok, 1, "%s did not complete: %.200s", names[i], row);
    }
    /* --replot draws the chart from the CSV alone. */
    free(out);
    cr_assert_eq(tq(dir, &out, NULL, "experiment -o again --replot res/results.csv"), 0);
    snprintf(path, sizeof path, "%s/again/results.svg", dir);
    char *svg = tq_slurp(path, NULL);
    cr_assert(svg && strstr(svg, "<svg"), "%s", out);
    free(svg);
    free(ds);
    free(csv);
    free(out);
    free(err);
    tq_rmtree(dir);
    free(dir);
}

Test(runner_cli, segy_in_segy_out_chunked_equals_unchunked)
{
    char *dir = tq_tmpdir(), *err;
    cr_assert_eq(tq(dir, NULL, NULL, "synth --shape 30x20x40 -o in.segy"), 0);
    cr_assert_eq(tq(dir, NULL, &err, "run --op gst3d --input in.segy --output whole.segy --chunks none"), 0, "%s", err);
    free(err);
    cr_assert_eq(tq(dir, NULL, &err, "run --op gst3d --input in.segy --output parts.segy --chunks 7,6,13 "
                    "--memory-per-worker 256MiB"), 0, "%s", err);
    free(err);
    cr_assert(tq_same_file_in(dir, "whole.segy", "parts.segy"), "chunked SEG-Y output differs (headers or samples)");
    tq_rmtree(dir);
    free(dir);
}
