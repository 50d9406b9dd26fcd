/* test_cgroup_v2.c - the runner's cgroup v2 code on a fake cgroupfs tree (TRACEQ_CGROUP_ROOT names a folder the
 * test made; the test plays the kernel: it makes the control files a real kernel would, and a worker "OOM-killed"
 * by it counts oom_kill in memory.events before it dies of SIGKILL), and the RSS watchdog as an unprivileged user.
 * This machine's memory controller is on cgroup v1, so the v2 path has not run on a real v2 kernel (RUNNER.md). */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../runner/cgroup.h"
#include "../runner/runner.h"
#include "helpers.h"

#define MIB (1024ull * 1024ull)
#define NOBODY 65534

static void put(const char *dir, const char *name, const char *text)
{
    char p[4300];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f, "%s", p);
    fputs(text, f);
    fclose(f);
}

static char *get(const char *dir, const char *name)
{
    char p[4300];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    char *t = tq_slurp(p, NULL);
    cr_assert_not_null(t, "%s is missing", p);
    return t;
}

static void sub(char *buf, size_t size, const char *dir, const char *name)
{
    snprintf(buf, size, "%s/%s", dir, name);
    mkdir(buf, 0755);
}

/* What a kernel shows in a fresh cgroup v2 group with the memory controller enabled by its parent. */
static void kernel_group(const char *dir)
{
    put(dir, "cgroup.procs", "");
    put(dir, "cgroup.controllers", "memory\n");
    put(dir, "cgroup.subtree_control", "");
    put(dir, "memory.max", "");
    put(dir, "memory.swap.max", "");
    put(dir, "memory.current", "0\n");
    put(dir, "memory.peak", "0\n");
    put(dir, "memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n");
}

/* The fake tree: `own` is the group this process sits in (alone, so the runner must move into a leaf before
 * `own` may delegate memory), with the run group traceq-<pid>, its runner leaf and one worker slot made ahead
 * (a fake tree has no kernel to make them on mkdir). */
static char *fake_tree(char *run, size_t size)
{
    char *own = tq_tmpdir(), pid[32], leaf[4400], w0[4400];
    snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    put(own, "cgroup.controllers", "cpu memory pids\n");
    put(own, "cgroup.subtree_control", "");
    put(own, "cgroup.procs", pid);
    snprintf(pid, sizeof pid, "traceq-%ld", (long)getpid());
    sub(run, size, own, pid);
    kernel_group(run);
    sub(leaf, sizeof leaf, run, "runner");
    kernel_group(leaf);
    sub(w0, sizeof w0, run, "worker0");
    kernel_group(w0);
    return own;
}

struct kernel_task {
    char run[4400];
    char log[4400];
};

/* The worker's block, and the kernel's part: a block of 8 inlines at xline 0 outgrows its limit (the kernel counts
 * the OOM kill and the peak, drops the process from cgroup.procs and kills it); the others finish and are logged. */
static tq_status kernel_compute(void *ctx, const struct tq_box *out, struct tq_err *err)
{
    (void)err;
    struct kernel_task *k = ctx;
    char w0[4500], procs[4600];
    snprintf(w0, sizeof w0, "%s/worker0", k->run);
    snprintf(procs, sizeof procs, "%s/cgroup.procs", w0);
    char *in = tq_slurp(procs, NULL);
    int attached = in && atol(in) == (long)getpid();
    free(in);
    FILE *f = fopen(procs, "w"); /* the process leaves the group when it ends */
    if (f)
        fclose(f);
    if (!attached)
        return tq_fail(err, TQ_ERR_INTERNAL, "the worker did not join its cgroup first");
    if (out->lo[1] == 0 && tq_box_len(out, 0) == 8) {
        put(w0, "memory.peak", "67108864\n");
        put(w0, "memory.events", "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\n");
        raise(SIGKILL);
    }
    FILE *log = fopen(k->log, "a");
    if (log) {
        fprintf(log, "%zu %zu %zu\n", out->lo[0], out->hi[0], out->lo[1]);
        fclose(log);
    }
    return TQ_OK;
}

