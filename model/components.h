/* components.h - the peak fitted as components instead of one number, and the extrapolation margin.
 *
 * The shim counts heap and mmap bytes exactly; sampled RSS is noisy. So a peak (peak_rss_bytes or vmhwm_bytes) is
 * split per fitted shape into
 *   baseline  the process without work: the smallest (peak - heap - mmap) over the training shapes, a constant
 *   heap      the exact peak live heap (peak_heap_bytes)
 *   mmap      the exact peak live mmap bytes (peak_mmap_bytes)
 *   rest      peak - baseline - heap - mmap: page cache, allocator slack, the part that did not coincide
 * Each used component gets the whole candidate set (fit.h: cross-validation, choice); the prediction is
 * baseline + the sum of the components' predictions. The bound comes from the cross-validated residuals of that
 * *sum* (each component's held-out predictions use the same folds, so their sum is a held-out prediction of the
 * peak): component errors partly cancel (allocator slack moves between heap and rest), so adding the components'
 * own bounds would double-count. A component left out (--components heap) is folded into rest.
 *
 * Extrapolation: the bound's relative margin grows by extrap_rel per natural log of the extrapolation factor
 * (model.h). extrap_rel is measured by a far hold-out: refit on the shapes up to the median volume, predict the
 * shapes at least 1.25x beyond them, and take the worst (under-prediction beyond the in-range margin) / ln(factor),
 * inflated like the margins; never below the in-range relative margin. */
#ifndef TQ_COMPONENTS_H
#define TQ_COMPONENTS_H

#include <stddef.h>

#include "../common/status.h"
#include "fit.h"

enum tq_component { TQ_COMP_HEAP, TQ_COMP_MMAP, TQ_COMP_REST, TQ_NCOMP };

/* "heap", "mmap", "rest". Can't fail ("?" for a bad value). */
const char *tq_component_name(enum tq_component c);
/* Component named `name`; fails with TQ_ERR_USAGE naming the bad name. */
tq_status tq_component_parse(const char *name, enum tq_component *c, struct tq_err *err);
/* A comma-separated list ("heap,mmap,rest", or "none") into use[]; rest is always used when any is. Fails with
 * TQ_ERR_USAGE on an unknown or repeated name. */
tq_status tq_components_parse_list(const char *list, int use[TQ_NCOMP], struct tq_err *err);

/* Per-shape figures of one operator, aligned with each other (same shapes, same order). */
struct tq_component_input {
    const struct tq_fit_point *peak, *heap, *mmap;
    size_t n;
};

struct tq_component_fit {
    int use[TQ_NCOMP];
    double baseline;
    struct tq_fit_candidate cands[TQ_NCOMP][TQ_FIT_NKINDS];
    size_t best[TQ_NCOMP];
    struct tq_fit_metrics cv;   /* held-out metrics of the summed prediction against the peak */
    struct tq_fit_bound bound;  /* margins from those residuals */
    double extrap_rel;          /* added relative margin per ln(extrapolation factor) */
};

/* Fit the used components (use[] as from tq_components_parse_list, at least one). Fails with TQ_ERR_USAGE when the
 * inputs are not aligned or nothing is used, TQ_ERR_RANGE when a component cannot be fitted, TQ_ERR_NOMEM. */
tq_status tq_components_fit(const struct tq_component_input *in, const int use[TQ_NCOMP], int folds,
                            unsigned long seed, struct tq_component_fit *out, struct tq_err *err);

/* The summed prediction. Can't fail. */
double tq_components_eval(const struct tq_component_fit *f, const double shape[3]);

/* Far hold-out of a single model kind (the non-component fit): extrap_rel as described above, given the full
 * model's in-range relative margin. Can't fail (returns margin_rel when there are too few far points). */
double tq_fit_extrap_rel(enum tq_fit_kind kind, const struct tq_fit_point *pts, size_t n, double margin_rel);

#endif
