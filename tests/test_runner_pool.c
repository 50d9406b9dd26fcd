/* test_runner_pool.c - the worker pool itself, with a small task that writes a known function of the voxel index
 * into a raw float file: every plan fills the output exactly; OOM kills (cgroup and watchdog) are split and
 * retried; failures name their cause; a journal lets a broken run resume without redoing blocks; a signal
 * cleans everything up. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../runner/cgroup.h"
#include "../runner/runner.h"
#include "helpers.h"

#define MIB (1024ull * 1024ull)

struct fake {
    char out[4200];   /* raw float32 output file, shape sh */
    char log[4200];   /* each computed box appended as a line (to count recomputation) */
    size_t sh[3];
    size_t fail_lo0;  /* the block starting at this inline fails (SIZE_MAX: none) */
    int crash;        /* failing block aborts instead of returning an error */
    int sleep_ms;
};

static float expected(size_t i, size_t j, size_t k)
{
    return (float)(i * 10000 + j * 100 + k) * 0.5f;
}

static tq_status fake_compute(void *ctx, const struct tq_box *b, struct tq_err *err)
{
    struct fake *f = ctx;
    if (f->sleep_ms)
        usleep((useconds_t)f->sleep_ms * 1000);
    if (b->lo[0] == f->fail_lo0) {
        if (f->crash)
            raise(SIGABRT); /* not SIGSEGV: AddressSanitizer would catch that one and exit 1 */
        return tq_fail(err, TQ_ERR_IO, "cannot read the input: disk on fire");
    }
    int fd = open(f->out, O_WRONLY);
    if (fd < 0)
        return tq_fail_errno(err, TQ_ERR_IO, "open %s", f->out);
    size_t row = tq_box_len(b, 2);
    float *buf = malloc(row * sizeof *buf);
    for (size_t i = b->lo[0]; i < b->hi[0]; i++)
        for (size_t j = b->lo[1]; j < b->hi[1]; j++) {
            for (size_t k = 0; k < row; k++)
                buf[k] = expected(i, j, b->lo[2] + k);
            off_t off = (off_t)(((i * f->sh[1] + j) * f->sh[2] + b->lo[2]) * sizeof(float));
            if (pwrite(fd, buf, row * sizeof *buf, off) != (ssize_t)(row * sizeof *buf))
                return tq_fail(err, TQ_ERR_IO, "short write");
        }
    free(buf);
    close(fd);
    FILE *log = fopen(f->log, "a");
    fprintf(log, "%zu %zu %zu %zu %zu %zu\n", b->lo[0], b->lo[1], b->lo[2], b->hi[0], b->hi[1], b->hi[2]);
    fclose(log);
    return TQ_OK;
}

/* A fresh output file of NaNs in a fresh folder. */
static void fake_init(struct fake *f, const char *dir, size_t i, size_t x, size_t s)
{
    memset(f, 0, sizeof *f);
    f->sh[0] = i, f->sh[1] = x, f->sh[2] = s;
    f->fail_lo0 = (size_t)-1;
    snprintf(f->out, sizeof f->out, "%s/out.raw", dir);
    snprintf(f->log, sizeof f->log, "%s/computed.log", dir);
    size_t n = i * x * s;
    float *nan = malloc(n * sizeof *nan);
    for (size_t v = 0; v < n; v++)
        nan[v] = NAN;
    FILE *o = fopen(f->out, "wb");
    fwrite(nan, sizeof *nan, n, o);
    fclose(o);
    free(nan);
    fclose(fopen(f->log, "w"));
}

/* Every voxel holds its expected value. */
static void fake_check(const struct fake *f)
{
    size_t len;
    float *v = (float *)tq_slurp(f->out, &len);
    cr_assert_eq(len, f->sh[0] * f->sh[1] * f->sh[2] * sizeof(float));
    for (size_t i = 0; i < f->sh[0]; i++)
        for (size_t j = 0; j < f->sh[1]; j++)
            for (size_t k = 0; k < f->sh[2]; k++) {
                float got = v[(i * f->sh[1] + j) * f->sh[2] + k];
                if (got != expected(i, j, k))
                    cr_assert_fail("voxel (%zu,%zu,%zu) = %g, want %g", i, j, k, got, expected(i, j, k));
            }
    free(v);
}

