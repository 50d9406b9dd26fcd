/* plot_draw.c - draws a chart model with cairo: frame, grid, ticks, series, peak marker, legend. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "plot_internal.h"

/* The plotting area in device pixels and the axes mapped onto it. */
struct frame {
    double x0, y0, w, h; /* top-left corner and size of the data area */
    struct plot_axis ax, ay;
};

/* A colour-blind-friendly palette (Okabe-Ito, darkened yellow), cycled by series index. */
static const double palette[][3] = {
    {0.00, 0.45, 0.70}, {0.84, 0.37, 0.00}, {0.00, 0.62, 0.45}, {0.80, 0.47, 0.65},
    {0.34, 0.71, 0.91}, {0.75, 0.60, 0.00}, {0.35, 0.35, 0.35}, {0.90, 0.10, 0.10},
};
enum { NPALETTE = sizeof palette / sizeof palette[0] };
enum { LEGEND_W = 190 };

static void set_colour(cairo_t *cr, size_t i)
{
    const double *c = palette[i % NPALETTE];
    cairo_set_source_rgb(cr, c[0], c[1], c[2]);
}

static double map_x(const struct frame *f, double v)
{
    return f->x0 + (v - f->ax.lo) / (f->ax.hi - f->ax.lo) * f->w;
}

static double map_y(const struct frame *f, double v)
{
    return f->y0 + f->h - (v - f->ay.lo) / (f->ay.hi - f->ay.lo) * f->h;
}

static void text_at(cairo_t *cr, double x, double y, const char *s, double halign, double valign)
{
    cairo_text_extents_t te;
    cairo_text_extents(cr, s, &te);
    cairo_move_to(cr, x - te.width * halign - te.x_bearing, y - te.height * valign - te.y_bearing);
    cairo_show_text(cr, s);
}

/* Copy `s` into buf, cut with "..." so it is at most `width` pixels wide in the current font. */
static void fit_text(cairo_t *cr, const char *s, double width, char *buf, size_t size)
{
    snprintf(buf, size, "%s", s);
    cairo_text_extents_t te;
    size_t n = strlen(buf);
    for (cairo_text_extents(cr, buf, &te); te.x_advance > width && n > 4; cairo_text_extents(cr, buf, &te)) {
        n--;
        while (n > 0 && (buf[n] & 0xC0) == 0x80) /* never cut inside a UTF-8 character */
            n--;
        snprintf(buf + n, size - n, "...");
    }
}

/* The data ranges of every series; memory axes start at zero so heights compare honestly. */
static void data_ranges(const struct tq_plot *p, double *xlo, double *xhi, double *ylo, double *yhi)
{
    *xlo = INFINITY, *xhi = -INFINITY, *ylo = INFINITY, *yhi = -INFINITY;
    for (size_t i = 0; i < p->nseries; i++) {
        const struct plot_series *s = &p->series[i];
        for (size_t j = 0; j < s->n; j++) {
            double top = s->hi && isfinite(s->hi[j]) ? fmax(s->y[j], s->hi[j]) : s->y[j];
            if (!isfinite(s->y[j]))
                continue;
            *ylo = fmin(*ylo, s->lo && isfinite(s->lo[j]) ? fmin(s->y[j], s->lo[j]) : s->y[j]);
            *yhi = fmax(*yhi, top);
            if (s->x && isfinite(s->x[j])) {
                *xlo = fmin(*xlo, s->x[j]);
                *xhi = fmax(*xhi, s->x[j]);
            }
        }
    }
    if (p->yunit == TQ_AXIS_BYTES || p->bars)
        *ylo = fmin(*ylo, 0);
    if (p->xunit == TQ_AXIS_SECONDS)
        *xlo = fmin(*xlo, 0);
}

static void make_frame(const struct tq_plot *p, struct frame *f, double width, double height)
{
    f->x0 = 90;
    f->y0 = 50;
    f->w = width - f->x0 - LEGEND_W - 20;
    f->h = height - f->y0 - 70;
    double xlo, xhi, ylo, yhi;
    data_ranges(p, &xlo, &xhi, &ylo, &yhi);
    plot_axis_make(&f->ay, ylo, yhi, p->yunit);
    if (p->bars) {
        f->ax.lo = 0;
        f->ax.hi = (double)p->ncat;
        f->ax.nticks = 0;
    } else {
        plot_axis_make(&f->ax, xlo, xhi, p->xunit);
    }
}

