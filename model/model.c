/* model.c - the model file (jansson), its strict reader, and predictions with extrapolation warnings (model.h). */
#include "model.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "../common/jsonfile.h"
#include "components.h"
#include "../operators/operator.h"

static const char *const range_keys[4] = {"inlines", "xlines", "samples", "volume"};

static tq_status read_fit_kind(json_t *root, const char *path, const char *kind, struct tq_fit_model *fit,
                               struct tq_err *err);

void tq_model_set_range(struct tq_model *m, const struct tq_fit_point *pts, size_t n)
{
    for (int k = 0; k < 4; k++) {
        m->lo[k] = n ? INFINITY : 0;
        m->hi[k] = 0;
    }
    for (size_t i = 0; i < n; i++) {
        const double *s = pts[i].shape;
        double v[4] = {s[0], s[1], s[2], s[0] * s[1] * s[2]};
        for (int k = 0; k < 4; k++) {
            m->lo[k] = fmin(m->lo[k], v[k]);
            m->hi[k] = fmax(m->hi[k], v[k]);
        }
    }
}

static json_t *pair(double a, double b)
{
    return json_pack("[f,f]", a, b);
}

/* features and coefficients of one fitted kind into obj. */
static void put_fit(json_t *obj, const struct tq_fit_model *fit)
{
    const char *names[TQ_FIT_MAXCOEF];
    tq_fit_coef_names(fit->kind, names);
    json_t *feat = json_array(), *coef = json_array();
    for (size_t j = 0; j < fit->ncoef; j++) {
        json_array_append_new(feat, json_string(names[j]));
        json_array_append_new(coef, json_real(fit->coef[j]));
    }
    json_object_set_new(obj, "kind", json_string(tq_fit_kind_name(fit->kind)));
    json_object_set_new(obj, "features", feat);
    json_object_set_new(obj, "coefficients", coef);
}

static json_t *model_to_json(const void *obj)
{
    const struct tq_model *m = obj;
    json_t *top = json_object(), *train = json_object();
    if (m->ncomp) {
        json_t *comps = json_array();
        for (size_t c = 0; c < m->ncomp; c++) {
            json_t *o = json_pack("{s:s}", "name", m->comp[c].name);
            put_fit(o, &m->comp[c].fit);
            json_array_append_new(comps, o);
        }
        json_object_set_new(top, "kind", json_string(TQ_MODEL_COMPONENTS));
        json_object_set_new(top, "features", json_pack("[s]", "baseline"));
        json_object_set_new(top, "coefficients", json_pack("[f]", m->baseline));
        json_object_set_new(top, "components", comps);
    } else
        put_fit(top, &m->fit);
    json_object_set_new(train, "points", json_integer((json_int_t)m->cv.n));
    for (int k = 0; k < 4; k++)
        json_object_set_new(train, range_keys[k], pair(m->lo[k], m->hi[k]));
    json_t *root = json_pack("{s:s,s:i,s:s,s:s,s:o,s:{s:i,s:I,s:f,s:f,s:f,s:f},s:{s:f,s:f},s:{s:f,s:f},s:{s:f}}",
                     "format", TQ_MODEL_FORMAT, "version", TQ_MODEL_VERSION, "op", m->op, "target", m->target,
                     "training", train, "cv", "folds", m->folds, "seed", (json_int_t)m->seed, "rmse", m->cv.rmse, "mae",
                     m->cv.mae, "r2", m->cv.r2, "accuracy", m->cv.accuracy, "residuals", "max_under_bytes",
                     m->cv.max_under, "max_under_relative", m->cv.max_under_rel, "bound", "margin_bytes",
                     m->bound.margin_bytes, "margin_relative", m->bound.margin_rel, "extrapolation",
                     "margin_relative_per_log_factor", m->extrap_rel);
    if (root && json_object_update(root, top))
        root = (json_decref(root), NULL);
    json_decref(top);
    if (root && m->axes[0][0] &&
        json_object_set_new(root, "axes", json_pack("[s,s,s]", m->axes[0], m->axes[1], m->axes[2]))) {
        json_decref(root);
        return NULL;
    }
    return root;
}

tq_status tq_model_write(const struct tq_model *m, const char *path, int overwrite, struct tq_err *err)
{
    return tq_json_write_file(model_to_json, m, path, overwrite, "model JSON (out of memory or a non-finite number)",
                              err);
}

