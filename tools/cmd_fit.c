/* cmd_fit.c - `traceq fit`: fit every candidate memory model to a sweep dataset, show the CV table, save the choice. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../model/dataset.h"
#include "../model/fit_plot.h"
#include "../model/model.h"
#include "../plot/plot.h"
#include "../common/units.h"
#include "cli.h"

struct fit_opts {
    const char *dataset, *op, *target, *output, *kind, *plot;
    long folds, seed;
    enum tq_dataset_agg agg;
    int force;
    char op_buf[32];  /* the dataset's operator when --op is not given */
    char axes[3][24]; /* a program's parameters (a --param sweep), else "" */
};

static const struct tq_cli_opt fit_opts[] = {
    TQ_OPT('p', "op", "OP",
           "operator whose rows to fit (a --param sweep's parameters are the features: `shape` fits them and "
           "their products, the others their product)",
           "the dataset's only one"),
    TQ_OPT('t', "target", "COLUMN",
           "what to predict: peak_rss_bytes, vmhwm_bytes, peak_heap_bytes, peak_mmap_bytes or wall_s",
           "peak_rss_bytes"),
    TQ_OPT('a', "agg", "max|mean", "how runs of one shape are combined", "max"),
    TQ_OPT('k', "folds", "K", "cross-validation folds", "5"),
    TQ_OPT('s', "seed", "N", "seed of the fold shuffle", "42"),
    TQ_OPT('K', "kind", "KIND", "force a model kind instead of choosing", "choose"),
    TQ_OPT_SHORT('o', "output", "FILE", "write the model JSON here", "only print the table"),
    TQ_OPT('P', "plot", "FILE",
           "draw the points, the chosen model's fit and its bound against volume (.svg or .png)", "no plot"),
    TQ_OPT('f', "force", NULL, "replace existing output and plot files", NULL),
    TQ_OPT_END,
};

const struct tq_cli_command cli_fit = {
    .name = "fit",
    .usage = "traceq fit DATASET.csv [--op OP] [options]",
    .about = "Fit candidate memory models (linear, robust, poly2, power, shape) to a sweep dataset, compare them\n"
             "with k-fold cross-validation and save the chosen one (with its safety bound) as a model file.",
    .opts = fit_opts,
};

/* 1 when a plot file name has an extension tq_plot_write knows (checked before minutes of fitting). */
static int plot_name_ok(const char *path)
{
    size_t n = strlen(path);
    return n > 4 && (!strcasecmp(path + n - 4, ".svg") || !strcasecmp(path + n - 4, ".png"));
}

/* Returns -1 to go on, else the exit code. */
static int fit_parse(int argc, char **argv, struct fit_opts *o)
{
    struct tq_err err = {0};
    *o = (struct fit_opts){.target = "peak_rss_bytes", .folds = 5, .seed = 42, .agg = TQ_AGG_MAX};
    int c;
    optind = 1;
    while ((c = tq_cli_next(&cli_fit, argc, argv)) > 0) {
        switch (c) {
        case 'p': o->op = optarg; break;
        case 't': o->target = optarg; break;
        case 'K': o->kind = optarg; break;
        case 'o': o->output = optarg; break;
        case 'P': o->plot = optarg; break;
        case 'f': o->force = 1; break;
        case 'a':
            if (strcmp(optarg, "max") && strcmp(optarg, "mean"))
                return tq_cli_usage_error("fit", "--agg must be max or mean, not '%s'", optarg);
            o->agg = strcmp(optarg, "max") ? TQ_AGG_MEAN : TQ_AGG_MAX;
            break;
        case 'k':
            if (tq_parse_long(optarg, 2, 1000, "--folds", &o->folds, &err))
                return tq_cli_fail("fit", &err);
            break;
        case 's':
            if (tq_parse_long(optarg, 0, 2147483647L, "--seed", &o->seed, &err))
                return tq_cli_fail("fit", &err);
            break;
        }
    }
    if (c != TQ_CLI_END)
        return tq_cli_exit_code(c);
    if (optind != argc - 1)
        return tq_cli_usage_error("fit", "expected one DATASET.csv argument");
    o->dataset = argv[optind];
    if (o->output && !o->force && access(o->output, F_OK) == 0) /* say so before minutes of fitting */
        return tq_cli_usage_error("fit", "%s exists; use --force to replace it", o->output);
    if (o->plot && !plot_name_ok(o->plot))
        return tq_cli_usage_error("fit", "--plot file '%s' must end in .svg or .png", o->plot);
    if (o->plot && !o->force && access(o->plot, F_OK) == 0)
        return tq_cli_usage_error("fit", "%s exists; use --force to replace it", o->plot);
    if (o->plot && o->output && strcmp(o->plot, o->output) == 0)
        return tq_cli_usage_error("fit", "--plot and --output name the same file");
    return -1;
}

