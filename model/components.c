/* components.c - fitting a peak as baseline + heap + mmap + rest, and the far hold-out behind the extrapolation
 * margin (see components.h). */
#include "components.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/alloc.h"
#include "../common/units.h"

/* Same inflation as the in-range margins (fit.c). */
#define EXTRAP_INFLATE 1.2
/* A far point must lie at least this factor beyond the training volumes to say anything about the slope. */
#define EXTRAP_MIN_FACTOR 1.25

static const char *const comp_names[TQ_NCOMP] = {"heap", "mmap", "rest"};

const char *tq_component_name(enum tq_component c)
{
    return (unsigned)c < TQ_NCOMP ? comp_names[c] : "?";
}

tq_status tq_component_parse(const char *name, enum tq_component *c, struct tq_err *err)
{
    int k;
    TQ_TRY(tq_name_parse(name, comp_names, TQ_NCOMP, "component", ", or none", TQ_ERR_USAGE, &k, err));
    *c = (enum tq_component)k;
    return TQ_OK;
}

tq_status tq_components_parse_list(const char *list, int use[TQ_NCOMP], struct tq_err *err)
{
    memset(use, 0, TQ_NCOMP * sizeof *use);
    if (!strcmp(list, "none"))
        return TQ_OK;
    const char *p = list;
    for (;;) {
        char name[16];
        size_t len = strcspn(p, ",");
        if (len == 0 || len >= sizeof name)
            return tq_fail(err, TQ_ERR_USAGE, "bad component list '%s' (expected e.g. heap,mmap,rest or none)",
                           list);
        memcpy(name, p, len);
        name[len] = 0;
        enum tq_component c;
        TQ_TRY(tq_component_parse(name, &c, err));
        if (use[c])
            return tq_fail(err, TQ_ERR_USAGE, "component '%s' is listed twice in '%s'", name, list);
        use[c] = 1;
        if (!p[len])
            break;
        p += len + 1;
    }
    use[TQ_COMP_REST] = 1; /* what the listed components do not explain */
    return TQ_OK;
}

double tq_components_eval(const struct tq_component_fit *f, const double shape[3])
{
    double y = f->baseline;
    for (int c = 0; c < TQ_NCOMP; c++)
        if (f->use[c])
            y += tq_fit_eval(&f->cands[c][f->best[c]].model, shape);
    return y;
}

/* Fits on the points marked in train[] and predicts every point into pred[]; 0 on success. */
typedef int (*subset_predict_fn)(void *ctx, const unsigned char *train, double *pred);

static double volume_of(const struct tq_fit_point *p)
{
    return p->shape[0] * p->shape[1] * p->shape[2];
}

static int double_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The far hold-out of components.h, with the fitting left to fn. */
static double extrap_rel_of(const struct tq_fit_point *pts, size_t n, double margin_rel, subset_predict_fn fn,
                            void *ctx)
{
    double *vols = tq_malloc((n ? n : 1) * sizeof *vols), *pred = tq_malloc((n ? n : 1) * sizeof *pred);
    unsigned char *train = tq_calloc(n ? n : 1, 1);
    double slope = margin_rel, vtrain = 0;
    size_t nt = 0;
    if (!vols || !pred || !train || n < 2)
        goto out;
    for (size_t i = 0; i < n; i++)
        vols[i] = volume_of(&pts[i]);
    qsort(vols, n, sizeof *vols, double_cmp);
    double median = vols[(n - 1) / 2];
    for (size_t i = 0; i < n; i++)
        if (volume_of(&pts[i]) <= median) {
            train[i] = 1;
            nt++;
            vtrain = fmax(vtrain, volume_of(&pts[i]));
        }
    if (nt == n || fn(ctx, train, pred))
        goto out;
    for (size_t i = 0; i < n; i++) {
        double f = volume_of(&pts[i]) / vtrain;
        if (train[i] || f < EXTRAP_MIN_FACTOR || pred[i] <= 0)
            continue;
        double under = (pts[i].y - pred[i]) / pred[i] - margin_rel;
        slope = fmax(slope, EXTRAP_INFLATE * under / log(f));
    }
out:
    free(vols);
    free(pred);
    free(train);
    return slope;
}

/* Subset fitting of one kind. */
struct single_ctx {
    enum tq_fit_kind kind;
    const struct tq_fit_point *pts;
    size_t n;
};

static int single_predict(void *ctx, const unsigned char *train, double *pred)
{
    const struct single_ctx *c = ctx;
    struct tq_fit_point *t = tq_malloc(c->n * sizeof *t);
    size_t nt = 0;
    struct tq_fit_model m;
    if (!t)
        return -1;
    for (size_t i = 0; i < c->n; i++)
        if (train[i])
            t[nt++] = c->pts[i];
    int rc = tq_fit_model(c->kind, t, nt, &m, NULL) ? -1 : 0;
    free(t);
    for (size_t i = 0; !rc && i < c->n; i++)
        pred[i] = tq_fit_eval(&m, c->pts[i].shape);
    return rc;
}

double tq_fit_extrap_rel(enum tq_fit_kind kind, const struct tq_fit_point *pts, size_t n, double margin_rel)
{
    struct single_ctx c = {kind, pts, n};
    return extrap_rel_of(pts, n, margin_rel, single_predict, &c);
}

/* Subset fitting of every used component with its chosen kind, summed with the baseline. */
struct comp_ctx {
    const struct tq_component_fit *fit;
    struct tq_fit_point *comp[TQ_NCOMP];
    size_t n;
};

