/* test_adapt.c - `traceq run --adapt` end to end: a model scaled by 0.5 (under-predicting) costs at most one OOM kill
 * and the output equals the whole-volume run; one scaled by 3 (over-predicting) ends with fewer blocks than its
 * static plan; --learn writes a model `traceq plan` reads, which plans differently and predicts what was measured;
 * with a correct model the quarter blocks beside the first block stop when it ends (a half block takes the rest);
 * a killed --adapt run resumes from its journaled cut; a user's command runs adaptively too; bad input exits 2.
 *
 * The memory comes from the test hook --pad-per-voxel (1600 bytes per output voxel of a block): the envelope's
 * input box is its output box, so a block's peak is a + b * voxels, and the test measures a and b first (two
 * runs) and writes a linear model of them, then scaled copies of it. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../model/model.h"
#include "../model/plan.h"
#include "helpers.h"

#define SHAPE "64x48x50"
#define VOXELS (64.0 * 48 * 50)
#define PAD "--pad-per-voxel 1600"

/* A run's --json report, parsed (the test fails when it does not parse). */
static json_t *report(const char *text)
{
    json_error_t je;
    json_t *o = json_loads(text ? text : "", 0, &je);
    cr_assert(o != NULL, "not JSON (%s): %s", je.text, text);
    return o;
}

static long jint(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    cr_assert(json_is_integer(v), "no integer %s", key);
    return (long)json_integer_value(v);
}

/* The measured peak (VmHWM) of a one-worker padded run with `chunks`. */
static double measured_peak(const char *dir, const char *chunks)
{
    char *out, *err;
    cr_assert_eq(tq_traceq_in(dir, &out, &err, "run --op envelope --input in.npy --output cal.npy --chunks %s --workers 1 %s "
                    "--force --json", chunks, PAD), 0, "%s", err);
    json_t *o = report(out);
    double peak = (double)json_integer_value(json_object_get(json_array_get(json_object_get(o, "per_worker"), 0),
                                                             "rss_peak_bytes"));
    json_decref(o);
    free(out);
    free(err);
    return peak;
}

/* Write dir/name: a linear model of op (a + b * volume) times `scale`. */
static void write_model(const char *dir, const char *name, const char *op, double a, double b, double scale)
{
    struct tq_model m = {0};
    snprintf(m.op, sizeof m.op, "%s", op);
    snprintf(m.target, sizeof m.target, "peak_rss_bytes");
    m.fit = (struct tq_fit_model){.kind = TQ_FIT_LINEAR, .ncoef = 2, .coef = {a * scale, b * scale}};
    m.bound = (struct tq_fit_bound){.margin_bytes = 0, .margin_rel = 0.05};
    m.cv = (struct tq_fit_metrics){.n = 4, .r2 = 1, .accuracy = 1};
    m.folds = 2;
    m.seed = 42;
    double lo[4] = {1, 1, 1, 1}, hi[4] = {64, 48, 50, VOXELS};
    memcpy(m.lo, lo, sizeof lo);
    memcpy(m.hi, hi, sizeof hi);
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct tq_err err = {0};
    cr_assert_eq(tq_model_write(&m, path, 1, &err), TQ_OK, "%s", err.msg);
}

/* A volume, its whole-volume envelope, and the padded block's model measured from two runs: true.json (1x),
 * under.json (0.5x), over.json (3x). */
static char *setup(double *a, double *b)
{
    char *dir = tq_tmpdir();
    cr_assert_eq(tq_traceq_in(dir, NULL, NULL, "synth --shape " SHAPE " --seed 7 -o in.npy"), 0);
    cr_assert_eq(tq_traceq_in(dir, NULL, NULL, "run --op envelope --input in.npy --output whole.npy --chunks none"), 0);
    double whole = measured_peak(dir, "none"), quarter = measured_peak(dir, "16,48,50");
    *b = (whole - quarter) / (VOXELS - VOXELS / 4);
    *a = whole - *b * VOXELS;
    cr_assert(*b > 1500 && *b < 2500, "the padding should dominate: %g bytes per voxel", *b); /* ASan adds its shadow */
    write_model(dir, "true.json", "envelope", *a, *b, 1);
    write_model(dir, "under.json", "envelope", *a, *b, 0.5);
    write_model(dir, "over.json", "envelope", *a, *b, 3);
    return dir;
}