static void fit_print_table(const struct tq_fit_candidate *c, size_t best, const char *target)
{
    int bytes = strcmp(target, "wall_s") != 0;
    double u = bytes ? 1048576.0 : 1.0;
    printf("%-8s %12s %12s %9s %9s %14s %8s\n", "model", bytes ? "RMSE MiB" : "RMSE s", bytes ? "MAE MiB" : "MAE s",
           "R2", "accuracy", "margin", "choice");
    for (size_t k = 0; k < TQ_FIT_NKINDS; k++) {
        if (!c[k].ok) {
            printf("%-8s (not fitted: %s)\n", tq_fit_kind_name(c[k].kind), c[k].why);
            continue;
        }
        char margin[32];
        snprintf(margin, sizeof margin, "%.1f%%/%.3g", 100 * c[k].bound.margin_rel, c[k].bound.margin_bytes / u);
        printf("%-8s %12.3f %12.3f %9.5f %9.3f %14s %8s\n", tq_fit_kind_name(c[k].kind), c[k].cv.rmse / u,
               c[k].cv.mae / u, c[k].cv.r2, c[k].cv.accuracy, margin,
               k == best ? "<==" : (c[k].monotone ? "" : "unsafe"));
    }
}

static int fit_save(const struct fit_opts *o, const struct tq_fit_candidate *c, const struct tq_fit_point *pts,
                    size_t n)
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
    m.folds = (int)o->folds;
    m.seed = (unsigned long)o->seed;
    tq_model_set_range(&m, pts, n);
    if (tq_model_write(&m, o->output, o->force, &err))
        return tq_cli_fail("fit", &err);
    printf("wrote %s (%s model of %s, %zu shapes)\n", o->output, tq_fit_kind_name(c->kind), o->op, n);
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

int cmd_fit(int argc, char **argv)
{
    struct fit_opts o;
    int rc = fit_parse(argc, argv, &o);
    if (rc >= 0)
        return rc;
    struct tq_err err = {0};
    struct tq_dataset *ds = NULL;
    struct tq_fit_point *pts = NULL;
    size_t n = 0, best = 0;
    struct tq_fit_candidate cands[TQ_FIT_NKINDS];
    const char *only = NULL;
    if (tq_dataset_read(o.dataset, &ds, &err) || (!o.op && tq_dataset_only_op(ds, &only, &err)) ||
        tq_dataset_points(ds, o.op ? o.op : only, o.target, o.agg, &pts, &n, &err)) {
        tq_dataset_free(ds);
        return tq_cli_fail("fit", &err);
    }
    if (!o.op) {
        snprintf(o.op_buf, sizeof o.op_buf, "%s", only);
        o.op = o.op_buf;
    }
    if (tq_dataset_has_params(ds))
        memcpy(o.axes, ds->axes, sizeof o.axes);
    tq_dataset_free(ds);
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
        printf("%s: %zu shapes, target %s, %ld-fold cross-validation (held-out metrics; margin = relative/absolute)\n",
               o.op, n, o.target, o.folds);
        fit_print_table(cands, best, o.target);
        if (o.output)
            rc = fit_save(&o, &cands[best], pts, n);
        if (!rc && o.plot)
            rc = fit_plot(&o, &cands[best], pts, n);
    }
    free(pts);
    return rc;
}
