/* dataset.c - reading and appending the sweep CSV (through common/csv.h), and turning its rows into fitting points
 * (see dataset.h). */
#include "dataset.h"
#include "../operators/operator.h"
#include "../common/alloc.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/csv.h"

#define NFIELDS 14 /* the built-in operators' form; a command's dataset has one more (the command) */

static const char *const default_axes[3] = {"inlines", "xlines", "samples"};

static const char *const targets[] = {"peak_rss_bytes", "vmhwm_bytes", "peak_heap_bytes", "peak_mmap_bytes",
                                      "wall_s", TQ_DATASET_CHARGED};
#define NTARGETS (sizeof targets / sizeof *targets)

void tq_dataset_free(struct tq_dataset *ds)
{
    if (!ds)
        return;
    free(ds->rows);
    free(ds);
}

static int parse_u64(const char *s, uint64_t *v)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (!*s || *end || errno || *s == '-')
        return -1;
    *v = x;
    return 0;
}

static int copy_text(char *dst, size_t cap, const char *src)
{
    if (strlen(src) >= cap)
        return -1;
    strcpy(dst, src);
    return 0;
}

static int parse_row(char *const *f, int with_command, int with_charged, struct tq_dataset_row *r)
{
    uint64_t v[4], run;
    char *end;
    memset(r, 0, sizeof *r);
    if (copy_text(r->op, sizeof r->op, f[0]) || copy_text(r->reason, sizeof r->reason, f[7]) ||
        copy_text(r->trace, sizeof r->trace, f[13]) ||
        (with_command && copy_text(r->command, sizeof r->command, f[14])))
        return -1;
    for (int a = 0; a < 3; a++) {
        if (parse_u64(f[1 + a], &v[0]) || !v[0])
            return -1;
        r->shape[a] = (size_t)v[0];
    }
    if (parse_u64(f[5], &run) || !run || run > 1000000)
        return -1;
    r->run = (int)run;
    if (strcmp(f[6], "ok") && strcmp(f[6], "failed"))
        return -1;
    r->ok = !strcmp(f[6], "ok");
    for (int k = 0; k < 4; k++)
        if (parse_u64(f[8 + k], &v[k]))
            return -1;
    r->peak_rss_bytes = v[0];
    r->vmhwm_bytes = v[1];
    r->peak_heap_bytes = v[2];
    r->peak_mmap_bytes = v[3];
    if (with_charged && parse_u64(f[NFIELDS + with_command], &r->charged_peak_bytes))
        return -1;
    r->wall_s = strtod(f[12], &end);
    return (*f[12] && !*end && isfinite(r->wall_s) && r->wall_s >= 0) ? 0 : -1;
}

/* The rows after the header; row is the reader's state (the header read). Empty lines are skipped. */
static tq_status read_rows(FILE *fp, const char *path, struct tq_csv_row *row, struct tq_dataset *ds,
                           struct tq_err *err)
{
    size_t cap = 0, want = NFIELDS + (size_t)ds->has_command + (size_t)ds->has_charged;
    tq_status st;
    while ((st = tq_csv_read(fp, path, row, err)) == TQ_OK && row->n) {
        if (row->n == 1 && !row->field[0][0])
            continue;
        if (row->n != want)
            return tq_fail(err, TQ_ERR_FORMAT, "%s:%ld: %zu fields, expected %zu", path, row->line, row->n, want);
        if (ds->n == cap) {
            cap = cap ? 2 * cap : 64;
            struct tq_dataset_row *r = tq_realloc(ds->rows, cap * sizeof *r);
            if (!r)
                return tq_fail(err, TQ_ERR_NOMEM, "out of memory reading %s", path);
            ds->rows = r;
        }
        if (parse_row(row->field, ds->has_command, ds->has_charged, &ds->rows[ds->n]))
            return tq_fail(err, TQ_ERR_FORMAT, "%s:%ld: a bad value (shape, run, status or a number)", path,
                           row->line);
        memcpy(ds->rows[ds->n].axes, ds->axes, sizeof ds->axes);
        ds->n++;
    }
    return st;
}

/* Does the record hold the comma-separated names of `h`, from field `from` on, and nothing more? */
static int fields_are(const struct tq_csv_row *row, size_t from, const char *h)
{
    for (size_t i = from; i < row->n; i++) {
        size_t len = strcspn(h, ",");
        if (strlen(row->field[i]) != len || strncmp(row->field[i], h, len))
            return 0;
        h += len;
        if (*h != ',')
            return i + 1 == row->n;
        h++;
    }
    return 0;
}

