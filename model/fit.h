/* fit.h - candidate memory models (peak bytes as a function of the input shape), fitted with GSL and cross-validated.
 *
 * Every candidate maps a shape (inlines, xlines, samples) to a predicted peak in bytes:
 *   linear  a + b*V                          (V = inlines*xlines*samples; the original found volume alone enough)
 *   robust  a + b*V, bisquare-weighted       (gsl_multifit_robust: a few outlier runs do not drag the line)
 *   poly2   a + b*V + c*V^2
 *   power   a + b*V^c, 0 <= c <= 3           (gsl_multifit_nlinear, trust region)
 *   knee    min(a + b*V, c + d*X*S)          (for kernels that stream slabs of inlines, like traceq's own: memory
 *                                             grows with the volume until a slab cap, then with the inline plane
 *                                             X*S; the split is searched, each side least squares)
 *   slab    a + b*min(V, K) + (c + d*[V >= K])*X*S
 *                                            (the same streaming, additive: the buffers hold min(V, K) voxels, K
 *                                             the slab cap, per-plane scratch adds c*X*S at every size and the
 *                                             slab's halo planes d*X*S more once the volume no longer fits one
 *                                             slab; K is searched, a..d least squares, b, c, d >= 0)
 *   shape   a + b*I + c*X + d*S + e*IX + f*IS + g*XS + h*V
 *   declared a + b*D(shape)                  (D = the bytes a built-in operator declares for its slab buffers,
 *                                             operators/block_exec.h tq_op_slab_buffer_bytes, one thread as the
 *                                             sweep runs it: its slab cap and huge-page rounding are known, not
 *                                             fitted; only for points of a built-in operator)
 * Coefficients are kept in bytes and voxels; columns are scaled internally so the solvers stay well conditioned. */
#ifndef TQ_FIT_H
#define TQ_FIT_H

#include <stddef.h>

#include "../common/status.h"

enum tq_fit_kind {
    TQ_FIT_LINEAR,
    TQ_FIT_ROBUST,
    TQ_FIT_POLY2,
    TQ_FIT_POWER,
    TQ_FIT_KNEE,
    TQ_FIT_SLAB,
    TQ_FIT_SHAPE,
    TQ_FIT_DECLARED,
    TQ_FIT_NKINDS
};

#define TQ_FIT_MAXCOEF 8
/* The largest exponent a power model may have. Array programs' memory grows at most quadratically in the volume
 * (pairwise tables); a steeper fit is a step in the data (page-rounded mmap sizes: 4 KiB, 4 KiB, 8 KiB) read as a
 * curve, and extrapolates to absurd sizes (2.9 TiB at twice the volume, from points of 4-8 KiB). */
#define TQ_FIT_POWER_MAX_EXPONENT 3.0

/* One observation: the input shape and the measured target (bytes). */
struct tq_op; /* operators/operator.h */

struct tq_fit_point {
    double shape[3];
    double y;
    const struct tq_op *op; /* the built-in operator measured (NULL: none; the declared kind needs one) */
};

/* A fitted model: kind plus coefficients in the order of tq_fit_coef_names. */
struct tq_fit_model {
    enum tq_fit_kind kind;
    size_t ncoef;
    double coef[TQ_FIT_MAXCOEF];
    const struct tq_op *op;     /* the declared kind's operator (set by the fit and by the model reader) */
};

/* The declared feature D(shape) of a built-in operator (see the declared kind above); NAN without one. */
double tq_fit_declared_bytes(const struct tq_op *op, const double shape[3]);

/* Error metrics of predictions against truth (same units as y). accuracy is the original's: the share of points
 * predicted within 5% or over-predicted. max_under is the largest y - pred (0 when never under), max_under_rel the
 * largest (y - pred) / pred. */
struct tq_fit_metrics {
    size_t n;
    double rmse, mae, r2, accuracy;
    double max_under, max_under_rel;
};

/* The bound: bound(x) = pred(x) + max(margin_bytes, margin_rel * pred(x)). */
struct tq_fit_bound {
    double margin_bytes;
    double margin_rel;
};

