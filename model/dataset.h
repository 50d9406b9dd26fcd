/* dataset.h - the sweep dataset: one CSV row per profiled run of an operator on a synthetic shape.
 *
 * Header (exactly, units in the names):
 *   op,inlines,xlines,samples,volume,run,status,reason,peak_rss_bytes,vmhwm_bytes,peak_heap_bytes,peak_mmap_bytes,
 *   wall_s,trace
 * status is "ok" or "failed" (reason says why; empty when ok).
 * A dataset of a user's command (`traceq sweep --cmd`, op "cmd") has one more column, the command template, and
 * may name its three shape columns after the swept parameters (`--param rows=...`; an unused slot is named "_"
 * and holds 1) with "product" in place of "volume":
 *   op,A,B,C,volume|product,run,status,reason,peak_rss_bytes,vmhwm_bytes,peak_heap_bytes,peak_mmap_bytes,wall_s,
 *   trace,command
 * Both forms end with one more column, charged_peak_bytes (what a memory cgroup charged the run: anonymous +
 * shmem memory, without page cache; 0 = not measured, e.g. no memory cgroup could be made), since the sweep
 * measures it; files without it (written before) are read and extended in their own form (those rows have 0).
 * Datasets in the first form are read and extended as before. Fields are never quoted: the writer replaces commas,
 * quotes and line breaks in text fields with spaces (the reader, common/csv.h, would also take quoted ones). Rows
 * are appended one at a time (flushed and synced), so an interrupted sweep leaves a valid file that a rerun
 * continues. */
#ifndef TQ_DATASET_H
#define TQ_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "../common/status.h"
#include "fit.h"

/* The columns after the shape ones, shared by both forms. */
#define TQ_DATASET_TAIL                                                                                       \
    ",run,status,reason,peak_rss_bytes,vmhwm_bytes,peak_heap_bytes,peak_mmap_bytes,wall_s,trace"
#define TQ_DATASET_HEADER "op,inlines,xlines,samples,volume" TQ_DATASET_TAIL
#define TQ_DATASET_CHARGED "charged_peak_bytes" /* the last column of datasets written since it exists */

#define TQ_DATASET_NAME 24 /* room for a shape column's name */

struct tq_dataset_row {
    char op[32];
    char command[512];        /* a user's command template ("" for built-in operators: the 14-column form) */
    char axes[3][TQ_DATASET_NAME]; /* names of the shape columns of a command's dataset ("" = inlines...) */
    size_t shape[3];
    int run;                  /* 1-based run number of this shape */
    int ok;                   /* status: 1 "ok", 0 "failed" */
    char reason[256];
    uint64_t peak_rss_bytes;  /* sampled VmRSS peak */
    uint64_t vmhwm_bytes;     /* kernel high-water mark */
    uint64_t peak_heap_bytes; /* from the trace summary (0 when unknown) */
    uint64_t peak_mmap_bytes;
    double wall_s;
    char trace[1024];         /* trace path (may be empty) */
    uint64_t charged_peak_bytes; /* memory cgroup's charged peak (sweep.h); 0 = not measured */
};

struct tq_dataset {
    int has_command;          /* the command's form */
    int has_charged;          /* the charged_peak_bytes column is there */
    char axes[3][TQ_DATASET_NAME]; /* names of the shape columns (inlines, xlines, samples unless parameters) */
    size_t n;
    struct tq_dataset_row *rows; /* owned */
};

/* How runs of one shape become one fitting point. */
enum tq_dataset_agg { TQ_AGG_MAX, TQ_AGG_MEAN };

/* Read a dataset. Fails with TQ_ERR_IO when it cannot be opened, TQ_ERR_FORMAT (with the line number) on a wrong
 * header, a wrong number of fields or a bad number. Caller frees with tq_dataset_free. */
tq_status tq_dataset_read(const char *path, struct tq_dataset **out, struct tq_err *err);

/* Append one row, writing the header first when the file is new or empty (the command's form when the row has a
 * command, with its axes' names; with the charged column), or in the form the file has (with or without it); fails with TQ_ERR_FORMAT when an existing file has another header, TQ_ERR_IO on
 * write errors. */
tq_status tq_dataset_append(const char *path, const struct tq_dataset_row *row, struct tq_err *err);

/* 1 when the dataset already has a row (ok or failed) for op, shape and run. Can't fail. */
int tq_dataset_has(const struct tq_dataset *ds, const char *op, const size_t shape[3], int run);

/* Fitting points of `op`: successful rows grouped by shape, `target` (a numeric column name such as
 * "peak_rss_bytes") aggregated over runs by agg. *pts is malloc'd (caller frees). Fails with TQ_ERR_USAGE for an
 * unknown target column, TQ_ERR_RANGE when op has no successful row, TQ_ERR_NOMEM. */
tq_status tq_dataset_points(const struct tq_dataset *ds, const char *op, const char *target, enum tq_dataset_agg agg,
                            struct tq_fit_point **pts, size_t *n, struct tq_err *err);

/* A sweep of `command` (with shape columns named `axes`, NULL = inlines...; "" = a built-in operator) may add to
 * ds only when ds is of the same kind: fails with TQ_ERR_USAGE naming the difference. NULL ds is fine. */
tq_status tq_dataset_check_kind(const struct tq_dataset *ds, const char *command, const char *const axes[3],
                                struct tq_err *err);

/* 1 when every successful row of op has its charged figure (the dataset has the column and the runs were made in
 * memory cgroups), so a fit can model what the cgroup charges; 0 otherwise (also when op has no row). Can't fail. */
int tq_dataset_has_charged(const struct tq_dataset *ds, const char *op);

/* 1 when ds->axes are parameters' names rather than inlines, xlines, samples. Can't fail. */
int tq_dataset_has_params(const struct tq_dataset *ds);

/* The operator of a dataset whose rows all have the same op (for `fit` without --op). Fails with TQ_ERR_USAGE
 * naming them when there are several, TQ_ERR_RANGE when there is no row. */
tq_status tq_dataset_only_op(const struct tq_dataset *ds, const char **op, struct tq_err *err);

void tq_dataset_free(struct tq_dataset *ds);

#endif