/* The header a row is written under: the 14-column form, or a command's with its axes. */
static void header_for(const struct tq_dataset_row *r, char *buf, size_t cap)
{
    if (!r->command[0]) {
        snprintf(buf, cap, "%s,%s", TQ_DATASET_HEADER, TQ_DATASET_CHARGED);
        return;
    }
    const char *a[3];
    int params = 0;
    for (int k = 0; k < 3; k++) {
        a[k] = r->axes[k][0] ? r->axes[k] : default_axes[k];
        params |= strcmp(a[k], default_axes[k]) != 0;
    }
    snprintf(buf, cap, "op,%s,%s,%s,%s%s,command,%s", a[0], a[1], a[2], params ? "product" : "volume",
             TQ_DATASET_TAIL, TQ_DATASET_CHARGED);
}

/* A shape column's name in a header: letters, digits, '_'; not empty. */
static int axis_name_ok(const char *s, size_t len)
{
    if (!len || len >= TQ_DATASET_NAME)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_')
            return 0;
    return 1;
}

/* Is the record (without a charged column) a dataset header: the 14-column form or a command's? ds gets the form
 * and the axes' names. */
static int header_fields_ok(struct tq_csv_row *row, struct tq_dataset *ds)
{
    for (int k = 0; k < 3; k++)
        snprintf(ds->axes[k], sizeof ds->axes[k], "%s", default_axes[k]);
    ds->has_command = 0;
    if (fields_are(row, 0, TQ_DATASET_HEADER))
        return 1;
    int ok = row->n == NFIELDS + 1 && !strcmp(row->field[0], "op") && !strcmp(row->field[NFIELDS], "command") &&
             (!strcmp(row->field[4], "volume") || !strcmp(row->field[4], "product"));
    if (ok) { /* the fixed columns between: compare them without the trailing "command" */
        char *last = row->field[NFIELDS];
        row->n--;
        ok = fields_are(row, 5, &TQ_DATASET_TAIL[1]);
        row->n++;
        row->field[NFIELDS] = last;
    }
    for (int k = 0; ok && k < 3; k++) {
        ok = axis_name_ok(row->field[1 + k], strlen(row->field[1 + k]));
        if (ok)
            snprintf(ds->axes[k], sizeof ds->axes[k], "%s", row->field[1 + k]);
    }
    ds->has_command = ok;
    return ok;
}

/* Read the first record of fp (row: the reader's state) and check that it is a dataset header: the 14-column
 * form, or a command's "op,A,B,C,volume|product,<tail>,command", either with ",charged_peak_bytes" last or not
 * (ds gets the form and the axes' names). */
static tq_status check_header(FILE *fp, const char *path, struct tq_csv_row *row, struct tq_dataset *ds,
                              struct tq_err *err)
{
    TQ_TRY(tq_csv_read(fp, path, row, err));
    if (!row->n)
        return tq_fail(err, TQ_ERR_FORMAT, "%s is empty (no header)", path);
    ds->has_charged = row->n > 1 && !strcmp(row->field[row->n - 1], TQ_DATASET_CHARGED);
    row->n -= (size_t)ds->has_charged;
    int ok = header_fields_ok(row, ds);
    row->n += (size_t)ds->has_charged;
    if (!ok)
        return tq_fail(err, TQ_ERR_FORMAT, "%s:1: not a traceq sweep dataset (expected the header %s[,%s], or a "
                       "command's: op,A,B,C,volume|product,...,trace,command[,%s])", path, TQ_DATASET_HEADER,
                       TQ_DATASET_CHARGED, TQ_DATASET_CHARGED);
    return TQ_OK;
}

tq_status tq_dataset_check_kind(const struct tq_dataset *ds, const char *command, const char *const axes[3],
                                struct tq_err *err)
{
    if (!ds)
        return TQ_OK;
    if (ds->has_command != (command[0] != 0))
        return tq_fail(err, TQ_ERR_USAGE, "the dataset holds sweeps of %s; use another file for %s",
                       ds->has_command ? "a user's command" : "built-in operators",
                       command[0] ? "a command" : "an operator");
    for (int k = 0; k < 3; k++)
        if (strcmp(ds->axes[k], axes ? axes[k] : default_axes[k]))
            return tq_fail(err, TQ_ERR_USAGE, "the dataset's columns are %s,%s,%s, not %s,%s,%s: use another file",
                           ds->axes[0], ds->axes[1], ds->axes[2], axes ? axes[0] : default_axes[0],
                           axes ? axes[1] : default_axes[1], axes ? axes[2] : default_axes[2]);
    for (size_t i = 0; i < ds->n; i++)
        if (strcmp(ds->rows[i].command, command)) {
            char clean[512];
            size_t j = 0;
            for (; command[j] && j + 1 < sizeof clean; j++) /* the file holds it with , " and line breaks blanked */
                clean[j] = strchr(",\"\r\n", command[j]) ? ' ' : command[j];
            clean[j] = 0;
            if (strcmp(ds->rows[i].command, clean))
                return tq_fail(err, TQ_ERR_USAGE, "the dataset holds sweeps of another command (%.200s): use "
                               "another file", ds->rows[i].command);
        }
    return TQ_OK;
}

