/* plot_internal.h - the chart model shared by plot.c (building), plot_axis.c (ticks) and plot_draw.c (cairo). */
#ifndef TQ_PLOT_INTERNAL_H
#define TQ_PLOT_INTERNAL_H

#include <cairo.h>

#include "plot.h"

enum plot_style { STYLE_LINE, STYLE_POINTS, STYLE_DASHED, STYLE_BARS };

struct plot_series {
    char *label;
    enum plot_style style;
    bool mark_peak;
    size_t n;
    double *x, *y;   /* for bars: x unused, y = heights, one per category */
    double *lo, *hi; /* bar whiskers, NULL when absent */
};

struct tq_plot {
    bool bars;
    char *title, *xlabel, *ylabel;
    enum tq_axis_unit xunit, yunit;
    char **cats;
    size_t ncat;
    struct plot_series *series;
    size_t nseries;
};

/* Ticks of one axis: the (widened) range, the tick values and the unit they are printed in. */
#define PLOT_MAX_TICKS 16
struct plot_axis {
    double lo, hi;
    double ticks[PLOT_MAX_TICKS];
    size_t nticks;
    double scale;      /* a value divided by scale is printed */
    const char *uname; /* unit name appended to tick labels ("MiB", "ms", "" for plain) */
    int decimals;
};

/* Choose ticks for data in [lo, hi] (lo may equal hi) printed in `unit`. Can't fail. */
void plot_axis_make(struct plot_axis *a, double lo, double hi, enum tq_axis_unit unit);

/* Print `v` as a tick label of axis `a` into buf. Returns buf. Can't fail (truncates). */
char *plot_axis_label(const struct plot_axis *a, double v, char *buf, size_t size);

/* Print a value in `unit` for annotations ("128 MiB", "1.25 s"). Returns buf. Can't fail (truncates). */
char *plot_format_value(double v, enum tq_axis_unit unit, char *buf, size_t size);

/* Draw the whole chart on a cairo context of width x height pixels. Can't fail (cairo records errors). */
void plot_draw(const struct tq_plot *p, cairo_t *cr, double width, double height);

#endif
