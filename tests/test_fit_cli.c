/* test_fit_cli.c - `traceq fit` and `traceq predict` end to end on a generated dataset. */
#define _GNU_SOURCE
#include <cairo.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../model/dataset.h"
#include "../model/model.h"
#include "../model/plan.h"
#include "helpers.h"

/* 27 shapes x 2 runs of y = 50 MB + 100 B/voxel, runs 0.5% apart. */
static char *make_dataset(const char *dir)
{
    char *path;
    cr_assert(asprintf(&path, "%s/d.csv", dir) > 0);
    for (size_t i = 100; i <= 300; i += 100)
        for (size_t x = 100; x <= 300; x += 100)
            for (size_t s = 100; s <= 300; s += 100)
                for (int run = 1; run <= 2; run++) {
                    struct tq_dataset_row r;
                    memset(&r, 0, sizeof r);
                    snprintf(r.op, sizeof r.op, "gaussian");
                    r.shape[0] = i;
                    r.shape[1] = x;
                    r.shape[2] = s;
                    r.run = run;
                    r.ok = 1;
                    r.peak_rss_bytes = (uint64_t)((50e6 + 100.0 * i * x * s) * (run == 1 ? 1.0 : 1.005));
                    cr_assert_eq(tq_dataset_append(path, &r, NULL), TQ_OK);
                }
    return path;
}

Test(fit_cli, fit_then_predict)
{
    char *dir = tq_tmpdir(), *ds = make_dataset(dir), *out = NULL, *err = NULL;
    int rc = tq_runf("cd %s && %s fit d.csv --op gaussian -o g.json > fit.txt", dir, tq_build_path("traceq"));
    cr_assert_eq(rc, 0);
    char *model_path;
    cr_assert(asprintf(&model_path, "%s/g.json", dir) > 0);
    struct tq_model m;
    struct tq_err e = {0};
    cr_assert_eq(tq_model_read(model_path, "gaussian", &m, &e), TQ_OK, "%s", e.msg);
    cr_assert(m.fit.coef[1] > 99 && m.fit.coef[1] < 101.5, "slope %g", m.fit.coef[1]);
    cr_assert_eq(m.cv.n, 27);

    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s predict --model %s --shape 600x600x600 --json", tq_build_path("traceq"),
             model_path);
    cr_assert_eq(tq_run(cmd, &out, &err), 0);
    cr_assert(strstr(err, "extrapolating: volume"), "stderr: %s", err);
    cr_assert(strstr(out, "\"extrapolating\": true"), "stdout: %s", out);
    free(out);
    free(err);

    /* refusing to clobber, bad operator, missing file: all usage errors (exit 2) */
    cr_assert_eq(tq_runf("cd %s && %s fit d.csv --op gaussian -o g.json 2>/dev/null", dir, tq_build_path("traceq")),
                 2);
    cr_assert_eq(tq_runf("cd %s && %s fit d.csv --op gst3d 2>/dev/null", dir, tq_build_path("traceq")), 2);
    cr_assert_eq(tq_runf("%s predict --model /nonexistent.json --shape 1x1x1 2>/dev/null", tq_build_path("traceq")),
                 2);
    cr_assert_eq(tq_runf("%s predict --model %s --shape 0x1x1 2>/dev/null", tq_build_path("traceq"), model_path),
                 2);
    /* a shape whose prediction is beyond any machine: refused, never a wrapped or negative figure */
    snprintf(cmd, sizeof cmd, "%s predict --model %s --shape 1000000000x1000000000x1000000000 --json",
             tq_build_path("traceq"), model_path);
    cr_assert_eq(tq_run(cmd, &out, &err), 2);
    cr_assert(strstr(err, "beyond any real machine"), "stderr: %s", err);
    cr_assert(!strstr(out, "-9223372036854775808"), "stdout: %s", out);
    free(out);
    free(err);
    cr_assert_eq(tq_runf("%s fit --help >/dev/null && %s predict --help >/dev/null", tq_build_path("traceq"),
                         tq_build_path("traceq")),
                 0);
    tq_rmtree(dir);
    free(dir);
    free(ds);
    free(model_path);
}

