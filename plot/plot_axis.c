/* plot_axis.c - axis ticks on 1/2/5 steps in human units (ms/s/min, B/KiB/MiB/GiB) for the chart library. */
#include <math.h>
#include <stdio.h>

#include "../common/units.h"
#include "plot_internal.h"

/* The printing unit for values up to `mag` (the largest absolute value on the axis). */
static void pick_unit(struct plot_axis *a, double mag, enum tq_axis_unit unit)
{
    static const char *bytes[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    a->scale = 1.0;
    a->uname = "";
    if (unit == TQ_AXIS_BYTES) {
        size_t k = 0;
        while (mag >= 1024.0 * a->scale && k + 1 < sizeof bytes / sizeof bytes[0]) {
            a->scale *= 1024.0;
            k++;
        }
        a->uname = bytes[k];
    } else if (unit == TQ_AXIS_SECONDS) {
        if (mag < 1.0) {
            a->scale = 1e-3;
            a->uname = "ms";
        } else if (mag < 600.0) {
            a->uname = "s";
        } else {
            a->scale = 60.0;
            a->uname = "min";
        }
    } else if (mag >= 1e4) {
        /* Large plain counts (voxels) read better as 5M than 5e+06. */
        a->scale = mag >= 1e9 ? 1e9 : mag >= 1e6 ? 1e6 : 1e3;
        a->uname = mag >= 1e9 ? "G" : mag >= 1e6 ? "M" : "k";
    }
}

/* A 1, 2 or 5 times a power of ten near `raw`. */
static double nice_step(double raw)
{
    double mag = pow(10.0, floor(log10(raw)));
    double norm = raw / mag;
    double f = norm < 1.5 ? 1 : norm < 3.5 ? 2 : norm < 7.5 ? 5 : 10;
    return f * mag;
}

void plot_axis_make(struct plot_axis *a, double lo, double hi, enum tq_axis_unit unit)
{
    if (!isfinite(lo) || !isfinite(hi)) {
        lo = 0;
        hi = 1;
    }
    if (hi <= lo) {
        double pad = lo != 0 ? fabs(lo) * 0.1 : 1.0;
        lo -= pad;
        hi += pad;
    }
    pick_unit(a, fmax(fabs(lo), fabs(hi)), unit);
    double step = nice_step((hi - lo) / a->scale / 5.0);
    /* Bytes below 1 KiB and plain counts tick on whole numbers at least. */
    if (unit == TQ_AXIS_BYTES && a->scale == 1.0 && step < 1)
        step = 1;
    a->lo = floor(lo / a->scale / step) * step * a->scale;
    a->hi = ceil(hi / a->scale / step) * step * a->scale;
    a->nticks = 0;
    for (double t = a->lo / a->scale; t <= a->hi / a->scale + step * 1e-6 && a->nticks < PLOT_MAX_TICKS; t += step)
        a->ticks[a->nticks++] = t * a->scale;
    a->decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
}

char *plot_axis_label(const struct plot_axis *a, double v, char *buf, size_t size)
{
    double s = v / a->scale;
    if (fabs(s) < 1e-12)
        s = 0; /* no "-0" */
    if (a->uname[0])
        snprintf(buf, size, "%.*f%s%s", a->decimals, s, a->scale >= 1e3 && a->uname[1] == 0 ? "" : " ", a->uname);
    else
        snprintf(buf, size, "%.*g", a->decimals > 0 ? a->decimals + 3 : 6, s);
    return buf;
}

char *plot_format_value(double v, enum tq_axis_unit unit, char *buf, size_t size)
{
    if (unit == TQ_AXIS_BYTES && v >= 0)
        return tq_format_bytes((uint64_t)llround(v), buf, size);
    if (unit == TQ_AXIS_SECONDS)
        snprintf(buf, size, v < 1.0 ? "%.1f ms" : "%.2f s", v < 1.0 ? v * 1e3 : v);
    else
        snprintf(buf, size, "%.4g", v);
    return buf;
}