static const char *const enforcers[] = {"cgroup", "watchdog"};

Test(adapt, underpredicting_model_costs_at_most_one_oom_kill)
{
    double a, b;
    char *dir = setup(&a, &b);
    for (int e = 0; e < 2; e++) {
        if (e == 0 && !tq_have_cgroups())
            continue;
        char *out, *err;
        int rc = tq_traceq_in(dir, &out, &err, "run --op envelope --input in.npy --output under-%s.npy --planner traceq "
                    "--model under.json --memory-per-worker 100MiB --workers 2 --enforce %s --adapt %s --json",
                    enforcers[e], enforcers[e], PAD);
        cr_assert_eq(rc, 0, "%s: %s %s", enforcers[e], out, err);
        json_t *o = report(out), *ad = json_object_get(o, "adapt");
        cr_assert_leq(jint(o, "oom_kills"), 1, "%s", out);
        double c = json_real_value(json_object_get(ad, "correction"));
        cr_assert(c > 1.6 && c < 2.4, "the correction should find the model 2x low: %g", c);
        char name[64];
        snprintf(name, sizeof name, "under-%s.npy", enforcers[e]);
        cr_assert(tq_same_file_in(dir, "whole.npy", name), "%s: the adaptive output differs from the whole run",
                  enforcers[e]);
        json_decref(o);
        free(out);
        free(err);
    }
    tq_rmtree(dir);
    free(dir);
}

Test(adapt, overpredicting_model_ends_with_fewer_blocks_and_learns)
{
    double a, b;
    char *dir = setup(&a, &b);
    char *out, *err;
    cr_assert_eq(tq_traceq_in(dir, &out, &err, "run --op envelope --input in.npy --output static.npy --planner traceq "
                    "--model over.json --memory-per-worker 100MiB --workers 2 %s --json", PAD), 0, "%s", err);
    json_t *o = report(out);
    long static_blocks = jint(o, "blocks_run");
    json_decref(o);
    free(out);
    free(err);
    cr_assert_eq(tq_traceq_in(dir, &out, &err, "run --op envelope --input in.npy --output adapt.npy --planner traceq "
                    "--model over.json --memory-per-worker 100MiB --workers 2 --adapt --learn learned.json %s --json",
                    PAD), 0, "%s", err);
    o = report(out);
    json_t *ad = json_object_get(o, "adapt");
    /* fewer blocks cut; the quarter blocks run beside each probe still leave no more blocks run */
    cr_assert_lt(jint(ad, "blocks_cut"), static_blocks, "%s", out);
    cr_assert_leq(jint(o, "blocks_run"), static_blocks, "%s", out);
    cr_assert_eq(jint(o, "oom_kills"), 0, "%s", out);
    double c = json_real_value(json_object_get(ad, "correction"));
    cr_assert(c > 0.25 && c < 0.45, "the correction should find the model 3x high: %g", c);
    cr_assert(tq_same_file_in(dir, "whole.npy", "adapt.npy"));
    cr_assert(tq_same_file_in(dir, "whole.npy", "static.npy"));

    /* The learned model is a model file: it predicts what the blocks measured (never below, within 10%). */
    char path[4200];
    snprintf(path, sizeof path, "%s/learned.json", dir);
    struct tq_model m;
    struct tq_err merr = {0};
    cr_assert_eq(tq_model_read(path, "envelope", &m, &merr), TQ_OK, "%s", merr.msg);
    json_t *blocks = json_object_get(ad, "blocks");
    cr_assert_geq(json_array_size(blocks), 2);
    for (size_t i = 0; i < json_array_size(blocks); i++) {
        json_t *bl = json_array_get(blocks, i), *lo = json_object_get(bl, "lo"), *hi = json_object_get(bl, "hi");
        size_t s[3];
        for (size_t k = 0; k < 3; k++)
            s[k] = (size_t)(json_integer_value(json_array_get(hi, k)) - json_integer_value(json_array_get(lo, k)));
        struct tq_prediction p;
        tq_model_predict(&m, s, &p);
        double meas = (double)json_integer_value(json_object_get(bl, "rss_peak_bytes"));
        cr_assert(p.bytes >= meas * 0.999 && p.bytes <= meas * 1.1, "block %zu: learned %g, measured %g", i, p.bytes,
                  meas);
    }
    json_decref(o);
    free(out);
    free(err);

    /* `traceq plan` reads it and plans fewer blocks than from the model it corrected, as many as the true one. */
    size_t n[3];
    const char *models[3] = {"over.json", "learned.json", "true.json"};
    for (int k = 0; k < 3; k++) {
        cr_assert_eq(tq_traceq_in(dir, NULL, &err, "plan --op envelope --shape " SHAPE " --model %s --memory 100MiB --workers 2 "
                        "-o plan%d.json", models[k], k), 0, "%s", err);
        free(err);
        snprintf(path, sizeof path, "%s/plan%d.json", dir, k);
        struct tq_plan *p;
        cr_assert_eq(tq_plan_read(path, &p, &merr), TQ_OK, "%s", merr.msg);
        n[k] = p->nblocks;
        tq_plan_free(p);
    }
    cr_assert_lt(n[1], n[0], "learned plan %zu blocks, original %zu", n[1], n[0]);
    cr_assert_eq(n[1], n[2], "learned plan %zu blocks, true model's %zu", n[1], n[2]);
    tq_rmtree(dir);
    free(dir);
}

