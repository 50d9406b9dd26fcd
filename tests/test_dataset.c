/* test_dataset.c - the sweep CSV: append, read back, resume checks, aggregation into fitting points. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../model/dataset.h"
#include "helpers.h"

static struct tq_dataset_row row(const char *op, size_t i, size_t x, size_t s, int run, uint64_t rss)
{
    struct tq_dataset_row r;
    memset(&r, 0, sizeof r);
    snprintf(r.op, sizeof r.op, "%s", op);
    r.shape[0] = i;
    r.shape[1] = x;
    r.shape[2] = s;
    r.run = run;
    r.ok = 1;
    r.peak_rss_bytes = rss;
    r.vmhwm_bytes = rss + 10;
    r.peak_heap_bytes = rss / 2;
    r.wall_s = 0.25 * run;
    snprintf(r.trace, sizeof r.trace, "/tmp/t%d.tqt", run);
    return r;
}

Test(dataset, append_read_and_aggregate)
{
    char *dir = tq_tmpdir(), *path;
    cr_assert(asprintf(&path, "%s/d.csv", dir) > 0);
    struct tq_err err = {0};
    struct tq_dataset_row rows[] = {row("gst3d", 100, 100, 100, 1, 1000), row("gst3d", 100, 100, 100, 2, 1400),
                                    row("gst3d", 200, 100, 100, 1, 3000), row("envelope", 100, 100, 100, 1, 7)};
    struct tq_dataset_row bad = row("gst3d", 400, 400, 400, 1, 0);
    bad.ok = 0;
    snprintf(bad.reason, sizeof bad.reason, "killed by signal 9, \"OOM\"\nmaybe");
    for (size_t i = 0; i < 4; i++)
        cr_assert_eq(tq_dataset_append(path, &rows[i], &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(tq_dataset_append(path, &bad, &err), TQ_OK, "%s", err.msg);

    struct tq_dataset *ds = NULL;
    cr_assert_eq(tq_dataset_read(path, &ds, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(ds->n, 5);
    cr_assert_eq(ds->rows[1].peak_rss_bytes, 1400);
    cr_assert_eq(ds->rows[1].vmhwm_bytes, 1410);
    cr_assert_float_eq(ds->rows[1].wall_s, 0.5, 1e-9);
    cr_assert_str_eq(ds->rows[1].trace, "/tmp/t2.tqt");
    cr_assert_eq(ds->rows[4].ok, 0);
    cr_assert_str_eq(ds->rows[4].reason, "killed by signal 9   OOM  maybe");
    size_t s1[3] = {100, 100, 100}, s4[3] = {400, 400, 400};
    cr_assert(tq_dataset_has(ds, "gst3d", s1, 2));
    cr_assert(!tq_dataset_has(ds, "gst3d", s1, 3));
    cr_assert(tq_dataset_has(ds, "gst3d", s4, 1), "failed runs count as done");

    struct tq_fit_point *pts;
    size_t n;
    cr_assert_eq(tq_dataset_points(ds, "gst3d", "peak_rss_bytes", TQ_AGG_MAX, &pts, &n, &err), TQ_OK);
    cr_assert_eq(n, 2, "failed rows and other operators are left out");
    cr_assert_float_eq(pts[0].y, 1400, 1e-9);
    cr_assert_float_eq(pts[1].shape[0], 200, 1e-9);
    free(pts);
    cr_assert_eq(tq_dataset_points(ds, "gst3d", "peak_rss_bytes", TQ_AGG_MEAN, &pts, &n, &err), TQ_OK);
    cr_assert_float_eq(pts[0].y, 1200, 1e-9);
    free(pts);
    cr_assert_eq(tq_dataset_points(ds, "gst3d", "rss", TQ_AGG_MAX, &pts, &n, &err), TQ_ERR_USAGE);
    cr_assert_eq(tq_dataset_points(ds, "gaussian", "wall_s", TQ_AGG_MAX, &pts, &n, &err), TQ_ERR_RANGE);
    tq_dataset_free(ds);
    tq_dataset_free(NULL);
    tq_rmtree(dir);
    free(dir);
    free(path);
}

static void expect_bad(const char *text, const char *needle)
{
    char *dir = tq_tmpdir(), *path;
    cr_assert(asprintf(&path, "%s/d.csv", dir) > 0);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    struct tq_dataset *ds = NULL;
    struct tq_err err = {0};
    cr_assert_eq(tq_dataset_read(path, &ds, &err), TQ_ERR_FORMAT, "accepted %s", text);
    cr_assert(strstr(err.msg, needle), "'%s' lacks '%s'", err.msg, needle);
    if (text[0] && strncmp(text, "op,", 3)) { /* a foreign header: never appended to */
        struct tq_dataset_row r = row("gst3d", 1, 1, 1, 1, 1);
        cr_assert_eq(tq_dataset_append(path, &r, &err), TQ_ERR_FORMAT, "appended to a foreign file");
    }
    tq_rmtree(dir);
    free(dir);
    free(path);
}

Test(dataset, rejects_bad_files)
{
    expect_bad("a,b,c\n1,2,3\n", "not a traceq sweep dataset");
    expect_bad(TQ_DATASET_HEADER "\ngst3d,100,100,100,1000000,1,ok,,5,5,5,5,0.1\n", ":2: 13 fields");
    expect_bad(TQ_DATASET_HEADER "\ngst3d,100,100,x,1000000,1,ok,,5,5,5,5,0.1,t\n", ":2: a bad value");
    expect_bad(TQ_DATASET_HEADER "\ngst3d,100,100,100,1000000,1,maybe,,5,5,5,5,0.1,t\n", ":2: a bad value");
    expect_bad("", "empty");
}

/* A dataset whose last row lost its newline (hand-edited, copied, cut by a full disk): the next append starts a new
 * line instead of gluing its row onto the last one. */
Test(dataset, append_after_a_last_line_without_newline)
{
    char *dir = tq_tmpdir(), *path;
    cr_assert(asprintf(&path, "%s/d.csv", dir) > 0);
    FILE *fp = fopen(path, "w");
    cr_assert(fp);
    fputs(TQ_DATASET_HEADER "\ngst3d,100,100,100,1000000,1,ok,,5,5,5,5,0.100000,t1", fp);
    cr_assert_eq(fclose(fp), 0);
    struct tq_err err = {0};
    struct tq_dataset_row r = row("gst3d", 200, 100, 100, 1, 77);
    cr_assert_eq(tq_dataset_append(path, &r, &err), TQ_OK, "%s", err.msg);
    struct tq_dataset *ds = NULL;
    cr_assert_eq(tq_dataset_read(path, &ds, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(ds->n, 2);
    cr_assert_str_eq(ds->rows[0].trace, "t1");
    cr_assert_eq(ds->rows[1].shape[0], 200);
    cr_assert_eq(ds->rows[1].peak_rss_bytes, 77);
    tq_dataset_free(ds);

    /* The header alone without its newline too. */
    fp = fopen(path, "w");
    cr_assert(fp);
    fputs(TQ_DATASET_HEADER, fp);
    cr_assert_eq(fclose(fp), 0);
    cr_assert_eq(tq_dataset_append(path, &r, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(tq_dataset_read(path, &ds, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(ds->n, 1);
    tq_dataset_free(ds);
    tq_rmtree(dir);
    free(dir);
    free(path);
}
