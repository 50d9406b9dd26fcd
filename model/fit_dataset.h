/* fit_dataset.h - a dataset's points fitted into a model, the one fit path behind `traceq fit` and the targeted
 * sweep: the peak as components (baseline + heap + mmap + rest, components.h) when the dataset has exact heap or
 * mmap figures, else (or when no component can be fitted and none was asked for) the whole peak as one chosen
 * model; the bound's extrapolation slope measured by the far hold-out.
 *
 * tq_fit_dataset does it all in one call (the targeted sweep, sweep_target.h, refits after every run). `traceq fit`,
 * which shows every candidate and may force a kind, goes step by step with struct tq_fit_details:
 * tq_fit_details_points, tq_fit_details_fit, then tq_fit_details_model with the candidate it keeps. */
#ifndef TQ_FIT_DATASET_H
#define TQ_FIT_DATASET_H

#include <stddef.h>

#include "../common/status.h"
#include "components.h"
#include "dataset.h"
#include "model.h"

struct tq_fit_dataset_opts {
    const char *target;       /* dataset column, e.g. "peak_rss_bytes"; NULL: tq_fit_default_target's choice */
    enum tq_dataset_agg agg;  /* runs of one shape into one point */
    int folds;                /* cross-validation folds; fewer when there are fewer shapes (at least 3 needed) */
    unsigned long seed;
    int use[TQ_NCOMP];        /* components to fit (tq_components_parse_list); use[TQ_COMP_REST] 0: none */
    int components_asked;     /* 0: components only when the data has heap/mmap figures, falling back to one model */
    int all_candidates;       /* 1: fit the whole peak's candidates even when the components fit (to show them;
                               * their failure then fails the fit) */
};

/* `traceq fit`'s defaults: the default target (NULL), max over runs, 5 folds, seed 42, heap+mmap+rest. */
void tq_fit_dataset_defaults(struct tq_fit_dataset_opts *o);

/* The column a fit models when none is named: what the runner's memory cgroups charge (charged_peak_bytes) when
 * every successful run of op measured it (a sweep made in memory cgroups), else the sampled RSS peak. */
const char *tq_fit_default_target(const struct tq_dataset *ds, const char *op);

/* 1 when target is a whole peak that the components (baseline + heap + mmap + rest) can split. */
int tq_fit_is_peak_target(const char *target);

/* Fit op's rows of ds into *m (op, target, axes, range, bound, extrapolation slope filled). Fails with
 * TQ_ERR_RANGE when op has fewer than 3 successful shapes or no model fits them, TQ_ERR_USAGE for a bad target,
 * TQ_ERR_NOMEM. */
tq_status tq_fit_dataset(const struct tq_dataset *ds, const char *op, const struct tq_fit_dataset_opts *o,
                         struct tq_model *m, struct tq_err *err);

/* One fit, step by step. Zero-initialise it; tq_fit_details_free releases it. */
struct tq_fit_details {
    char op[32];
    char target[32];               /* the column fitted: o->target, or tq_fit_default_target's choice */
    char axes[3][TQ_DATASET_NAME]; /* the dataset's parameter names, all "" for a volume operator */
    struct tq_fit_point *pts;      /* op's points of the target, one per shape */
    size_t n;
    int folds;                     /* the folds used: the asked ones, fewer when there are fewer shapes */
    struct tq_fit_candidate cands[TQ_FIT_NKINDS]; /* the whole peak as each kind (when fitted) */
    size_t best;                                   /* the candidate chosen */
    struct tq_component_fit *cf;   /* the components' fit, or NULL: the whole peak is one model */
    char note[sizeof(struct tq_err){0}.msg]; /* why the components, tried by default, were not fitted; else "" */
};

/* Step 1: op's points of the target (o->target or the default) into d (d->n tells how many shapes there are). Fails with TQ_ERR_USAGE for a
 * bad target, TQ_ERR_RANGE when op has no successful row, TQ_ERR_NOMEM. */
tq_status tq_fit_details_points(const struct tq_dataset *ds, const char *op, const struct tq_fit_dataset_opts *o,
                                struct tq_fit_details *d, struct tq_err *err);

/* Step 2: the components' fit (as o says) and the whole peak's candidates (when the components are not fitted, or
 * o->all_candidates), choosing one. Fails with TQ_ERR_RANGE when nothing could be fitted, or as tq_components_fit
 * for components that were asked for. */
tq_status tq_fit_details_fit(const struct tq_dataset *ds, const struct tq_fit_dataset_opts *o,
                             struct tq_fit_details *d, struct tq_err *err);

/* Step 3: the model of d into *m: the components when fitted, else candidate `best` (which must be ok). Can't fail. */
void tq_fit_details_model(const struct tq_fit_dataset_opts *o, const struct tq_fit_details *d, size_t best,
                          struct tq_model *m);

/* Free what d holds and zero it. Safe on a zeroed one. Can't fail. */
void tq_fit_details_free(struct tq_fit_details *d);

#endif