static size_t count_lines(const char *path)
{
    char *t = tq_slurp(path, NULL);
    size_t n = 0;
    for (char *p = t; p && *p; p++)
        n += *p == '\n';
    free(t);
    return n;
}

/* A regular grid plan of a x b x c blocks (edge blocks smaller) over shape sh. */
static size_t grid(const size_t sh[3], const size_t step[3], struct tq_box *out)
{
    size_t n = 0;
    for (size_t i = 0; i < sh[0]; i += step[0])
        for (size_t j = 0; j < sh[1]; j += step[1])
            for (size_t k = 0; k < sh[2]; k += step[2]) {
                struct tq_box b = {{i, j, k}, {i + step[0], j + step[1], k + step[2]}};
                for (int a = 0; a < 3; a++)
                    if (b.hi[a] > sh[a])
                        b.hi[a] = sh[a];
                out[n++] = b;
            }
    return n;
}

static struct tq_runner_task fake_task(struct fake *f)
{
    return (struct tq_runner_task){
        .compute = fake_compute, .ctx = f, .splittable = 7u, .bytes_per_voxel = sizeof(float)};
}

Test(runner_pool, every_plan_fills_the_output_exactly)
{
    static const size_t steps[][3] = {{40, 36, 50}, {20, 18, 25}, {13, 36, 7}, {7, 11, 50}, {1, 36, 50}};
    char *dir = tq_tmpdir();
    for (size_t p = 0; p < sizeof steps / sizeof steps[0]; p++) {
        struct fake f;
        fake_init(&f, dir, 40, 36, 50);
        struct tq_box blocks[2000];
        size_t n = grid(f.sh, steps[p], blocks);
        struct tq_runner_task task = fake_task(&f);
        struct tq_runner_opts o = {.workers = 2, .memory_per_worker = 256 * MIB, .retries = 2};
        struct tq_runner_report rep;
        struct tq_err err = {0};
        cr_assert_eq(tq_runner_run(&task, blocks, n, &o, &rep, &err), TQ_OK, "%s", err.msg);
        cr_assert_eq(rep.blocks_run, n);
        cr_assert_eq(rep.oom_kills, 0);
        cr_assert_eq(rep.worker[0].blocks + rep.worker[1].blocks, n);
        cr_assert_eq(rep.bytes_out, 40 * 36 * 50 * sizeof(float));
        cr_assert_gt(rep.worker[0].rss_peak, 0);
        cr_assert_eq(count_lines(f.log), n);
        fake_check(&f);
    }
    tq_rmtree(dir);
    free(dir);
}

/* One 40x36x50 block padded to ~110 MiB under a 64 MiB limit: it must be OOM-killed, split and retried. */
static void oom_case(enum tq_enforce how)
{
    char *dir = tq_tmpdir();
    struct fake f;
    fake_init(&f, dir, 40, 36, 50);
    struct tq_box whole = {{0, 0, 0}, {40, 36, 50}};
    struct tq_runner_task task = fake_task(&f);
    f.sleep_ms = how == TQ_ENFORCE_WATCHDOG ? 60 : 0; /* give the 5 ms sampler time to see the padding */
    struct tq_runner_opts o = {.workers = 2, .memory_per_worker = 64 * MIB, .retries = 3, .enforce = how,
                               .pad_per_voxel = 1600};
    struct tq_runner_report rep;
    struct tq_err err = {0};
    cr_assert_eq(tq_runner_run(&task, &whole, 1, &o, &rep, &err), TQ_OK, "%s", err.msg);
    cr_assert_geq(rep.oom_kills, 1, "the padded block was never killed");
    cr_assert_geq(rep.splits, 1);
    cr_assert_geq(rep.blocks_run, 2);
    cr_assert_eq(rep.bytes_out, 40 * 36 * 50 * sizeof(float));
    if (how == TQ_ENFORCE_WATCHDOG)
        cr_assert(strstr(rep.mechanism, "watchdog") != NULL, "%s", rep.mechanism);
    else
        cr_assert(strstr(rep.mechanism, "cgroup") != NULL, "%s", rep.mechanism);
    fake_check(&f);

    /* Without retries the same block fails and says why. */
    o.retries = 0;
    cr_assert_eq(tq_runner_run(&task, &whole, 1, &o, &rep, &err), TQ_ERR_LIMIT);
    cr_assert(strstr(err.msg, "OOM-killed") != NULL, "%s", err.msg);
    tq_rmtree(dir);
    free(dir);
}