static int comp_predict(void *ctx, const unsigned char *train, double *pred)
{
    const struct comp_ctx *c = ctx;
    for (size_t i = 0; i < c->n; i++)
        pred[i] = c->fit->baseline;
    for (int k = 0; k < TQ_NCOMP; k++) {
        if (!c->fit->use[k])
            continue;
        double *p = tq_malloc(c->n * sizeof *p);
        if (!p)
            return -1;
        struct single_ctx s = {c->fit->cands[k][c->fit->best[k]].kind, c->comp[k], c->n};
        int rc = single_predict(&s, train, p);
        for (size_t i = 0; !rc && i < c->n; i++)
            pred[i] += p[i];
        free(p);
        if (rc)
            return rc;
    }
    return 0;
}

static int aligned(const struct tq_component_input *in)
{
    for (size_t i = 0; i < in->n; i++)
        for (int k = 0; k < 3; k++)
            if (in->heap[i].shape[k] != in->peak[i].shape[k] || in->mmap[i].shape[k] != in->peak[i].shape[k])
                return 0;
    return 1;
}

/* Per-component points: heap, mmap as measured (0 when not used), rest = peak - used - baseline. */
static void split_points(const struct tq_component_input *in, struct tq_component_fit *f,
                         struct tq_fit_point *comp[TQ_NCOMP])
{
    f->baseline = INFINITY;
    for (size_t i = 0; i < in->n; i++) {
        double used = (f->use[TQ_COMP_HEAP] ? in->heap[i].y : 0) + (f->use[TQ_COMP_MMAP] ? in->mmap[i].y : 0);
        comp[TQ_COMP_HEAP][i] = in->heap[i];
        comp[TQ_COMP_MMAP][i] = in->mmap[i];
        comp[TQ_COMP_REST][i] = in->peak[i];
        comp[TQ_COMP_REST][i].y = in->peak[i].y - used;
        f->baseline = fmin(f->baseline, comp[TQ_COMP_REST][i].y);
    }
    for (size_t i = 0; i < in->n; i++)
        comp[TQ_COMP_REST][i].y -= f->baseline;
}

/* Held-out (same folds for every component) and in-sample predictions of the sum, into the fit's cv and bound. */
static tq_status sum_metrics(const struct tq_component_input *in, struct tq_fit_point *comp[TQ_NCOMP], int folds,
                             unsigned long seed, struct tq_component_fit *f, struct tq_err *err)
{
    size_t n = in->n;
    double *cv = tq_calloc(n, sizeof *cv), *fit = tq_calloc(n, sizeof *fit), *p = tq_calloc(n, sizeof *p);
    double *y = tq_calloc(n, sizeof *y);
    tq_status st = cv && fit && p && y ? TQ_OK : tq_fail(err, TQ_ERR_NOMEM, "out of memory for %zu points", n);
    for (size_t i = 0; !st && i < n; i++) {
        cv[i] = fit[i] = f->baseline;
        y[i] = in->peak[i].y;
    }
    for (int k = 0; !st && k < TQ_NCOMP; k++) {
        if (!f->use[k])
            continue;
        const struct tq_fit_candidate *c = &f->cands[k][f->best[k]];
        struct tq_fit_metrics m;
        st = tq_fit_cv(c->kind, comp[k], n, folds, seed, p, &m, err);
        for (size_t i = 0; !st && i < n; i++) {
            cv[i] += p[i];
            fit[i] += tq_fit_eval(&c->model, comp[k][i].shape);
        }
    }
    if (!st) {
        tq_fit_metrics_compute(y, cv, n, &f->cv);
        tq_fit_bound_from_predictions(in->peak, n, cv, fit, &f->bound);
    }
    free(cv);
    free(fit);
    free(p);
    free(y);
    return st;
}

tq_status tq_components_fit(const struct tq_component_input *in, const int use[TQ_NCOMP], int folds,
                            unsigned long seed, struct tq_component_fit *out, struct tq_err *err)
{
    memset(out, 0, sizeof *out);
    memcpy(out->use, use, sizeof out->use);
    if (!use[TQ_COMP_REST])
        return tq_fail(err, TQ_ERR_USAGE, "a component fit needs the rest component");
    if (!aligned(in))
        return tq_fail(err, TQ_ERR_USAGE, "the peak, heap and mmap points are not of the same shapes");
    struct tq_fit_point *comp[TQ_NCOMP] = {0};
    tq_status st = TQ_OK;
    for (int k = 0; k < TQ_NCOMP && !st; k++)
        if (!(comp[k] = tq_calloc(in->n ? in->n : 1, sizeof *comp[k])))
            st = tq_fail(err, TQ_ERR_NOMEM, "out of memory for %zu points", in->n);
    if (!st)
        split_points(in, out, comp);
    for (int k = 0; k < TQ_NCOMP && !st; k++) {
        if (!use[k])
            continue;
        struct tq_err e = {0};
        if (tq_fit_select(comp[k], in->n, folds, seed, out->cands[k], &out->best[k], &e))
            st = tq_fail(err, e.status, "%s component: %s", comp_names[k], e.msg);
    }
    if (!st)
        st = sum_metrics(in, comp, folds, seed, out, err);
    if (!st) {
        struct comp_ctx c = {out, {comp[0], comp[1], comp[2]}, in->n};
        out->extrap_rel = extrap_rel_of(in->peak, in->n, out->bound.margin_rel, comp_predict, &c);
    }
    for (int k = 0; k < TQ_NCOMP; k++)
        free(comp[k]);
    return st;
}
