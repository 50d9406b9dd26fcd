/* cmd_fit.c - `traceq fit`: fit every candidate memory model to a sweep dataset, show the CV table, save the choice. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../model/components.h"
#include "../model/dataset.h"
#include "../model/fit_plot.h"
#include "../model/model.h"
#include "../plot/plot.h"
#include "../common/alloc.h"
#include "../common/units.h"
#include "cli.h"

struct fit_opts {
    const char *dataset, *op, *target, *output, *kind, *plot, *components;
    long folds, seed;
    enum tq_dataset_agg agg;
    int force;
    char op_buf[32];  /* the dataset's operator when --op is not given */
    char axes[3][24]; /* a program's parameters (a --param sweep), else "" */
};

static int parse_agg(const struct tq_cli_command *cmd, int key, const char *value, void *opts);

const struct tq_cli_command cli_fit = {
    .name = "fit",
    .opts = TQ_OPTIONS(
        TQ_OPT('p', "op", "OP",
               "operator whose rows to fit (a --param sweep's parameters are the features: `shape` fits them and "
               "their products, the others their product)",
               "the dataset's only one", TQ_STORE_STR(struct fit_opts, op)),
        TQ_OPT('t', "target", "COLUMN",
               "what to predict: charged_peak_bytes (what a memory cgroup charges: the runner's limit), "
               "peak_rss_bytes, vmhwm_bytes, peak_heap_bytes, peak_mmap_bytes or wall_s",
               "charged_peak_bytes when every run has it, else peak_rss_bytes",
               TQ_STORE_STR(struct fit_opts, target)),
        TQ_OPT('a', "agg", "max|mean", "how runs of one shape are combined", "max", TQ_STORE_CALL(parse_agg)),
        TQ_OPT('k', "folds", "K", "cross-validation folds", "5", TQ_STORE_LONG(struct fit_opts, folds, 2, 1000)),
        TQ_OPT('s', "seed", "N", "seed of the fold shuffle", "42",
               TQ_STORE_LONG(struct fit_opts, seed, 0, 2147483647L)),
        TQ_OPT('K', "kind", "KIND", "force one model kind of the whole peak instead of choosing", "choose",
               TQ_STORE_STR(struct fit_opts, kind)),
        TQ_OPT('C', "components", "LIST",
               "fit the peak (peak_rss_bytes, vmhwm_bytes) as baseline + these exact components + the rest, each with "
               "its own model: heap,mmap,rest (any of them), or none for one model of the whole peak",
               "heap,mmap,rest given heap or mmap figures, else none", TQ_STORE_STR(struct fit_opts, components)),
        TQ_OPT_OUTPUT("FILE", "write the model JSON here", "only print the table",
                      TQ_STORE_STR(struct fit_opts, output)),
        TQ_OPT('P', "plot", "FILE",
               "draw the points, the chosen model's fit and its bound against volume (.svg or .png)", "no plot",
               TQ_STORE_STR(struct fit_opts, plot)),
        TQ_OPT_FORCE('f', "the output and plot files", TQ_STORE_FLAG(struct fit_opts, force))),
    .usage = "traceq fit DATASET.csv [--op OP] [options]",
    .about = "Fit candidate memory models (linear, robust, poly2, power, shape) to a sweep dataset, compare them\n"
             "with k-fold cross-validation and save the chosen one (with its safety bound) as a model file.",
};

/* 1 when a plot file name has an extension tq_plot_write knows (checked before minutes of fitting). */
static int plot_name_ok(const char *path)
{
    size_t n = strlen(path);
    return n > 4 && (!strcasecmp(path + n - 4, ".svg") || !strcasecmp(path + n - 4, ".png"));
}

/* The targets --components can split. */
static int is_peak_target(const char *target)
{
    return !strcmp(target, "peak_rss_bytes") || !strcmp(target, "vmhwm_bytes") ||
           !strcmp(target, TQ_DATASET_CHARGED);
}

static int parse_agg(const struct tq_cli_command *cmd, int key, const char *value, void *opts)
{
    (void)key;
    if (strcmp(value, "max") && strcmp(value, "mean"))
        return tq_cli_usage_error(cmd->name, "--agg must be max or mean, not '%s'", value);
    ((struct fit_opts *)opts)->agg = strcmp(value, "max") ? TQ_AGG_MEAN : TQ_AGG_MAX;
    return -1;
}

