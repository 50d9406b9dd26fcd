/* fit.c - fitting, cross-validating and choosing memory models with GSL (see fit.h). */
#include "fit.h"
#include "../common/units.h"
#include "../common/alloc.h"
#include "../operators/block_exec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_multifit.h>
#include <gsl/gsl_multifit_nlinear.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

/* Margins are the worst held-out under-prediction times this, so fresh points a little worse than any seen in
 * cross-validation are still covered. */
#define BOUND_INFLATE 1.2

static const char *const kind_names[TQ_FIT_NKINDS] = {"linear", "robust", "poly2", "power", "knee", "slab",
                                                       "shape",  "declared"};
static const size_t kind_ncoef[TQ_FIT_NKINDS] = {2, 2, 3, 3, 4, 5, 8, 2};

const char *tq_fit_kind_name(enum tq_fit_kind kind)
{
    return (unsigned)kind < TQ_FIT_NKINDS ? kind_names[kind] : "?";
}

tq_status tq_fit_kind_parse(const char *name, enum tq_fit_kind *kind, struct tq_err *err)
{
    int k;
    TQ_TRY(tq_name_parse(name, kind_names, TQ_FIT_NKINDS, "model kind", NULL, TQ_ERR_FORMAT, &k, err));
    *kind = (enum tq_fit_kind)k;
    return TQ_OK;
}

size_t tq_fit_ncoef(enum tq_fit_kind kind)
{
    return (unsigned)kind < TQ_FIT_NKINDS ? kind_ncoef[kind] : 0;
}

void tq_fit_coef_names(enum tq_fit_kind kind, const char *names[TQ_FIT_MAXCOEF])
{
    static const char *const coef_names[TQ_FIT_NKINDS][TQ_FIT_MAXCOEF] = {
        [TQ_FIT_LINEAR] = {"intercept", "volume"},
        [TQ_FIT_ROBUST] = {"intercept", "volume"},
        [TQ_FIT_POLY2] = {"intercept", "volume", "volume^2"},
        [TQ_FIT_POWER] = {"intercept", "volume", "exponent"},
        [TQ_FIT_KNEE] = {"intercept", "volume", "plane_intercept", "xlines*samples"},
        [TQ_FIT_SLAB] = {"intercept", "min(volume,cap)", "xlines*samples", "xlines*samples_above_cap", "cap"},
        [TQ_FIT_SHAPE] = {"intercept", "inlines", "xlines", "samples", "inlines*xlines", "inlines*samples",
                          "xlines*samples", "volume"},
        [TQ_FIT_DECLARED] = {"intercept", "declared_bytes"},
    };
    unsigned k = (unsigned)kind < TQ_FIT_NKINDS ? (unsigned)kind : TQ_FIT_SHAPE;
    for (size_t i = 0; i < TQ_FIT_MAXCOEF; i++)
        names[i] = coef_names[k][i];
}

double tq_fit_declared_bytes(const struct tq_op *op, const double shape[3])
{
    /* only an entry of the operator table: points filled field by field may leave op unset */
    const struct tq_op *known = tq_ops;
    while (known->name && known != op)
        known++;
    if (!op || !known->name)
        return NAN;
    struct tq_op_params p;
    tq_op_params_default(&p);
    p.threads = 1; /* as `traceq sweep` runs it by default (--cpus 0) */
    size_t s[3];
    for (int a = 0; a < 3; a++) {
        if (!(shape[a] >= 1 && shape[a] <= 1e12))
            return NAN;
        s[a] = (size_t)shape[a];
    }
    uint64_t b = tq_op_slab_buffer_bytes(op, &p, s);
    return b ? (double)b : NAN;
}

/* The regressor row of a linear-in-coefficients kind (everything but power). */
static void feature_row(enum tq_fit_kind kind, const struct tq_op *op, const double s[3], double row[TQ_FIT_MAXCOEF])
{
    double v = s[0] * s[1] * s[2];
    row[0] = 1.0;
    row[1] = kind == TQ_FIT_DECLARED ? tq_fit_declared_bytes(op, s) : v;
    if (kind == TQ_FIT_POLY2)
        row[2] = v * v;
    if (kind == TQ_FIT_SHAPE) {
        row[1] = s[0];
        row[2] = s[1];
        row[3] = s[2];
        row[4] = s[0] * s[1];
        row[5] = s[0] * s[2];
        row[6] = s[1] * s[2];
        row[7] = v;
    }
}