static json_t *sub_object(json_t *root, const char *key, const char *path, struct tq_err *err)
{
    json_t *o = json_object_get(root, key);
    if (!json_is_object(o))
        tq_fail(err, TQ_ERR_FORMAT, "%s: %s key \"%s\" (an object)", path, o ? "bad" : "missing", key);
    return json_is_object(o) ? o : NULL;
}

/* kind, features (must be exactly the kind's) and coefficients. */
static tq_status read_fit(json_t *root, const char *path, struct tq_fit_model *fit, struct tq_err *err)
{
    char kind[32];
    TQ_TRY(tq_json_get_string(root, "kind", path, kind, sizeof kind, err));
    return read_fit_kind(root, path, kind, fit, err);
}

/* Version 2's component model: "features" ["baseline"], "coefficients" [b], "components" [{name, kind, ...}]. */
static tq_status read_components(json_t *root, const char *path, struct tq_model *m, struct tq_err *err)
{
    json_t *feat = json_object_get(root, "features"), *comps = json_object_get(root, "components");
    const char *f0 = json_string_value(json_array_get(feat, 0));
    if (!json_is_array(feat) || json_array_size(feat) != 1 || !f0 || strcmp(f0, "baseline"))
        return tq_fail(err, TQ_ERR_FORMAT, "%s: a component model's \"features\" must be [\"baseline\"]", path);
    TQ_TRY(tq_json_get_numbers(root, "coefficients", path, &m->baseline, 1, err));
    if (!json_is_array(comps) || json_array_size(comps) < 1 || json_array_size(comps) > TQ_MODEL_MAXCOMP)
        return tq_fail(err, TQ_ERR_FORMAT, "%s: \"components\" must be an array of 1 to %d components", path,
                       TQ_MODEL_MAXCOMP);
    m->ncomp = json_array_size(comps);
    for (size_t c = 0; c < m->ncomp; c++) {
        json_t *o = json_array_get(comps, c);
        enum tq_component kind;
        struct tq_err cerr = {0};
        if (!json_is_object(o))
            return tq_fail(err, TQ_ERR_FORMAT, "%s: component %zu is not an object", path, c);
        TQ_TRY(tq_json_get_string(o, "name", path, m->comp[c].name, sizeof m->comp[c].name, err));
        if (tq_component_parse(m->comp[c].name, &kind, &cerr))
            return tq_fail(err, TQ_ERR_FORMAT, "%s: %s", path, cerr.msg);
        for (size_t d = 0; d < c; d++)
            if (!strcmp(m->comp[d].name, m->comp[c].name))
                return tq_fail(err, TQ_ERR_FORMAT, "%s: component '%s' appears twice", path, m->comp[c].name);
        TQ_TRY(read_fit(o, path, &m->comp[c].fit, err));
    }
    return TQ_OK;
}

static tq_status read_fit_kind(json_t *root, const char *path, const char *kind, struct tq_fit_model *fit,
                               struct tq_err *err)
{
    struct tq_err kerr = {0};
    if (tq_fit_kind_parse(kind, &fit->kind, &kerr))
        return tq_fail(err, TQ_ERR_FORMAT, "%s: %s", path, kerr.msg);
    fit->ncoef = tq_fit_ncoef(fit->kind);
    const char *names[TQ_FIT_MAXCOEF];
    tq_fit_coef_names(fit->kind, names);
    json_t *feat = json_object_get(root, "features");
    if (!json_is_array(feat) || json_array_size(feat) != fit->ncoef)
        return tq_fail(err, TQ_ERR_FORMAT, "%s: \"features\" must list the %zu features of a %s model", path,
                       fit->ncoef, kind);
    for (size_t j = 0; j < fit->ncoef; j++) {
        const char *f = json_string_value(json_array_get(feat, j));
        if (!f || strcmp(f, names[j]))
            return tq_fail(err, TQ_ERR_FORMAT, "%s: feature %zu is '%s', expected '%s' for a %s model", path, j,
                           f ? f : "(not a string)", names[j], kind);
    }
    return tq_json_get_numbers(root, "coefficients", path, fit->coef, fit->ncoef, err);
}

