/* sweep_grid.h - a whole sweep, as `traceq sweep` runs it: the grid of shapes (or of a user's command's parameter
 * values) parsed and checked, every run not yet in the dataset made in its own process (sweep.h), each row
 * appended through the failure guard (sweep_guard.h), progress on a terminal, and a summary line.
 *
 * Usage:
 *     struct tq_sweep_spec spec = {.op = "gst3d", .grid = {"100:400:100"}, .output = "ds.csv", .exe = traceq,
 *                                  .runs = 3, .interval_ms = 10, .use_record = 1};
 *     tq_sweep_parse_cpus("0", &spec.cpus, err);
 *     struct tq_sweep_grid g;
 *     if (tq_sweep_grid_parse(&spec, &g, err) == TQ_OK)
 *         st = tq_sweep_grid_run(&g, stdout, err);
 *     tq_sweep_grid_free(&g);
 */
#ifndef TQ_SWEEP_GRID_H
#define TQ_SWEEP_GRID_H

#include <stdio.h>

#include "../common/status.h"
#include "../operators/usercmd.h"
#include "sweep.h"

#define TQ_SWEEP_MAX_AXIS 1024 /* values per axis or parameter */

/* What to sweep, as given on the command line; strings are borrowed. */
struct tq_sweep_spec {
    const char *op;          /* the operator, or NULL with cmd */
    const char *cmd;         /* a user's command template ({in} {out}, or the parameters' names), or NULL */
    const char *grid[4];     /* ranges "A:B:STEP": [0] of every axis (NULL = 100:400:100), [1..3] of one (NULL: [0]) */
    const char *param[3];    /* with cmd: "NAME=A:B:STEP" (tq_sweep_parse_param) instead of a grid */
    size_t nparams;
    const char *output;      /* the dataset CSV to create or extend */
    const char *traces;      /* where the runs' traces go; NULL = OUTPUT.traces */
    const char *exe;         /* the traceq binary to run */
    long runs, interval_ms;  /* runs per shape, sampling interval */
    int use_record;          /* 1: under `traceq record` (needed by cmd); 0: /proc sampling */
    cpu_set_t cpus;          /* CPUs each run is pinned to */
    int charged;             /* 1: each run in its own memory cgroup where one can be made (sweep.h) */
};

/* A parsed sweep. */
struct tq_sweep_grid {
    const struct tq_sweep_spec *spec;
    const char *op;                              /* spec->op, or "cmd" */
    struct tq_ucmd ucmd;                         /* spec->cmd parsed (owned) */
    char pnames[3][32];                          /* the parameters' names */
    const char *pname_ptr[3];
    size_t vals[3][TQ_SWEEP_MAX_AXIS], nvals[3]; /* each axis's (or parameter's) values */
};

/* Check spec and parse its grid or parameters into *g (always initialised: free with tq_sweep_grid_free). Fails
 * with TQ_ERR_USAGE: not exactly one of op and cmd, an unknown operator, --param without a command or with a grid,
 * a command without record, a bad template, range or parameter, a parameter named twice. */
tq_status tq_sweep_grid_parse(const struct tq_sweep_spec *spec, struct tq_sweep_grid *g, struct tq_err *err);

/* Run every run of g not yet in the dataset (rerunning skips them) and print "OP: N runs done (F failed), S
 * already in DATASET" to report. Shows progress on stderr when it is a terminal. Fails with TQ_ERR_USAGE (the
 * binary cannot run, a path too long), TQ_ERR_IO (the traces folder), the dataset's read error or kind mismatch
 * (tq_dataset_check_kind), or the guard's TQ_ERR_CHILD (the first runs all failed alike; every run failed). */
tq_status tq_sweep_grid_run(const struct tq_sweep_grid *g, FILE *report, struct tq_err *err);

/* What a run of g needs before its first run: the binary runs, the traces folder's path (into traces, cap bytes;
 * created), and the dataset already at the output (into *have, NULL when none; the caller frees it) is of g's kind.
 * Fails as tq_sweep_grid_run does, with *have NULL. */
tq_status tq_sweep_grid_files(const struct tq_sweep_grid *g, char *traces, size_t cap, struct tq_dataset **have,
                               struct tq_err *err);

/* Free what g owns. Can't fail. */
void tq_sweep_grid_free(struct tq_sweep_grid *g);

#endif
