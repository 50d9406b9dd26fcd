/* dataset.c - reading and appending the sweep CSV (through common/csv.h), and turning its rows into fitting points
 * (see dataset.h). */
#include "dataset.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/csv.h"

#define NFIELDS 14

static const char *const targets[] = {"peak_rss_bytes", "vmhwm_bytes", "peak_heap_bytes", "peak_mmap_bytes",
                                      "wall_s"};

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

static int parse_row(char *const *f, struct tq_dataset_row *r)
{
    uint64_t v[4], run;
    char *end;
    memset(r, 0, sizeof *r);
    if (copy_text(r->op, sizeof r->op, f[0]) || copy_text(r->reason, sizeof r->reason, f[7]) ||
        copy_text(r->trace, sizeof r->trace, f[13]))
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
    r->wall_s = strtod(f[12], &end);
    return (*f[12] && !*end && isfinite(r->wall_s) && r->wall_s >= 0) ? 0 : -1;
}

/* The rows after the header; row is the reader's state (the header read). Empty lines are skipped. */
static tq_status read_rows(FILE *fp, const char *path, struct tq_csv_row *row, struct tq_dataset *ds,
                           struct tq_err *err)
{
    size_t cap = 0;
    tq_status st;
    while ((st = tq_csv_read(fp, path, row, err)) == TQ_OK && row->n) {
        if (row->n == 1 && !row->field[0][0])
            continue;
        if (row->n != NFIELDS)
            return tq_fail(err, TQ_ERR_FORMAT, "%s:%ld: %zu fields, expected %d", path, row->line, row->n, NFIELDS);
        if (ds->n == cap) {
            cap = cap ? 2 * cap : 64;
            struct tq_dataset_row *r = realloc(ds->rows, cap * sizeof *r);
            if (!r)
                return tq_fail(err, TQ_ERR_NOMEM, "out of memory reading %s", path);
            ds->rows = r;
        }
        if (parse_row(row->field, &ds->rows[ds->n]))
            return tq_fail(err, TQ_ERR_FORMAT, "%s:%ld: a bad value (shape, run, status or a number)", path,
                           row->line);
        ds->n++;
    }
    return st;
}

/* Is the record the dataset header, column by column? */
static int is_header(const struct tq_csv_row *row)
{
    const char *h = TQ_DATASET_HEADER;
    for (size_t i = 0; i < row->n; i++) {
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

/* Read the first record of fp (row: the reader's state) and check that it is the header. */
static tq_status check_header(FILE *fp, const char *path, struct tq_csv_row *row, struct tq_err *err)
{
    TQ_TRY(tq_csv_read(fp, path, row, err));
    if (!row->n)
        return tq_fail(err, TQ_ERR_FORMAT, "%s is empty (no header)", path);
    if (!is_header(row))
        return tq_fail(err, TQ_ERR_FORMAT, "%s:1: not a traceq sweep dataset (expected the header %s)", path,
                       TQ_DATASET_HEADER);
    return TQ_OK;
}

tq_status tq_dataset_read(const char *path, struct tq_dataset **out, struct tq_err *err)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return tq_fail_errno(err, TQ_ERR_IO, "cannot open dataset %s", path);
    struct tq_dataset *ds = calloc(1, sizeof *ds);
    struct tq_csv_row row = {0};
    tq_status st = ds ? check_header(fp, path, &row, err) : tq_fail(err, TQ_ERR_NOMEM, "out of memory");
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

/* Write row r as one CSV record. */
static tq_status put_row(FILE *fp, const struct tq_dataset_row *r, struct tq_err *err)
{
    char op[sizeof r->op], reason[sizeof r->reason], trace[sizeof r->trace], num[10][32];
    plain_text(op, sizeof op, r->op);
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
    const char *f[NFIELDS] = {op,     num[0], num[1], num[2], num[3], num[4], r->ok ? "ok" : "failed",
                              reason, num[5], num[6], num[7], num[8], num[9], trace};
    return tq_csv_write(fp, f, NFIELDS, err);
}

tq_status tq_dataset_append(const char *path, const struct tq_dataset_row *r, struct tq_err *err)
{
    FILE *fp = fopen(path, "a+");
    if (!fp)
        return tq_fail_errno(err, TQ_ERR_IO, "cannot open dataset %s", path);
    tq_status st = TQ_OK;
    fseek(fp, 0, SEEK_END);
    if (ftell(fp) == 0)
        fputs(TQ_DATASET_HEADER "\n", fp);
    else {
        struct tq_csv_row header = {0};
        rewind(fp);
        st = check_header(fp, path, &header, err);
        tq_csv_row_free(&header);
        /* A last line cut without its newline (an editor, a copy, a full disk) must not swallow the new row. */
        if (!st && fseek(fp, -1, SEEK_END) == 0 && fgetc(fp) != '\n')
            fputc('\n', fp);
        fseek(fp, 0, SEEK_END);
    }
    if (!st)
        st = put_row(fp, r, err);
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
    default:
        return r->wall_s;
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
    for (int k = 0; k < 5; k++)
        if (!strcmp(target, targets[k]))
            t = k;
    if (t < 0)
        return tq_fail(err, TQ_ERR_USAGE, "unknown target '%s' (expected peak_rss_bytes, vmhwm_bytes, "
                                          "peak_heap_bytes, peak_mmap_bytes or wall_s)", target);
    struct tq_fit_point *p = malloc((ds->n ? ds->n : 1) * sizeof *p);
    size_t *runs = calloc(ds->n ? ds->n : 1, sizeof *runs), np = 0;
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
            p[np++] = (struct tq_fit_point){{(double)r->shape[0], (double)r->shape[1], (double)r->shape[2]}, y};
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
