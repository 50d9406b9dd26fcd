/* test_components.c - the peak fitted as components (model/components.h), the extrapolation margin (model.h),
 * component model files and the fit CLI's --components. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../model/components.h"
#include "../model/model.h"
#include "helpers.h"

/* Known components on the 40..120 step 40 grid (27 shapes): baseline 6 MB, heap 8 B/voxel + 0.5 MB, no mmap,
 * rest 3 bytes per inline plane; the peak is their sum. */
static size_t synth(struct tq_fit_point *peak, struct tq_fit_point *heap, struct tq_fit_point *mmap)
{
    size_t n = 0;
    for (int i = 40; i <= 120; i += 40)
        for (int x = 40; x <= 120; x += 40)
            for (int s = 40; s <= 120; s += 40, n++) {
                double sh[3] = {i, x, s}, v = (double)i * x * s;
                double h = 8 * v + 5e5, r = 3.0 * x * s;
                memcpy(peak[n].shape, sh, sizeof sh);
                memcpy(heap[n].shape, sh, sizeof sh);
                memcpy(mmap[n].shape, sh, sizeof sh);
                heap[n].y = h;
                mmap[n].y = 0;
                peak[n].y = 6e6 + h + r;
            }
    return n;
}

Test(components, fit_recovers_known_components)
{
    struct tq_fit_point peak[27], heap[27], mmap[27];
    size_t n = synth(peak, heap, mmap);
    struct tq_component_input in = {peak, heap, mmap, n};
    int use[TQ_NCOMP];
    cr_assert_eq(tq_components_parse_list("heap,mmap,rest", use, NULL), TQ_OK);
    struct tq_component_fit *f = calloc(1, sizeof *f);
    struct tq_err err = {0};
    cr_assert_eq(tq_components_fit(&in, use, 5, 42, f, &err), TQ_OK, "%s", err.msg);
    /* the smallest rest (3 * 40 * 40) moves into the baseline */
    cr_assert_float_eq(f->baseline, 6e6 + 3 * 40 * 40, 1.0);
    double far[3] = {400, 300, 250}, v = 400.0 * 300 * 250;
    cr_assert_float_eq(tq_fit_eval(&f->cands[TQ_COMP_HEAP][f->best[TQ_COMP_HEAP]].model, far), 8 * v + 5e5,
                       1e-6 * v);
    cr_assert_float_eq(tq_fit_eval(&f->cands[TQ_COMP_MMAP][f->best[TQ_COMP_MMAP]].model, far), 0, 1.0);
    double truth = 6e6 + 8 * v + 5e5 + 3.0 * 300 * 250;
    cr_assert(fabs(tq_components_eval(f, far) - truth) < 1e-4 * truth, "sum %g vs %g", tq_components_eval(f, far),
              truth);
    cr_assert(f->cv.r2 > 0.9999);
    free(f);
}

Test(components, lists_parse_and_reject_unknown_names)
{
    int use[TQ_NCOMP];
    struct tq_err err = {0};
    cr_assert_eq(tq_components_parse_list("heap", use, &err), TQ_OK);
    cr_assert(use[TQ_COMP_HEAP] && !use[TQ_COMP_MMAP] && use[TQ_COMP_REST]);
    cr_assert_eq(tq_components_parse_list("none", use, &err), TQ_OK);
    cr_assert(!use[TQ_COMP_HEAP] && !use[TQ_COMP_REST]);
    cr_assert_eq(tq_components_parse_list("heap,stack", use, &err), TQ_ERR_USAGE);
    cr_assert(strstr(err.msg, "unknown component 'stack'"), "%s", err.msg);
    cr_assert_eq(tq_components_parse_list("heap,heap", use, &err), TQ_ERR_USAGE);
    cr_assert_eq(tq_components_parse_list("heap,", use, &err), TQ_ERR_USAGE);
}

