/* dataset.c - reading and appending the sweep CSV, and turning its rows into fitting points (see dataset.h). */
#include "dataset.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NFIELDS 14 /* the built-in operators' form; a command's dataset has one more (the command) */
#define MAXFIELDS 15

static const char *const default_axes[3] = {"inlines", "xlines", "samples"};

static const char *const targets[] = {"peak_rss_bytes", "vmhwm_bytes", "peak_heap_bytes", "peak_mmap_bytes",
                                      "wall_s"};

void tq_dataset_free(struct tq_dataset *ds)
{
    if (!ds)
        return;
    free(ds->rows);
    free(ds);
}

/* Split line in place on commas into at most MAXFIELDS fields; returns the count found. */
static size_t split_fields(char *line, char *f[MAXFIELDS])
{
    size_t n = 0;
    line[strcspn(line, "\r\n")] = 0;
    for (char *p = line;; p++) {
        if (n < MAXFIELDS)
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

static int parse_row(char *f[MAXFIELDS], int with_command, struct tq_dataset_row *r)
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
    r->wall_s = strtod(f[12], &end);
    return (*f[12] && !*end && isfinite(r->wall_s) && r->wall_s >= 0) ? 0 : -1;
}

static tq_status read_rows(FILE *fp, const char *path, struct tq_dataset *ds, struct tq_err *err)
{
    char line[4096], *f[MAXFIELDS];
    size_t cap = 0, want = ds->has_command ? MAXFIELDS : NFIELDS;
    for (size_t lineno = 2; fgets(line, sizeof line, fp); lineno++) {
        if (line[0] == '\n' || line[0] == 0)
            continue;
        size_t n = split_fields(line, f);
        if (n != want)
            return tq_fail(err, TQ_ERR_FORMAT, "%s:%zu: %zu fields, expected %zu", path, lineno, n, want);
        if (ds->n == cap) {
            cap = cap ? 2 * cap : 64;
            struct tq_dataset_row *r = realloc(ds->rows, cap * sizeof *r);
            if (!r)
                return tq_fail(err, TQ_ERR_NOMEM, "out of memory reading %s", path);
            ds->rows = r;
        }
        if (parse_row(f, ds->has_command, &ds->rows[ds->n]))
            return tq_fail(err, TQ_ERR_FORMAT, "%s:%zu: a bad value (shape, run, status or a number)", path,
                           lineno);
        memcpy(ds->rows[ds->n].axes, ds->axes, sizeof ds->axes);
        ds->n++;
    }
    return ferror(fp) ? tq_fail_errno(err, TQ_ERR_IO, "cannot read %s", path) : TQ_OK;
}

/* The header a row is written under: the 14-column form, or a command's with its axes. */
static void header_for(const struct tq_dataset_row *r, char *buf, size_t cap)
{
    if (!r->command[0]) {
        snprintf(buf, cap, "%s", TQ_DATASET_HEADER);
        return;
    }
    const char *a[3];
    int params = 0;
    for (int k = 0; k < 3; k++) {
        a[k] = r->axes[k][0] ? r->axes[k] : default_axes[k];
        params |= strcmp(a[k], default_axes[k]) != 0;
    }
    snprintf(buf, cap, "op,%s,%s,%s,%s%s,command", a[0], a[1], a[2], params ? "product" : "volume",
             TQ_DATASET_TAIL);
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

/* Read the header line into ds (form and axes names). */
static tq_status check_header(FILE *fp, const char *path, struct tq_dataset *ds, struct tq_err *err)
{
    char line[512];
    if (!fgets(line, sizeof line, fp))
        return tq_fail(err, TQ_ERR_FORMAT, "%s is empty (no header)", path);
    line[strcspn(line, "\r\n")] = 0;
    for (int k = 0; k < 3; k++)
        snprintf(ds->axes[k], sizeof ds->axes[k], "%s", default_axes[k]);
    ds->has_command = 0;
    if (!strcmp(line, TQ_DATASET_HEADER))
        return TQ_OK;
    /* op,A,B,C,volume|product,<the fixed columns>,command */
    const char *tail = TQ_DATASET_TAIL;
    char *p = line + 3, *f[4];
    size_t n = 0;
    if (!strncmp(line, "op,", 3))
        for (; n < 4; n++) {
            f[n] = p;
            char *c = strchr(p, ',');
            if (!c)
                break;
            *c = 0;
            p = c + 1;
        }
    size_t tl = strlen(tail + 1);
    int ok = n == 4 && !strncmp(p, tail + 1, tl) && !strcmp(p + tl, ",command") &&
             (!strcmp(f[3], "volume") || !strcmp(f[3], "product"));
    for (int k = 0; ok && k < 3; k++) {
        ok = axis_name_ok(f[k], strlen(f[k]));
        if (ok)
            snprintf(ds->axes[k], sizeof ds->axes[k], "%s", f[k]);
    }
    if (!ok)
        return tq_fail(err, TQ_ERR_FORMAT, "%s:1: not a traceq sweep dataset (expected the header %s, or a "
                       "command's: op,A,B,C,volume|product,...,trace,command)", path, TQ_DATASET_HEADER);
    ds->has_command = 1;
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
    struct tq_dataset *ds = calloc(1, sizeof *ds);
    tq_status st = ds ? check_header(fp, path, ds, err) : tq_fail(err, TQ_ERR_NOMEM, "out of memory");
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
    char want[512], have[512] = "";
    header_for(r, want, sizeof want);
    fseek(fp, 0, SEEK_END);
    if (ftell(fp) == 0)
        fprintf(fp, "%s\n", want);
    else {
        rewind(fp);
        if (!fgets(have, sizeof have, fp))
            have[0] = 0;
        have[strcspn(have, "\r\n")] = 0;
        if (strcmp(have, want))
            st = tq_fail(err, TQ_ERR_FORMAT, "%s:1: has the header %.200s, but this row needs %.200s (another "
                         "kind of sweep: use another file)", path, have, want);
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
        if (r->command[0]) {
            fputc(',', fp);
            put_text(fp, r->command);
        }
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
