/* plot.c - building charts and writing them to SVG or PNG through cairo (drawing is in plot_draw.c). */
#define _GNU_SOURCE
#include <cairo-svg.h>
#include <dlfcn.h>
#include <cairo.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../common/outfile.h"
#include "../common/alloc.h"
#include "plot_internal.h"

enum { PLOT_WIDTH = 960, PLOT_HEIGHT = 540 };

static char *dup_or_empty(const char *s)
{
    return tq_strdup(s ? s : "");
}

struct tq_plot *tq_plot_new_xy(const char *title, const char *xlabel, enum tq_axis_unit xunit, const char *ylabel,
                               enum tq_axis_unit yunit)
{
    struct tq_plot *p = tq_calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->title = dup_or_empty(title);
    p->xlabel = dup_or_empty(xlabel);
    p->ylabel = dup_or_empty(ylabel);
    p->xunit = xunit;
    p->yunit = yunit;
    if (!p->title || !p->xlabel || !p->ylabel) {
        tq_plot_free(p);
        return NULL;
    }
    return p;
}

struct tq_plot *tq_plot_new_bars(const char *title, const char *ylabel, enum tq_axis_unit yunit,
                                 const char *const *categories, size_t ncat)
{
    if (ncat == 0)
        return NULL;
    struct tq_plot *p = tq_plot_new_xy(title, "", TQ_AXIS_PLAIN, ylabel, yunit);
    if (!p)
        return NULL;
    p->bars = true;
    p->cats = tq_calloc(ncat, sizeof *p->cats);
    if (!p->cats) {
        tq_plot_free(p);
        return NULL;
    }
    p->ncat = ncat;
    for (size_t i = 0; i < ncat; i++)
        if (!(p->cats[i] = dup_or_empty(categories[i]))) {
            tq_plot_free(p);
            return NULL;
        }
    return p;
}

static double *dup_doubles(const double *v, size_t n)
{
    if (!v)
        return NULL;
    double *d = tq_malloc(n * sizeof *d);
    if (d)
        memcpy(d, v, n * sizeof *d);
    return d;
}

static void series_clear(struct plot_series *s)
{
    free(s->label);
    free(s->x);
    free(s->y);
    free(s->lo);
    free(s->hi);
}

/* Append a copy of a series; `x`, `lo`, `hi` may be NULL. */
static tq_status add_series(struct tq_plot *p, struct plot_series proto, const double *x, const double *y,
                            const double *lo, const double *hi, struct tq_err *err)
{
    struct plot_series *grown = tq_realloc(p->series, (p->nseries + 1) * sizeof *grown);
    if (!grown)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory adding a plot series");
    p->series = grown;
    struct plot_series s = proto;
    s.label = dup_or_empty(proto.label);
    s.x = dup_doubles(x, s.n);
    s.y = dup_doubles(y, s.n);
    s.lo = dup_doubles(lo, s.n);
    s.hi = dup_doubles(hi, s.n);
    if (!s.label || (x && !s.x) || !s.y || (lo && !s.lo) || (hi && !s.hi)) {
        series_clear(&s);
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory adding a plot series");
    }
    p->series[p->nseries++] = s;
    return TQ_OK;
}

static tq_status add_xy(struct tq_plot *p, const char *label, enum plot_style style, bool peak, const double *x,
                        const double *y, size_t n, struct tq_err *err)
{
    if (p->bars)
        return tq_fail(err, TQ_ERR_USAGE, "cannot add a line or points to a bar chart");
    if (n == 0 || !x || !y)
        return tq_fail(err, TQ_ERR_USAGE, "plot series '%s' has no points", label ? label : "");
    struct plot_series s = {.label = (char *)label, .style = style, .mark_peak = peak, .n = n};
    return add_series(p, s, x, y, NULL, NULL, err);
}

tq_status tq_plot_add_line(struct tq_plot *p, const char *label, const double *x, const double *y, size_t n,
                           bool mark_peak, struct tq_err *err)
{
    return add_xy(p, label, STYLE_LINE, mark_peak, x, y, n, err);
}

tq_status tq_plot_add_points(struct tq_plot *p, const char *label, const double *x, const double *y, size_t n,
                             struct tq_err *err)
{
    return add_xy(p, label, STYLE_POINTS, false, x, y, n, err);
}

tq_status tq_plot_add_dashed(struct tq_plot *p, const char *label, const double *x, const double *y, size_t n,
                             struct tq_err *err)
{
    return add_xy(p, label, STYLE_DASHED, false, x, y, n, err);
}