Test(runner_pool, oom_killed_block_is_split_and_retried)
{
    if (!tq_have_cgroups())
        cr_skip_test("needs root and a writable memory cgroup");
    oom_case(TQ_ENFORCE_CGROUP);
}

Test(runner_pool, watchdog_fallback_splits_too)
{
    oom_case(TQ_ENFORCE_WATCHDOG);
}

Test(runner_pool, failures_are_reported_with_their_cause)
{
    char *dir = tq_tmpdir();
    struct fake f;
    fake_init(&f, dir, 40, 36, 50);
    struct tq_box blocks[16];
    size_t n = grid(f.sh, (size_t[3]){10, 36, 50}, blocks);
    struct tq_runner_task task = fake_task(&f);
    struct tq_runner_opts o = {.workers = 2, .retries = 2};
    struct tq_runner_report rep;
    struct tq_err err = {0};
    f.fail_lo0 = 20;
    cr_assert_eq(tq_runner_run(&task, blocks, n, &o, &rep, &err), TQ_ERR_CHILD);
    cr_assert(strstr(err.msg, "[20:30, 0:36, 0:50]") && strstr(err.msg, "disk on fire"), "%s", err.msg);
    cr_assert_eq(rep.crash_retries, 0, "an error exit was retried");
    /* A crash (a signal) is rerun --retries times, then fails naming the signal and the attempts. */
    f.crash = 1;
    cr_assert_eq(tq_runner_run(&task, blocks, n, &o, &rep, &err), TQ_ERR_CHILD);
    cr_assert(strstr(err.msg, "[20:30, 0:36, 0:50]") && strstr(err.msg, "signal 6") && strstr(err.msg, "SIGABRT") &&
              strstr(err.msg, "attempt 3"), "%s", err.msg);
    cr_assert_eq(rep.crash_retries, 2);
    cr_assert_eq(rep.crash_signal[SIGABRT], 2);
    tq_rmtree(dir);
    free(dir);
}

