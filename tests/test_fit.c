/* test_fit.c - memory model fitting, cross-validation metrics and the bound (model/fit.c). */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "../model/fit.h"

/* The 4x4x4 grid 100..400 step 100 with y = a + b*V (+ uniform noise of +-noise relative). */
static size_t grid_points(struct tq_fit_point *pts, double a, double b, double noise, unsigned long seed)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    size_t n = 0;
    for (int i = 1; i <= 4; i++)
        for (int x = 1; x <= 4; x++)
            for (int s = 1; s <= 4; s++) {
                struct tq_fit_point *p = &pts[n++];
                p->shape[0] = 100.0 * i;
                p->shape[1] = 100.0 * x;
                p->shape[2] = 100.0 * s;
                double y = a + b * p->shape[0] * p->shape[1] * p->shape[2];
                p->y = y * (1.0 + gsl_ran_flat(r, -noise, noise));
            }
    gsl_rng_free(r);
    return n;
}

Test(fit, linear_recovers_coefficients_with_noise)
{
    struct tq_fit_point pts[64];
    size_t n = grid_points(pts, 1e8, 240.0, 0.01, 7);
    struct tq_fit_model m;
    struct tq_err err = {0};
    cr_assert_eq(tq_fit_model(TQ_FIT_LINEAR, pts, n, &m, &err), TQ_OK, "%s", err.msg);
    cr_assert(fabs(m.coef[1] - 240.0) < 240.0 * 0.02, "slope %g", m.coef[1]);
    cr_assert(fabs(m.coef[0] - 1e8) < 0.1e8, "intercept %g", m.coef[0]);
    cr_assert_eq(tq_fit_model(TQ_FIT_ROBUST, pts, n, &m, &err), TQ_OK, "%s", err.msg);
    cr_assert(fabs(m.coef[1] - 240.0) < 240.0 * 0.02, "robust slope %g", m.coef[1]);
}

Test(fit, power_and_poly_recover_curves)
{
    struct tq_fit_point pts[64];
    size_t n = grid_points(pts, 0, 0, 0, 1);
    for (size_t i = 0; i < n; i++) {
        double v = pts[i].shape[0] * pts[i].shape[1] * pts[i].shape[2];
        pts[i].y = 5e7 + 30.0 * pow(v, 1.1);
    }
    struct tq_fit_model m;
    struct tq_err err = {0};
    cr_assert_eq(tq_fit_model(TQ_FIT_POWER, pts, n, &m, &err), TQ_OK, "%s", err.msg);
    cr_assert(fabs(m.coef[2] - 1.1) < 1e-3, "exponent %g", m.coef[2]);
    cr_assert(fabs(m.coef[1] - 30.0) < 0.5, "scale %g", m.coef[1]);
    for (size_t i = 0; i < n; i++) {
        double v = pts[i].shape[0] * pts[i].shape[1] * pts[i].shape[2];
        pts[i].y = 1e6 + 2.0 * v + 1e-7 * v * v;
    }
    cr_assert_eq(tq_fit_model(TQ_FIT_POLY2, pts, n, &m, &err), TQ_OK, "%s", err.msg);
    cr_assert(fabs(m.coef[2] - 1e-7) < 1e-10, "square term %g", m.coef[2]);
    cr_assert(fabs(m.coef[1] - 2.0) < 1e-3, "linear term %g", m.coef[1]);
}

/* Page-rounded sizes (4 KiB until the volume doubles, then 8 KiB) are a step, not a power law: the power fit that
 * would follow the step with an exponent near 30 (2.9 TiB predicted at twice the volume, seen in a sweep) is refused,
 * and the chosen model stays within a page of the data at twice the largest volume. */