static void small_model(struct tq_model *m, double extrap_rel)
{
    memset(m, 0, sizeof *m);
    snprintf(m->op, sizeof m->op, "gaussian");
    snprintf(m->target, sizeof m->target, "peak_rss_bytes");
    m->fit = (struct tq_fit_model){.kind = TQ_FIT_LINEAR, .ncoef = 2, .coef = {1e7, 10}};
    m->bound = (struct tq_fit_bound){1e5, 0.02};
    m->extrap_rel = extrap_rel;
    struct tq_fit_point pts[2] = {{{40, 40, 40}, 0, NULL}, {{120, 120, 120}, 0, NULL}};
    tq_model_set_range(m, pts, 2);
}

Test(components, bound_widens_monotonically_with_distance)
{
    struct tq_model m;
    small_model(&m, 0.1);
    size_t in[3] = {100, 100, 100};
    struct tq_prediction p;
    tq_model_predict(&m, in, &p);
    cr_assert_eq(p.extrapolating, 0);
    cr_assert_float_eq(p.bound, p.bytes * 1.02, 1e-6 * p.bytes); /* inside: the in-range margin only */
    double prev_rel = 0.02;
    for (size_t side = 121; side <= 600; side += 7) {
        size_t s[3] = {side, side, side};
        tq_model_predict(&m, s, &p);
        cr_assert(p.extrapolating);
        cr_assert(p.margin_rel > prev_rel, "margin %g at side %zu not above %g", p.margin_rel, side, prev_rel);
        cr_assert_float_eq(p.margin_rel, 0.02 + 0.1 * log(p.factor), 1e-12);
        cr_assert_float_eq(p.bound, tq_model_bound(&m, s), 1e-6 * p.bound);
        cr_assert(strstr(p.warning, "bound margin widened"), "%s", p.warning);
        prev_rel = p.margin_rel;
    }
}

/* A straight line (as `fit --kind linear` forces) fitted on the small grid of a convex truth (V ln V, so the line
 * falls ever further behind): the bound must still hold on held-out shapes up to 10x the largest swept volume,
 * and would not without the distance term. */
Test(components, far_held_out_points_stay_under_the_bound)
{
    struct tq_fit_point pts[27];
    size_t n = 0;
    for (int i = 40; i <= 120; i += 40)
        for (int x = 40; x <= 120; x += 40)
            for (int s = 40; s <= 120; s += 40, n++) {
                double v = (double)i * x * s;
                pts[n] = (struct tq_fit_point){.shape = {i, x, s}, .y = 4e6 + 8 * v * (1 + 0.1 * log(v / 64000.0))};
            }
    struct tq_fit_candidate *c = calloc(TQ_FIT_NKINDS, sizeof *c);
    size_t best = TQ_FIT_LINEAR, ignored;
    cr_assert_eq(tq_fit_select(pts, n, 5, 42, c, &ignored, NULL), TQ_OK);
    struct tq_model m;
    small_model(&m, tq_fit_extrap_rel(c[best].kind, pts, n, c[best].bound.margin_rel));
    m.fit = c[best].model;
    m.bound = c[best].bound;
    tq_model_set_range(&m, pts, n);
    cr_assert(m.extrap_rel > 0);
    int missed_without = 0;
    for (size_t side = 130; side <= 258; side += 8) { /* 258^3 = 9.9x 120^3 */
        size_t s[3] = {side, side, side};
        double v = (double)side * side * side, truth = 4e6 + 8 * v * (1 + 0.1 * log(v / 64000.0));
        cr_assert(tq_model_bound(&m, s) >= truth, "bound %g below truth %g at %zu^3", tq_model_bound(&m, s),
                  truth, side);
        struct tq_model flat = m;
        flat.extrap_rel = 0;
        missed_without += tq_model_bound(&flat, s) < truth;
    }
    cr_assert(missed_without > 0, "the test would pass without widening");
    free(c);
}