/* Returns -1 to go on, else the exit code. */
static int fit_parse(int argc, char **argv, struct fit_opts *o)
{
    struct tq_err err = {0};
    *o = (struct fit_opts){.target = NULL, .folds = 5, .seed = 42, .agg = TQ_AGG_MAX};
    int rc = tq_cli_parse(&cli_fit, argc, argv, o);
    if (rc >= 0)
        return rc;
    if (optind != argc - 1)
        return tq_cli_usage_error("fit", "expected one DATASET.csv argument");
    o->dataset = argv[optind];
    if (o->output && !o->force && access(o->output, F_OK) == 0) /* say so before minutes of fitting */
        return tq_cli_usage_error("fit", "%s exists; use --force to replace it", o->output);
    if (o->plot && !plot_name_ok(o->plot))
        return tq_cli_usage_error("fit", "--plot file '%s' must end in .svg or .png", o->plot);
    if (o->plot && !o->force && access(o->plot, F_OK) == 0)
        return tq_cli_usage_error("fit", "%s exists; use --force to replace it", o->plot);
    int use[TQ_NCOMP];
    if (o->components && tq_components_parse_list(o->components, use, &err))
        return tq_cli_fail("fit", &err);
    if (o->components && use[TQ_COMP_REST] && o->target && !is_peak_target(o->target))
        return tq_cli_usage_error("fit", "--components splits charged_peak_bytes, peak_rss_bytes or vmhwm_bytes, "
                                  "not %s", o->target);
    if (o->components && use[TQ_COMP_REST] && o->kind)
        return tq_cli_usage_error("fit", "--kind forces one model of the whole peak; add --components none");
    if (o->plot && o->output && strcmp(o->plot, o->output) == 0)
        return tq_cli_usage_error("fit", "--plot and --output name the same file");
    return -1;
}

static void fit_print_table(const struct tq_fit_candidate *c, size_t best, const char *target)
{
    int bytes = strcmp(target, "wall_s") != 0;
    double u = bytes ? 1048576.0 : 1.0;
    printf("%-8s %12s %12s %9s %9s %14s %8s %8s\n", "model", bytes ? "RMSE MiB" : "RMSE s",
           bytes ? "MAE MiB" : "MAE s", "R2", "accuracy", "margin", "forward", "choice");
    for (size_t k = 0; k < TQ_FIT_NKINDS; k++) {
        if (!c[k].ok) {
            printf("%-8s (not fitted: %s)\n", tq_fit_kind_name(c[k].kind), c[k].why);
            continue;
        }
        char margin[32];
        snprintf(margin, sizeof margin, "%.1f%%/%.3g", 100 * c[k].bound.margin_rel, c[k].bound.margin_bytes / u);
        char fwd[32] = "-";
        if (!isnan(c[k].forward))
            snprintf(fwd, sizeof fwd, isfinite(c[k].forward) ? "%.2f%%" : "failed", 100 * c[k].forward);
        printf("%-8s %12.3f %12.3f %9.5f %9.3f %14s %8s %8s\n", tq_fit_kind_name(c[k].kind), c[k].cv.rmse / u,
               c[k].cv.mae / u, c[k].cv.r2, c[k].cv.accuracy, margin, fwd,
               k == best ? "<==" : (c[k].monotone ? "" : "unsafe"));
    }
}

static int fit_save(const struct fit_opts *o, const struct tq_fit_candidate *c, const struct tq_component_fit *cf,
                    const struct tq_fit_point *pts, size_t n)
{
    struct tq_model m;
    struct tq_err err = {0};
    memset(&m, 0, sizeof m);
    snprintf(m.op, sizeof m.op, "%s", o->op);
    snprintf(m.target, sizeof m.target, "%s", o->target);
    memcpy(m.axes, o->axes, sizeof m.axes);
    m.fit = c->model;
    m.bound = c->bound;
    m.cv = c->cv;
    m.extrap_rel = tq_fit_extrap_rel(c->kind, pts, n, c->bound.margin_rel);
    if (cf) {
        m.bound = cf->bound;
        m.cv = cf->cv;
        m.cv.n = n;
        m.extrap_rel = cf->extrap_rel;
        m.baseline = cf->baseline;
        for (int k = 0; k < TQ_NCOMP; k++)
            if (cf->use[k]) {
                snprintf(m.comp[m.ncomp].name, sizeof m.comp[m.ncomp].name, "%s", tq_component_name(k));
                m.comp[m.ncomp++].fit = cf->cands[k][cf->best[k]].model;
            }
    }
    m.folds = (int)o->folds;
    m.seed = (unsigned long)o->seed;
    tq_model_set_range(&m, pts, n);
    if (tq_model_write(&m, o->output, o->force, &err))
        return tq_cli_fail("fit", &err);
    printf("wrote %s (%s model of %s, %zu shapes; extrapolation margin +%.1f%% per e-fold of distance)\n",
           o->output, cf ? "component" : tq_fit_kind_name(c->kind), o->op, n, 100 * m.extrap_rel);
    return TQ_EXIT_OK;
}

