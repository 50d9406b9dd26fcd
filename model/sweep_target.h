/* sweep_target.h - a sweep that aims at a target shape (`traceq sweep --target SHAPE`): it picks its own shapes,
 * small and cheap first, then growing geometrically toward the target along the axes the measurements cover
 * least (the largest factor target / largest measured value), refitting the model after every shape
 * (fit_dataset.h, `traceq fit`'s defaults), until the prediction for the target is stable (two successive fits
 * within TQ_TARGET_STABLE of each other and the bound within TQ_TARGET_TIGHT of the prediction) or the time or
 * memory budget is spent.
 *
 * Shapes: an initial design of at least 6 small shapes (a --grid when given, else a factorial around the target
 * divided by 5..7.5 per axis: 2 levels x1.5 on 3 axes, 3 levels x1.5 on 2, 6 levels x1.41 on 1), then one shape
 * per step: the measured frontier (the largest measured value of each axis) doubled along every axis whose factor
 * to the target is at least the square root of the largest factor, clamped to the target. Rows already in the
 * dataset are reused, so a rerun of the same command continues the same path. */
#ifndef TQ_SWEEP_TARGET_H
#define TQ_SWEEP_TARGET_H

#include <stdint.h>
#include <stdio.h>

#include "../common/status.h"
#include "fit_dataset.h"
#include "sweep.h"
#include "sweep_grid.h"

#define TQ_TARGET_STABLE 0.02  /* successive predictions agree within this (relative) */
#define TQ_TARGET_TIGHT 0.10   /* bound within this of the prediction (relative) */
#define TQ_TARGET_MAX_START 4096 /* largest initial design (--grid shapes) */

struct tq_sweep_target {
    struct tq_sweep_job job;     /* what to run: exe, op, interval, cpus, trace_root, use_record, cmd, params;
                                    shape and run are filled per run */
    const char *dataset;         /* the CSV rows are read from and appended to */
    size_t target[3];            /* the shape (or parameter values; unused slots 1) to predict */
    const size_t (*start)[3];    /* the initial design (a --grid), or NULL for the automatic one */
    size_t nstart;
    size_t min_value;            /* smallest value of a used axis in the automatic design */
    int runs;                    /* runs per shape */
    double budget_s;             /* wall-clock budget of the whole sweep, > 0 */
    uint64_t max_memory;         /* do not run a shape whose predicted bound is above this (0: no limit) */
    struct tq_fit_dataset_opts fit;
    FILE *out;                   /* one line per run and per fit */
};

struct tq_sweep_target_result {
    int converged;
    int fitted;                  /* a model could be fitted: pred/bound/factor are valid */
    char stopped[256];           /* why the sweep stopped ("converged", "time budget spent", ...) */
    double pred, bound;          /* the last fit's prediction and bound for the target (bytes) */
    double volume_factor;        /* target volume / largest measured volume (1 when measured) */
    int target_measured;         /* the sweep grew to the target itself and measured it */
    size_t runs_done, runs_failed, shapes;
};

/* Check the settings before any run: a target axis of 0, a target smaller than a --grid shape on some axis, a
 * budget <= 0, runs < 1 are TQ_ERR_USAGE with a message naming the problem. */
tq_status tq_sweep_target_check(const struct tq_sweep_target *t, struct tq_err *err);

/* Run the targeted sweep (after tq_sweep_target_check). A budget or a failed run ending the sweep is a result, not
 * an error (res->converged = 0, res->stopped says why). Fails with TQ_ERR_IO / TQ_ERR_FORMAT when the dataset
 * cannot be read or appended to, TQ_ERR_CHILD when the first runs all fail alike (sweep_guard.h), TQ_ERR_NOMEM. */
tq_status tq_sweep_target_run(const struct tq_sweep_target *t, struct tq_sweep_target_result *res,
                              struct tq_err *err);

/* The targeted sweep's options, as given on the command line (strings borrowed). */
struct tq_sweep_target_opts {
    const char *target;       /* --target IxXxS (--op or a volume command), or NULL */
    const char *target_set;   /* --target-set name=V,.. (a command with parameters), or NULL */
    double budget_s;          /* --budget; < 0 when not given (then 120 s) */
    uint64_t max_memory;      /* --max-memory; 0 when not given */
    const char *components;   /* --components, or NULL (heap,mmap,rest when the data has them) */
    int runs_given;           /* --runs was given (else 1 run per shape) */
};

/* 1 when any targeted-sweep option is given (the sweep is then tq_sweep_target_cli's, not a grid's). */
int tq_sweep_target_asked(const struct tq_sweep_target_opts *o);

/* `traceq sweep --target ...` after option parsing: check the options against spec (TQ_ERR_USAGE: a budget
 * without a target, both targets, --target-set without a command or with --param or --grid, --target with
 * --param, the proc backend, a bad target, budget or component list, a target smaller than a --grid shape), set
 * up the run like tq_sweep_grid_run (the binary, the traces folder, the dataset's kind), run it printing to
 * report, and print how it ended. Fails like tq_sweep_target_run otherwise. */
tq_status tq_sweep_target_cli(const struct tq_sweep_spec *spec, const struct tq_sweep_target_opts *o, FILE *report,
                              struct tq_err *err);

/* Parse "name=value,name=value" (1..3 parameters, values >= 1) into names and values. Fails with TQ_ERR_USAGE. */
tq_status tq_sweep_target_parse_set(const char *text, char names[3][32], size_t values[3], size_t *n,
                                    struct tq_err *err);

#endif