/* A correct model: the second worker's quarter blocks stop when the first block ends and agrees with the model; the
 * quarters of that block not yet handed out go out as one half block (one block more than static, not three). */
Test(adapt, correct_model_merges_the_quarters_left)
{
    double a, b;
    char *dir = setup(&a, &b);
    char *out, *err;
    cr_assert_eq(tq_traceq_in(dir, &out, &err, "run --op envelope --input in.npy --output static.npy --planner traceq "
                    "--model true.json --memory-per-worker 100MiB --workers 2 %s --json", PAD), 0, "%s", err);
    json_t *o = report(out);
    long static_blocks = jint(o, "blocks_run");
    json_decref(o);
    free(out);
    free(err);
    cr_assert_geq(static_blocks, 2);
    cr_assert_eq(tq_traceq_in(dir, &out, &err, "run --op envelope --input in.npy --output adapt.npy --planner traceq "
                    "--model true.json --memory-per-worker 100MiB --workers 2 --adapt %s --json", PAD), 0, "%s", err);
    o = report(out);
    json_t *ad = json_object_get(o, "adapt"), *blocks = json_object_get(ad, "blocks");
    cr_assert_eq(jint(o, "oom_kills"), 0, "%s", out);
    cr_assert_eq(json_array_size(json_object_get(ad, "recuts")), 0, "%s", out);
    cr_assert_eq(jint(o, "blocks_run"), static_blocks + 2, "quarter, quarter, half instead of one block: %s", out);
    /* the block cut in quarters: the largest block's volume is 4x the smallest's, 2x that of one other */
    double vmax = 0, vmin = 1e300, v[64];
    size_t nb = json_array_size(blocks);
    cr_assert_leq(nb, 64);
    for (size_t i = 0; i < nb; i++) {
        json_t *lo = json_object_get(json_array_get(blocks, i), "lo"), *hi = json_object_get(json_array_get(blocks, i), "hi");
        v[i] = 1;
        for (size_t k = 0; k < 3; k++)
            v[i] *= (double)(json_integer_value(json_array_get(hi, k)) - json_integer_value(json_array_get(lo, k)));
        vmax = v[i] > vmax ? v[i] : vmax;
        vmin = v[i] < vmin ? v[i] : vmin;
    }
    size_t halves = 0;
    for (size_t i = 0; i < nb; i++)
        halves += v[i] * 2 > vmax * 0.9 && v[i] * 2 < vmax * 1.1;
    cr_assert(vmin * 4 > vmax * 0.9 && vmin * 4 < vmax * 1.1, "no quarter block: %s", out);
    cr_assert_geq(halves, 1, "no half block: %s", out);
    cr_assert(tq_same_file_in(dir, "whole.npy", "adapt.npy"));
    json_decref(o);
    free(out);
    free(err);
    tq_rmtree(dir);
    free(dir);
}