Test(components, component_model_file_round_trips_and_version1_still_reads)
{
    char *dir = tq_tmpdir(), *path, *old;
    cr_assert(asprintf(&path, "%s/m.json", dir) > 0 && asprintf(&old, "%s/v1.json", dir) > 0);
    struct tq_model a, b;
    small_model(&a, 0.15);
    a.ncomp = 2;
    a.baseline = 5e6;
    snprintf(a.comp[0].name, sizeof a.comp[0].name, "heap");
    a.comp[0].fit = (struct tq_fit_model){.kind = TQ_FIT_LINEAR, .ncoef = 2, .coef = {5e5, 8}};
    snprintf(a.comp[1].name, sizeof a.comp[1].name, "rest");
    a.comp[1].fit = (struct tq_fit_model){.kind = TQ_FIT_KNEE, .ncoef = 4, .coef = {1e5, 1, 2e5, 2}};
    cr_assert_eq(tq_model_write(&a, path, 0, NULL), TQ_OK);
    cr_assert_eq(tq_model_read(path, "gaussian", &b, NULL), TQ_OK);
    cr_assert_eq(b.ncomp, 2);
    cr_assert_str_eq(b.comp[1].name, "rest");
    cr_assert_eq(b.comp[1].fit.kind, TQ_FIT_KNEE);
    cr_assert_eq(b.extrap_rel, 0.15);
    size_t s[3] = {300, 200, 100};
    cr_assert_eq(tq_model_bound(&a, s), tq_model_bound(&b, s));
    struct tq_prediction p;
    tq_model_predict(&b, s, &p);
    cr_assert_float_eq(p.bytes, 5e6 + p.comp_bytes[0] + p.comp_bytes[1], 1e-3);
    /* a version 1 file (before components) reads, with no extrapolation widening */
    FILE *f = fopen(old, "w");
    cr_assert(f);
    fputs("{\"format\":\"traceq-model\",\"version\":1,\"op\":\"gaussian\",\"target\":\"peak_rss_bytes\","
          "\"kind\":\"linear\",\"features\":[\"intercept\",\"volume\"],\"coefficients\":[1e7,10],"
          "\"training\":{\"points\":4,\"inlines\":[40,120],\"xlines\":[40,120],\"samples\":[40,120],"
          "\"volume\":[64000,1728000]},\"cv\":{\"folds\":2,\"seed\":1,\"rmse\":1,\"mae\":1,\"r2\":1,\"accuracy\":1},"
          "\"residuals\":{\"max_under_bytes\":0,\"max_under_relative\":0},"
          "\"bound\":{\"margin_bytes\":1,\"margin_relative\":0.02}}",
          f);
    fclose(f);
    cr_assert_eq(tq_model_read(old, NULL, &b, NULL), TQ_OK);
    cr_assert_eq(b.ncomp, 0);
    cr_assert_eq(b.extrap_rel, 0);
    cr_assert(tq_runf("%s/traceq predict --model %s --shape 240x240x240 >/dev/null 2>&1", getenv("TQ_BUILD"), old) ==
              0);
    /* a version 2 component file naming an unknown component is rejected */
    f = fopen(old, "w");
    fputs("{\"format\":\"traceq-model\",\"version\":2,\"op\":\"gaussian\",\"target\":\"peak_rss_bytes\","
          "\"kind\":\"components\",\"features\":[\"baseline\"],\"coefficients\":[1e6],"
          "\"components\":[{\"name\":\"stack\",\"kind\":\"linear\",\"features\":[\"intercept\",\"volume\"],"
          "\"coefficients\":[1,2]}]}",
          f);
    fclose(f);
    struct tq_err err = {0};
    cr_assert_eq(tq_model_read(old, NULL, &b, &err), TQ_ERR_FORMAT);
    cr_assert(strstr(err.msg, "unknown component 'stack'"), "%s", err.msg);
    tq_rmtree(dir);
    free(dir);
    free(path);
    free(old);
}