double tq_fit_eval(const struct tq_fit_model *m, const double shape[3])
{
    double v = shape[0] * shape[1] * shape[2];
    if (m->kind == TQ_FIT_POWER)
        return m->coef[0] + m->coef[1] * pow(v, m->coef[2]);
    if (m->kind == TQ_FIT_KNEE)
        return fmin(m->coef[0] + m->coef[1] * v, m->coef[2] + m->coef[3] * shape[1] * shape[2]);
    if (m->kind == TQ_FIT_SLAB)
        return m->coef[0] + m->coef[1] * fmin(v, m->coef[4]) +
               (m->coef[2] + (v >= m->coef[4] ? m->coef[3] : 0)) * shape[1] * shape[2];
    double row[TQ_FIT_MAXCOEF];
    feature_row(m->kind, m->op, shape, row);
    double y = 0;
    for (size_t j = 0; j < m->ncoef; j++)
        y += m->coef[j] * row[j];
    return y;
}

double tq_fit_bound_eval(const struct tq_fit_bound *b, double pred)
{
    double rel = b->margin_rel * pred;
    return pred + (rel > b->margin_bytes ? rel : b->margin_bytes);
}

static double max_abs_y(const struct tq_fit_point *pts, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs(pts[i].y));
    return m > 0 ? m : 1.0;
}

/* Scaled design matrix X[i][j] = row_j(pts[i]) / scale[j] with scale[j] the column's largest magnitude, and
 * y / ys: both solvers then see numbers near 1 even when V^2 is 1e17. */
static tq_status design_alloc(enum tq_fit_kind kind, const struct tq_fit_point *pts, size_t n, gsl_matrix **X,
                              gsl_vector **y, double scale[TQ_FIT_MAXCOEF], double *ys, struct tq_err *err)
{
    size_t p = kind_ncoef[kind];
    *X = gsl_matrix_alloc(n, p);
    *y = gsl_vector_alloc(n);
    if (!*X || !*y) {
        gsl_matrix_free(*X);
        gsl_vector_free(*y);
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory for a %zu x %zu design matrix", n, p);
    }
    for (size_t j = 0; j < p; j++)
        scale[j] = 0;
    *ys = max_abs_y(pts, n);
    for (size_t i = 0; i < n; i++) {
        double row[TQ_FIT_MAXCOEF];
        feature_row(kind, pts[i].op, pts[i].shape, row);
        for (size_t j = 0; j < p; j++) {
            gsl_matrix_set(*X, i, j, row[j]);
            scale[j] = fmax(scale[j], fabs(row[j]));
        }
        gsl_vector_set(*y, i, pts[i].y / *ys);
    }
    for (size_t j = 0; j < p; j++) {
        if (scale[j] == 0)
            scale[j] = 1;
        gsl_vector_view col = gsl_matrix_column(*X, j);
        gsl_vector_scale(&col.vector, 1.0 / scale[j]);
    }
    return TQ_OK;
}

static tq_status fit_linear(enum tq_fit_kind kind, const struct tq_fit_point *pts, size_t n, struct tq_fit_model *out,
                            struct tq_err *err)
{
    size_t p = kind_ncoef[kind];
    gsl_matrix *X, *cov = gsl_matrix_alloc(p, p);
    gsl_vector *y, *c = gsl_vector_alloc(p);
    double scale[TQ_FIT_MAXCOEF] = {0}, ys = 1, chisq;
    tq_status st = design_alloc(kind, pts, n, &X, &y, scale, &ys, err);
    if (st) {
        gsl_matrix_free(cov);
        gsl_vector_free(c);
        return st;
    }
    int rc = GSL_ENOMEM;
    if (cov && c) {
        if (kind == TQ_FIT_ROBUST) {
            gsl_multifit_robust_workspace *w = gsl_multifit_robust_alloc(gsl_multifit_robust_bisquare, n, p);
            rc = w ? gsl_multifit_robust(X, y, c, cov, w) : GSL_ENOMEM;
            if (rc == GSL_EMAXITER) /* the last iterate is still a usable fit */
                rc = GSL_SUCCESS;
            gsl_multifit_robust_free(w);
        } else {
            gsl_multifit_linear_workspace *w = gsl_multifit_linear_alloc(n, p);
            rc = w ? gsl_multifit_linear(X, y, c, cov, &chisq, w) : GSL_ENOMEM;
            gsl_multifit_linear_free(w);
        }
    }
    out->kind = kind;
    out->ncoef = p;
    out->op = kind == TQ_FIT_DECLARED ? pts[0].op : NULL;
    for (size_t j = 0; rc == GSL_SUCCESS && j < p; j++)
        out->coef[j] = gsl_vector_get(c, j) * ys / scale[j];
    gsl_matrix_free(X);
    gsl_matrix_free(cov);
    gsl_vector_free(y);
    gsl_vector_free(c);
    if (rc == GSL_ENOMEM)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory fitting the %s model", kind_names[kind]);
    if (rc)
        return tq_fail(err, TQ_ERR_RANGE, "the %s fit failed: %s", kind_names[kind], gsl_strerror(rc));
    return TQ_OK;
}

