/* plot.h - a small cairo chart library: time-series lines, scatter + fit curves, grouped bars; SVG or PNG. */
#ifndef TQ_PLOT_H
#define TQ_PLOT_H

#include <stdbool.h>
#include <stddef.h>

#include "../common/status.h"

/* How an axis prints its numbers. Ticks fall on 1/2/5 steps in the chosen unit. */
enum tq_axis_unit {
    TQ_AXIS_PLAIN,   /* plain numbers (%g) */
    TQ_AXIS_SECONDS, /* values in seconds; labelled in ms, s or min depending on the range */
    TQ_AXIS_BYTES    /* values in bytes; labelled in B, KiB, MiB, GiB or TiB depending on the range */
};

/* A chart being built. Opaque; one of the three kinds below, fixed by the constructor. */
struct tq_plot;

/* A line / scatter chart: x and y axes with titles and units. Strings are copied.
 * Returns NULL when memory runs out. */
struct tq_plot *tq_plot_new_xy(const char *title, const char *xlabel, enum tq_axis_unit xunit, const char *ylabel,
                               enum tq_axis_unit yunit);

/* Add a series drawn as a polyline (x ascending is expected, not required). The data are copied.
 * With mark_peak the largest y gets a dot and a "peak ..." label. Colours follow the order of addition.
 * Fails with TQ_ERR_USAGE on a bar chart or n == 0, TQ_ERR_NOMEM when memory runs out. */
tq_status tq_plot_add_line(struct tq_plot *p, const char *label, const double *x, const double *y, size_t n,
                           bool mark_peak, struct tq_err *err);

/* Add a series drawn as unconnected points. Same failures as tq_plot_add_line. */
tq_status tq_plot_add_points(struct tq_plot *p, const char *label, const double *x, const double *y, size_t n,
                             struct tq_err *err);

/* Add a dashed polyline (a bound or a reference curve). Same failures as tq_plot_add_line. */
tq_status tq_plot_add_dashed(struct tq_plot *p, const char *label, const double *x, const double *y, size_t n,
                             struct tq_err *err);

/* A grouped bar chart: `ncat` categories along x (names copied), y in `yunit`.
 * Returns NULL when memory runs out or ncat == 0. */
struct tq_plot *tq_plot_new_bars(const char *title, const char *ylabel, enum tq_axis_unit yunit,
                                 const char *const *categories, size_t ncat);

/* Add one bar per category: height value[i], whisker from lo[i] to hi[i] (lo/hi may be NULL for none).
 * NaN values leave that bar out. Fails with TQ_ERR_USAGE on an x/y chart, TQ_ERR_NOMEM when memory runs out. */
tq_status tq_plot_add_bars(struct tq_plot *p, const char *label, const double *value, const double *lo,
                           const double *hi, struct tq_err *err);

/* Draw the chart to `path`: SVG when it ends in ".svg", PNG when it ends in ".png" (case-insensitive).
 * Writes to a temporary name and renames; refuses to replace an existing file unless `force`.
 * Fails with TQ_ERR_USAGE on another extension, an existing file without force, or a chart with no data;
 * TQ_ERR_IO when writing fails (nothing is left behind). */
tq_status tq_plot_write(const struct tq_plot *p, const char *path, bool force, struct tq_err *err);

/* Free a chart. tq_plot_free(NULL) is a no-op. */
void tq_plot_free(struct tq_plot *p);

/* Release the process-wide caches cairo and fontconfig keep after drawing text, so leak checkers (ASan) stay
 * quiet. Call once before exit, after the last plot; no plot may be drawn afterwards. Can't fail. */
void tq_plot_shutdown(void);

/* The fit plot of `traceq fit --plot`, in one call: measured points (x[i], y[i]), the fitted curve
 * (cx[j], fit[j]) and, when `bound` is not NULL, the safety bound (cx[j], bound[j]) dashed.
 * y values are bytes; x is in `xunit` (TQ_AXIS_PLAIN for a voxel count). Same failures as tq_plot_write,
 * plus TQ_ERR_USAGE when n or nc is 0. */
tq_status tq_plot_fit(const char *path, bool force, const char *title, const char *xlabel, enum tq_axis_unit xunit,
                      const double *x, const double *y, size_t n, const double *cx, const double *fit,
                      const double *bound, size_t nc, struct tq_err *err);

#endif