Test(cgroup_v2, runner_on_a_fake_delegated_tree_limits_and_counts_oom_kills)
{
    char run[4400];
    char *own = fake_tree(run, sizeof run);
    cr_assert_eq(setenv("TRACEQ_CGROUP_ROOT", own, 1), 0);
    struct kernel_task k;
    snprintf(k.run, sizeof k.run, "%s", run);
    snprintf(k.log, sizeof k.log, "%s/blocks.log", own);
    struct tq_runner_task task = {.compute = kernel_compute, .ctx = &k, .splittable = 7, .bytes_per_voxel = 4};
    struct tq_box blocks[2] = {{{0, 0, 0}, {8, 4, 4}}, {{0, 4, 0}, {8, 8, 4}}};
    struct tq_runner_opts o = {.workers = 1, .retries = 2, .memory_per_worker = 64 * MIB,
                               .enforce = TQ_ENFORCE_CGROUP};
    struct tq_runner_report rep;
    struct tq_err err = {0};
    /* The second block also has 8 inlines but starts at xline 4: only the first is killed. */
    cr_assert_eq(tq_runner_run(&task, blocks, 2, &o, &rep, &err), TQ_OK, "%s", err.msg);
    cr_assert(strstr(rep.mechanism, "cgroup v2") && strstr(rep.mechanism, "memory.max"), "%s", rep.mechanism);
    cr_assert_eq(rep.oom_kills, 1, "the kernel's oom_kill was not seen");
    cr_assert_eq(rep.splits, 1);
    cr_assert_eq(rep.blocks_run, 3, "the killed block's halves and the other block");
    cr_assert_eq(rep.worker[0].cg_peak, 64 * MIB, "memory.peak was not read");
    char *t = get(run, "worker0/memory.max");
    cr_assert_eq(strtoull(t, NULL, 10), 64 * MIB, "memory.max: '%s'", t);
    free(t);
    t = get(run, "worker0/memory.swap.max");
    cr_assert_str_eq(t, "0", "memory.swap.max must be 0 (no swapping past the limit)");
    free(t);
    t = get(run, "cgroup.subtree_control");
    cr_assert(strstr(t, "memory") != NULL, "the run group did not enable memory for its workers: '%s'", t);
    free(t);
    /* The runner was alone in its group: it moved itself into the leaf, enabled memory in its group, and gave
     * both back at the end. */
    char pid[32];
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    t = get(run, "runner/cgroup.procs");
    cr_assert(!strncmp(t, pid, strlen(pid)), "the runner did not move itself into the leaf: '%s'", t);
    free(t);
    t = get(own, "cgroup.subtree_control");
    cr_assert(!strncmp(t, "-memory", 7), "the controller enabled in the delegated group was not given back: '%s'", t);
    free(t);
    t = get(own, "cgroup.procs");
    cr_assert(!strncmp(t, pid, strlen(pid)), "the runner did not move back: '%s'", t);
    free(t);
    t = get(own, "blocks.log");
    cr_assert_str_eq(t, "0 4 0\n4 8 0\n0 8 4\n", "blocks run: '%s'", t);
    free(t);
    tq_rmtree(own);
    free(own);
}

Test(cgroup_v2, no_memory_controller_falls_back_to_the_watchdog_with_the_reason)
{
    char run[4400];
    char *own = fake_tree(run, sizeof run);
    put(own, "cgroup.controllers", "cpu pids\n");
    cr_assert_eq(setenv("TRACEQ_CGROUP_ROOT", own, 1), 0);
    tq_cg_root *root = NULL;
    struct tq_err err = {0};
    cr_assert_eq(tq_cg_root_create(&root, &err), TQ_ERR_LIMIT);
    cr_assert(strstr(err.msg, "no memory controller") && strstr(err.msg, own), "%s", err.msg);
    cr_assert(strstr(err.msg, "TRACEQ_CGROUP_ROOT") != NULL, "v1 must not be tried: %s", err.msg);
    tq_rmtree(own);
    free(own);
}

Test(cgroup_v2, a_group_shared_with_other_processes_is_not_taken_over)
{
    char run[4400], procs[64];
    char *own = fake_tree(run, sizeof run);
    snprintf(procs, sizeof procs, "1\n%ld\n", (long)getpid());
    put(own, "cgroup.procs", procs);
    cr_assert_eq(setenv("TRACEQ_CGROUP_ROOT", own, 1), 0);
    tq_cg_root *root = NULL;
    struct tq_err err = {0};
    cr_assert_eq(tq_cg_root_create(&root, &err), TQ_ERR_LIMIT);
    cr_assert(strstr(err.msg, "holds other processes") && strstr(err.msg, "systemd-run"), "%s", err.msg);
    char *t = get(own, "cgroup.subtree_control");
    cr_assert_str_eq(t, "", "the shared group's controllers were changed");
    free(t);
    tq_rmtree(own);
    free(own);
}

/* The JSON integer after "key": (-1 when absent). */
static long json_int(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = json ? strstr(json, pat) : NULL;
    return p ? strtol(p + strlen(pat), NULL, 10) : -1;
}

/* As nobody, with no delegated group (this machine: cgroup v1 writable by root only), the runner falls back to the
 * RSS watchdog, which kills the over-limit block; it is split and the run completes with the unchunked result. */