/* Power law in scaled units: y/ys = a + b * (V/vs)^c. */
struct power_data {
    const struct tq_fit_point *pts;
    size_t n;
    double vs, ys;
};

static int power_f(const gsl_vector *x, void *params, gsl_vector *f)
{
    const struct power_data *d = params;
    double a = gsl_vector_get(x, 0), b = gsl_vector_get(x, 1), c = gsl_vector_get(x, 2);
    for (size_t i = 0; i < d->n; i++) {
        const double *s = d->pts[i].shape;
        double v = s[0] * s[1] * s[2] / d->vs;
        gsl_vector_set(f, i, a + b * pow(v, c) - d->pts[i].y / d->ys);
    }
    return GSL_SUCCESS;
}

static int power_df(const gsl_vector *x, void *params, gsl_matrix *J)
{
    const struct power_data *d = params;
    double b = gsl_vector_get(x, 1), c = gsl_vector_get(x, 2);
    for (size_t i = 0; i < d->n; i++) {
        const double *s = d->pts[i].shape;
        double v = s[0] * s[1] * s[2] / d->vs, vc = pow(v, c);
        gsl_matrix_set(J, i, 0, 1.0);
        gsl_matrix_set(J, i, 1, vc);
        gsl_matrix_set(J, i, 2, b * vc * log(v));
    }
    return GSL_SUCCESS;
}

static tq_status fit_power(const struct tq_fit_point *pts, size_t n, struct tq_fit_model *out, struct tq_err *err)
{
    /* Start from the straight line (c = 1), which is where the original's data sits. */
    struct tq_fit_model lin;
    TQ_TRY(fit_linear(TQ_FIT_LINEAR, pts, n, &lin, err));
    struct power_data d = {pts, n, 0, max_abs_y(pts, n)};
    for (size_t i = 0; i < n; i++)
        d.vs = fmax(d.vs, pts[i].shape[0] * pts[i].shape[1] * pts[i].shape[2]);
    if (d.vs <= 0)
        return tq_fail(err, TQ_ERR_RANGE, "the power fit needs positive volumes");
    gsl_multifit_nlinear_fdf fdf = {.f = power_f, .df = power_df, .fvv = NULL, .n = n, .p = 3, .params = &d};
    gsl_multifit_nlinear_parameters params = gsl_multifit_nlinear_default_parameters();
    gsl_multifit_nlinear_workspace *w = gsl_multifit_nlinear_alloc(gsl_multifit_nlinear_trust, &params, n, 3);
    if (!w)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory fitting the power model");
    double x0[3] = {lin.coef[0] / d.ys, lin.coef[1] * d.vs / d.ys, 1.0};
    gsl_vector_view x0v = gsl_vector_view_array(x0, 3);
    int info = 0;
    int rc = gsl_multifit_nlinear_init(&x0v.vector, &fdf, w);
    if (!rc)
        rc = gsl_multifit_nlinear_driver(200, 1e-10, 1e-10, 0.0, NULL, NULL, &info, w);
    if (rc == GSL_EMAXITER)
        rc = GSL_SUCCESS;
    gsl_vector *x = gsl_multifit_nlinear_position(w);
    double a = gsl_vector_get(x, 0), b = gsl_vector_get(x, 1), c = gsl_vector_get(x, 2);
    gsl_multifit_nlinear_free(w);
    if (rc)
        return tq_fail(err, TQ_ERR_RANGE, "the power fit failed: %s", gsl_strerror(rc));
    if (!(c >= 0 && c <= TQ_FIT_POWER_MAX_EXPONENT))
        return tq_fail(err, TQ_ERR_RANGE, "the power fit's exponent %.3g is outside [0, %g]: not a power law of the "
                       "volume (a step, e.g. page-rounded sizes, fits that way)", c, TQ_FIT_POWER_MAX_EXPONENT);
    out->kind = TQ_FIT_POWER;
    out->ncoef = 3;
    out->coef[0] = a * d.ys;
    out->coef[1] = b * d.ys / pow(d.vs, c);
    out->coef[2] = c;
    return TQ_OK;
}