/* The declared kind evaluates the operator's own buffer sizes: it needs the model's op to be a built-in one. */
static tq_status attach_declared(struct tq_model *m, const char *path, struct tq_err *err)
{
    const struct tq_op *op = m->axes[0][0] ? NULL : tq_op_find(m->op);
    struct tq_fit_model *fits[1 + TQ_MODEL_MAXCOMP] = {&m->fit};
    for (size_t c = 0; c < m->ncomp; c++)
        fits[1 + c] = &m->comp[c].fit;
    for (size_t k = 0; k < 1 + m->ncomp; k++) {
        if (fits[k]->kind != TQ_FIT_DECLARED)
            continue;
        if (!op)
            return tq_fail(err, TQ_ERR_FORMAT, "%s: a declared model needs a built-in operator, not '%s'", path,
                           m->op);
        fits[k]->op = op;
    }
    return TQ_OK;
}

/* A count stored as a JSON number: whole, >= 0 and below `limit`, so converting it to an integer type is defined
 * (a negative or huge "seed" was undefined behaviour before; found by tests/fuzz/fuzz_model.c). */
static tq_status get_count(json_t *obj, const char *key, const char *path, double limit, double *v,
                           struct tq_err *err)
{
    TQ_TRY(tq_json_get_number(obj, key, path, v, err));
    if (!(*v >= 0 && *v < limit && *v == floor(*v)))
        return tq_fail(err, TQ_ERR_FORMAT, "%s: \"%s\" must be a whole number from 0 to %.0f", path, key, limit - 1);
    return TQ_OK;
}

static tq_status read_stats(json_t *root, const char *path, struct tq_model *m, struct tq_err *err)
{
    json_t *train = sub_object(root, "training", path, err), *cv, *res, *bound;
    if (!train)
        return TQ_ERR_FORMAT;
    double pts, folds, seed;
    TQ_TRY(get_count(train, "points", path, 0x1p53, &pts, err));
    m->cv.n = (size_t)pts;
    for (int k = 0; k < 4; k++) {
        double r[2];
        TQ_TRY(tq_json_get_numbers(train, range_keys[k], path, r, 2, err));
        m->lo[k] = r[0];
        m->hi[k] = r[1];
    }
    if (!(cv = sub_object(root, "cv", path, err)) || !(res = sub_object(root, "residuals", path, err)) ||
        !(bound = sub_object(root, "bound", path, err)))
        return TQ_ERR_FORMAT;
    TQ_TRY(get_count(cv, "folds", path, INT_MAX, &folds, err));
    TQ_TRY(get_count(cv, "seed", path, 0x1p53, &seed, err));
    m->folds = (int)folds;
    m->seed = (unsigned long)seed;
    TQ_TRY(tq_json_get_number(cv, "rmse", path, &m->cv.rmse, err));
    TQ_TRY(tq_json_get_number(cv, "mae", path, &m->cv.mae, err));
    TQ_TRY(tq_json_get_number(cv, "r2", path, &m->cv.r2, err));
    TQ_TRY(tq_json_get_number(cv, "accuracy", path, &m->cv.accuracy, err));
    TQ_TRY(tq_json_get_number(res, "max_under_bytes", path, &m->cv.max_under, err));
    TQ_TRY(tq_json_get_number(res, "max_under_relative", path, &m->cv.max_under_rel, err));
    TQ_TRY(tq_json_get_number(bound, "margin_bytes", path, &m->bound.margin_bytes, err));
    TQ_TRY(tq_json_get_number(bound, "margin_relative", path, &m->bound.margin_rel, err));
    if (m->bound.margin_bytes < 0 || m->bound.margin_rel < 0)
        return tq_fail(err, TQ_ERR_FORMAT, "%s: bound margins must not be negative", path);
    return TQ_OK;
}

