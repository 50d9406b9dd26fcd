/* fit_plot.c - `traceq fit --plot`: dataset points, fitted curve and bound of one model drawn with plot.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fit_plot.h"
#include "../common/alloc.h"
#include "../plot/plot.h"

enum { CURVE_POINTS = 120 };

/* 1 when the kind's prediction is a function of the volume alone. */
static bool kind_volume_only(enum tq_fit_kind k)
{
    return k == TQ_FIT_LINEAR || k == TQ_FIT_ROBUST || k == TQ_FIT_POLY2 || k == TQ_FIT_POWER;
}

/* Prediction and bound along cubes of volume vlo..vhi into cx/fit/bound[CURVE_POINTS]. */
static void curve_fill(const struct tq_fit_model *m, const struct tq_fit_bound *b, double vlo, double vhi,
                       double *cx, double *fit, double *bound)
{
    for (size_t j = 0; j < CURVE_POINTS; j++) {
        double v = vlo + (vhi - vlo) * (double)j / (CURVE_POINTS - 1);
        double side = cbrt(v), shape[3] = {side, side, side};
        cx[j] = v;
        fit[j] = tq_fit_eval(m, shape);
        bound[j] = tq_fit_bound_eval(b, fit[j]);
    }
}

/* Add the series: measured points, per-shape predictions (when they differ from the curve), fit, bound. */
static tq_status plot_add_all(struct tq_plot *p, const struct tq_fit_model *m, const struct tq_fit_point *pts,
                              size_t n, const double *x, double *work, const double *cx, const double *fit,
                              const double *bound, struct tq_err *err)
{
    for (size_t i = 0; i < n; i++)
        work[i] = pts[i].y;
    TQ_TRY(tq_plot_add_points(p, "measured", x, work, n, err));
    if (!kind_volume_only(m->kind)) {
        for (size_t i = 0; i < n; i++)
            work[i] = tq_fit_eval(m, pts[i].shape);
        TQ_TRY(tq_plot_add_points(p, "model at each shape", x, work, n, err));
    }
    TQ_TRY(tq_plot_add_line(p, kind_volume_only(m->kind) ? "fit" : "fit on cubes", cx, fit, CURVE_POINTS, false,
                            err));
    return tq_plot_add_dashed(p, kind_volume_only(m->kind) ? "bound" : "bound on cubes", cx, bound, CURVE_POINTS,
                              err);
}

tq_status tq_fit_plot(const char *path, bool force, const char *op, const char *target, const struct tq_fit_model *m,
                      const struct tq_fit_bound *b, const struct tq_fit_point *pts, size_t n, struct tq_err *err)
{
    if (n == 0)
        return tq_fail(err, TQ_ERR_USAGE, "fit plot needs at least one point");
    double vlo = INFINITY, vhi = 0, cx[CURVE_POINTS], fit[CURVE_POINTS], bound[CURVE_POINTS];
    double *x = tq_malloc(2 * n * sizeof *x);
    if (!x)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory making the fit plot");
    for (size_t i = 0; i < n; i++) {
        x[i] = pts[i].shape[0] * pts[i].shape[1] * pts[i].shape[2];
        vlo = fmin(vlo, x[i]);
        vhi = fmax(vhi, x[i]);
    }
    curve_fill(m, b, vlo, vhi, cx, fit, bound);
    char title[160];
    snprintf(title, sizeof title, "%s: %s, %s model", op, target, tq_fit_kind_name(m->kind));
    bool secs = strcmp(target, "wall_s") == 0;
    struct tq_plot *p = tq_plot_new_xy(title, "input volume (voxels)", TQ_AXIS_PLAIN, secs ? "wall time" : target,
                                       secs ? TQ_AXIS_SECONDS : TQ_AXIS_BYTES);
    tq_status st = p ? TQ_OK : tq_fail(err, TQ_ERR_NOMEM, "out of memory making the fit plot");
    if (!st)
        st = plot_add_all(p, m, pts, n, x, x + n, cx, fit, bound, err);
    if (!st)
        st = tq_plot_write(p, path, force, err);
    tq_plot_free(p);
    free(x);
    return st;
}