static double point_volume(const struct tq_fit_point *p)
{
    return p->shape[0] * p->shape[1] * p->shape[2];
}

static int volume_cmp(const void *a, const void *b)
{
    double x = point_volume(a), y = point_volume(b);
    return x < y ? -1 : x > y;
}

/* Sum of squared residuals of m over n points. */
static double model_sse(const struct tq_fit_model *m, const struct tq_fit_point *pts, size_t n)
{
    double sse = 0;
    for (size_t i = 0; i < n; i++) {
        double r = pts[i].y - tq_fit_eval(m, pts[i].shape);
        sse += r * r;
    }
    return sse;
}

/* Least-squares line y = a + b * x over n points, with x = volume (plane = 0) or xlines * samples (plane = 1).
 * A falling line is replaced by the best constant, so the knee model stays monotone. */
static tq_status fit_side(const struct tq_fit_point *pts, size_t n, int plane, double coef[2])
{
    struct tq_fit_point *t = tq_malloc(n * sizeof *t);
    struct tq_fit_model m;
    if (!t)
        return TQ_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        t[i] = pts[i];
        if (plane)
            t[i].shape[0] = 1.0; /* the volume of (1, X, S) is the plane X * S */
    }
    tq_status st = fit_linear(TQ_FIT_LINEAR, t, n, &m, NULL);
    free(t);
    if (st)
        return st;
    coef[0] = m.coef[0];
    coef[1] = m.coef[1];
    if (coef[1] < 0) {
        coef[0] = 0;
        for (size_t i = 0; i < n; i++)
            coef[0] += pts[i].y / (double)n;
        coef[1] = 0;
    }
    return TQ_OK;
}

/* Knee: every split of the volume-sorted points (at least 3 points and 2 volumes a side) gets a line in the volume
 * below and a line in the inline plane (xlines * samples) above; the split whose min(...) has the least squared
 * error over all points wins. */
static tq_status fit_knee(const struct tq_fit_point *pts, size_t n, struct tq_fit_model *out, struct tq_err *err)
{
    struct tq_fit_point *s = tq_malloc(n * sizeof *s);
    if (!s)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory fitting the knee model");
    memcpy(s, pts, n * sizeof *s);
    qsort(s, n, sizeof *s, volume_cmp);
    double best = INFINITY;
    for (size_t k = 3; k + 3 <= n; k++) {
        if (point_volume(&s[k - 1]) == point_volume(&s[k]) || point_volume(&s[0]) == point_volume(&s[k - 1]) ||
            point_volume(&s[k]) == point_volume(&s[n - 1]))
            continue;
        struct tq_fit_model m = {.kind = TQ_FIT_KNEE, .ncoef = 4};
        tq_status side = fit_side(s, k, 0, &m.coef[0]);
        if (!side)
            side = fit_side(s + k, n - k, 1, &m.coef[2]);
        if (side == TQ_ERR_NOMEM) { /* not a split that cannot be fitted: the whole fit fails */
            free(s);
            return tq_fail(err, TQ_ERR_NOMEM, "out of memory fitting the knee model");
        }
        if (side)
            continue;
        double sse = model_sse(&m, s, n);
        if (sse < best) {
            best = sse;
            *out = m;
        }
    }
    free(s);
    if (!isfinite(best))
        return tq_fail(err, TQ_ERR_RANGE, "the knee model needs at least 6 points of 2 or more volumes a side");
    return TQ_OK;
}

