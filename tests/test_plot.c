/* test_plot.c - the cairo chart library: valid PNG and SVG output, series present, bars, fit plot, no clobbering. */
#include <cairo.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../plot/plot.h"
#include "helpers.h"

enum { NPTS = 200 };

/* Three memory timelines (bytes over seconds) of different heights. */
static struct tq_plot *timeline_chart(void)
{
    struct tq_plot *p = tq_plot_new_xy("memory over time", "time", TQ_AXIS_SECONDS, "memory", TQ_AXIS_BYTES);
    cr_assert_not_null(p);
    double t[NPTS], y[NPTS];
    struct tq_err err;
    const char *names[] = {"rss", "heap", "mmap"};
    for (int s = 0; s < 3; s++) {
        for (int i = 0; i < NPTS; i++) {
            t[i] = i * 0.01;
            y[i] = (128.0 / (s + 1)) * 1048576.0 * sin(M_PI * i / (NPTS - 1));
        }
        cr_assert_eq(tq_plot_add_line(p, names[s], t, y, NPTS, s == 0, &err), TQ_OK, "%s", err.msg);
    }
    return p;
}

/* Count the SVG paths with at least `min_segments` line-to commands: one per drawn series. */
static int count_long_paths(const char *svg, int min_segments)
{
    int count = 0;
    for (const char *p = strstr(svg, "<path"); p; p = strstr(p + 1, "<path")) {
        const char *d = strstr(p, " d=\""), *end = strchr(p, '>');
        if (!d || !end || d > end)
            continue;
        int segs = 0;
        for (const char *c = d + 4; *c && *c != '"'; c++)
            segs += *c == 'L';
        count += segs >= min_segments;
    }
    return count;
}

Test(plot, png_is_valid_and_reloads)
{
    char *dir = tq_tmpdir(), path[4200];
    snprintf(path, sizeof path, "%s/timeline.png", dir);
    struct tq_plot *p = timeline_chart();
    struct tq_err err;
    cr_assert_eq(tq_plot_write(p, path, false, &err), TQ_OK, "%s", err.msg);
    size_t len;
    char *bytes = tq_slurp(path, &len);
    cr_assert(len > 8 && memcmp(bytes, "\x89PNG\r\n\x1a\n", 8) == 0, "not a PNG");
    cairo_surface_t *img = cairo_image_surface_create_from_png(path);
    cr_assert_eq(cairo_surface_status(img), CAIRO_STATUS_SUCCESS);
    cr_assert_gt(cairo_image_surface_get_width(img), 400);
    /* Something was drawn in the first series' blue: count strongly blue pixels. */
    cairo_surface_flush(img);
    unsigned char *px = cairo_image_surface_get_data(img);
    int stride = cairo_image_surface_get_stride(img), h = cairo_image_surface_get_height(img), blue = 0;
    for (int r = 0; r < h; r++)
        for (int c = 0; c < cairo_image_surface_get_width(img); c++) {
            unsigned char *q = px + r * stride + 4 * c; /* BGRA on little-endian */
            blue += q[0] > 150 && q[2] < 60;
        }
    cr_assert_gt(blue, 200, "the blue series is missing (%d px)", blue);
    cairo_surface_destroy(img);
    free(bytes);
    tq_plot_free(p);
    tq_plot_shutdown();
    tq_rmtree(dir);
    free(dir);
}