/* DIR/d.csv created with the sweep dataset's header, open for the rows; *csv gets its path (caller frees). */
static FILE *new_dataset(const char *dir, char **csv)
{
    cr_assert(asprintf(csv, "%s/d.csv", dir) > 0);
    FILE *f = fopen(*csv, "w");
    cr_assert(f);
    fprintf(f, "op,inlines,xlines,samples,volume,run,status,reason,peak_rss_bytes,vmhwm_bytes,peak_heap_bytes,"
               "peak_mmap_bytes,wall_s,trace\n");
    return f;
}

Test(components, fit_cli_rejects_unknown_component_and_prints_components)
{
    char *dir = tq_tmpdir(), *csv;
    FILE *f = new_dataset(dir, &csv);
    struct tq_fit_point peak[27], heap[27], mmap[27];
    size_t n = synth(peak, heap, mmap);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "gaussian,%.0f,%.0f,%.0f,%.0f,1,ok,,%.0f,%.0f,%.0f,0,0.1,\n", peak[i].shape[0], peak[i].shape[1],
                peak[i].shape[2], peak[i].shape[0] * peak[i].shape[1] * peak[i].shape[2], peak[i].y, peak[i].y,
                heap[i].y);
    fclose(f);
    const char *tq = getenv("TQ_BUILD");
    cr_assert_eq(tq_runf("%s/traceq fit %s --op gaussian --components heap,stack 2>/dev/null", tq, csv), 2);
    cr_assert_eq(tq_runf("%s/traceq fit %s --op gaussian --components heap --target wall_s 2>/dev/null", tq, csv), 2);
    cr_assert_eq(tq_runf("cd %s && %s/traceq fit d.csv --op gaussian -o m.json > fit.txt", dir, tq), 0);
    cr_assert_eq(tq_runf("grep -q '^heap .*grows' %s/fit.txt", dir), 0);
    cr_assert_eq(tq_runf("cd %s && %s/traceq predict --model m.json --shape 250x210x230 2>/dev/null | "
                         "grep -q 'components: baseline'", dir, tq), 0);
    cr_assert_eq(tq_runf("cd %s && %s/traceq predict --model m.json --shape 250x210x230 --json 2>/dev/null | "
                         "grep -q '\"heap\"'", dir, tq), 0);
    tq_rmtree(dir);
    free(dir);
    free(csv);
}


/* A default component fit whose remainder no candidate fits (4 points, rest flat and noisy) falls back to one model
 * of the whole peak, with a note; asking for the components explicitly still fails with the reason. */
Test(components, default_fit_falls_back_when_a_component_cannot_be_fitted)
{
    char *dir = tq_tmpdir(), *csv;
    FILE *f = new_dataset(dir, &csv);
    /* heap grows with the volume; the rest (peak - heap - mmap - baseline) shrinks: no candidate grows with it */
    const double inl[4] = {30, 100, 170, 240}, rest[4] = {900000, 600000, 300000, 100000};
    for (int i = 0; i < 4; i++) {
        double v = inl[i] * 80 * 80, heap = 8 * v;
        fprintf(f, "gaussian,%.0f,80,80,%.0f,1,ok,,%.0f,%.0f,%.0f,0,0.1,\n", inl[i], v, 20e6 + heap + rest[i],
                20e6 + heap + rest[i], heap);
    }
    fclose(f);
    const char *tq = getenv("TQ_BUILD");
    cr_assert_eq(tq_runf("cd %s && %s/traceq fit d.csv --op gaussian --folds 4 -o m.json > fit.txt 2> err.txt", dir,
                         tq), 0);
    cr_assert_eq(tq_runf("grep -q 'no component fit' %s/err.txt", dir), 0);
    cr_assert_eq(tq_runf("grep -q '\"kind\": \"components\"' %s/m.json", dir), 1, "saved a single model");
    cr_assert_eq(tq_runf("cd %s && %s/traceq fit d.csv --op gaussian --folds 4 --components heap,mmap,rest "
                         "2>/dev/null >/dev/null", dir, tq), 2);
    tq_rmtree(dir);
    free(dir);
    free(csv);
}