static tq_status model_from_json(json_t *root, const char *path, const char *expect_op, struct tq_model *m,
                                 struct tq_err *err)
{
    memset(m, 0, sizeof *m);
    /* version 1 files (no extrapolation margin, no components) are still read */
    int version = 1;
    if (tq_json_check_header(root, TQ_MODEL_FORMAT, 1, path, NULL)) {
        TQ_TRY(tq_json_check_header(root, TQ_MODEL_FORMAT, TQ_MODEL_VERSION, path, err));
        version = TQ_MODEL_VERSION;
    }
    TQ_TRY(tq_json_get_string(root, "op", path, m->op, sizeof m->op, err));
    if (expect_op && strcmp(expect_op, m->op))
        return tq_fail(err, TQ_ERR_FORMAT, "%s is a model of operator '%s', not '%s'", path, m->op, expect_op);
    TQ_TRY(tq_json_get_string(root, "target", path, m->target, sizeof m->target, err));
    json_t *axes = json_object_get(root, "axes");
    if (axes) {
        if (!json_is_array(axes) || json_array_size(axes) != 3)
            return tq_fail(err, TQ_ERR_FORMAT, "%s: \"axes\" must be an array of 3 parameter names", path);
        for (size_t k = 0; k < 3; k++) {
            const char *a = json_string_value(json_array_get(axes, k));
            if (!a || !a[0] || strlen(a) >= sizeof m->axes[k] || strchr(a, ','))
                return tq_fail(err, TQ_ERR_FORMAT, "%s: axis %zu of \"axes\" is not a parameter name", path, k);
            snprintf(m->axes[k], sizeof m->axes[k], "%s", a);
        }
    }
    char kind[32];
    TQ_TRY(tq_json_get_string(root, "kind", path, kind, sizeof kind, err));
    if (version >= 2 && !strcmp(kind, TQ_MODEL_COMPONENTS))
        TQ_TRY(read_components(root, path, m, err));
    else
        TQ_TRY(read_fit_kind(root, path, kind, &m->fit, err));
    TQ_TRY(attach_declared(m, path, err));
    TQ_TRY(read_stats(root, path, m, err));
    if (version >= 2) {
        json_t *ex = sub_object(root, "extrapolation", path, err);
        if (!ex)
            return TQ_ERR_FORMAT;
        TQ_TRY(tq_json_get_number(ex, "margin_relative_per_log_factor", path, &m->extrap_rel, err));
        if (m->extrap_rel < 0)
            return tq_fail(err, TQ_ERR_FORMAT, "%s: the extrapolation margin must not be negative", path);
    }
    return TQ_OK;
}

tq_status tq_model_read(const char *path, const char *expect_op, struct tq_model *m, struct tq_err *err)
{
    json_t *root;
    TQ_TRY(tq_json_read_file(path, "model", &root, err));
    tq_status st = model_from_json(root, path, expect_op, m, err);
    json_decref(root);
    return st;
}

double tq_model_eval(const struct tq_model *m, const double shape[3])
{
    if (!m->ncomp)
        return tq_fit_eval(&m->fit, shape);
    double y = m->baseline;
    for (size_t c = 0; c < m->ncomp; c++)
        y += tq_fit_eval(&m->comp[c].fit, shape);
    return y;
}

/* The factor by which s (inlines, xlines, samples, volume) lies furthest outside the training range, and which of
 * the four (-1 inside). */
static double extrap_factor(const struct tq_model *m, const double s[4], int *which)
{
    double worst = 1.0;
    *which = -1;
    for (int k = 0; k < 4; k++) {
        double f = s[k] > m->hi[k] ? s[k] / m->hi[k] : (s[k] < m->lo[k] && s[k] > 0 ? m->lo[k] / s[k] : 1.0);
        if (f > worst) {
            worst = f;
            *which = k;
        }
    }
    return worst;
}

/* bound = pred + max(margin_bytes, (margin_relative + g ln f) pred); *rel gets the relative margin used. */
static double bound_at(const struct tq_model *m, double pred, double factor, double *rel)
{
    struct tq_fit_bound b = m->bound;
    b.margin_rel += m->extrap_rel * log(factor);
    *rel = b.margin_rel;
    return tq_fit_bound_eval(&b, pred);
}

/* Scale a fitted model's byte coefficients by f (not the exponent of power, not the cap of slab). */
static void scale_fit(struct tq_fit_model *fit, double f)
{
    for (size_t i = 0; i < fit->ncoef; i++)
        if (!((fit->kind == TQ_FIT_POWER && i == 2) || (fit->kind == TQ_FIT_SLAB && i == 4)))
            fit->coef[i] *= f;
}

void tq_model_scale(struct tq_model *m, double f)
{
    scale_fit(&m->fit, f);
    m->baseline *= f;
    for (size_t c = 0; c < m->ncomp; c++)
        scale_fit(&m->comp[c].fit, f);
    m->bound.margin_bytes *= f;
}

double tq_model_bound(const struct tq_model *m, const size_t shape[3])
{
    double s[4] = {(double)shape[0], (double)shape[1], (double)shape[2], 0}, rel;
    s[3] = s[0] * s[1] * s[2];
    int wk;
    return bound_at(m, tq_model_eval(m, s), extrap_factor(m, s, &wk), &rel);
}