Test(cgroup_v2, unprivileged_user_gets_the_watchdog, .timeout = 300)
{
    if (geteuid() != 0)
        cr_skip_test("needs root to run the runner as nobody");
    /* nobody must reach the binary and the data: the build folder may sit under a 0700 folder (a CI clone). */
    char *bin = tq_tmpdir(), *dir = tq_tmpdir(), cmd[8192], *out = NULL, *err = NULL;
    cr_assert_eq(chmod(bin, 0755), 0);
    cr_assert_eq(chmod(dir, 0777), 0);
    cr_assert_eq(tq_runf("cp '%s' '%s/traceq' && chmod 0755 '%s/traceq'", tq_build_path("traceq"), bin, bin), 0);
    cr_assert_eq(tq_runf("cd '%s' && '%s/traceq' synth --shape 40x36x50 --seed 7 -o in.npy >/dev/null && "
                         "'%s/traceq' run --op gaussian --input in.npy --output whole.npy --chunks none >/dev/null "
                         "&& chmod 0644 in.npy whole.npy", dir, bin, bin), 0);
    snprintf(cmd, sizeof cmd, "cd '%s' && setpriv --reuid=%d --regid=%d --clear-groups '%s/traceq' run --op gaussian "
             "--input in.npy --output split.npy --chunks none --workers 2 --memory-per-worker 64MiB --retries 3 "
             "--pad-per-voxel 1600 --json", dir, NOBODY, NOBODY, bin);
    int rc = tq_run(cmd, &out, &err);
    cr_assert_eq(rc, 0, "rc %d: %s %s", rc, out, err);
    cr_assert(strstr(out, "RSS watchdog") != NULL, "as nobody the watchdog must hold the limit: %s", out);
    cr_assert_geq(json_int(out, "oom_kills"), 1, "the watchdog did not kill the over-limit block: %s", out);
    cr_assert_geq(json_int(out, "retries"), 1, "%s", out);
    char a[4300], b[4300];
    snprintf(a, sizeof a, "%s/whole.npy", dir);
    snprintf(b, sizeof b, "%s/split.npy", dir);
    cr_assert(tq_files_equal(a, b), "the output differs from the unchunked one");
    struct stat sb;
    cr_assert_eq(stat(b, &sb), 0);
    cr_assert_eq(sb.st_uid, NOBODY, "the run did not really run as nobody");
    free(out);
    free(err);
    tq_rmtree(bin);
    tq_rmtree(dir);
    free(bin);
    free(dir);
}

/* With no memory cgroup at hand, `traceq run` asks systemd for a delegated scope: a probe, then the same command
 * again under `systemd-run --user --scope -p Delegate=yes` (a fake systemd-run on PATH logs and execs it). The new
 * process is marked and never asks again: here its scope has no cgroup either, so the watchdog holds the limit. */
Test(cgroup_v2, no_cgroup_reruns_the_command_in_a_delegated_systemd_scope)
{
    char run[4400], bin[4300], cmd[16384], *out = NULL, *err = NULL;
    char *own = fake_tree(run, sizeof run), *dir = tq_tmpdir();
    put(own, "cgroup.controllers", "cpu pids\n"); /* no memory: no cgroup can be made */
    snprintf(bin, sizeof bin, "%s/bin", dir);
    cr_assert_eq(mkdir(bin, 0755), 0);
    put(bin, "systemd-run", "#!/bin/sh\necho \"$*\" >> \"$FAKE_SYSTEMD_LOG\"\n"
                            "while [ \"$#\" -gt 0 ] && [ \"$1\" != \"--\" ]; do shift; done\nshift\nexec \"$@\"\n");
    cr_assert_eq(tq_runf("chmod 0755 '%s/systemd-run' && cd '%s' && '%s' synth --shape 16x16x16 -o in.npy >/dev/null",
                         bin, dir, tq_build_path("traceq")), 0);
    snprintf(cmd, sizeof cmd, "cd '%s' && PATH='%s':\"$PATH\" FAKE_SYSTEMD_LOG='%s/log' TRACEQ_CGROUP_ROOT='%s' '%s' "
             "run --op gaussian --input in.npy --output out.npy --chunks none --memory-per-worker 256MiB --json", dir,
             bin, dir, own, tq_build_path("traceq"));
    int rc = tq_run(cmd, &out, &err);
    cr_assert_eq(rc, 0, "rc %d: %s %s", rc, out, err);
    cr_assert(strstr(out, "RSS watchdog") != NULL, "%s", out);
    char *log = get(dir, "log");
    cr_assert(!strncmp(log, "--user --scope -p Delegate=yes --quiet -- true\n", 47), "no probe first: %s", log);
    const char *second = strchr(log, '\n') + 1;
    cr_assert(!strncmp(second, "--user --scope -p Delegate=yes --quiet -- /", 43) &&
              strstr(second, " run --op gaussian --input in.npy ") != NULL, "not rerun in a scope: %s", log);
    cr_assert_null(strchr(strchr(second, '\n') + 1, '\n'), "asked systemd again from inside the scope: %s", log);
    free(log);
    free(out);
    free(err);
    tq_rmtree(dir);
    tq_rmtree(own);
    free(dir);
    free(own);
}