Test(fit, power_refuses_a_step)
{
    static const double shapes[6][3] = {{8, 8, 8}, {8, 8, 16}, {8, 16, 8}, {8, 16, 16}, {16, 8, 8}, {16, 8, 16}};
    struct tq_fit_point pts[6];
    for (size_t i = 0; i < 6; i++) {
        memcpy(pts[i].shape, shapes[i], sizeof pts[i].shape);
        pts[i].y = shapes[i][0] * shapes[i][1] * shapes[i][2] >= 2048 ? 8192 : 4096;
    }
    struct tq_fit_model m;
    struct tq_err err = {0};
    cr_assert_eq(tq_fit_model(TQ_FIT_POWER, pts, 6, &m, &err), TQ_ERR_RANGE);
    cr_assert(strstr(err.msg, "not a power law"), "%s", err.msg);
    struct tq_fit_candidate cands[TQ_FIT_NKINDS];
    size_t best;
    cr_assert_eq(tq_fit_select(pts, 6, 5, 42, cands, &best, &err), TQ_OK, "%s", err.msg);
    double twice[3] = {16, 16, 16};
    double y = tq_fit_eval(&cands[best].model, twice);
    cr_assert(y > 0 && y < 8192 + 4096 * 3, "%s predicts %g at 16^3", tq_fit_kind_name(cands[best].kind), y);
}

Test(fit, shape_model_sees_per_axis_costs)
{
    struct tq_fit_point pts[64];
    size_t n = grid_points(pts, 0, 0, 0, 1);
    for (size_t i = 0; i < n; i++) {
        const double *s = pts[i].shape;
        pts[i].y = 1e7 + 4000.0 * s[0] * s[1] + 8.0 * s[0] * s[1] * s[2];
    }
    struct tq_fit_model m;
    struct tq_err err = {0};
    cr_assert_eq(tq_fit_model(TQ_FIT_SHAPE, pts, n, &m, &err), TQ_OK, "%s", err.msg);
    cr_assert(fabs(m.coef[4] - 4000.0) < 1.0, "inlines*xlines %g", m.coef[4]);
    cr_assert(fabs(m.coef[7] - 8.0) < 1e-3, "volume %g", m.coef[7]);
    double probe[3] = {1000, 100, 50};
    cr_assert(fabs(tq_fit_eval(&m, probe) - (1e7 + 4e8 + 4e7)) < 1e3);
}

Test(fit, too_few_points_is_a_range_error)
{
    struct tq_fit_point pts[3] = {{{1, 1, 1}, 1, NULL}, {{2, 2, 2}, 2, NULL}, {{3, 3, 3}, 3, NULL}};
    struct tq_fit_model m;
    struct tq_err err = {0};
    cr_assert_eq(tq_fit_model(TQ_FIT_SHAPE, pts, 3, &m, &err), TQ_ERR_RANGE);
    cr_assert(strstr(err.msg, "at least") != NULL, "%s", err.msg);
}

Test(fit, metrics_on_a_hand_checked_case)
{
    /* residuals y - p: -10 (over), 0, +5 (under 5%: 5/100 ok), +20 (under 20%: not ok) */
    double y[4] = {100, 200, 100, 100}, p[4] = {110, 200, 95, 80};
    struct tq_fit_metrics m;
    tq_fit_metrics_compute(y, p, 4, &m);
    cr_assert_float_eq(m.rmse, sqrt((100.0 + 0 + 25 + 400) / 4), 1e-12);
    cr_assert_float_eq(m.mae, 35.0 / 4, 1e-12);
    cr_assert_float_eq(m.accuracy, 0.75, 1e-12);
    /* mean 125, sst = 625*3 + 5625 = 7500, sse = 525 */
    cr_assert_float_eq(m.r2, 1.0 - 525.0 / 7500.0, 1e-12);
    cr_assert_float_eq(m.max_under, 20.0, 1e-12);
    cr_assert_float_eq(m.max_under_rel, 20.0 / 80.0, 1e-12);
}