/* Slab model for one cap K: least squares of y on [1, min(V, K), X*S, X*S if V >= K]; 0 when solved with every
 * slope >= 0 (so the prediction never falls as a shape grows). */
static int slab_fit_cap(const struct tq_fit_point *pts, size_t n, double cap, gsl_matrix *X, gsl_vector *y,
                        gsl_vector *c, gsl_matrix *cov, gsl_multifit_linear_workspace *w, double scale[4],
                        struct tq_fit_model *m)
{
    double ys = max_abs_y(pts, n), chisq;
    scale[0] = 1;
    scale[1] = cap;
    scale[2] = scale[3] = 0;
    for (size_t i = 0; i < n; i++)
        scale[2] = scale[3] = fmax(scale[2], pts[i].shape[1] * pts[i].shape[2]);
    for (size_t i = 0; i < n; i++) {
        const double *sh = pts[i].shape;
        double v = sh[0] * sh[1] * sh[2];
        gsl_matrix_set(X, i, 0, 1.0);
        gsl_matrix_set(X, i, 1, fmin(v, cap) / scale[1]);
        gsl_matrix_set(X, i, 2, sh[1] * sh[2] / scale[2]);
        gsl_matrix_set(X, i, 3, v >= cap ? sh[1] * sh[2] / scale[3] : 0.0);
        gsl_vector_set(y, i, pts[i].y / ys);
    }
    if (gsl_multifit_linear(X, y, c, cov, &chisq, w))
        return -1;
    *m = (struct tq_fit_model){.kind = TQ_FIT_SLAB, .ncoef = 5};
    for (int j = 0; j < 4; j++)
        m->coef[j] = gsl_vector_get(c, (size_t)j) * ys / scale[j];
    m->coef[4] = cap;
    return m->coef[1] >= 0 && m->coef[2] >= 0 && m->coef[3] >= 0 ? 0 : -1;
}

/* Slab: the cap K is searched over a geometric grid of volumes between the 3rd smallest and the 3rd largest point
 * volume (so at least 3 points lie on each side of the bend), each K solved by least squares; the K with the
 * least squared error wins. */
static tq_status fit_slab(const struct tq_fit_point *pts, size_t n, struct tq_fit_model *out, struct tq_err *err)
{
    enum { CAPS = 400 };
    struct tq_fit_point *s = tq_malloc(n * sizeof *s);
    gsl_matrix *X = gsl_matrix_alloc(n, 4), *cov = gsl_matrix_alloc(4, 4);
    gsl_vector *y = gsl_vector_alloc(n), *c = gsl_vector_alloc(4);
    gsl_multifit_linear_workspace *w = gsl_multifit_linear_alloc(n, 4);
    double best = INFINITY;
    tq_status st = s && X && cov && y && c && w ? TQ_OK
                                                 : tq_fail(err, TQ_ERR_NOMEM, "out of memory fitting the slab model");
    if (!st) {
        memcpy(s, pts, n * sizeof *s);
        qsort(s, n, sizeof *s, volume_cmp);
        double lo = point_volume(&s[2]), hi = point_volume(&s[n - 3]);
        for (int k = 0; lo > 0 && hi > lo && k <= CAPS; k++) {
            double cap = lo * pow(hi / lo, (double)k / CAPS), scale[4];
            struct tq_fit_model m;
            if (slab_fit_cap(s, n, cap, X, y, c, cov, w, scale, &m))
                continue;
            double sse = model_sse(&m, s, n);
            if (sse < best) {
                best = sse;
                *out = m;
            }
        }
        if (!isfinite(best))
            st = tq_fail(err, TQ_ERR_RANGE, "the slab model needs 6 or more points of 2 or more volumes, with "
                                            "memory growing in the volume and the inline plane");
    }
    free(s);
    gsl_matrix_free(X);
    gsl_matrix_free(cov);
    gsl_vector_free(y);
    gsl_vector_free(c);
    gsl_multifit_linear_free(w);
    return st;
}