Test(fit_cli, plan_formats_and_impossible_limits)
{
    char *dir = tq_tmpdir(), *ds = make_dataset(dir), *out = NULL, *err = NULL;
    const char *tq = tq_build_path("traceq");
    cr_assert_eq(tq_runf("cd %s && %s fit d.csv --op gaussian -o g.json >/dev/null", dir, tq), 0);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cd %s && %s plan --model g.json --shape 300x300x300 --memory 1GiB --workers 2 "
                              "-o p.json --format dask", dir, tq);
    cr_assert_eq(tq_run(cmd, &out, &err), 0, "%s", err);
    cr_assert(strncmp(out, "chunks=((", 9) == 0, "%s", out);
    free(out);
    free(err);
    char *plan_path;
    cr_assert(asprintf(&plan_path, "%s/p.json", dir) > 0);
    struct tq_plan *p = NULL;
    struct tq_err e = {0};
    cr_assert_eq(tq_plan_read(plan_path, &p, &e), TQ_OK, "%s", e.msg);
    cr_assert_eq(p->nblocks % 2, 0, "balanced to 2 workers: %zu blocks", p->nblocks);
    for (size_t i = 0; i < p->nblocks; i++)
        cr_assert(p->blocks[i].predicted_bytes <= (uint64_t)(0.8 * (1ull << 30)));
    tq_plan_free(p);
    free(plan_path);
    /* a limit below the baseline: exit 2 and the minimum named */
    snprintf(cmd, sizeof cmd, "cd %s && %s plan --model g.json --shape 300x300x300 --memory 40MB", dir, tq);
    cr_assert_eq(tq_run(cmd, &out, &err), 2);
    cr_assert(strstr(err, "use --memory of at least"), "%s", err);
    free(out);
    free(err);
    cr_assert_eq(tq_runf("cd %s && %s plan --model g.json --shape 300x300x300 --memory 1GiB -o p.json "
                         ">/dev/null 2>&1", dir, tq), 2, "must not clobber p.json");
    cr_assert_eq(tq_runf("cd %s && %s plan --model g.json --op envelope --shape 9x9x9 --memory 1GiB 2>/dev/null",
                         dir, tq), 2, "model of another operator");
    cr_assert_eq(tq_runf("cd %s && %s plan --op gst3d --planner auto --shape 400x400x400 --format json | "
                         "grep -c '\"lo\"' | grep -qx 8", dir, tq), 0);
    tq_rmtree(dir);
    free(dir);
    free(ds);
}

/* PNG at `path` loads with cairo and has the plot's size; returns its pixels' checksum. */
static unsigned long png_checksum(const char *path)
{
    cairo_surface_t *img = cairo_image_surface_create_from_png(path);
    cr_assert_eq(cairo_surface_status(img), CAIRO_STATUS_SUCCESS, "%s is not a PNG", path);
    int w = cairo_image_surface_get_width(img), h = cairo_image_surface_get_height(img);
    cr_assert(w >= 320 && h >= 200, "%dx%d", w, h);
    const unsigned char *px = cairo_image_surface_get_data(img);
    int stride = cairo_image_surface_get_stride(img);
    unsigned long sum = 0, nonwhite = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint32_t v;
            memcpy(&v, px + (size_t)y * stride + 4 * (size_t)x, 4);
            sum = sum * 31 + v;
            nonwhite += (v & 0xffffff) != 0xffffff;
        }
    cr_assert(nonwhite > 1000, "%s is almost blank (%lu pixels drawn)", path, nonwhite);
    cairo_surface_destroy(img);
    return sum;
}

Test(fit_cli, plot_png_and_svg)
{
    char *dir = tq_tmpdir(), *ds = make_dataset(dir), *path;
    const char *tq = tq_build_path("traceq");
    cr_assert_eq(tq_runf("cd %s && %s fit d.csv --op gaussian --plot lin.png >/dev/null", dir, tq), 0);
    cr_assert_eq(tq_runf("cd %s && %s fit d.csv --op gaussian --kind shape --plot shape.png -o s.json >/dev/null",
                         dir, tq), 0);
    cr_assert(asprintf(&path, "%s/lin.png", dir) > 0);
    unsigned long lin = png_checksum(path);
    free(path);
    cr_assert(asprintf(&path, "%s/shape.png", dir) > 0);
    cr_assert_neq(png_checksum(path), lin, "the shape model's plot (with per-shape predictions) looks the same");
    free(path);

    cr_assert_eq(tq_runf("cd %s && %s fit d.csv --op gaussian --plot f.SVG >/dev/null", dir, tq), 0);
    cr_assert(asprintf(&path, "%s/f.SVG", dir) > 0);
    size_t len = 0;
    char *svg = tq_slurp(path, &len);
    cr_assert(svg && len > 1000 && strstr(svg, "<svg") && strstr(svg, "</svg>"), "not an SVG: %s", path);
    free(svg);
    /* no clobbering, a bad extension is refused before fitting (nothing written), --force replaces */
    cr_assert_eq(tq_runf("cd %s && %s fit d.csv --op gaussian --plot f.SVG 2>/dev/null", dir, tq), 2);
    cr_assert_eq(tq_runf("cd %s && %s fit d.csv --op gaussian --plot f.pdf -o x.json 2>/dev/null", dir, tq), 2);
    cr_assert_eq(tq_runf("cd %s && test ! -e f.pdf && test ! -e x.json", dir), 0);
    cr_assert_eq(tq_runf("cd %s && %s fit d.csv --op gaussian --plot f.SVG --force >/dev/null", dir, tq), 0);
    cr_assert_eq(tq_runf("cd %s && ls -a | grep -c tmp | grep -qx 0", dir), 0, "temporary files left behind");
    free(path);
    tq_rmtree(dir);
    free(dir);
    free(ds);
}
