/* plot_trace.c - timelines of traces for `traceq plot`: bucketed maxima of RSS, heap and mmap per trace. */
#include "plot_trace.h"
#include "../common/alloc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../export/export.h"
#include "plot.h"
#include "../report/trace_summary.h"

enum { BUCKETS = 2000, NMETRIC = 3 };
static const char *metric_names[NMETRIC] = {"RSS", "heap", "mmap"};

/* Per-bucket maxima of the three metrics, time of the bucket's first sample. */
struct buckets {
    double duration_s;
    double t[BUCKETS], v[NMETRIC][BUCKETS];
    bool used[BUCKETS];
};

static tq_status bucket_sample(const struct tq_rec_sample *s, void *ctx, struct tq_err *err)
{
    (void)err;
    struct buckets *b = ctx;
    double t = (double)s->t_ns / 1e9;
    size_t i = b->duration_s > 0 ? (size_t)(t / b->duration_s * (BUCKETS - 1)) : 0;
    if (i >= BUCKETS)
        i = BUCKETS - 1;
    double v[NMETRIC] = {(double)s->vm_rss, (double)(s->heap_live_req > 0 ? s->heap_live_req : 0),
                         (double)(s->mmap_live > 0 ? s->mmap_live : 0)};
    if (!b->used[i]) {
        b->used[i] = true;
        b->t[i] = t;
        for (int m = 0; m < NMETRIC; m++)
            b->v[m][i] = v[m];
    }
    for (int m = 0; m < NMETRIC; m++)
        b->v[m][i] = fmax(b->v[m][i], v[m]);
    return TQ_OK;
}

/* The trace's file name without folders, for legends. */
static const char *short_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static tq_status add_trace(struct tq_plot *p, const char *path, bool several, struct tq_err *err)
{
    struct tq_trace_summary sum;
    TQ_TRY(tq_trace_summarize(path, &sum, err));
    uint64_t samples = sum.samples, dur = sum.duration_ns;
    tq_trace_summary_clear(&sum);
    if (samples == 0)
        return tq_fail(err, TQ_ERR_USAGE, "%s has no samples to plot", path);
    struct buckets *b = tq_calloc(1, sizeof *b);
    double *t = tq_malloc(BUCKETS * sizeof *t), *v = tq_malloc(BUCKETS * sizeof *v);
    tq_status st = b && t && v ? TQ_OK : tq_fail(err, TQ_ERR_NOMEM, "out of memory");
    if (!st) {
        b->duration_s = (double)dur / 1e9;
        st = tq_export_each_sample(path, bucket_sample, b, NULL, err);
    }
    for (int m = 0; m < NMETRIC && !st; m++) {
        size_t n = 0;
        double top = 0;
        for (size_t i = 0; i < BUCKETS; i++)
            if (b->used[i]) {
                t[n] = b->t[i];
                v[n++] = b->v[m][i];
                top = fmax(top, b->v[m][i]);
            }
        if (top == 0) /* a program without mmap calls: no flat line at zero */
            continue;
        char label[160];
        if (several)
            snprintf(label, sizeof label, "%s: %s", metric_names[m], short_name(path)); /* legend cuts the end */
        else
            snprintf(label, sizeof label, "%s", metric_names[m]);
        st = tq_plot_add_line(p, label, t, v, n, m < 2, err);
    }
    free(b), free(t), free(v);
    return st;
}

tq_status tq_plot_traces(const char *const *paths, size_t n, const char *out, bool force, struct tq_err *err)
{
    if (n == 0)
        return tq_fail(err, TQ_ERR_USAGE, "no trace to plot");
    char title[256];
    if (n == 1)
        snprintf(title, sizeof title, "memory over time: %.200s", short_name(paths[0]));
    else
        snprintf(title, sizeof title, "memory over time: %zu traces", n);
    struct tq_plot *p = tq_plot_new_xy(title, "time since start", TQ_AXIS_SECONDS, "memory", TQ_AXIS_BYTES);
    if (!p)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory");
    tq_status st = TQ_OK;
    for (size_t i = 0; i < n && !st; i++)
        st = add_trace(p, paths[i], n > 1, err);
    if (!st)
        st = tq_plot_write(p, out, force, err);
    tq_plot_free(p);
    return st;
}