Test(fit, cross_validation_is_seeded_and_reproducible)
{
    struct tq_fit_point pts[64];
    size_t n = grid_points(pts, 1e8, 240.0, 0.03, 3);
    double p1[64], p2[64], p3[64];
    struct tq_fit_metrics m1, m2, m3;
    cr_assert_eq(tq_fit_cv(TQ_FIT_LINEAR, pts, n, 5, 42, p1, &m1, NULL), TQ_OK);
    cr_assert_eq(tq_fit_cv(TQ_FIT_LINEAR, pts, n, 5, 42, p2, &m2, NULL), TQ_OK);
    cr_assert_eq(tq_fit_cv(TQ_FIT_LINEAR, pts, n, 5, 43, p3, &m3, NULL), TQ_OK);
    cr_assert(memcmp(p1, p2, sizeof p1) == 0);
    cr_assert(memcmp(p1, p3, sizeof p1) != 0, "another seed must give other folds");
    cr_assert(m1.r2 > 0.99 && m1.rmse > 0);
    struct tq_err err = {0};
    cr_assert_eq(tq_fit_cv(TQ_FIT_LINEAR, pts, n, 1, 42, NULL, &m1, &err), TQ_ERR_USAGE);
}

Test(fit, selection_prefers_linear_and_bound_covers_fresh_points)
{
    struct tq_fit_point pts[64], fresh[64];
    size_t n = grid_points(pts, 1e8, 240.0, 0.02, 11);
    grid_points(fresh, 1e8, 240.0, 0.02, 12345);
    struct tq_fit_candidate c[TQ_FIT_NKINDS];
    size_t best = 99;
    struct tq_err err = {0};
    cr_assert_eq(tq_fit_select(pts, n, 5, 42, c, &best, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(best, TQ_FIT_LINEAR, "chose %s", tq_fit_kind_name((enum tq_fit_kind)best));
    for (int k = 0; k < TQ_FIT_NKINDS; k++) {
        if (!c[k].ok)
            continue;
        /* every held-out point of cross-validation is covered by construction; fresh draws too */
        for (size_t i = 0; i < n; i++) {
            double pred = tq_fit_eval(&c[k].model, fresh[i].shape);
            cr_assert(tq_fit_bound_eval(&c[k].bound, pred) >= fresh[i].y, "%s bound below truth at %zu",
                      tq_fit_kind_name((enum tq_fit_kind)k), i);
        }
    }
}

Test(fit, knee_finds_where_memory_levels_off)
{
    struct tq_fit_point pts[64];
    size_t n = grid_points(pts, 0, 0, 0, 1);
    for (size_t i = 0; i < n; i++) {
        double v = pts[i].shape[0] * pts[i].shape[1] * pts[i].shape[2];
        pts[i].y = fmin(5e6 + 10.0 * v, 1.4e8 + 60.0 * pts[i].shape[1] * pts[i].shape[2]);
    }
    struct tq_fit_model m;
    struct tq_err err = {0};
    cr_assert_eq(tq_fit_model(TQ_FIT_KNEE, pts, n, &m, &err), TQ_OK, "%s", err.msg);
    cr_assert(fabs(m.coef[1] - 10.0) < 0.01, "first slope %g", m.coef[1]);
    cr_assert(fabs(m.coef[3] - 60.0) < 0.01, "plane slope %g", m.coef[3]);
    double big[3] = {800, 800, 800};
    cr_assert(fabs(tq_fit_eval(&m, big) - (1.4e8 + 60.0 * 640000)) < 1e6);
    struct tq_fit_candidate c[TQ_FIT_NKINDS];
    size_t best;
    cr_assert_eq(tq_fit_select(pts, n, 5, 42, c, &best, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(best, TQ_FIT_KNEE, "chose %s", tq_fit_kind_name((enum tq_fit_kind)best));
}

/* A streaming operator's memory: buffers of min(V, cap) voxels, per-plane scratch at every size and halo planes
 * once the volume needs more than one slab. The slab
 * kind recovers the cap and both slopes, wins the selection, and extrapolates to 800^3 (beyond the grid, above the
 * cap) within 1% (2% with 1% noise, where its bound still covers fresh draws at the grid's shapes). */
Test(fit, slab_recovers_cap_and_plane_slope)
{
    struct tq_fit_point pts[64];
    size_t n = grid_points(pts, 0, 0, 0, 1);
    const double a = 8e6, b = 8.0, cap = 1.7e7, c = 128.0, d = 16.0;
    for (size_t i = 0; i < n; i++) {
        double v = pts[i].shape[0] * pts[i].shape[1] * pts[i].shape[2];
        pts[i].y = a + b * fmin(v, cap) + (c + (v >= cap ? d : 0)) * pts[i].shape[1] * pts[i].shape[2];
    }
    struct tq_fit_model m;
    struct tq_err err = {0};
    cr_assert_eq(tq_fit_model(TQ_FIT_SLAB, pts, n, &m, &err), TQ_OK, "%s", err.msg);
    cr_assert(fabs(m.coef[1] - b) < 0.02 * b, "volume slope %g", m.coef[1]);
    cr_assert(fabs(m.coef[2] - c) < 0.02 * c, "plane slope %g", m.coef[2]);
    cr_assert(fabs(m.coef[3] - d) < 0.25 * d, "plane slope above the cap %g", m.coef[3]);
    cr_assert(m.coef[4] > 0.9 * cap && m.coef[4] <= 1.1 * cap, "cap %g", m.coef[4]);
    double big[3] = {800, 800, 800}, truth = a + b * cap + (c + d) * 640000;
    cr_assert(fabs(tq_fit_eval(&m, big) - truth) < 0.01 * truth, "800^3: %g vs %g", tq_fit_eval(&m, big), truth);
    struct tq_fit_candidate cands[TQ_FIT_NKINDS];
    size_t best;
    cr_assert_eq(tq_fit_select(pts, n, 5, 42, cands, &best, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(best, TQ_FIT_SLAB, "chose %s", tq_fit_kind_name((enum tq_fit_kind)best));

    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 3);
    for (size_t i = 0; i < n; i++)
        pts[i].y *= 1.0 + gsl_ran_flat(r, -0.01, 0.01);
    cr_assert_eq(tq_fit_select(pts, n, 5, 42, cands, &best, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(best, TQ_FIT_SLAB, "noisy: chose %s", tq_fit_kind_name((enum tq_fit_kind)best));
    double pred = tq_fit_eval(&cands[best].model, big);
    cr_assert(fabs(pred - truth) < 0.02 * truth, "noisy 800^3: %g vs %g", pred, truth);
    for (size_t i = 0; i < n; i++) { /* fresh noisy draws at the grid shapes stay under the bound */
        double v = pts[i].shape[0] * pts[i].shape[1] * pts[i].shape[2];
        double y = a + b * fmin(v, cap) + (c + (v >= cap ? d : 0)) * pts[i].shape[1] * pts[i].shape[2];
        y *= 1.0 + gsl_ran_flat(r, -0.01, 0.01);
        double p = tq_fit_eval(&cands[best].model, pts[i].shape);
        cr_assert(tq_fit_bound_eval(&cands[best].bound, p) >= y, "bound below a fresh draw at %zu", i);
    }
    gsl_rng_free(r);
}

/* Too few distinct volumes for a bend: the slab kind refuses rather than inventing a cap. */
Test(fit, slab_needs_points_on_both_sides)
{
    struct tq_fit_point pts[5] = {{{10, 10, 10}, 1, NULL}, {{10, 10, 20}, 2, NULL}, {{10, 20, 20}, 3, NULL}, {{20, 20, 20}, 4, NULL},
                                  {{20, 20, 30}, 5, NULL}};
    struct tq_fit_model m;
    struct tq_err err = {0};
    cr_assert_eq(tq_fit_model(TQ_FIT_SLAB, pts, 5, &m, &err), TQ_ERR_RANGE);
}

Test(fit, leave_one_out_cv_on_a_hand_checked_case)
{
    /* folds == points is leave-one-out whatever the shuffle; line fits worked out by hand */
    struct tq_fit_point pts[4] = {{{1, 1, 1}, 1, NULL}, {{1, 1, 2}, 2, NULL}, {{1, 1, 3}, 3, NULL}, {{1, 1, 4}, 5, NULL}};
    double pred[4], want[4] = {1.0 / 3, 15.0 / 7, 25.0 / 7, 4.0};
    struct tq_fit_metrics m;
    struct tq_err err = {0};
    cr_assert_eq(tq_fit_cv(TQ_FIT_LINEAR, pts, 4, 4, 7, pred, &m, &err), TQ_OK, "%s", err.msg);
    for (int i = 0; i < 4; i++)
        cr_assert_float_eq(pred[i], want[i], 1e-9, "point %d: %g", i, pred[i]);
    double r[4] = {2.0 / 3, -1.0 / 7, -4.0 / 7, 1.0};
    cr_assert_float_eq(m.rmse, sqrt((r[0] * r[0] + r[1] * r[1] + r[2] * r[2] + r[3] * r[3]) / 4), 1e-9);
    cr_assert_float_eq(m.mae, (r[0] - r[1] - r[2] + r[3]) / 4, 1e-9);
    cr_assert_float_eq(m.accuracy, 0.5, 1e-12, "points 2 and 3 are over-predicted, 1 and 4 under by > 5%%");
    cr_assert_float_eq(m.max_under, 1.0, 1e-9);
}

/* Forward-chaining choice: on a mildly convex peak (like the original GST3D's heap, ~224 B/voxel at 1e5 voxels
 * growing to ~236 at 1e6) over a small sweep, k-fold CV cannot tell the candidates apart well enough, but fitting
 * the smaller shapes and predicting the larger ones can: the chosen model predicts 4x the largest swept volume
 * within 2%, and it is the plausible candidate with the lowest forward score. */
Test(fit, selection_by_forward_chaining_extrapolates_a_convex_peak)
{
    struct tq_fit_point pts[12];
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 3);
    size_t n = 0;
    for (int i = 50; i <= 100; i += 50)
        for (int x = 50; x <= 100; x += 50)
            for (int s = 40; s <= 100; s += 30) {
                struct tq_fit_point *p = &pts[n++];
                *p = (struct tq_fit_point){{i, x, s}, 0, NULL};
                p->y = (1e7 + 170.0 * pow((double)i * x * s, 1.023)) * (1.0 + gsl_ran_flat(r, -0.002, 0.002));
            }
    gsl_rng_free(r);
    struct tq_fit_candidate c[TQ_FIT_NKINDS];
    size_t best = 0;
    struct tq_err err = {0};
    cr_assert_eq(tq_fit_select(pts, n, 5, 42, c, &best, &err), TQ_OK, "%s", err.msg);
    double far[3] = {100, 200, 200}, truth = 1e7 + 170.0 * pow(far[0] * far[1] * far[2], 1.023);
    double pred = tq_fit_eval(&c[best].model, far);
    cr_assert(fabs(pred - truth) < 0.02 * truth, "%s predicts %.4g for %.4g (%+.2f%%)", tq_fit_kind_name(c[best].kind),
              pred, truth, 100 * (pred - truth) / truth);
    for (int k = 0; k < TQ_FIT_NKINDS; k++)
        if (c[k].ok && c[k].monotone && !isnan(c[k].forward) && c[k].forward < c[best].forward)
            cr_assert(c[k].cv.rmse > c[best].cv.rmse, "%s extrapolates better and fits as well: not chosen",
                      tq_fit_kind_name(c[k].kind));
    /* On exact linear data, the line extrapolates exactly. */
    for (size_t i = 0; i < n; i++)
        pts[i].y = 1e7 + 200.0 * pts[i].shape[0] * pts[i].shape[1] * pts[i].shape[2];
    cr_assert(tq_fit_forward(TQ_FIT_LINEAR, pts, n) < 1e-9);
    cr_assert(isnan(tq_fit_forward(TQ_FIT_SHAPE, pts, 4)), "4 points cannot test an 8-coefficient model");
}