int tq_dataset_has_charged(const struct tq_dataset *ds, const char *op)
{
    int any = 0;
    for (size_t i = 0; ds->has_charged && i < ds->n; i++) {
        const struct tq_dataset_row *r = &ds->rows[i];
        if (!r->ok || strcmp(r->op, op))
            continue;
        if (!r->charged_peak_bytes)
            return 0;
        any = 1;
    }
    return any;
}

int tq_dataset_has_params(const struct tq_dataset *ds)
{
    for (int k = 0; k < 3; k++)
        if (strcmp(ds->axes[k], default_axes[k]))
            return 1;
    return 0;
}

tq_status tq_dataset_only_op(const struct tq_dataset *ds, const char **op, struct tq_err *err)
{
    if (!ds->n)
        return tq_fail(err, TQ_ERR_RANGE, "the dataset has no rows");
    for (size_t i = 1; i < ds->n; i++)
        if (strcmp(ds->rows[i].op, ds->rows[0].op))
            return tq_fail(err, TQ_ERR_USAGE, "the dataset holds several operators (%s, %s, ...): choose one "
                           "with --op", ds->rows[0].op, ds->rows[i].op);
    *op = ds->rows[0].op;
    return TQ_OK;
}

tq_status tq_dataset_read(const char *path, struct tq_dataset **out, struct tq_err *err)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return tq_fail_errno(err, TQ_ERR_IO, "cannot open dataset %s", path);
    struct tq_dataset *ds = tq_calloc(1, sizeof *ds);
    struct tq_csv_row row = {0};
    tq_status st = ds ? check_header(fp, path, &row, ds, err) : tq_fail(err, TQ_ERR_NOMEM, "out of memory");
    if (!st)
        st = read_rows(fp, path, &row, ds, err);
    tq_csv_row_free(&row);
    fclose(fp);
    if (st) {
        tq_dataset_free(ds);
        return st;
    }
    *out = ds;
    return TQ_OK;
}

/* A text field as the format keeps it: commas, quotes and line breaks become spaces, so no field is ever quoted. */
static void plain_text(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src);
    for (char *p = dst; *p; p++)
        if (strchr(",\"\r\n", *p))
            *p = ' ';
}

/* Write row r as one CSV record (with its charged figure last when with_charged). */
static tq_status put_row(FILE *fp, const struct tq_dataset_row *r, int with_charged, struct tq_err *err)
{
    char op[sizeof r->op], reason[sizeof r->reason], trace[sizeof r->trace], command[sizeof r->command], num[11][32];
    plain_text(op, sizeof op, r->op);
    plain_text(command, sizeof command, r->command);
    plain_text(reason, sizeof reason, r->reason);
    plain_text(trace, sizeof trace, r->trace);
    snprintf(num[0], 32, "%zu", r->shape[0]);
    snprintf(num[1], 32, "%zu", r->shape[1]);
    snprintf(num[2], 32, "%zu", r->shape[2]);
    snprintf(num[3], 32, "%zu", r->shape[0] * r->shape[1] * r->shape[2]);
    snprintf(num[4], 32, "%d", r->run);
    snprintf(num[5], 32, "%" PRIu64, r->peak_rss_bytes);
    snprintf(num[6], 32, "%" PRIu64, r->vmhwm_bytes);
    snprintf(num[7], 32, "%" PRIu64, r->peak_heap_bytes);
    snprintf(num[8], 32, "%" PRIu64, r->peak_mmap_bytes);
    snprintf(num[9], 32, "%.6f", r->wall_s);
    snprintf(num[10], 32, "%" PRIu64, r->charged_peak_bytes);
    const char *f[NFIELDS + 2] = {op,     num[0], num[1], num[2], num[3], num[4], r->ok ? "ok" : "failed",
                                  reason, num[5], num[6], num[7], num[8], num[9], trace, command};
    size_t n = NFIELDS + (r->command[0] != 0);
    if (with_charged)
        f[n++] = num[10];
    return tq_csv_write(fp, f, n, err);
}