static size_t count_lines(const char *path, const char *prefix)
{
    char *t = tq_slurp(path, NULL);
    size_t n = 0;
    for (char *p = t; p && (p = strstr(p, prefix)); p++)
        n++;
    free(t);
    return n;
}

Test(adapt, killed_adaptive_run_resumes_from_its_cut)
{
    double a, b;
    char *dir = setup(&a, &b), jpath[4200];
    snprintf(jpath, sizeof jpath, "%s/part.npy.journal", dir);
    pid_t pid = fork();
    if (pid == 0) {
        if (chdir(dir))
            _exit(97);
        if (!freopen("/dev/null", "w", stdout))
            _exit(96);
        execl(tq_build_path("traceq"), "traceq", "run", "--op", "envelope", "--input", "in.npy", "--output",
              "part.npy", "--planner", "traceq", "--model", "over.json", "--memory-per-worker", "100MiB",
              "--workers", "1", "--adapt", "--pad-per-voxel", "1600", (char *)NULL);
        _exit(98);
    }
    /* killed once the run re-cut and finished a block of the new cut */
    for (int i = 0; i < 40000 && count_lines(jpath, "\ndone ") < 2; i++)
        usleep(500);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFSIGNALED(status), "the run finished before it could be killed");
    size_t done = count_lines(jpath, "\ndone ");
    cr_assert_geq(done, 2);
    cr_assert_eq(count_lines(jpath, "\ncut "), 1, "the re-cut was not journaled");
    char *journal = tq_slurp(jpath, NULL);
    size_t cut[3];
    cr_assert(journal && sscanf(strstr(journal, "\ncut ") + 5, "%zu %zu %zu", &cut[0], &cut[1], &cut[2]) == 3);
    free(journal);

    char *out, *err;
    /* the same command without --adapt is another run */
    cr_assert_eq(tq_traceq_in(dir, &out, &err, "run --op envelope --input in.npy --output part.npy --planner traceq --model "
                    "over.json --memory-per-worker 100MiB --workers 1 --resume %s", PAD), 2, "%s", out);
    cr_assert(strstr(err, "another run") != NULL, "%s", err);
    free(out);
    free(err);
    int rc = tq_traceq_in(dir, &out, &err, "run --op envelope --input in.npy --output part.npy --planner traceq --model "
                "over.json --memory-per-worker 100MiB --workers 1 --adapt --resume %s --json", PAD);
    cr_assert_eq(rc, 0, "%s %s", out, err);
    json_t *o = report(out), *ad = json_object_get(o, "adapt");
    cr_assert_eq(jint(o, "blocks_skipped"), (long)done, "%s", out);
    /* it starts from the journaled cut (the corrected model's, not the static plan's first block): with one
     * worker its first block is the first of that cut */
    json_t *first = json_array_get(json_object_get(ad, "blocks"), 0), *plan_block = json_object_get(o, "block");
    int same_as_static = 1;
    for (size_t k = 0; k < 3; k++) {
        long len = (long)(json_integer_value(json_array_get(json_object_get(first, "hi"), k)) -
                          json_integer_value(json_array_get(json_object_get(first, "lo"), k)));
        cr_assert(len >= 1 && (size_t)len <= cut[k], "axis %zu: block of %ld, cut %zu: %s", k, len, cut[k], out);
        same_as_static &= json_integer_value(json_array_get(plan_block, k)) == (json_int_t)cut[k];
    }
    cr_assert(!same_as_static, "the journaled cut is the static plan's block: %s", out);
    cr_assert(tq_same_file_in(dir, "whole.npy", "part.npy"));
    cr_assert_neq(access(jpath, F_OK), 0, "the journal of a finished run was kept");
    json_decref(o);
    free(out);
    free(err);
    tq_rmtree(dir);
    free(dir);
}

