/* cmd_fit.c - `traceq fit`: fit every candidate memory model to a sweep dataset, show the CV table, save the choice. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../model/components.h"
#include "../model/dataset.h"
#include "../model/fit_dataset.h"
#include "../model/fit_plot.h"
#include "../model/model.h"
#include "../plot/plot.h"
#include "../common/units.h"
#include "cli.h"

struct fit_opts {
    const char *dataset, *op, *target, *output, *kind, *plot, *components;
    long folds, seed;
    enum tq_dataset_agg agg;
    int force;
};

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
        TQ_OPT('a', "agg", "max|mean", "how runs of one shape are combined", "max",
               TQ_STORE_CHOICE(struct fit_opts, agg, {"max", TQ_AGG_MAX}, {"mean", TQ_AGG_MEAN})),
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


/* The command's options into o and the fit's into fo. Returns -1 to go on, else the exit code. */
static int fit_parse(int argc, char **argv, struct fit_opts *o, struct tq_fit_dataset_opts *fo)
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
    tq_fit_dataset_defaults(fo);
    if (o->components && tq_components_parse_list(o->components, fo->use, &err))
        return tq_cli_fail("fit", &err);
    if (o->components && fo->use[TQ_COMP_REST] && o->target && !tq_fit_is_peak_target(o->target))
        return tq_cli_usage_error("fit", "--components splits charged_peak_bytes, peak_rss_bytes or vmhwm_bytes, "
                                  "not %s", o->target);
    if (o->components && fo->use[TQ_COMP_REST] && o->kind)
        return tq_cli_usage_error("fit", "--kind forces one model of the whole peak; add --components none");
    if (o->plot && o->output && strcmp(o->plot, o->output) == 0)
        return tq_cli_usage_error("fit", "--plot and --output name the same file");
    fo->target = o->target; /* NULL: chosen from the dataset (fit_default_target) */
    fo->agg = o->agg;
    fo->folds = (int)o->folds;
    fo->seed = (unsigned long)o->seed;
    if (o->kind) /* one model of the whole peak */
        fo->use[TQ_COMP_REST] = 0;
    fo->components_asked = o->components != NULL;
    fo->all_candidates = 1; /* the table shows them all */
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

/* Save the model of d with candidate best (or d's components) to --output. */
static int fit_save(const struct fit_opts *o, const struct tq_fit_dataset_opts *fo, const struct tq_fit_details *d,
                    size_t best)
{
    struct tq_model m;
    struct tq_err err = {0};
    tq_fit_details_model(fo, d, best, &m);
    if (tq_model_write(&m, o->output, o->force, &err))
        return tq_cli_fail("fit", &err);
    printf("wrote %s (%s model of %s, %zu shapes; extrapolation margin +%.1f%% per e-fold of distance)\n",
           o->output, d->cf ? "component" : tq_fit_kind_name(d->cands[best].kind), d->op, d->n, 100 * m.extrap_rel);
    return TQ_EXIT_OK;
}

/* Draw the chosen model over its points (--plot). */
static int fit_plot(const struct fit_opts *o, const char *op, const char *target, const struct tq_fit_candidate *c,
                    const struct tq_fit_point *pts, size_t n)
{
    struct tq_err err = {0};
    tq_status st = tq_fit_plot(o->plot, o->force, op, target, &c->model, &c->bound, pts, n, &err);
    tq_plot_shutdown(); /* no more plots in this process; keeps leak checkers quiet */
    if (st)
        return tq_cli_fail("fit", &err);
    printf("wrote %s\n", o->plot);
    return TQ_EXIT_OK;
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
static const char *fit_default_target(const struct fit_opts *o, const struct tq_dataset *ds, const char *op)
{
    if (o->target)
        return o->target;
    const char *target = tq_fit_default_target(ds, op);
    fprintf(stderr, "traceq fit: modelling %s%s\n", target,
            strcmp(target, "peak_rss_bytes") ? " (what the runner's memory cgroups charge; --target peak_rss_bytes "
                                               "for a run enforced by the RSS watchdog)"
                                             : " (the dataset has no charged figure for every run)");
    return target;
}

/* Fit the dataset as o and fo say, print the candidates (and the components), save and draw the model kept. */
static int fit_and_report(const struct fit_opts *o, struct tq_fit_dataset_opts *fo)
{
    int rc = 0;
    struct tq_err err = {0};
    struct tq_dataset *ds = NULL;
    struct tq_fit_details d = {0};
    const char *only = NULL;
    tq_status st = tq_dataset_read(o->dataset, &ds, &err);
    if (!st && !o->op)
        st = tq_dataset_only_op(ds, &only, &err);
    if (!st) {
        fo->target = fit_default_target(o, ds, o->op ? o->op : only);
        st = tq_fit_details_points(ds, o->op ? o->op : only, fo, &d, &err);
    }
    if (st) {
        rc = tq_cli_fail("fit", &err);
    } else if ((size_t)o->folds > d.n) {
        rc = tq_cli_usage_error("fit", "%ld folds need at least %ld shapes; the dataset has %zu for %s", o->folds,
                                o->folds, d.n, d.op);
    } else {
        st = tq_fit_details_fit(ds, fo, &d, &err);
        /* Chosen by default, not asked for: a component no candidate fits (a flat remainder over a few points)
         * leaves the whole peak to one model, as --components none would. */
        if (d.note[0])
            fprintf(stderr, "traceq fit: note: no component fit (%s); fitting the whole peak as one model\n", d.note);
        rc = st ? tq_cli_fail("fit", &err) : 0;
    }
    tq_dataset_free(ds);
    size_t best = d.best;
    if (!rc)
        rc = fit_choose(o, d.cands, &best);
    if (!rc) {
        printf("%s: %zu shapes, target %s, %ld-fold cross-validation (held-out metrics; margin = relative/absolute; "
               "forward = RMS relative error predicting the larger shapes from the smaller)\n",
               d.op, d.n, fo->target, o->folds);
        fit_print_table(d.cands, best, fo->target);
        if (d.cf)
            fit_print_components(d.cf, d.pts, d.n);
        if (o->output)
            rc = fit_save(o, fo, &d, best);
        if (!rc && o->plot)
            rc = fit_plot(o, d.op, fo->target, &d.cands[best], d.pts, d.n);
    }
    tq_fit_details_free(&d);
    return rc;
}

int cmd_fit(int argc, char **argv)
{
    struct fit_opts o;
    struct tq_fit_dataset_opts fo;
    int rc = fit_parse(argc, argv, &o, &fo);
    return rc >= 0 ? rc : fit_and_report(&o, &fo);
}
