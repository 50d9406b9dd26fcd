/* test_model.c - the model file: round trip, strict rejection of bad files, predictions and extrapolation. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../model/model.h"
#include "helpers.h"

static void sample_model(struct tq_model *m)
{
    memset(m, 0, sizeof *m);
    snprintf(m->op, sizeof m->op, "gst3d");
    snprintf(m->target, sizeof m->target, "peak_rss_bytes");
    m->fit.kind = TQ_FIT_POWER;
    m->fit.ncoef = 3;
    m->fit.coef[0] = 1.0e8;
    m->fit.coef[1] = 212.5;
    m->fit.coef[2] = 1.0123456789012345;
    m->bound.margin_bytes = 3.5e6;
    m->bound.margin_rel = 0.031;
    m->cv = (struct tq_fit_metrics){64, 1.5e6, 1.1e6, 0.9991, 0.97, 2.9e6, 0.025};
    m->folds = 5;
    m->seed = 42;
    struct tq_fit_point pts[2] = {{{100, 100, 100}, 0, NULL}, {{400, 400, 400}, 0, NULL}};
    tq_model_set_range(m, pts, 2);
}

static char *write_text(const char *dir, const char *name, const char *text)
{
    char *path;
    cr_assert(asprintf(&path, "%s/%s", dir, name) > 0);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
    return path;
}

Test(model, json_round_trip_is_exact)
{
    char *dir = tq_tmpdir(), *path;
    cr_assert(asprintf(&path, "%s/m.json", dir) > 0);
    struct tq_model a, b;
    struct tq_err err = {0};
    sample_model(&a);
    cr_assert_eq(tq_model_write(&a, path, 0, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(tq_model_write(&a, path, 0, &err), TQ_ERR_IO, "must not clobber");
    cr_assert(strstr(err.msg, "--force"));
    cr_assert_eq(tq_model_write(&a, path, 1, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(tq_model_read(path, "gst3d", &b, &err), TQ_OK, "%s", err.msg);
    cr_assert_str_eq(b.op, "gst3d");
    cr_assert_str_eq(b.target, "peak_rss_bytes");
    cr_assert_eq(b.fit.kind, TQ_FIT_POWER);
    for (int j = 0; j < 3; j++)
        cr_assert_eq(a.fit.coef[j], b.fit.coef[j], "coef %d", j);
    cr_assert_eq(a.bound.margin_rel, b.bound.margin_rel);
    cr_assert_eq(b.cv.n, 64);
    cr_assert_eq(b.hi[3], 64e6);
    size_t s[3] = {300, 200, 100};
    cr_assert_eq(tq_model_bound(&a, s), tq_model_bound(&b, s));
    tq_rmtree(dir);
    free(dir);
    free(path);
}

static void expect_reject(const char *text, const char *op, const char *needle)
{
    char *dir = tq_tmpdir();
    char *path = write_text(dir, "bad.json", text);
    struct tq_model m;
    struct tq_err err = {0};
    cr_assert_eq(tq_model_read(path, op, &m, &err), TQ_ERR_FORMAT, "accepted: %s", text);
    cr_assert(strstr(err.msg, needle) != NULL, "message '%s' lacks '%s'", err.msg, needle);
    tq_rmtree(dir);
    free(dir);
    free(path);
}

#define GOOD_TAIL                                                                                                 \
    "\"training\":{\"points\":4,\"inlines\":[1,2],\"xlines\":[1,2],\"samples\":[1,2],\"volume\":[1,8]},"           \
    "\"cv\":{\"folds\":2,\"seed\":1,\"rmse\":1,\"mae\":1,\"r2\":1,\"accuracy\":1},"                                 \
    "\"residuals\":{\"max_under_bytes\":0,\"max_under_relative\":0},"                                              \
    "\"bound\":{\"margin_bytes\":1,\"margin_relative\":0}}"
#define HEAD(v, op) "{\"format\":\"traceq-model\",\"version\":" v ",\"op\":\"" op "\",\"target\":\"peak_rss_bytes\","

Test(model, strict_reader_rejects_bad_files)
{
    /* a good one first, so the rejections below are about the one thing changed */
    char *dir = tq_tmpdir();
    char *path = write_text(dir, "ok.json", HEAD("1", "gst3d") "\"kind\":\"linear\",\"features\":[\"intercept\","
                                                               "\"volume\"],\"coefficients\":[1,2]," GOOD_TAIL);
    struct tq_model m;
    struct tq_err err = {0};
    cr_assert_eq(tq_model_read(path, "gst3d", &m, &err), TQ_OK, "%s", err.msg);
    tq_rmtree(dir);
    free(dir);
    free(path);

    expect_reject(HEAD("1", "gst3d") "\"kind\":\"linear\",\"features\":[\"intercept\",\"volume\"],"
                                     "\"coefficients\":[1,2]," GOOD_TAIL,
                  "envelope", "not 'envelope'");
    expect_reject(HEAD("3", "gst3d") "\"kind\":\"linear\",\"features\":[\"intercept\",\"volume\"],"
                                     "\"coefficients\":[1,2]," GOOD_TAIL,
                  NULL, "unsupported traceq-model version 3");
    expect_reject(HEAD("1", "gst3d") "\"kind\":\"linear\",\"features\":[\"intercept\",\"volume\"]," GOOD_TAIL,
                  NULL, "missing key \"coefficients\"");
    expect_reject(HEAD("1", "gst3d") "\"kind\":\"linear\",\"features\":[\"intercept\",\"volume\"],"
                                     "\"coefficients\":[1,NaN]," GOOD_TAIL,
                  NULL, "not valid JSON");
    expect_reject(HEAD("1", "gst3d") "\"kind\":\"linear\",\"features\":[\"intercept\",\"samples\"],"
                                     "\"coefficients\":[1,2]," GOOD_TAIL,
                  NULL, "expected 'volume'");
    expect_reject(HEAD("1", "gst3d") "\"kind\":\"cubic\",\"features\":[\"intercept\",\"volume\"],"
                                     "\"coefficients\":[1,2]," GOOD_TAIL,
                  NULL, "unknown model kind 'cubic'");
    expect_reject("{\"format\":\"traceq-plan\",\"version\":1}", NULL, "expected 'traceq-model'");
    expect_reject("[1,2,3]", NULL, "not a JSON object");
    expect_reject(HEAD("1", "gst3d") "\"kind\":\"linear\",\"features\":[\"intercept\",\"volume\"],"
                                     "\"coefficients\":[1,\"2\"]," GOOD_TAIL,
                  NULL, "\"coefficients\" must be a number");
}

