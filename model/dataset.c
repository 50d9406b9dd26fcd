/* dataset.c - reading and appending the sweep CSV, and turning its rows into fitting points (see dataset.h). */
#include "dataset.h"
#include "../common/alloc.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* Split line in place on commas into exactly NFIELDS fields; returns the count found. */
static size_t split_fields(char *line, char *f[NFIELDS])
{
    size_t n = 0;
    line[strcspn(line, "\r\n")] = 0;
    for (char *p = line;; p++) {
        if (n < NFIELDS)
            f[n] = p;
        n++;
        p = strchr(p, ',');
        if (!p)
            break;
        *p = 0;
    }
    return n;
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

static int parse_row(char *f[NFIELDS], struct tq_dataset_row *r)
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

static tq_status read_rows(FILE *fp, const char *path, struct tq_dataset *ds, struct tq_err *err)
{
    char line[4096], *f[NFIELDS];
    size_t cap = 0;
    for (size_t lineno = 2; fgets(line, sizeof line, fp); lineno++) {
        if (line[0] == '\n' || line[0] == 0)
            continue;
        size_t n = split_fields(line, f);
        if (n != NFIELDS)
            return tq_fail(err, TQ_ERR_FORMAT, "%s:%zu: %zu fields, expected %d", path, lineno, n, NFIELDS);
        if (ds->n == cap) {
            cap = cap ? 2 * cap : 64;
            struct tq_dataset_row *r = tq_realloc(ds->rows, cap * sizeof *r);
            if (!r)
                return tq_fail(err, TQ_ERR_NOMEM, "out of memory reading %s", path);
            ds->rows = r;
        }
        if (parse_row(f, &ds->rows[ds->n]))
            return tq_fail(err, TQ_ERR_FORMAT, "%s:%zu: a bad value (shape, run, status or a number)", path,
                           lineno);
        ds->n++;
    }
    return ferror(fp) ? tq_fail_errno(err, TQ_ERR_IO, "cannot read %s", path) : TQ_OK;
}

static tq_status check_header(FILE *fp, const char *path, struct tq_err *err)
{
    char line[512];
    if (!fgets(line, sizeof line, fp))
        return tq_fail(err, TQ_ERR_FORMAT, "%s is empty (no header)", path);
    line[strcspn(line, "\r\n")] = 0;
    if (strcmp(line, TQ_DATASET_HEADER))
        return tq_fail(err, TQ_ERR_FORMAT, "%s:1: not a traceq sweep dataset (expected the header %s)", path,
                       TQ_DATASET_HEADER);
    return TQ_OK;
}

tq_status tq_dataset_read(const char *path, struct tq_dataset **out, struct tq_err *err)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return tq_fail_errno(err, TQ_ERR_IO, "cannot open dataset %s", path);
    struct tq_dataset *ds = tq_calloc(1, sizeof *ds);
    tq_status st = ds ? check_header(fp, path, err) : tq_fail(err, TQ_ERR_NOMEM, "out of memory");
    if (!st)
        st = read_rows(fp, path, ds, err);
    fclose(fp);
    if (st) {
        tq_dataset_free(ds);
        return st;
    }
    *out = ds;
    return TQ_OK;
}

/* Text fields must not break the comma-split format. */
static void put_text(FILE *fp, const char *s)
{
    for (; *s; s++)
        fputc(strchr(",\"\r\n", *s) ? ' ' : *s, fp);
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
        rewind(fp);
        st = check_header(fp, path, err);
        fseek(fp, 0, SEEK_END);
    }
    if (!st) {
        put_text(fp, r->op);
        fprintf(fp, ",%zu,%zu,%zu,%zu,%d,%s,", r->shape[0], r->shape[1], r->shape[2],
                r->shape[0] * r->shape[1] * r->shape[2], r->run, r->ok ? "ok" : "failed");
        put_text(fp, r->reason);
        fprintf(fp, ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%.6f,", r->peak_rss_bytes, r->vmhwm_bytes,
                r->peak_heap_bytes, r->peak_mmap_bytes, r->wall_s);
        put_text(fp, r->trace);
        fputc('\n', fp);
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