static void draw_axes(const struct tq_plot *p, cairo_t *cr, const struct frame *f)
{
    char buf[64];
    cairo_set_font_size(cr, 12);
    cairo_set_line_width(cr, 1);
    for (size_t i = 0; i < f->ay.nticks; i++) {
        double y = round(map_y(f, f->ay.ticks[i])) + 0.5;
        cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
        cairo_move_to(cr, f->x0, y);
        cairo_line_to(cr, f->x0 + f->w, y);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
        text_at(cr, f->x0 - 8, y, plot_axis_label(&f->ay, f->ay.ticks[i], buf, sizeof buf), 1.0, 0.5);
    }
    for (size_t i = 0; i < f->ax.nticks; i++) {
        double x = round(map_x(f, f->ax.ticks[i])) + 0.5;
        cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
        cairo_move_to(cr, x, f->y0);
        cairo_line_to(cr, x, f->y0 + f->h);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
        text_at(cr, x, f->y0 + f->h + 8, plot_axis_label(&f->ax, f->ax.ticks[i], buf, sizeof buf), 0.5, 0.0);
    }
    for (size_t i = 0; p->bars && i < p->ncat; i++)
        text_at(cr, map_x(f, i + 0.5), f->y0 + f->h + 8, p->cats[i], 0.5, 0.0);
    cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
    cairo_rectangle(cr, f->x0 + 0.5, f->y0 + 0.5, f->w, f->h);
    cairo_stroke(cr);
    cairo_set_font_size(cr, 13);
    text_at(cr, f->x0 + f->w / 2, f->y0 + f->h + 36, p->xlabel, 0.5, 0.0);
    cairo_save(cr);
    cairo_translate(cr, 18, f->y0 + f->h / 2);
    cairo_rotate(cr, -M_PI / 2);
    text_at(cr, 0, 0, p->ylabel, 0.5, 0.5);
    cairo_restore(cr);
    cairo_set_font_size(cr, 16);
    text_at(cr, f->x0 + f->w / 2, 24, p->title, 0.5, 0.5);
}

static void draw_polyline(cairo_t *cr, const struct frame *f, const struct plot_series *s)
{
    bool pen = false;
    for (size_t j = 0; j < s->n; j++) {
        if (!isfinite(s->x[j]) || !isfinite(s->y[j])) {
            pen = false;
            continue;
        }
        if (pen)
            cairo_line_to(cr, map_x(f, s->x[j]), map_y(f, s->y[j]));
        else
            cairo_move_to(cr, map_x(f, s->x[j]), map_y(f, s->y[j]));
        pen = true;
    }
    cairo_stroke(cr);
}

static void draw_points(cairo_t *cr, const struct frame *f, const struct plot_series *s)
{
    for (size_t j = 0; j < s->n; j++) {
        if (!isfinite(s->x[j]) || !isfinite(s->y[j]))
            continue;
        cairo_new_sub_path(cr);
        cairo_arc(cr, map_x(f, s->x[j]), map_y(f, s->y[j]), 3.5, 0, 2 * M_PI);
    }
    cairo_fill(cr);
}

/* Label boxes already placed, so peak labels of overlaid series do not print over each other. */
struct placed {
    double x0, y0, x1, y1;
};

static bool overlaps(const struct placed *boxes, size_t n, struct placed b)
{
    for (size_t i = 0; i < n; i++)
        if (b.x0 < boxes[i].x1 && boxes[i].x0 < b.x1 && b.y0 < boxes[i].y1 && boxes[i].y0 < b.y1)
            return true;
    return false;
}

/* A dot on the series' largest value and its label, kept inside the data area and clear of earlier labels. */
static void draw_peak(const struct tq_plot *p, cairo_t *cr, const struct frame *f, const struct plot_series *s,
                      struct placed *boxes, size_t *nboxes)
{
    size_t best = s->n;
    for (size_t j = 0; j < s->n; j++)
        if (isfinite(s->y[j]) && isfinite(s->x[j]) && (best == s->n || s->y[j] > s->y[best]))
            best = j;
    if (best == s->n)
        return;
    double x = map_x(f, s->x[best]), y = map_y(f, s->y[best]);
    cairo_new_sub_path(cr);
    cairo_arc(cr, x, y, 5, 0, 2 * M_PI);
    cairo_fill(cr);
    char v[32], t[32], label[96];
    snprintf(label, sizeof label, "peak %s at %s", plot_format_value(s->y[best], p->yunit, v, sizeof v),
             plot_format_value(s->x[best], p->xunit, t, sizeof t));
    cairo_set_font_size(cr, 12);
    cairo_text_extents_t te;
    cairo_text_extents(cr, label, &te);
    bool left = x + 8 + te.width > f->x0 + f->w;
    double lx = left ? x - 8 - te.width : x + 8;
    double ty = y - 10 < f->y0 + 14 ? y + 16 : y - 10;
    struct placed b = {lx, ty - 8, lx + te.width, ty + 8};
    for (int tries = 0; tries < 20 && overlaps(boxes, *nboxes, b); tries++) {
        ty += 18;
        b.y0 += 18, b.y1 += 18;
    }
    if (*nboxes < 64)
        boxes[(*nboxes)++] = b;
    text_at(cr, lx, ty, label, 0.0, 0.5);
}