Test(adapt, users_command_runs_adaptively)
{
    char *dir = tq_tmpdir(), *out, *err;
    cr_assert_eq(tq_traceq_in(dir, NULL, NULL, "synth --shape " SHAPE " --seed 7 -o in.npy"), 0);
    /* `cp` needs far less than this model says: blocks grow */
    write_model(dir, "cmd.json", "cmd", 20e6, 2000, 1);
    int rc = tq_traceq_in(dir, &out, &err, "run --cmd 'cp {in} {out}' --input in.npy --output copy.npy --planner traceq "
                "--model cmd.json --memory-per-worker 200MiB --workers 2 --adapt --json");
    cr_assert_eq(rc, 0, "%s %s", out, err);
    json_t *o = report(out), *ad = json_object_get(o, "adapt");
    json_t *first = json_array_get(json_object_get(ad, "blocks"), 0);
    cr_assert_gt(json_integer_value(json_object_get(first, "rss_peak_bytes")), 0, "%s", out);
    cr_assert_geq(json_array_size(json_object_get(ad, "recuts")), 1, "%s", out);
    cr_assert(tq_same_file_in(dir, "in.npy", "copy.npy"));
    json_decref(o);
    free(out);
    free(err);
    tq_rmtree(dir);
    free(dir);
}

Test(adapt, bad_input_exits_2)
{
    char *dir = tq_tmpdir(), *err;
    cr_assert_eq(tq_traceq_in(dir, NULL, NULL, "synth --shape 16x12x10 --seed 7 -o in.npy"), 0);
    write_model(dir, "m.json", "envelope", 20e6, 2000, 1);
    cr_assert_eq(tq_runf("touch '%s/taken.json' && mkdir '%s/ro' && chmod 555 '%s/ro'", dir, dir, dir), 0);
    static const struct {
        const char *args, *says;
    } cases[] = {
        {"--chunks none --learn l.json", "--learn goes with --adapt"},
        {"--chunks none --adapt --memory-per-worker 1GiB", "--adapt needs --model"},
        {"--chunks none --adapt --model m.json", "needs a memory limit"},
        {"--chunks none --adapt --model m.json --memory-per-worker 0", "needs a memory limit"},
        {"--chunks none --adapt --model m.json --memory-per-worker 1GiB --learn taken.json", "exists"},
        {"--chunks none --adapt --model m.json --memory-per-worker 1GiB --learn nodir/l.json", "cannot write"},
        {"--chunks none --adapt --model nothere.json --memory-per-worker 1GiB", "nothere.json"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int rc = tq_traceq_in(dir, NULL, &err, "run --op envelope --input in.npy --output o.npy %s", cases[i].args);
        cr_assert_eq(rc, 2, "%s: rc %d: %s", cases[i].args, rc, err);
        cr_assert(strstr(err, cases[i].says) != NULL, "%s: %s", cases[i].args, err);
        free(err);
        char p[4200];
        snprintf(p, sizeof p, "%s/o.npy", dir);
        cr_assert_neq(access(p, F_OK), 0, "%s left an output", cases[i].args);
    }
    /* The existing file is untouched. */
    char p[4200];
    snprintf(p, sizeof p, "%s/taken.json", dir);
    struct stat st;
    cr_assert(stat(p, &st) == 0 && st.st_size == 0);
    tq_rmtree(dir);
    free(dir);
}