tq_status tq_fit_model(enum tq_fit_kind kind, const struct tq_fit_point *pts, size_t n, struct tq_fit_model *out,
                       struct tq_err *err)
{
    if ((unsigned)kind >= TQ_FIT_NKINDS)
        return tq_fail(err, TQ_ERR_USAGE, "bad model kind %d", (int)kind);
    if (n < kind_ncoef[kind] + 1)
        return tq_fail(err, TQ_ERR_RANGE, "the %s model needs at least %zu points, got %zu", kind_names[kind],
                       kind_ncoef[kind] + 1, n);
    for (size_t i = 0; kind == TQ_FIT_DECLARED && i < n; i++)
        if (!pts[i].op || pts[i].op != pts[0].op || !isfinite(tq_fit_declared_bytes(pts[i].op, pts[i].shape)))
            return tq_fail(err, TQ_ERR_RANGE, "no built-in operator declares its buffers for these points");
    gsl_set_error_handler_off(); /* GSL's default handler aborts; we check every return code instead */
    memset(out, 0, sizeof *out);
    TQ_TRY(kind == TQ_FIT_POWER  ? fit_power(pts, n, out, err)
           : kind == TQ_FIT_KNEE ? fit_knee(pts, n, out, err)
           : kind == TQ_FIT_SLAB ? fit_slab(pts, n, out, err)
                                 : fit_linear(kind, pts, n, out, err));
    for (size_t j = 0; j < out->ncoef; j++)
        if (!isfinite(out->coef[j]))
            return tq_fail(err, TQ_ERR_RANGE, "the %s fit gave a non-finite coefficient", kind_names[kind]);
    return TQ_OK;
}

void tq_fit_metrics_compute(const double *y, const double *pred, size_t n, struct tq_fit_metrics *m)
{
    memset(m, 0, sizeof *m);
    m->n = n;
    if (!n)
        return;
    double mean = 0, sse = 0, sst = 0, sae = 0;
    size_t good = 0;
    for (size_t i = 0; i < n; i++)
        mean += y[i] / (double)n;
    for (size_t i = 0; i < n; i++) {
        double r = y[i] - pred[i];
        sse += r * r;
        sae += fabs(r);
        sst += (y[i] - mean) * (y[i] - mean);
        /* The original's accuracy: within 5% of the truth, or over-predicted (safe). */
        if (pred[i] >= y[i] || fabs(r) <= 0.05 * fabs(y[i]))
            good++;
        if (r > m->max_under)
            m->max_under = r;
        if (r > 0 && pred[i] > 0 && r / pred[i] > m->max_under_rel)
            m->max_under_rel = r / pred[i];
    }
    m->rmse = sqrt(sse / (double)n);
    m->mae = sae / (double)n;
    m->r2 = sst > 0 ? 1.0 - sse / sst : (sse == 0 ? 1.0 : 0.0);
    m->accuracy = (double)good / (double)n;
}

/* Fold of each point: a seeded shuffle of 0..n-1, position i going to fold i % folds. */
static tq_status fold_assign(size_t n, int folds, unsigned long seed, size_t *fold, struct tq_err *err)
{
    size_t *order = tq_malloc(n * sizeof *order);
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    if (!order || !rng) {
        free(order);
        gsl_rng_free(rng);
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory for %zu cross-validation folds", n);
    }
    gsl_rng_set(rng, seed);
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    gsl_ran_shuffle(rng, order, n, sizeof *order);
    for (size_t i = 0; i < n; i++)
        fold[order[i]] = i % (size_t)folds;
    free(order);
    gsl_rng_free(rng);
    return TQ_OK;
}

/* Held-out predictions of every fold into pred[]; train is scratch of n points. */
static tq_status cv_predict(enum tq_fit_kind kind, const struct tq_fit_point *pts, size_t n, int folds,
                            const size_t *fold, struct tq_fit_point *train, double *pred, struct tq_err *err)
{
    for (int k = 0; k < folds; k++) {
        size_t nt = 0;
        for (size_t i = 0; i < n; i++)
            if (fold[i] != (size_t)k)
                train[nt++] = pts[i];
        struct tq_fit_model m;
        TQ_TRY(tq_fit_model(kind, train, nt, &m, err));
        for (size_t i = 0; i < n; i++)
            if (fold[i] == (size_t)k)
                pred[i] = tq_fit_eval(&m, pts[i].shape);
    }
    return TQ_OK;
}

