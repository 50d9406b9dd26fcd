/* compare_report.c - `traceq compare` results as JSON (jansson), CSV and a timeline plot. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>

#include "compare.h"
#include "../plot/plot.h"

static json_t *row_json(const struct tq_compare *c, const struct tq_compare_row *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "backend", json_string(r->backend));
    json_object_set_new(o, "measures", json_string(r->measures));
    json_object_set_new(o, "covers", json_string(r->covers ? r->covers : ""));
    json_object_set_new(o, "kind", json_string(r->kind == TQ_MEASURE_RSS ? "rss" : "heap"));
    json_object_set_new(o, "skipped", json_boolean(r->skipped));
    json_object_set_new(o, "note", json_string(r->note));
    if (r->skipped)
        return o;
    double rel, ratio;
    json_object_set_new(o, "peak_bytes", json_integer((json_int_t)r->peak_bytes));
    json_object_set_new(o, "peak_min_bytes", json_integer((json_int_t)r->peak_min));
    json_object_set_new(o, "peak_max_bytes", json_integer((json_int_t)r->peak_max));
    json_object_set_new(o, "wall_s", json_real(r->wall_s));
    json_object_set_new(o, "exit_status", json_integer(r->exit_status));
    json_object_set_new(o, "error_vs_truth", tq_compare_error(c, r, &rel) ? json_real(rel) : json_null());
    json_object_set_new(o, "overhead", tq_compare_overhead(c, r, &ratio) ? json_real(ratio) : json_null());
    return o;
}

tq_status tq_compare_write_json(const struct tq_compare *c, FILE *f, struct tq_err *err)
{
    json_t *root = json_object(), *rows = json_array();
    json_object_set_new(root, "command", json_string(c->command));
    json_object_set_new(root, "runs", json_integer(c->runs));
    json_object_set_new(root, "bare_wall_s", json_real(c->bare_wall_s));
    json_object_set_new(root, "truth", json_string(c->has_truth ? "cgroup" : "none"));
    json_object_set_new(root, "truth_bytes", c->has_truth ? json_integer((json_int_t)c->truth_bytes) : json_null());
    for (int b = 0; b < TQ_BACKEND_COUNT; b++)
        json_array_append_new(rows, row_json(c, &c->rows[b]));
    json_object_set_new(root, "backends", rows);
    int rc = json_dumpf(root, f, JSON_INDENT(2));
    json_decref(root);
    if (rc != 0 || fputc('\n', f) == EOF)
        return tq_fail(err, TQ_ERR_IO, "cannot write the JSON result");
    return TQ_OK;
}

tq_status tq_compare_write_csv(const struct tq_compare *c, FILE *f, struct tq_err *err)
{
    fprintf(f, "backend,kind,skipped,peak_bytes,error_vs_truth,wall_s,overhead,exit_status,note\n");
    for (int b = 0; b < TQ_BACKEND_COUNT; b++) {
        const struct tq_compare_row *r = &c->rows[b];
        double rel = NAN, ratio = NAN;
        tq_compare_error(c, r, &rel);
        tq_compare_overhead(c, r, &ratio);
        fprintf(f, "%s,%s,%d,", r->backend, r->kind == TQ_MEASURE_RSS ? "rss" : "heap", r->skipped);
        if (r->skipped) {
            fprintf(f, ",,,,,");
        } else {
            fprintf(f, "%llu,", (unsigned long long)r->peak_bytes);
            if (!isnan(rel))
                fprintf(f, "%.6f", rel);
            fprintf(f, ",%.6f,", r->wall_s);
            if (!isnan(ratio))
                fprintf(f, "%.4f", ratio);
            fprintf(f, ",%d,", r->exit_status);
        }
        /* Notes are free text: quote them and double any quote inside. */
        fputc('"', f);
        for (const char *p = r->note; *p; p++)
            fputs(*p == '"' ? "\"\"" : (char[]){*p, 0}, f);
        fputs("\"\n", f);
    }
    if (ferror(f))
        return tq_fail(err, TQ_ERR_IO, "cannot write the CSV result");
    return TQ_OK;
}

tq_status tq_compare_plot(const struct tq_compare *c, const char *path, bool force, struct tq_err *err)
{
    char title[1200];
    snprintf(title, sizeof title, "memory over time: %.80s", c->command);
    struct tq_plot *p = tq_plot_new_xy(title, "time", TQ_AXIS_SECONDS, "memory", TQ_AXIS_BYTES);
    if (!p)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory making the plot");
    tq_status st = TQ_OK;
    int lines = 0;
    for (int b = 0; b < TQ_BACKEND_COUNT && !st; b++) {
        const struct tq_compare_row *r = &c->rows[b];
        if (r->skipped || !r->nt)
            continue;
        char label[128];
        snprintf(label, sizeof label, "%s (%s)", r->backend, r->kind == TQ_MEASURE_RSS ? "RSS" : "heap");
        st = tq_plot_add_line(p, label, r->t, r->v, r->nt, true, err);
        lines++;
    }
    if (!st && lines == 0)
        st = tq_fail(err, TQ_ERR_USAGE, "no backend gave a timeline to plot (statm, massif and shim do)");
    if (!st)
        st = tq_plot_write(p, path, force, err);
    tq_plot_free(p);
    return st;
}