static void draw_bars(const struct tq_plot *p, cairo_t *cr, const struct frame *f, size_t si)
{
    const struct plot_series *s = &p->series[si];
    double group = f->w / (double)p->ncat, bw = group * 0.8 / (double)p->nseries;
    for (size_t j = 0; j < s->n; j++) {
        if (!isfinite(s->y[j]))
            continue;
        double x = f->x0 + group * j + group * 0.1 + bw * si;
        double y = map_y(f, s->y[j]), base = map_y(f, fmax(0, f->ay.lo));
        set_colour(cr, si);
        cairo_rectangle(cr, x + 1, y, bw - 2, base - y);
        cairo_fill(cr);
        if (!s->lo || !s->hi || !isfinite(s->lo[j]) || !isfinite(s->hi[j]))
            continue;
        double cx = x + bw / 2, ylo = map_y(f, s->lo[j]), yhi = map_y(f, s->hi[j]);
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        cairo_set_line_width(cr, 1.5);
        cairo_move_to(cr, cx, ylo);
        cairo_line_to(cr, cx, yhi);
        cairo_move_to(cr, cx - bw / 5, ylo);
        cairo_line_to(cr, cx + bw / 5, ylo);
        cairo_move_to(cr, cx - bw / 5, yhi);
        cairo_line_to(cr, cx + bw / 5, yhi);
        cairo_stroke(cr);
    }
}

static void draw_series(const struct tq_plot *p, cairo_t *cr, const struct frame *f)
{
    cairo_save(cr);
    cairo_rectangle(cr, f->x0, f->y0, f->w, f->h);
    cairo_clip(cr);
    for (size_t i = 0; i < p->nseries; i++) {
        const struct plot_series *s = &p->series[i];
        set_colour(cr, i);
        cairo_set_line_width(cr, 2);
        cairo_set_dash(cr, NULL, 0, 0);
        if (s->style == STYLE_BARS) {
            draw_bars(p, cr, f, i);
        } else if (s->style == STYLE_POINTS) {
            draw_points(cr, f, s);
        } else {
            double dash[] = {8, 5};
            if (s->style == STYLE_DASHED)
                cairo_set_dash(cr, dash, 2, 0);
            draw_polyline(cr, f, s);
        }
    }
    cairo_restore(cr);
    /* Peak labels after every series so no line is drawn over them. */
    struct placed boxes[64];
    size_t nboxes = 0;
    for (size_t i = 0; i < p->nseries; i++)
        if (p->series[i].mark_peak) {
            set_colour(cr, i);
            draw_peak(p, cr, f, &p->series[i], boxes, &nboxes);
        }
}

static void draw_legend(const struct tq_plot *p, cairo_t *cr, const struct frame *f)
{
    double x = f->x0 + f->w + 16, y = f->y0 + 8;
    cairo_set_font_size(cr, 12);
    for (size_t i = 0; i < p->nseries; i++, y += 22) {
        const struct plot_series *s = &p->series[i];
        set_colour(cr, i);
        if (s->style == STYLE_POINTS) {
            cairo_arc(cr, x + 12, y, 3.5, 0, 2 * M_PI);
            cairo_fill(cr);
        } else if (s->style == STYLE_BARS) {
            cairo_rectangle(cr, x + 4, y - 6, 16, 12);
            cairo_fill(cr);
        } else {
            double dash[] = {6, 4};
            cairo_set_dash(cr, dash, s->style == STYLE_DASHED ? 2 : 0, 0);
            cairo_set_line_width(cr, 2);
            cairo_move_to(cr, x, y);
            cairo_line_to(cr, x + 24, y);
            cairo_stroke(cr);
            cairo_set_dash(cr, NULL, 0, 0);
        }
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        char label[256];
        fit_text(cr, s->label, LEGEND_W - 40, label, sizeof label);
        text_at(cr, x + 32, y, label, 0.0, 0.5);
    }
}

void plot_draw(const struct tq_plot *p, cairo_t *cr, double width, double height)
{
    struct frame f;
    make_frame(p, &f, width, height);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    draw_axes(p, cr, &f);
    draw_series(p, cr, &f);
    draw_legend(p, cr, &f);
}