/* Draw the chosen model over its points (--plot). */
static int fit_plot(const struct fit_opts *o, const struct tq_fit_candidate *c, const struct tq_fit_point *pts,
                    size_t n)
{
    struct tq_err err = {0};
    tq_status st = tq_fit_plot(o->plot, o->force, o->op, o->target, &c->model, &c->bound, pts, n, &err);
    tq_plot_shutdown(); /* no more plots in this process; keeps leak checkers quiet */
    if (st)
        return tq_cli_fail("fit", &err);
    printf("wrote %s\n", o->plot);
    return TQ_EXIT_OK;
}

/* The component fit (--components, or by default when the dataset has heap or mmap figures) into *out (NULL when
 * none is asked for). */
static int fit_components(const struct fit_opts *o, const struct tq_dataset *ds, struct tq_component_fit **out)
{
    struct tq_err err = {0};
    int use[TQ_NCOMP] = {1, 1, 1};
    if (o->components && tq_components_parse_list(o->components, use, &err))
        return tq_cli_fail("fit", &err);
    struct tq_fit_point *p[3] = {0};
    size_t n[3] = {0};
    const char *cols[3] = {o->target, "peak_heap_bytes", "peak_mmap_bytes"};
    tq_status st = TQ_OK;
    for (int k = 0; k < 3 && !st; k++)
        st = tq_dataset_points(ds, o->op, cols[k], o->agg, &p[k], &n[k], &err);
    double exact = 0;
    for (size_t i = 0; !st && i < n[0]; i++)
        exact += p[1][i].y + p[2][i].y;
    int rc = 0;
    if (!st && use[TQ_COMP_REST] && (o->components || exact > 0)) {
        struct tq_component_input in = {p[0], p[1], p[2], n[0]};
        *out = tq_calloc(1, sizeof **out);
        if (!*out)
            st = tq_fail(&err, TQ_ERR_NOMEM, "out of memory for the component fit");
        else if ((st = tq_components_fit(&in, use, (int)o->folds, (unsigned long)o->seed, *out, &err))) {
            free(*out);
            *out = NULL;
        }
        /* Chosen by default, not asked for: a component no candidate fits (a flat remainder over a few points)
         * leaves the whole peak to one model, as --components none would. */
        if (st == TQ_ERR_RANGE && !o->components) {
            fprintf(stderr, "traceq fit: note: no component fit (%s); fitting the whole peak as one model\n",
                    err.msg);
            st = TQ_OK;
        }
    }
    if (st)
        rc = tq_cli_fail("fit", &err);
    for (int k = 0; k < 3; k++)
        free(p[k]);
    return rc;
}

/* Each component's candidate table, then which component grows and how, and the sum's held-out metrics. */
static void fit_print_components(const struct tq_component_fit *cf, const struct tq_fit_point *pts, size_t n)
{
    size_t lo = 0, hi = 0;
    for (size_t i = 0; i < n; i++) {
        double v = pts[i].shape[0] * pts[i].shape[1] * pts[i].shape[2];
        if (v < pts[lo].shape[0] * pts[lo].shape[1] * pts[lo].shape[2])
            lo = i;
        if (v > pts[hi].shape[0] * pts[hi].shape[1] * pts[hi].shape[2])
            hi = i;
    }
    printf("\ncomponents (the model -o saves): peak = baseline %.3f MiB + the components below\n",
           cf->baseline / 1048576.0);
    for (int k = 0; k < TQ_NCOMP; k++) {
        if (!cf->use[k])
            continue;
        printf("\n%s component:\n", tq_component_name(k));
        fit_print_table(cf->cands[k], cf->best[k], "bytes");
    }
    printf("\n%-9s %-7s %14s %14s  (smallest %gx%gx%g, largest %gx%gx%g shape)\n", "component", "model",
           "smallest MiB", "largest MiB", pts[lo].shape[0], pts[lo].shape[1], pts[lo].shape[2], pts[hi].shape[0],
           pts[hi].shape[1], pts[hi].shape[2]);
    printf("%-9s %-7s %14.3f %14.3f\n", "baseline", "const", cf->baseline / 1048576.0, cf->baseline / 1048576.0);
    for (int k = 0; k < TQ_NCOMP; k++) {
        if (!cf->use[k])
            continue;
        const struct tq_fit_model *m = &cf->cands[k][cf->best[k]].model;
        double a = tq_fit_eval(m, pts[lo].shape), b = tq_fit_eval(m, pts[hi].shape);
        printf("%-9s %-7s %14.3f %14.3f  %s\n", tq_component_name(k), tq_fit_kind_name(m->kind), a / 1048576.0,
               b / 1048576.0, b > a * 1.05 + 1048576.0 ? "grows" : "flat");
    }
    printf("sum: held-out RMSE %.3f MiB, R2 %.5f, accuracy %.3f, margin %.1f%%/%.3g MiB, extrapolation +%.1f%% "
           "per e-fold\n",
           cf->cv.rmse / 1048576.0, cf->cv.r2, cf->cv.accuracy, 100 * cf->bound.margin_rel,
           cf->bound.margin_bytes / 1048576.0, 100 * cf->extrap_rel);
}

