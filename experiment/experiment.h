/* experiment.h - the chunking-strategy experiment behind `traceq experiment`: run none, auto, seed, traceq,
 * adapt (traceq with `run --adapt`) and fixed chunk sizes through the runner (runner/run_job.h) on synthetic cubes, write results.csv, sum up the goals, plot the times. */
#ifndef TQ_EXPERIMENT_H
#define TQ_EXPERIMENT_H

#include <stdio.h>

#include "../common/status.h"

/* What to run. Every string is borrowed for the duration of the call. */
struct tq_exp_config {
    const char *self;   /* the traceq binary that runs synth, sweep and fit */
    const char *out;    /* results folder: volumes, models, outputs, results.csv */
    const char *models; /* folder holding OP.model.json, or NULL to sweep and fit each model once into out */
    const char *ops;    /* operators, comma-separated */
    const char *shapes; /* cube sides, comma-separated */
    const char *limits; /* per-worker limits: sizes (1.5GB) or fractions (< 10) of the unchunked peak */
    const char *fixed;  /* fractions of the side for the fixed-cube strategies */
    int runs, workers, retries;
    FILE *report;       /* progress lines, one table per case, the goals summary */
    FILE *diag;         /* one "traceq experiment: ..." line per operator that could not be run */
    int scope_argc;     /* the command line to run again in a delegated cgroup scope first (runner/cgroup.h: */
    char **scope_argv;  /* tq_cg_reexec_in_scope), or NULL */
};

/* The collected wall times per case and strategy (for the plot) and the goal counters. Opaque. */
struct tq_exp_results;

/* An empty result set. NULL when memory runs out. Caller frees with tq_exp_results_free. */
struct tq_exp_results *tq_exp_results_new(void);

/* Free r; NULL is a no-op. Can't fail. */
void tq_exp_results_free(struct tq_exp_results *r);

/* Create the folder dir unless it exists. Fails with TQ_ERR_IO (and the errno text). */
tq_status tq_exp_make_dir(const char *dir, struct tq_err *err);

/* Run the whole experiment: creates c->out, appends rows to c->out/results.csv (header first when new), prints to
 * c->report, then the goals line and "results: PATH". Fails with TQ_ERR_IO before running anything when the folder
 * or the CSV cannot be made; with TQ_ERR_CHILD after the summary when an operator could not be run (said on
 * c->diag). r collects the cases for tq_exp_write_plot. */
tq_status tq_exp_run(const struct tq_exp_config *c, struct tq_exp_results *r, struct tq_err *err);

/* Fill r from the rows of a results.csv (rows of several experiments may be concatenated). Fails with
 * TQ_ERR_FORMAT when the file cannot be read or holds no experiment rows. */
tq_status tq_exp_replot_read(const char *csv, struct tq_exp_results *r, struct tq_err *err);

/* Draw dir/results.svg: median wall time per strategy (whiskers min..max), one bar colour per case, and print
 * "plot: PATH" to report. Does nothing when r has no case. Fails with the plot's status (TQ_ERR_NOMEM,
 * TQ_ERR_IO, ...) and err filled. */
tq_status tq_exp_write_plot(const struct tq_exp_results *r, const char *dir, FILE *report, struct tq_err *err);

#endif
