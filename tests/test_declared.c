/* test_declared.c - the operators' declared slab buffers (operators/block_exec.h) and the "declared" model kind
 * that uses them as a feature (model/fit.h): exact sizes, the slab cap, fitting, choice, the model file. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../model/fit.h"
#include "../model/model.h"
#include "../operators/block_exec.h"
#include "helpers.h"

static uint64_t declared(const char *op, size_t i, size_t x, size_t s)
{
    struct tq_op_params p;
    tq_op_params_default(&p);
    p.threads = 1;
    size_t shape[3] = {i, x, s};
    return tq_op_slab_buffer_bytes(tq_op_find(op), &p, shape);
}

Test(declared, slab_buffers_are_exact_rounded_and_capped)
{
    /* below 2 MiB per buffer: the whole input and the whole output, 4 bytes a voxel each */
    cr_assert_eq(declared("gaussian", 40, 40, 40), 8ull * 40 * 40 * 40);
    /* from 2 MiB up each buffer is rounded up to whole 2 MiB huge pages: 95x80x87 floats = 2.52 MiB -> 4 MiB */
    cr_assert_eq(declared("gaussian", 95, 80, 87), 2ull * (4u << 20));
    /* GST3D: its input is the whole volume; its output (trimmed by 1 per face) has no slab buffer, each thread
     * hands its inlines over from a plane of its own (put_inlines) */
    cr_assert_eq(declared("gst3d", 40, 40, 40), 4ull * 40 * 40 * 40);
    /* once a 64 MiB slab no longer holds the volume, more inlines add nothing: the slab cap */
    uint64_t a = declared("gaussian", 2000, 200, 200), b = declared("gaussian", 3000, 200, 200);
    cr_assert_eq(a, b);
    cr_assert(a < 4ull * 2000 * 200 * 200, "%llu", (unsigned long long)a);
    cr_assert(declared("envelope", 3000, 200, 200) > 0);
    /* a shape the operator refuses declares nothing */
    cr_assert_eq(declared("gst3d", 2, 2, 2), 0);
    double sh[3] = {40, 40, 40};
    cr_assert(isnan(tq_fit_declared_bytes(NULL, sh)));
}

/* The planner and the model's choice need predictions that never fall as a shape grows: along cubes and along
 * each axis, across the slab cap, for every operator. */
Test(declared, never_falls_as_an_axis_grows)
{
    const char *ops[] = {"gaussian", "gst3d", "envelope"};
    for (size_t o = 0; o < 3; o++) {
        uint64_t prev = 0;
        for (size_t s = 30; s <= 1300; s += 7) {
            uint64_t d = declared(ops[o], s, s, s);
            cr_assert(d >= prev, "%s %zu^3: %llu < %llu", ops[o], s, (unsigned long long)d, (unsigned long long)prev);
            prev = d;
        }
        for (int a = 0; a < 3; a++) {
            prev = 0;
            for (size_t v = 30; v <= 3000; v += 13) {
                size_t sh[3] = {300, 300, 300};
                sh[a] = v;
                uint64_t d = declared(ops[o], sh[0], sh[1], sh[2]);
                cr_assert(d >= prev, "%s axis %d at %zu: %llu < %llu", ops[o], a, v, (unsigned long long)d,
                          (unsigned long long)prev);
                prev = d;
            }
        }
    }
}

/* Points that follow the declared buffers (plus a constant and noise-free): the declared kind recovers them
 * exactly, and tq_fit_select chooses it over every shape-only kind. */
Test(declared, fitted_and_chosen_when_the_data_follows_it)
{
    const struct tq_op *op = tq_op_find("gaussian");
    struct tq_fit_point pts[27];
    size_t n = 0;
    for (int i = 40; i <= 120; i += 40)
        for (int x = 40; x <= 120; x += 40)
            for (int s = 40; s <= 120; s += 40, n++) {
                pts[n] = (struct tq_fit_point){.shape = {i, x, s}, .op = op};
                pts[n].y = 15000 + (double)declared("gaussian", i, x, s);
            }
    struct tq_fit_model m;
    struct tq_err err = {0};
    cr_assert_eq(tq_fit_model(TQ_FIT_DECLARED, pts, n, &m, &err), TQ_OK, "%s", err.msg);
    cr_assert_float_eq(m.coef[0], 15000, 1.0);
    cr_assert_float_eq(m.coef[1], 1.0, 1e-9);
    double far[3] = {250, 210, 230};
    cr_assert_float_eq(tq_fit_eval(&m, far), 15000 + (double)declared("gaussian", 250, 210, 230), 2.0);
    struct tq_fit_candidate c[TQ_FIT_NKINDS];
    size_t best = 0;
    cr_assert_eq(tq_fit_select(pts, n, 5, 42, c, &best, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(best, TQ_FIT_DECLARED, "chose %s", tq_fit_kind_name(c[best].kind));
    /* without an operator (a user's command) the kind is not fitted, and says why */
    for (size_t k = 0; k < n; k++)
        pts[k].op = NULL;
    cr_assert_eq(tq_fit_model(TQ_FIT_DECLARED, pts, n, &m, &err), TQ_ERR_RANGE);
    cr_assert(strstr(err.msg, "no built-in operator declares"), "%s", err.msg);
    cr_assert_eq(tq_fit_select(pts, n, 5, 42, c, &best, &err), TQ_OK, "%s", err.msg);
    cr_assert(!c[TQ_FIT_DECLARED].ok);
    cr_assert_neq(best, TQ_FIT_DECLARED);
}

/* The model file keeps the kind; the reader ties it to the model's operator and refuses it for anything else. */
Test(declared, model_file_round_trip)
{
    char *dir = tq_tmpdir(), path[4200];
    struct tq_model a, b;
    memset(&a, 0, sizeof a);
    snprintf(a.op, sizeof a.op, "gaussian");
    snprintf(a.target, sizeof a.target, "peak_rss_bytes");
    a.fit = (struct tq_fit_model){.kind = TQ_FIT_DECLARED, .ncoef = 2, .coef = {6e6, 1.0}};
    a.fit.op = tq_op_find("gaussian");
    a.folds = 5;
    a.seed = 42;
    struct tq_fit_point pts[2] = {{.shape = {40, 40, 40}}, {.shape = {120, 120, 120}}};
    tq_model_set_range(&a, pts, 2);
    snprintf(path, sizeof path, "%s/m.json", dir);
    struct tq_err err = {0};
    cr_assert_eq(tq_model_write(&a, path, 0, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(tq_model_read(path, "gaussian", &b, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(b.fit.kind, TQ_FIT_DECLARED);
    size_t shape[3] = {250, 210, 230};
    double s[3] = {250, 210, 230};
    cr_assert_float_eq(tq_model_eval(&b, s), 6e6 + (double)declared("gaussian", 250, 210, 230), 1.0);
    struct tq_prediction p;
    tq_model_predict(&b, shape, &p);
    cr_assert(p.bound >= p.bytes && p.extrapolating);
    /* the same file claiming a user's command cannot be evaluated */
    char *text = tq_slurp(path, NULL), *at = text ? strstr(text, "\"gaussian\"") : NULL;
    cr_assert(at);
    FILE *f = fopen(path, "w");
    fprintf(f, "%.*s\"cmd\"%s", (int)(at - text), text, at + strlen("\"gaussian\""));
    fclose(f);
    free(text);
    cr_assert_eq(tq_model_read(path, NULL, &b, &err), TQ_ERR_FORMAT);
    cr_assert(strstr(err.msg, "a declared model needs a built-in operator, not 'cmd'"), "%s", err.msg);
    tq_rmtree(dir);
    free(dir);
}