tq_status tq_dataset_append(const char *path, const struct tq_dataset_row *r, struct tq_err *err)
{
    FILE *fp = fopen(path, "a+");
    if (!fp)
        return tq_fail_errno(err, TQ_ERR_IO, "cannot open dataset %s", path);
    tq_status st = TQ_OK;
    char want[512];
    int with_charged = 1;
    header_for(r, want, sizeof want);
    fseek(fp, 0, SEEK_END);
    if (ftell(fp) == 0)
        fprintf(fp, "%s\n", want);
    else {
        struct tq_csv_row header = {0};
        struct tq_dataset have = {0};
        rewind(fp);
        st = check_header(fp, path, &header, &have, err);
        tq_csv_row_free(&header);
        with_charged = have.has_charged; /* a file written before the column keeps its form */
        int same = have.has_command == (r->command[0] != 0);
        for (int k = 0; same && have.has_command && k < 3; k++)
            same = !strcmp(have.axes[k], r->axes[k][0] ? r->axes[k] : default_axes[k]);
        if (!st && !same)
            st = tq_fail(err, TQ_ERR_FORMAT, "%s:1: holds another kind of sweep (this row needs the header %.300s): "
                         "use another file", path, want);
        /* A last line cut without its newline (an editor, a copy, a full disk) must not swallow the new row. */
        if (!st && fseek(fp, -1, SEEK_END) == 0 && fgetc(fp) != '\n')
            fputc('\n', fp);
        fseek(fp, 0, SEEK_END);
    }
    if (!st)
        st = put_row(fp, r, with_charged, err);
    if (!st) {
        if (fflush(fp) || fsync(fileno(fp)))
            st = tq_fail_errno(err, TQ_ERR_IO, "cannot write dataset %s", path);
    }
    if (fclose(fp) && !st)
        st = tq_fail_errno(err, TQ_ERR_IO, "cannot write dataset %s", path);
    return st;
}

int tq_dataset_has(const struct tq_dataset *ds, const char *op, const size_t shape[3], int run)
{
    for (size_t i = 0; ds && i < ds->n; i++) {
        const struct tq_dataset_row *r = &ds->rows[i];
        if (r->run == run && !strcmp(r->op, op) && !memcmp(r->shape, shape, sizeof r->shape))
            return 1;
    }
    return 0;
}

static double row_target(const struct tq_dataset_row *r, int t)
{
    switch (t) {
    case 0:
        return (double)r->peak_rss_bytes;
    case 1:
        return (double)r->vmhwm_bytes;
    case 2:
        return (double)r->peak_heap_bytes;
    case 3:
        return (double)r->peak_mmap_bytes;
    case 4:
        return r->wall_s;
    default:
        return (double)r->charged_peak_bytes;
    }
}

/* Index of the point with this shape in pts[0..n), or n. */
static size_t point_find(const struct tq_fit_point *pts, size_t n, const size_t shape[3])
{
    for (size_t i = 0; i < n; i++)
        if (pts[i].shape[0] == (double)shape[0] && pts[i].shape[1] == (double)shape[1] &&
            pts[i].shape[2] == (double)shape[2])
            return i;
    return n;
}

tq_status tq_dataset_points(const struct tq_dataset *ds, const char *op, const char *target, enum tq_dataset_agg agg,
                            struct tq_fit_point **pts, size_t *n, struct tq_err *err)
{
    int t = -1;
    for (size_t k = 0; k < NTARGETS; k++)
        if (!strcmp(target, targets[k]))
            t = (int)k;
    if (t < 0)
        return tq_fail(err, TQ_ERR_USAGE, "unknown target '%s' (expected peak_rss_bytes, vmhwm_bytes, "
                                          "peak_heap_bytes, peak_mmap_bytes, wall_s or %s)", target,
                       TQ_DATASET_CHARGED);
    if (t == 5 && !tq_dataset_has_charged(ds, op))
        return tq_fail(err, TQ_ERR_USAGE, "target %s: the dataset has no charged figure for every run of '%s' (a "
                       "sweep made without memory cgroups, or before the column existed)", target, op);
    struct tq_fit_point *p = tq_malloc((ds->n ? ds->n : 1) * sizeof *p);
    size_t *runs = tq_calloc(ds->n ? ds->n : 1, sizeof *runs), np = 0;
    if (!p || !runs) {
        free(p);
        free(runs);
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory for %zu points", ds->n);
    }
    for (size_t i = 0; i < ds->n; i++) {
        const struct tq_dataset_row *r = &ds->rows[i];
        if (!r->ok || strcmp(r->op, op))
            continue;
        size_t k = point_find(p, np, r->shape);
        double y = row_target(r, t);
        if (k == np) {
            p[np++] = (struct tq_fit_point){{(double)r->shape[0], (double)r->shape[1], (double)r->shape[2]}, y,
                                            r->command[0] ? NULL : tq_op_find(op)};
            runs[k] = 1;
            continue;
        }
        p[k].y = agg == TQ_AGG_MAX ? fmax(p[k].y, y) : p[k].y + y;
        runs[k]++;
    }
    for (size_t k = 0; agg == TQ_AGG_MEAN && k < np; k++)
        p[k].y /= (double)runs[k];
    free(runs);
    if (!np) {
        free(p);
        return tq_fail(err, TQ_ERR_RANGE, "the dataset has no successful run of operator '%s'", op);
    }
    *pts = p;
    *n = np;
    return TQ_OK;
}