tq_status tq_fit_cv(enum tq_fit_kind kind, const struct tq_fit_point *pts, size_t n, int folds, unsigned long seed,
                    double *pred, struct tq_fit_metrics *m, struct tq_err *err)
{
    if (folds < 2 || (size_t)folds > n)
        return tq_fail(err, TQ_ERR_USAGE, "cross-validation needs 2 <= folds <= points (folds %d, %zu points)",
                       folds, n);
    size_t *fold = tq_malloc(n * sizeof *fold);
    struct tq_fit_point *train = tq_malloc(n * sizeof *train);
    double *p = tq_malloc(n * sizeof *p), *y = tq_malloc(n * sizeof *y);
    tq_status st = TQ_OK;
    if (!fold || !train || !p || !y)
        st = tq_fail(err, TQ_ERR_NOMEM, "out of memory cross-validating %zu points", n);
    if (!st)
        st = fold_assign(n, folds, seed, fold, err);
    if (!st)
        st = cv_predict(kind, pts, n, folds, fold, train, p, err);
    if (!st) {
        for (size_t i = 0; i < n; i++)
            y[i] = pts[i].y;
        tq_fit_metrics_compute(y, p, n, m);
        if (pred)
            memcpy(pred, p, n * sizeof *p);
    }
    free(fold);
    free(train);
    free(p);
    free(y);
    return st;
}

/* Predictions must grow with the volume (cubes from half the smallest to twice the largest training side, i.e. up
 * to 8x the largest volume), or the planner's search for the largest chunk that fits would be meaningless. */
static int check_monotone(const struct tq_fit_model *m, const struct tq_fit_point *pts, size_t n)
{
    double vmin = INFINITY, vmax = 0;
    for (size_t i = 0; i < n; i++) {
        double v = pts[i].shape[0] * pts[i].shape[1] * pts[i].shape[2];
        vmin = fmin(vmin, v);
        vmax = fmax(vmax, v);
    }
    double lo = 0.5 * cbrt(vmin), hi = 2.0 * cbrt(vmax), prev = -INFINITY;
    for (int k = 0; k <= 64; k++) {
        double s = lo + (hi - lo) * k / 64.0, sh[3] = {s, s, s};
        double y = tq_fit_eval(m, sh);
        if (!(y >= prev - 1e-9 * fabs(prev)))
            return 0;
        prev = y;
    }
    return 1;
}

void tq_fit_bound_from_predictions(const struct tq_fit_point *pts, size_t n, const double *cvpred,
                                   const double *fitpred, struct tq_fit_bound *b)
{
    double ub = 0, ur = 0;
    for (size_t i = 0; i < n; i++) {
        double preds[2] = {cvpred[i], fitpred[i]};
        for (int k = 0; k < 2; k++) {
            double r = pts[i].y - preds[k];
            ub = fmax(ub, r);
            if (preds[k] > 0)
                ur = fmax(ur, r / preds[k]);
        }
    }
    b->margin_bytes = BOUND_INFLATE * ub;
    b->margin_rel = BOUND_INFLATE * ur;
}

/* Margins covering the worst under-prediction seen held out (cv) or in sample (fit), inflated. */
static void bound_from_residuals(const struct tq_fit_point *pts, size_t n, const double *cvpred,
                                 const struct tq_fit_model *m, struct tq_fit_bound *b)
{
    double *fitpred = tq_malloc((n ? n : 1) * sizeof *fitpred);
    if (!fitpred) { /* keep the held-out margins only */
        tq_fit_bound_from_predictions(pts, n, cvpred, cvpred, b);
        return;
    }
    for (size_t i = 0; i < n; i++)
        fitpred[i] = tq_fit_eval(m, pts[i].shape);
    tq_fit_bound_from_predictions(pts, n, cvpred, fitpred, b);
    free(fitpred);
}