/* Pick the forced kind, if any; it must have been fitted. */
static int fit_choose(const struct fit_opts *o, const struct tq_fit_candidate *c, size_t *best)
{
    if (!o->kind)
        return 0;
    enum tq_fit_kind k;
    struct tq_err err = {0};
    if (tq_fit_kind_parse(o->kind, &k, &err)) {
        err.status = TQ_ERR_USAGE;
        return tq_cli_fail("fit", &err);
    }
    if (!c[k].ok) {
        fprintf(stderr, "traceq fit: the %s model could not be fitted: %s\n", o->kind, c[k].why);
        return TQ_EXIT_FAIL;
    }
    *best = k;
    return 0;
}

/* --target, or by default what the runner's memory cgroups charge when every run of op measured it (a sweep made
 * in memory cgroups), else the sampled RSS peak; says which on stderr when it chose. */
static const char *fit_default_target(struct fit_opts *o, const struct tq_dataset *ds, const char *op)
{
    if (o->target)
        return o->target;
    o->target = tq_dataset_has_charged(ds, op) ? TQ_DATASET_CHARGED : "peak_rss_bytes";
    fprintf(stderr, "traceq fit: modelling %s%s\n", o->target,
            strcmp(o->target, "peak_rss_bytes") ? " (what the runner's memory cgroups charge; --target peak_rss_bytes "
                                                  "for a run enforced by the RSS watchdog)"
                                                : " (the dataset has no charged figure for every run)");
    return o->target;
}

int cmd_fit(int argc, char **argv)
{
    struct fit_opts o;
    int rc = fit_parse(argc, argv, &o);
    if (rc >= 0)
        return rc;
    rc = 0;
    struct tq_err err = {0};
    struct tq_dataset *ds = NULL;
    struct tq_fit_point *pts = NULL;
    size_t n = 0, best = 0;
    struct tq_fit_candidate cands[TQ_FIT_NKINDS];
    struct tq_component_fit *cf = NULL;
    const char *only = NULL;
    if (tq_dataset_read(o.dataset, &ds, &err) || (!o.op && tq_dataset_only_op(ds, &only, &err)) ||
        tq_dataset_points(ds, o.op ? o.op : only, fit_default_target(&o, ds, o.op ? o.op : only), o.agg, &pts, &n,
                          &err)) {
        tq_dataset_free(ds);
        return tq_cli_fail("fit", &err);
    }
    if (!o.op) {
        snprintf(o.op_buf, sizeof o.op_buf, "%s", only);
        o.op = o.op_buf;
    }
    if (tq_dataset_has_params(ds))
        memcpy(o.axes, ds->axes, sizeof o.axes);
    if (!o.kind && is_peak_target(o.target) && (size_t)o.folds <= n)
        rc = fit_components(&o, ds, &cf);
    tq_dataset_free(ds);
    if (rc) {
        free(pts);
        return rc;
    }
    if ((size_t)o.folds > n) {
        free(pts);
        return tq_cli_usage_error("fit", "%ld folds need at least %ld shapes; the dataset has %zu for %s", o.folds,
                                  o.folds, n, o.op);
    }
    if (tq_fit_select(pts, n, (int)o.folds, (unsigned long)o.seed, cands, &best, &err)) {
        free(pts);
        return tq_cli_fail("fit", &err);
    }
    rc = fit_choose(&o, cands, &best);
    if (!rc) {
        printf("%s: %zu shapes, target %s, %ld-fold cross-validation (held-out metrics; margin = relative/absolute; "
               "forward = RMS relative error predicting the larger shapes from the smaller)\n",
               o.op, n, o.target, o.folds);
        fit_print_table(cands, best, o.target);
        if (cf)
            fit_print_components(cf, pts, n);
        if (o.output)
            rc = fit_save(&o, &cands[best], cf, pts, n);
        if (!rc && o.plot)
            rc = fit_plot(&o, &cands[best], pts, n);
    }
    free(pts);
    free(cf);
    return rc;
}