Test(plot, svg_parses_as_xml_and_has_every_series)
{
    char *dir = tq_tmpdir(), path[4200];
    snprintf(path, sizeof path, "%s/timeline.svg", dir);
    struct tq_plot *p = timeline_chart();
    struct tq_err err;
    cr_assert_eq(tq_plot_write(p, path, false, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(tq_runf("%s -c 'import sys, xml.etree.ElementTree as E; "
                         "sys.exit(0 if E.parse(sys.argv[1]).getroot().tag.endswith(\"svg\") else 1)' %s",
                         tq_python(), path),
                 0, "SVG does not parse as XML");
    size_t len;
    char *svg = tq_slurp(path, &len);
    cr_assert_eq(count_long_paths(svg, NPTS / 2), 3, "expected 3 series polylines");
    free(svg);
    tq_plot_free(p);
    tq_plot_shutdown();
    tq_rmtree(dir);
    free(dir);
}

Test(plot, refuses_to_clobber_without_force_and_bad_extension)
{
    char *dir = tq_tmpdir(), path[4200];
    snprintf(path, sizeof path, "%s/out.png", dir);
    struct tq_plot *p = timeline_chart();
    struct tq_err err;
    cr_assert_eq(tq_plot_write(p, path, false, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(tq_plot_write(p, path, false, &err), TQ_ERR_USAGE);
    cr_assert(strstr(err.msg, "--force") != NULL, "%s", err.msg);
    cr_assert_eq(tq_plot_write(p, path, true, &err), TQ_OK, "%s", err.msg);
    snprintf(path, sizeof path, "%s/out.pdf", dir);
    cr_assert_eq(tq_plot_write(p, path, false, &err), TQ_ERR_USAGE);
    struct stat st;
    cr_assert_neq(stat(path, &st), 0, "a rejected plot left a file");
    /* No temporary files are left beside the outputs. */
    cr_assert_eq(tq_runf("test $(ls %s | wc -l) -eq 1", dir), 0);
    tq_plot_free(p);
    tq_plot_shutdown();
    tq_rmtree(dir);
    free(dir);
}

Test(plot, bars_with_whiskers_and_fit_plot)
{
    char *dir = tq_tmpdir(), path[4200];
    const char *cats[] = {"envelope", "gaussian", "gst3d"};
    struct tq_plot *p = tq_plot_new_bars("peak memory per operator", "peak RSS", TQ_AXIS_BYTES, cats, 3);
    cr_assert_not_null(p);
    double v[] = {300e6, 120e6, NAN}, lo[] = {280e6, 110e6, NAN}, hi[] = {320e6, 125e6, NAN};
    struct tq_err err;
    cr_assert_eq(tq_plot_add_bars(p, "unchunked", v, lo, hi, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(tq_plot_add_bars(p, "chunked", v, NULL, NULL, &err), TQ_OK, "%s", err.msg);
    double x[] = {1, 2};
    cr_assert_eq(tq_plot_add_line(p, "no lines on bars", x, x, 2, false, &err), TQ_ERR_USAGE);
    snprintf(path, sizeof path, "%s/bars.svg", dir);
    cr_assert_eq(tq_plot_write(p, path, false, &err), TQ_OK, "%s", err.msg);
    tq_plot_free(p);

    double px[20], py[20], cx[50], fit[50], bound[50];
    for (int i = 0; i < 20; i++) {
        px[i] = 1e6 * (i + 1);
        py[i] = 24.0 * px[i] + 5e6 * ((i % 3) - 1);
    }
    for (int j = 0; j < 50; j++) {
        cx[j] = 1e6 + j * 19e6 / 49;
        fit[j] = 24.0 * cx[j];
        bound[j] = 1.1 * fit[j];
    }
    snprintf(path, sizeof path, "%s/fit.png", dir);
    cr_assert_eq(tq_plot_fit(path, false, "envelope", "voxels", TQ_AXIS_PLAIN, px, py, 20, cx, fit, bound, 50, &err),
                 TQ_OK, "%s", err.msg);
    cairo_surface_t *img = cairo_image_surface_create_from_png(path);
    cr_assert_eq(cairo_surface_status(img), CAIRO_STATUS_SUCCESS);
    cairo_surface_destroy(img);
    cr_assert_eq(tq_plot_fit(path, false, "t", "x", TQ_AXIS_PLAIN, px, py, 0, cx, fit, NULL, 50, &err), TQ_ERR_USAGE);
    tq_plot_shutdown();
    tq_rmtree(dir);
    free(dir);
}
