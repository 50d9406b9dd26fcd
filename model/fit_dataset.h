/* fit_dataset.h - a dataset's points fitted into a model in one call, with `traceq fit`'s defaults: the peak as
 * components (baseline + heap + mmap + rest, components.h) when the dataset has exact heap or mmap figures, else
 * (or when no component can be fitted and none was asked for) the whole peak as one chosen model; the bound's
 * extrapolation slope measured by the far hold-out. Used by the targeted sweep (sweep_target.h), which refits
 * after every run. */
#ifndef TQ_FIT_DATASET_H
#define TQ_FIT_DATASET_H

#include <stddef.h>

#include "../common/status.h"
#include "components.h"
#include "dataset.h"
#include "model.h"

struct tq_fit_dataset_opts {
    const char *target;       /* dataset column, e.g. "peak_rss_bytes" */
    enum tq_dataset_agg agg;  /* runs of one shape into one point */
    int folds;                /* cross-validation folds; fewer when there are fewer shapes (at least 3 needed) */
    unsigned long seed;
    int use[TQ_NCOMP];        /* components to fit (tq_components_parse_list) */
    int components_asked;     /* 0: components only when the data has heap/mmap figures, falling back to one model */
};

/* `traceq fit`'s defaults: peak_rss_bytes, max over runs, 5 folds, seed 42, heap+mmap+rest by default. */
void tq_fit_dataset_defaults(struct tq_fit_dataset_opts *o);

/* Fit op's rows of ds into *m (op, target, axes, range, bound, extrapolation slope filled). Fails with
 * TQ_ERR_RANGE when op has fewer than 3 successful shapes or no model fits them, TQ_ERR_USAGE for a bad target,
 * TQ_ERR_NOMEM. */
tq_status tq_fit_dataset(const struct tq_dataset *ds, const char *op, const struct tq_fit_dataset_opts *o,
                         struct tq_model *m, struct tq_err *err);

#endif
