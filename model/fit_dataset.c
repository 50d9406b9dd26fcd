/* fit_dataset.c - a dataset fitted into a model, `traceq fit`'s one fit path (see fit_dataset.h). */
#include "fit_dataset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/alloc.h"

void tq_fit_dataset_defaults(struct tq_fit_dataset_opts *o)
{
    memset(o, 0, sizeof *o);
    o->target = NULL; /* tq_fit_default_target */
    o->agg = TQ_AGG_MAX;
    o->folds = 5;
    o->seed = 42;
    for (int k = 0; k < TQ_NCOMP; k++)
        o->use[k] = 1;
}

const char *tq_fit_default_target(const struct tq_dataset *ds, const char *op)
{
    return tq_dataset_has_charged(ds, op) ? TQ_DATASET_CHARGED : "peak_rss_bytes";
}

int tq_fit_is_peak_target(const char *t)
{
    return !strcmp(t, "peak_rss_bytes") || !strcmp(t, "vmhwm_bytes") || !strcmp(t, TQ_DATASET_CHARGED);
}

tq_status tq_fit_details_points(const struct tq_dataset *ds, const char *op, const struct tq_fit_dataset_opts *o,
                                struct tq_fit_details *d, struct tq_err *err)
{
    snprintf(d->op, sizeof d->op, "%s", op);
    snprintf(d->target, sizeof d->target, "%s", o->target ? o->target : tq_fit_default_target(ds, op));
    if (tq_dataset_has_params(ds))
        memcpy(d->axes, ds->axes, sizeof d->axes);
    TQ_TRY(tq_dataset_points(ds, op, d->target, o->agg, &d->pts, &d->n, err));
    d->folds = o->folds < (int)d->n ? o->folds : (int)d->n;
    return TQ_OK;
}

/* The components' fit into d->cf when asked for or when the data has exact figures. A fit chosen by default that
 * cannot be made leaves d->cf NULL and says why in d->note. */
static tq_status fit_components(const struct tq_dataset *ds, const struct tq_fit_dataset_opts *o,
                                struct tq_fit_details *d, struct tq_err *err)
{
    struct tq_fit_point *p[3] = {0};
    size_t n[3] = {0};
    const char *cols[3] = {d->target, "peak_heap_bytes", "peak_mmap_bytes"};
    tq_status st = TQ_OK;
    for (int k = 0; k < 3 && !st; k++)
        st = tq_dataset_points(ds, d->op, cols[k], o->agg, &p[k], &n[k], err);
    double exact = 0;
    for (size_t i = 0; !st && i < n[0]; i++)
        exact += p[1][i].y + p[2][i].y;
    if (!st && (o->components_asked || exact > 0)) {
        struct tq_component_input in = {p[0], p[1], p[2], n[0]};
        struct tq_err e = {0};
        if (!(d->cf = tq_calloc(1, sizeof *d->cf)))
            st = tq_fail(err, TQ_ERR_NOMEM, "out of memory for the component fit");
        else if ((st = tq_components_fit(&in, o->use, d->folds, o->seed, d->cf, &e))) {
            free(d->cf);
            d->cf = NULL;
            if (st == TQ_ERR_RANGE && !o->components_asked) { /* the whole peak as one model */
                snprintf(d->note, sizeof d->note, "%s", e.msg);
                st = TQ_OK;
            } else
                st = tq_fail(err, st, "%s", e.msg);
        }
    }
    for (int k = 0; k < 3; k++)
        free(p[k]);
    return st;
}

tq_status tq_fit_details_fit(const struct tq_dataset *ds, const struct tq_fit_dataset_opts *o,
                             struct tq_fit_details *d, struct tq_err *err)
{
    if (o->use[TQ_COMP_REST] && tq_fit_is_peak_target(d->target))
        TQ_TRY(fit_components(ds, o, d, err));
    if (d->cf && !o->all_candidates)
        return TQ_OK;
    return tq_fit_select(d->pts, d->n, d->folds, o->seed, d->cands, &d->best, err);
}

void tq_fit_details_model(const struct tq_fit_dataset_opts *o, const struct tq_fit_details *d, size_t best,
                          struct tq_model *m)
{
    memset(m, 0, sizeof *m);
    snprintf(m->op, sizeof m->op, "%s", d->op);
    snprintf(m->target, sizeof m->target, "%s", d->target);
    for (int a = 0; a < 3; a++)
        snprintf(m->axes[a], sizeof m->axes[a], "%s", d->axes[a]);
    m->folds = d->folds;
    m->seed = o->seed;
    const struct tq_component_fit *cf = d->cf;
    if (cf) {
        m->bound = cf->bound;
        m->cv = cf->cv;
        m->cv.n = d->n;
        m->extrap_rel = cf->extrap_rel;
        m->baseline = cf->baseline;
        m->fit = cf->cands[TQ_COMP_REST][cf->best[TQ_COMP_REST]].model;
        for (int k = 0; k < TQ_NCOMP; k++)
            if (cf->use[k]) {
                snprintf(m->comp[m->ncomp].name, sizeof m->comp[m->ncomp].name, "%s", tq_component_name(k));
                m->comp[m->ncomp++].fit = cf->cands[k][cf->best[k]].model;
            }
    } else {
        const struct tq_fit_candidate *c = &d->cands[best];
        m->fit = c->model;
        m->bound = c->bound;
        m->cv = c->cv;
        m->extrap_rel = tq_fit_extrap_rel(c->kind, d->pts, d->n, c->bound.margin_rel);
    }
    tq_model_set_range(m, d->pts, d->n);
}

void tq_fit_details_free(struct tq_fit_details *d)
{
    free(d->pts);
    free(d->cf);
    memset(d, 0, sizeof *d);
}

tq_status tq_fit_dataset(const struct tq_dataset *ds, const char *op, const struct tq_fit_dataset_opts *o,
                         struct tq_model *m, struct tq_err *err)
{
    struct tq_fit_details *d = tq_calloc(1, sizeof *d);
    if (!d)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory fitting %s", op);
    memset(m, 0, sizeof *m);
    tq_status st = tq_fit_details_points(ds, op, o, d, err);
    if (!st && d->n < 3)
        st = tq_fail(err, TQ_ERR_RANGE, "%s has %zu measured shape%s; a model needs at least 3", op, d->n,
                     d->n == 1 ? "" : "s");
    if (!st)
        st = tq_fit_details_fit(ds, o, d, err);
    if (!st)
        tq_fit_details_model(o, d, d->best, m);
    tq_fit_details_free(d);
    free(d);
    return st;
}