Test(runner_pool, journal_resume_skips_finished_blocks)
{
    char *dir = tq_tmpdir(), jpath[4300];
    snprintf(jpath, sizeof jpath, "%s/out.raw.journal", dir);
    struct fake f;
    fake_init(&f, dir, 40, 36, 50);
    struct tq_box blocks[16];
    size_t n = grid(f.sh, (size_t[3]){10, 18, 50}, blocks); /* 8 blocks */
    struct tq_runner_task task = fake_task(&f);
    struct tq_err err = {0};
    tq_journal *j;
    cr_assert_eq(tq_journal_open(jpath, "fake 40x36x50", NULL, NULL, 0, &j, &err), TQ_OK, "%s", err.msg);
    struct tq_runner_opts o = {.workers = 1, .retries = 2, .journal = j};
    struct tq_runner_report rep;
    f.fail_lo0 = 30; /* blocks 6 and 7 fail; with one worker blocks 0..5 finish first */
    cr_assert_eq(tq_runner_run(&task, blocks, n, &o, &rep, &err), TQ_ERR_CHILD);
    tq_journal_free(j);
    size_t first = count_lines(f.log);
    cr_assert_eq(first, 6);

    /* A finished half of a split block is in the journal too: only the other half may be recomputed. */
    struct tq_box half[2];
    cr_assert_eq(tq_runner_split(&blocks[6], task.splittable, half), 0);
    cr_assert_eq(tq_journal_open(jpath, "fake 40x36x50", NULL, NULL, 1, &j, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(tq_journal_append(j, &half[0], &err), TQ_OK, "%s", err.msg);
    tq_journal_free(j);
    cr_assert_eq(tq_journal_open(jpath, "fake 40x36x50", NULL, NULL, 1, &j, &err), TQ_OK, "%s", err.msg);
    o.journal = j;
    f.fail_lo0 = (size_t)-1;
    fake_compute(&f, &half[0], &err); /* its data, as the earlier run would have written it */
    first++;
    cr_assert_eq(tq_runner_run(&task, blocks, n, &o, &rep, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(rep.blocks_skipped, 6);
    cr_assert_eq(rep.blocks_run, 2, "ran %zu", rep.blocks_run); /* the other half of block 6, and block 7 */
    cr_assert_eq(count_lines(f.log), first + 2);
    cr_assert_eq(tq_journal_finish(j, &err), TQ_OK);
    cr_assert_neq(access(jpath, F_OK), 0);
    fake_check(&f);
    tq_rmtree(dir);
    free(dir);
}

Test(runner_pool, sigterm_kills_workers_and_removes_cgroups)
{
    if (!tq_have_cgroups())
        cr_skip_test("needs root and a writable memory cgroup");
    tq_cg_root *mine;
    cr_assert_eq(tq_cg_root_create(&mine, NULL), TQ_OK);
    char base[1100];
    snprintf(base, sizeof base, "%s", tq_cg_root_path(mine));
    tq_cg_root_free(mine);
    *strrchr(base, '/') = 0;

    char *dir = tq_tmpdir();
    struct fake f;
    fake_init(&f, dir, 4, 4, 4);
    f.sleep_ms = 20000;
    pid_t pid = fork();
    if (pid == 0) {
        struct tq_box blocks[2] = {{{0, 0, 0}, {2, 4, 4}}, {{2, 0, 0}, {4, 4, 4}}};
        struct tq_runner_task task = fake_task(&f);
        struct tq_runner_opts o = {.workers = 2, .memory_per_worker = 64 * MIB, .enforce = TQ_ENFORCE_CGROUP};
        struct tq_runner_report rep;
        struct tq_err err;
        tq_status st = tq_runner_run(&task, blocks, 2, &o, &rep, &err);
        _exit(st == TQ_ERR_CHILD && rep.interrupted == SIGTERM && strstr(err.msg, "interrupted") ? 42 : 1);
    }
    char group[1200];
    snprintf(group, sizeof group, "%s/traceq-%ld", base, (long)pid);
    struct stat sb;
    int seen = 0;
    for (int i = 0; i < 200 && !seen; i++) {
        usleep(10000);
        seen = stat(group, &sb) == 0;
    }
    cr_assert(seen, "the runner never made %s", group);
    usleep(200000);
    kill(pid, SIGTERM);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 42, "status %#x", status);
    cr_assert_neq(stat(group, &sb), 0, "%s was left behind", group);
    cr_assert_eq(count_lines(f.log), 0);
    tq_rmtree(dir);
    free(dir);
}

Test(runner_pool, split_cuts_the_longest_allowed_axis)
{
    struct tq_box b = {{0, 0, 0}, {10, 30, 50}}, h[2];
    cr_assert_eq(tq_runner_split(&b, 3u, h), 0); /* samples not allowed (Envelope) */
    cr_assert_eq(h[0].hi[1], 15);
    cr_assert_eq(h[1].lo[1], 15);
    cr_assert_eq(tq_box_voxels(&h[0]) + tq_box_voxels(&h[1]), tq_box_voxels(&b));
    struct tq_box thin = {{0, 0, 0}, {1, 1, 50}};
    cr_assert_eq(tq_runner_split(&thin, 3u, h), -1);
}