tq_status tq_plot_add_bars(struct tq_plot *p, const char *label, const double *value, const double *lo,
                           const double *hi, struct tq_err *err)
{
    if (!p->bars)
        return tq_fail(err, TQ_ERR_USAGE, "cannot add bars to a line chart");
    if (!value)
        return tq_fail(err, TQ_ERR_USAGE, "bar series '%s' has no values", label ? label : "");
    struct plot_series s = {.label = (char *)label, .style = STYLE_BARS, .n = p->ncat};
    return add_series(p, s, NULL, value, lo, hi, err);
}

void tq_plot_free(struct tq_plot *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nseries; i++)
        series_clear(&p->series[i]);
    free(p->series);
    for (size_t i = 0; p->cats && i < p->ncat; i++)
        free(p->cats[i]);
    free(p->cats);
    free(p->title);
    free(p->xlabel);
    free(p->ylabel);
    free(p);
}

void tq_plot_shutdown(void)
{
    cairo_debug_reset_static_data();
    /* fontconfig comes in through cairo; look FcFini up rather than link fontconfig for this one call. */
    void (*fc_fini)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "FcFini");
    if (fc_fini)
        fc_fini();
}

static cairo_status_t write_stream(void *closure, const unsigned char *data, unsigned int length)
{
    return fwrite(data, 1, length, closure) == length ? CAIRO_STATUS_SUCCESS : CAIRO_STATUS_WRITE_ERROR;
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n > m && strcasecmp(s + n - m, suffix) == 0;
}

/* Render into an SVG stream or a PNG image on `fp`; returns cairo's final status. */
static cairo_status_t render(const struct tq_plot *p, bool svg, FILE *fp)
{
    cairo_surface_t *surf = svg ? cairo_svg_surface_create_for_stream(write_stream, fp, PLOT_WIDTH, PLOT_HEIGHT)
                                : cairo_image_surface_create(CAIRO_FORMAT_ARGB32, PLOT_WIDTH, PLOT_HEIGHT);
    cairo_t *cr = cairo_create(surf);
    plot_draw(p, cr, PLOT_WIDTH, PLOT_HEIGHT);
    cairo_status_t st = cairo_status(cr);
    cairo_destroy(cr);
    if (st == CAIRO_STATUS_SUCCESS && !svg)
        st = cairo_surface_write_to_png_stream(surf, write_stream, fp);
    /* The SVG surface writes its last bytes when finished, so finish before reading its status. */
    cairo_surface_finish(surf);
    if (st == CAIRO_STATUS_SUCCESS)
        st = cairo_surface_status(surf);
    cairo_surface_destroy(surf);
    return st;
}

tq_status tq_plot_write(const struct tq_plot *p, const char *path, bool force, struct tq_err *err)
{
    bool svg = has_suffix(path, ".svg");
    if (!svg && !has_suffix(path, ".png"))
        return tq_fail(err, TQ_ERR_USAGE, "plot file '%s' must end in .svg or .png", path);
    if (p->nseries == 0)
        return tq_fail(err, TQ_ERR_USAGE, "nothing to plot");
    struct tq_outfile of;
    TQ_TRY(tq_outfile_open(&of, path, force, err));
    cairo_status_t st = render(p, svg, of.fp);
    if (st != CAIRO_STATUS_SUCCESS) {
        tq_outfile_abort(&of);
        return tq_fail(err, TQ_ERR_IO, "cannot draw %s: %s", path, cairo_status_to_string(st));
    }
    return tq_outfile_commit(&of, err);
}

tq_status tq_plot_fit(const char *path, bool force, const char *title, const char *xlabel, enum tq_axis_unit xunit,
                      const double *x, const double *y, size_t n, const double *cx, const double *fit,
                      const double *bound, size_t nc, struct tq_err *err)
{
    if (n == 0 || nc == 0)
        return tq_fail(err, TQ_ERR_USAGE, "fit plot needs points and a curve");
    struct tq_plot *p = tq_plot_new_xy(title, xlabel, xunit, "peak memory", TQ_AXIS_BYTES);
    if (!p)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory making the fit plot");
    tq_status st = tq_plot_add_points(p, "measured", x, y, n, err);
    if (!st)
        st = tq_plot_add_line(p, "fit", cx, fit, nc, false, err);
    if (!st && bound)
        st = tq_plot_add_dashed(p, "bound", cx, bound, nc, err);
    if (!st)
        st = tq_plot_write(p, path, force, err);
    tq_plot_free(p);
    return st;
}
