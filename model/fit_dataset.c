/* fit_dataset.c - a dataset fitted into a model with `traceq fit`'s defaults (see fit_dataset.h). */
#include "fit_dataset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/alloc.h"

void tq_fit_dataset_defaults(struct tq_fit_dataset_opts *o)
{
    memset(o, 0, sizeof *o);
    o->target = "peak_rss_bytes";
    o->agg = TQ_AGG_MAX;
    o->folds = 5;
    o->seed = 42;
    for (int k = 0; k < TQ_NCOMP; k++)
        o->use[k] = 1;
}

static int is_peak_target(const char *t)
{
    return !strcmp(t, "peak_rss_bytes") || !strcmp(t, "vmhwm_bytes") || !strcmp(t, TQ_DATASET_CHARGED);
}

/* The component fit into m when asked for or when the data has exact figures; *done = 1 when m got it. */
static tq_status fit_components(const struct tq_dataset *ds, const char *op, const struct tq_fit_dataset_opts *o,
                                int folds, struct tq_model *m, int *done, struct tq_err *err)
{
    struct tq_fit_point *p[3] = {0};
    size_t n[3] = {0};
    const char *cols[3] = {o->target, "peak_heap_bytes", "peak_mmap_bytes"};
    struct tq_component_fit *cf = NULL;
    tq_status st = TQ_OK;
    *done = 0;
    for (int k = 0; k < 3 && !st; k++)
        st = tq_dataset_points(ds, op, cols[k], o->agg, &p[k], &n[k], err);
    double exact = 0;
    for (size_t i = 0; !st && i < n[0]; i++)
        exact += p[1][i].y + p[2][i].y;
    if (!st && o->use[TQ_COMP_REST] && (o->components_asked || exact > 0)) {
        struct tq_component_input in = {p[0], p[1], p[2], n[0]};
        struct tq_err e = {0};
        if (!(cf = tq_calloc(1, sizeof *cf)))
            st = tq_fail(err, TQ_ERR_NOMEM, "out of memory for the component fit");
        else if ((st = tq_components_fit(&in, o->use, folds, o->seed, cf, &e)) == TQ_ERR_RANGE &&
                 !o->components_asked)
            st = TQ_OK; /* like `traceq fit`: the whole peak as one model */
        else if (st)
            st = tq_fail(err, st, "%s", e.msg);
        else {
            m->bound = cf->bound;
            m->cv = cf->cv;
            m->cv.n = n[0];
            m->extrap_rel = cf->extrap_rel;
            m->baseline = cf->baseline;
            m->fit = cf->cands[TQ_COMP_REST][cf->best[TQ_COMP_REST]].model;
            for (int k = 0; k < TQ_NCOMP; k++)
                if (cf->use[k]) {
                    snprintf(m->comp[m->ncomp].name, sizeof m->comp[m->ncomp].name, "%s", tq_component_name(k));
                    m->comp[m->ncomp++].fit = cf->cands[k][cf->best[k]].model;
                }
            *done = 1;
        }
    }
    free(cf);
    for (int k = 0; k < 3; k++)
        free(p[k]);
    return st;
}

tq_status tq_fit_dataset(const struct tq_dataset *ds, const char *op, const struct tq_fit_dataset_opts *o,
                         struct tq_model *m, struct tq_err *err)
{
    struct tq_fit_point *pts = NULL;
    size_t n = 0, best = 0;
    memset(m, 0, sizeof *m);
    TQ_TRY(tq_dataset_points(ds, op, o->target, o->agg, &pts, &n, err));
    tq_status st = TQ_OK;
    if (n < 3)
        st = tq_fail(err, TQ_ERR_RANGE, "%s has %zu measured shape%s; a model needs at least 3", op, n,
                     n == 1 ? "" : "s");
    int folds = o->folds < (int)n ? o->folds : (int)n, done = 0;
    snprintf(m->op, sizeof m->op, "%s", op);
    snprintf(m->target, sizeof m->target, "%s", o->target);
    if (tq_dataset_has_params(ds))
        memcpy(m->axes, ds->axes, sizeof m->axes);
    m->folds = folds;
    m->seed = o->seed;
    if (!st && is_peak_target(o->target))
        st = fit_components(ds, op, o, folds, m, &done, err);
    if (!st && !done) {
        struct tq_fit_candidate *c = tq_calloc(TQ_FIT_NKINDS, sizeof *c);
        if (!c)
            st = tq_fail(err, TQ_ERR_NOMEM, "out of memory fitting %zu points", n);
        if (!st && !(st = tq_fit_select(pts, n, folds, o->seed, c, &best, err))) {
            m->fit = c[best].model;
            m->bound = c[best].bound;
            m->cv = c[best].cv;
            m->extrap_rel = tq_fit_extrap_rel(c[best].kind, pts, n, c[best].bound.margin_rel);
        }
        free(c);
    }
    if (!st)
        tq_model_set_range(m, pts, n);
    free(pts);
    return st;
}