Test(model, missing_file_is_an_io_error)
{
    struct tq_model m;
    struct tq_err err = {0};
    cr_assert_eq(tq_model_read("/nonexistent/m.json", NULL, &m, &err), TQ_ERR_IO);
    cr_assert(strstr(err.msg, "/nonexistent/m.json"));
}

/* A model read from a pipe (no size to go by: the text buffer grows as it reads), padded past several growths,
 * reads the same as from its file. */
Test(model, a_model_read_from_a_pipe_is_the_same)
{
    char *dir = tq_tmpdir(), *path, *padded;
    cr_assert(asprintf(&path, "%s/m.json", dir) > 0 && asprintf(&padded, "%s/padded.json", dir) > 0);
    struct tq_model a, b, c;
    struct tq_err err = {0};
    sample_model(&a);
    memset(&b, 0, sizeof b);
    memset(&c, 0, sizeof c);
    cr_assert_eq(tq_model_write(&a, path, 0, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(tq_runf("(printf '%%40000s' ''; cat %s; printf '%%40000s' '') > %s", path, padded), 0);
    cr_assert_eq(tq_model_read(padded, "gst3d", &b, &err), TQ_OK, "%s", err.msg);
    char *fifo;
    cr_assert(asprintf(&fifo, "%s/pipe", dir) > 0);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        _exit(tq_runf("cat %s > %s", padded, fifo) == 0 ? 0 : 1);
    cr_assert_eq(tq_model_read(fifo, "gst3d", &c, &err), TQ_OK, "%s", err.msg);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cr_assert_eq(memcmp(&b, &c, sizeof b), 0, "the pipe's model differs from the file's");
    cr_assert_eq(b.fit.coef[2], a.fit.coef[2]);
    tq_rmtree(dir);
    free(dir);
    free(path);
    free(padded);
    free(fifo);
}

Test(model, predict_warns_when_extrapolating)
{
    struct tq_model m;
    sample_model(&m);
    m.fit.kind = TQ_FIT_LINEAR;
    m.fit.ncoef = 2;
    m.fit.coef[1] = 240;
    struct tq_prediction p;
    size_t in[3] = {200, 300, 400}, out[3] = {800, 800, 800};
    tq_model_predict(&m, in, &p);
    cr_assert_eq(p.extrapolating, 0, "%s", p.warning);
    cr_assert_float_eq(p.bytes, 1e8 + 240.0 * 2.4e7, 1.0);
    cr_assert_float_eq(p.bound, p.bytes * 1.031, 1.0, "relative margin dominates here");
    tq_model_predict(&m, out, &p);
    cr_assert_eq(p.extrapolating, 1);
    cr_assert(strstr(p.warning, "volume") && strstr(p.warning, "above the training range [1e+06, 6.4e+07] by 4.48e+08 (8.000x)"), "%s", p.warning);
}