double tq_fit_forward(enum tq_fit_kind kind, const struct tq_fit_point *pts, size_t n)
{
    static const double splits[] = {0.5, 0.75};
    struct tq_fit_point *sorted = tq_malloc((n ? n : 1) * sizeof *sorted);
    if (!sorted)
        return NAN;
    memcpy(sorted, pts, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, volume_cmp);
    double sum = 0;
    size_t count = 0;
    for (size_t s = 0; s < sizeof splits / sizeof *splits; s++) {
        size_t m = (size_t)ceil(splits[s] * (double)n);
        if (m < tq_fit_ncoef(kind) + 2 || m >= n || point_volume(&sorted[n - 1]) <= point_volume(&sorted[m - 1]))
            continue;
        struct tq_fit_model fm;
        struct tq_err e = {0};
        if (tq_fit_model(kind, sorted, m, &fm, &e)) {
            free(sorted);
            return INFINITY;
        }
        for (size_t i = m; i < n; i++) {
            if (point_volume(&sorted[i]) <= point_volume(&sorted[m - 1]) || sorted[i].y == 0)
                continue;
            double r = (tq_fit_eval(&fm, sorted[i].shape) - sorted[i].y) / sorted[i].y;
            sum += r * r;
            count++;
        }
    }
    free(sorted);
    return count ? sqrt(sum / (double)count) : NAN;
}

/* A candidate that cannot be fitted is kept with its reason; only running out of memory fails the selection. */
static tq_status candidate_run(enum tq_fit_kind kind, const struct tq_fit_point *pts, size_t n, int folds,
                               unsigned long seed, double *cvpred, struct tq_fit_candidate *c, struct tq_err *err)
{
    struct tq_err e = {0};
    memset(c, 0, sizeof *c);
    c->kind = kind;
    tq_status st;
    if ((st = tq_fit_model(kind, pts, n, &c->model, &e)) ||
        (st = tq_fit_cv(kind, pts, n, folds, seed, cvpred, &c->cv, &e))) {
        snprintf(c->why, sizeof c->why, "%.150s", e.msg);
        return st == TQ_ERR_NOMEM ? tq_fail(err, st, "%s", e.msg) : TQ_OK;
    }
    c->ok = 1;
    c->forward = tq_fit_forward(kind, pts, n);
    c->monotone = check_monotone(&c->model, pts, n);
    if (!c->monotone)
        snprintf(c->why, sizeof c->why, "prediction does not grow with the volume");
    bound_from_residuals(pts, n, cvpred, &c->model, &c->bound);
    return TQ_OK;
}

tq_status tq_fit_select(const struct tq_fit_point *pts, size_t n, int folds, unsigned long seed,
                        struct tq_fit_candidate cands[TQ_FIT_NKINDS], size_t *best, struct tq_err *err)
{
    double *cvpred = tq_malloc((n ? n : 1) * sizeof *cvpred);
    if (!cvpred)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory cross-validating %zu points", n);
    double best_rmse = INFINITY, mean = 0;
    for (int k = 0; k < TQ_FIT_NKINDS; k++) {
        if (candidate_run((enum tq_fit_kind)k, pts, n, folds, seed, cvpred, &cands[k], err)) {
            free(cvpred);
            return TQ_ERR_NOMEM;
        }
        if (cands[k].ok && cands[k].monotone)
            best_rmse = fmin(best_rmse, cands[k].cv.rmse);
    }
    free(cvpred);
    if (!isfinite(best_rmse))
        return tq_fail(err, TQ_ERR_RANGE, "no model could be fitted to %zu points (%s: %s)", n,
                       kind_names[TQ_FIT_LINEAR], cands[TQ_FIT_LINEAR].why);
    for (size_t i = 0; i < n; i++)
        mean += fabs(pts[i].y) / (double)n;
    double tol = fmax(1.10 * best_rmse, best_rmse + 0.005 * mean), best_fwd = INFINITY;
    int plausible[TQ_FIT_NKINDS], first = -1;
    for (int k = 0; k < TQ_FIT_NKINDS; k++) {
        plausible[k] = cands[k].ok && cands[k].monotone && cands[k].cv.rmse <= tol;
        if (plausible[k] && first < 0)
            first = k;
        if (plausible[k] && isfinite(cands[k].forward))
            best_fwd = fmin(best_fwd, cands[k].forward);
    }
    *best = (size_t)first;
    if (!isfinite(best_fwd)) /* the points cannot test extrapolation: the simplest plausible candidate */
        return TQ_OK;
    double ftol = fmax(1.02 * best_fwd, best_fwd + 1e-4); /* near-ties only: simplicity chose poly2 for GST3D */
    for (int k = 0; k < TQ_FIT_NKINDS; k++)
        if (plausible[k] && cands[k].forward <= ftol) {
            *best = (size_t)k;
            break;
        }
    return TQ_OK;
}