/* One cross-validated candidate as tq_fit_select reports it. */
struct tq_fit_candidate {
    enum tq_fit_kind kind;
    int ok;                    /* 1 when it could be fitted and cross-validated */
    int monotone;              /* 1 when predictions grow with the volume over 0.5x..8x the training range */
    struct tq_fit_model model; /* fitted on all points */
    struct tq_fit_metrics cv;  /* held-out metrics over all folds */
    struct tq_fit_bound bound; /* margins from the held-out and in-sample residuals */
    /* Forward-chaining score: RMS relative error predicting the largest shapes from fits on the smaller ones
     * (tq_fit_forward); NAN when the points cannot tell (too few, or one volume). */
    double forward;
    char why[160];             /* why it was not ok */
};

/* Name of a kind ("linear", ...). Can't fail (returns "?" for a bad value). */
const char *tq_fit_kind_name(enum tq_fit_kind kind);
/* Kind named `name`; fails with TQ_ERR_FORMAT naming the bad name. */
tq_status tq_fit_kind_parse(const char *name, enum tq_fit_kind *kind, struct tq_err *err);
/* Number of coefficients of a kind. Can't fail. */
size_t tq_fit_ncoef(enum tq_fit_kind kind);
/* Names of the kind's features (the coefficient after the intercept; power's exponent is "exponent"), written into
 * names[0..ncoef-1]; names[0] is "intercept". Can't fail. */
void tq_fit_coef_names(enum tq_fit_kind kind, const char *names[TQ_FIT_MAXCOEF]);

/* Predicted target for a shape. Can't fail. */
double tq_fit_eval(const struct tq_fit_model *m, const double shape[3]);
/* The bound on top of a prediction. Can't fail. */
double tq_fit_bound_eval(const struct tq_fit_bound *b, double pred);

/* Fit `kind` to n points. Fails with TQ_ERR_RANGE when there are too few points for the kind or the solver does
 * not converge to finite coefficients, TQ_ERR_NOMEM when GSL cannot allocate. */
tq_status tq_fit_model(enum tq_fit_kind kind, const struct tq_fit_point *pts, size_t n, struct tq_fit_model *out,
                       struct tq_err *err);

/* Metrics of pred against y over n points. Can't fail (all zero when n == 0). */
void tq_fit_metrics_compute(const double *y, const double *pred, size_t n, struct tq_fit_metrics *m);

/* k-fold cross-validation of `kind`: points are shuffled with a GSL mt19937 seeded by `seed`, point i of the
 * shuffled order is held out in fold i % folds. Held-out predictions go to pred[] (indexed like pts, may be NULL).
 * Fails like tq_fit_model on any fold, or TQ_ERR_USAGE when folds < 2 or folds > n. */
tq_status tq_fit_cv(enum tq_fit_kind kind, const struct tq_fit_point *pts, size_t n, int folds, unsigned long seed,
                    double *pred, struct tq_fit_metrics *m, struct tq_err *err);

/* Bound margins covering the worst under-prediction of pts[i].y by cvpred[i] (held out) or fitpred[i] (in
 * sample), inflated by 1.2 so fresh points a little worse are covered. Can't fail. */
void tq_fit_bound_from_predictions(const struct tq_fit_point *pts, size_t n, const double *cvpred,
                                   const double *fitpred, struct tq_fit_bound *b);

/* Forward-chaining cross-validation of `kind`, the test of what the planner asks of a model (predicting shapes
 * larger than those measured): the points sorted by volume, fit on the smallest half and on the smallest three
 * quarters (each at least the kind's coefficients + 2 points), predict every point of a larger volume than the
 * training ones; returns the RMS of (prediction - truth) / truth over those predictions. NAN when no split has
 * enough points on both sides, INFINITY when a split cannot be fitted. Can't fail otherwise. */
double tq_fit_forward(enum tq_fit_kind kind, const struct tq_fit_point *pts, size_t n);

/* Fit and cross-validate every kind into cands[TQ_FIT_NKINDS], and choose one. Plausible candidates are the
 * monotone ones whose k-fold held-out RMSE is within 10% (or 0.5% of the mean target) of the best; among them the
 * one with the lowest forward-chaining score (tq_fit_forward) wins, the simplest (in enum order) of those within
 * 2% (or 0.01 percentage points) of it: near-ties only. Where no plausible candidate has a forward score, the simplest plausible
 * one wins. *best gets the chosen index. Fails with TQ_ERR_RANGE when no candidate could be fitted. */
tq_status tq_fit_select(const struct tq_fit_point *pts, size_t n, int folds, unsigned long seed,
                        struct tq_fit_candidate cands[TQ_FIT_NKINDS], size_t *best, struct tq_err *err);

#endif
