/* model.h - a fitted memory model of one operator as a file ("traceq-model" JSON, version 2; version 1 files are
 * still read) and its predictions.
 *
 * {"format":"traceq-model","version":1,"op":"gst3d","target":"peak_rss_bytes","kind":"linear",
 *  "features":["intercept","volume"],"coefficients":[a,b],
 *  "training":{"points":64,"inlines":[lo,hi],"xlines":[lo,hi],"samples":[lo,hi],"volume":[lo,hi]},
 *  "cv":{"folds":5,"seed":42,"rmse":..,"mae":..,"r2":..,"accuracy":..},
 *  "residuals":{"max_under_bytes":..,"max_under_relative":..},
 *  "bound":{"margin_bytes":..,"margin_relative":..}}
 * Version 2 adds "extrapolation":{"margin_relative_per_log_factor":g} and may be a component model: "kind" is
 * "components", "features" ["baseline"], "coefficients" [baseline bytes], and
 * "components":[{"name":"heap","kind":..,"features":[..],"coefficients":[..]}, ...] (components.h); its
 * prediction is baseline + the sum of the components'.
 * Bytes everywhere; bound(shape) = pred + max(margin_bytes, (margin_relative + g * ln f) * pred), f >= 1 the factor
 * by which the shape lies outside the training range (the furthest axis or the volume; 1 inside). Version 1 files
 * have g = 0.
 * A model of a program swept over named parameters (`traceq sweep --cmd ... --param rows=...`) also has
 * "axes":["rows","cols","_"]: the parameters in the three shape slots (an unused slot is "_" and always 1), so
 * "volume" is their product and the "shape" kind's features are the parameters and their products. The training
 * ranges keep the slot names inlines, xlines, samples, volume. */
#ifndef TQ_MODEL_H
#define TQ_MODEL_H

#include <stddef.h>

#include "../common/status.h"
#include "fit.h"

#define TQ_MODEL_FORMAT "traceq-model"
#define TQ_MODEL_VERSION 2
#define TQ_MODEL_MAXCOMP 3
#define TQ_MODEL_COMPONENTS "components" /* the "kind" of a component model */

struct tq_model_component {
    char name[16];              /* "heap", "mmap", "rest" */
    struct tq_fit_model fit;
};

struct tq_model {
    char op[32];
    char axes[3][24];           /* parameter names of a program's model; all "" for a volume operator */
    char target[32];            /* the dataset column it predicts */
    struct tq_fit_model fit;
    struct tq_fit_bound bound;
    struct tq_fit_metrics cv;   /* held-out metrics (n = training points) */
    int folds;
    unsigned long seed;
    double lo[4], hi[4];        /* training range of inlines, xlines, samples, volume */
    double extrap_rel;          /* g: relative margin added per ln(extrapolation factor) */
    size_t ncomp;               /* 0: `fit` is the model; else baseline + the components' sum */
    double baseline;
    struct tq_model_component comp[TQ_MODEL_MAXCOMP];
};

struct tq_prediction {
    double bytes;       /* the model's prediction */
    double bound;       /* prediction + margin: what planners should budget */
    int extrapolating;  /* 1 when the shape is outside the training range */
    double factor;      /* how far outside (1 inside) */
    double margin_rel;  /* the relative margin used: margin_relative + g * ln(factor) */
    size_t ncomp;       /* component predictions in the model's order (the baseline is the model's) */
    double comp_bytes[TQ_MODEL_MAXCOMP];
    char warning[256];  /* says how far outside (empty when inside) */
};

/* Fill m->lo/hi from the training points. Can't fail. */
void tq_model_set_range(struct tq_model *m, const struct tq_fit_point *pts, size_t n);

/* Write the model as JSON (temporary file + rename; refuses to replace path unless overwrite).
 * Fails with TQ_ERR_IO on write errors, TQ_ERR_NOMEM. */
tq_status tq_model_write(const struct tq_model *m, const char *path, int overwrite, struct tq_err *err);

/* Read and validate a model. expect_op (may be NULL) must match its "op". Fails with TQ_ERR_IO when the file
 * cannot be opened, TQ_ERR_FORMAT for bad JSON, a wrong format or version, a missing or mistyped key, a
 * non-finite number, features that do not match the kind, or another operator than expect_op. */
tq_status tq_model_read(const char *path, const char *expect_op, struct tq_model *m, struct tq_err *err);

/* Prediction and bound for an input of `shape`, with an extrapolation warning. Can't fail. */
void tq_model_predict(const struct tq_model *m, const size_t shape[3], struct tq_prediction *p);

/* The model's prediction (no bound). Can't fail. */
double tq_model_eval(const struct tq_model *m, const double shape[3]);

/* The most memory a prediction may claim before it is taken as a sign of an unreasonable shape or model:
 * 1 EiB, beyond any machine and below the 2^63 a JSON integer can hold. */
#define TQ_MODEL_MAX_BYTES ((double)(1ull << 60))

/* tq_model_predict for a command that reports the figure: fails with TQ_ERR_RANGE, naming the shape, when a
 * memory prediction or its bound is not finite or above TQ_MODEL_MAX_BYTES (or a time one is not finite). */
tq_status tq_model_predict_checked(const struct tq_model *m, const size_t shape[3], struct tq_prediction *p,
                                   struct tq_err *err);

/* The slot values of a parameter model from "name=value,name=value" (every parameter of the model once; unused
 * slots get 1). Fails with TQ_ERR_USAGE naming an unknown, missing or repeated parameter or a bad value, and for
 * a model without parameters. */
tq_status tq_model_parse_set(const struct tq_model *m, const char *text, size_t shape[3], struct tq_err *err);

/* Multiply every prediction (and bound) of m by f > 0: the byte coefficients, baseline and margin are scaled,
 * shape parameters (a power model's exponent, a slab model's cap) are not. The adaptive runner's correction
 * (runner/adapt.h) and its --learn output. Can't fail. */
void tq_model_scale(struct tq_model *m, double f);

/* Bound only (what the planner evaluates for many chunk shapes). Can't fail. */
double tq_model_bound(const struct tq_model *m, const size_t shape[3]);

#endif