void tq_model_predict(const struct tq_model *m, const size_t shape[3], struct tq_prediction *p)
{
    double s[4] = {(double)shape[0], (double)shape[1], (double)shape[2], 0};
    s[3] = s[0] * s[1] * s[2];
    memset(p, 0, sizeof *p);
    p->bytes = tq_model_eval(m, s);
    p->ncomp = m->ncomp;
    for (size_t c = 0; c < m->ncomp; c++)
        p->comp_bytes[c] = tq_fit_eval(&m->comp[c].fit, s);
    /* Report the axis (or the volume) furthest outside its training range, as a factor. */
    int wk;
    p->factor = extrap_factor(m, s, &wk);
    p->bound = bound_at(m, p->bytes, p->factor, &p->margin_rel);
    if (wk < 0)
        return;
    p->extrapolating = 1;
    int above = s[wk] > m->hi[wk];
    const char *name = range_keys[wk];
    if (m->axes[0][0])
        name = wk < 3 ? m->axes[wk] : "product";
    snprintf(p->warning, sizeof p->warning,
             "extrapolating: %s %.6g is %s the training range [%.6g, %.6g] by %.6g (%.3fx); bound margin widened "
             "to %.1f%%",
             name, s[wk], above ? "above" : "below", m->lo[wk], m->hi[wk],
             above ? s[wk] - m->hi[wk] : m->lo[wk] - s[wk], p->factor, 100 * p->margin_rel);
}

tq_status tq_model_predict_checked(const struct tq_model *m, const size_t shape[3], struct tq_prediction *p,
                                   struct tq_err *err)
{
    tq_model_predict(m, shape, p);
    int bytes = strcmp(m->target, "wall_s") != 0;
    double worst = fmax(fabs(p->bytes), fabs(p->bound));
    if (!isfinite(p->bytes) || !isfinite(p->bound) || (bytes && worst > TQ_MODEL_MAX_BYTES))
        return tq_fail(err, TQ_ERR_RANGE,
                       "the model of %s predicts %.3g %s (bound %.3g) for %zux%zux%zu, beyond any real machine "
                       "(more than 1 EiB): the shape or the model's coefficients are unreasonable",
                       m->op, p->bytes, bytes ? "B" : "s", p->bound, shape[0], shape[1], shape[2]);
    return TQ_OK;
}

tq_status tq_model_parse_set(const struct tq_model *m, const char *text, size_t shape[3], struct tq_err *err)
{
    if (!m->axes[0][0])
        return tq_fail(err, TQ_ERR_USAGE, "the model is of a volume operator: give --shape, not --set");
    int seen[3] = {0, 0, 0};
    for (int k = 0; k < 3; k++)
        shape[k] = 1;
    const char *p = text;
    while (*p) {
        const char *eq = strchr(p, '='), *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        if (!eq || eq > end)
            return tq_fail(err, TQ_ERR_USAGE, "bad --set '%s' (expected name=value,name=value)", text);
        int k = 0;
        while (k < 3 && !(strlen(m->axes[k]) == (size_t)(eq - p) && !strncmp(m->axes[k], p, (size_t)(eq - p))))
            k++;
        if (k == 3 || !strcmp(m->axes[k], "_"))
        {
            int has1 = strcmp(m->axes[1], "_") != 0, has2 = strcmp(m->axes[2], "_") != 0;
            return tq_fail(err, TQ_ERR_USAGE, "the model has no parameter '%.*s' (it has %s%s%s%s%s)", (int)(eq - p),
                           p, m->axes[0], has1 ? ", " : "", has1 ? m->axes[1] : "", has2 ? ", " : "",
                           has2 ? m->axes[2] : "");
        }
        if (seen[k]++)
            return tq_fail(err, TQ_ERR_USAGE, "--set gives %s twice", m->axes[k]);
        char num[32];
        size_t len = (size_t)(end - eq - 1);
        char *e;
        if (!len || len >= sizeof num)
            return tq_fail(err, TQ_ERR_USAGE, "bad value for %s in --set '%s'", m->axes[k], text);
        memcpy(num, eq + 1, len);
        num[len] = 0;
        unsigned long long v = strtoull(num, &e, 10);
        if (*e || num[0] == '-' || v == 0 || v > (1ull << 40))
            return tq_fail(err, TQ_ERR_USAGE, "bad value '%s' for %s (a whole number from 1)", num, m->axes[k]);
        shape[k] = (size_t)v;
        p = *end ? end + 1 : end;
    }
    for (int k = 0; k < 3; k++)
        if (!seen[k] && strcmp(m->axes[k], "_"))
            return tq_fail(err, TQ_ERR_USAGE, "--set is missing the parameter %s", m->axes[k]);
    return TQ_OK;
}
