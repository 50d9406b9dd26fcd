/* tree_peak.c - a process tree's memory at once, from its traces' samples (see tree_peak.h). */
#include "tree_peak.h"

#include <stdlib.h>
#include <string.h>

#include "../common/alloc.h"
#include "../traces/reader.h"

/* A change of the tree's total: at t (unix ns) by delta bytes. */
struct step {
    uint64_t t;
    int64_t delta;
};

struct steps {
    struct step *v;
    size_t n, cap;
};

static tq_status steps_add(struct steps *s, uint64_t t, int64_t delta, struct tq_err *err)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        struct step *v = tq_realloc(s->v, cap * sizeof *v);
        if (!v)
            return tq_fail(err, TQ_ERR_NOMEM, "out of memory for %zu samples", cap);
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = (struct step){t, delta};
    return TQ_OK;
}

/* By time; at equal times rises before falls (processes that touch are counted together). */
static int step_cmp(const void *a, const void *b)
{
    const struct step *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return (x->delta < y->delta) - (x->delta > y->delta);
}

static uint64_t sample_figure(const struct tq_rec_sample *x, enum tq_tree_figure fig)
{
    if (fig == TQ_TREE_RSS)
        return x->vm_rss;
    int64_t held = x->heap_live_req + x->mmap_live;
    return held > 0 ? (uint64_t)held : 0;
}

static uint64_t later(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

/* One trace's steps: each sample's change from the one before, and its last value taken away at its end. */
static tq_status trace_steps(const char *path, enum tq_tree_figure fig, struct steps *s, uint64_t *start,
                             uint64_t *own_peak, struct tq_err *err)
{
    struct tq_trace_reader *r;
    TQ_TRY(tq_trace_open(path, &r, err));
    struct tq_rec rec;
    bool done = false;
    tq_status st;
    uint64_t last_t = 0, held = 0, hwm = 0;
    size_t samples = 0;
    *own_peak = *start = 0;
    while (!(st = tq_trace_next(r, &rec, &done, err)) && !done) {
        struct tq_rec_process p;
        struct tq_rec_sample x;
        struct tq_rec_end e;
        struct tq_rec_exec ex;
        struct tq_rec_gap g;
        if (rec.type == TQ_REC_PROCESS && !tq_rec_get_process(&rec, &p)) {
            *start = p.start_unix_ns;
        } else if (rec.type == TQ_REC_SAMPLE && !tq_rec_get_sample(&rec, &x)) {
            uint64_t v = sample_figure(&x, fig);
            if ((st = steps_add(s, *start + x.t_ns, (int64_t)v - (int64_t)held, err)))
                break;
            held = v;
            samples++;
            *own_peak = later(*own_peak, held);
            last_t = later(last_t, x.t_ns);
        } else if (rec.type == TQ_REC_END && !tq_rec_get_end(&rec, &e)) {
            hwm = e.vm_hwm ? e.vm_hwm : e.ru_maxrss;
            last_t = later(last_t, e.t_ns);
        } else if (rec.type == TQ_REC_EXEC && !tq_rec_get_exec(&rec, &ex)) {
            last_t = later(last_t, ex.t_ns);
        } else if (rec.type == TQ_REC_GAP && !tq_rec_get_gap(&rec, &g)) {
            last_t = later(last_t, g.t_ns);
        }
    }
    tq_trace_close(r);
    if (st) {
        struct tq_err why = *err;
        return tq_fail(err, st, "%s: %s", path, why.msg);
    }
    if (!samples && hwm && fig == TQ_TREE_RSS) { /* never sampled: its high-water mark, all its life */
        TQ_TRY(steps_add(s, *start, (int64_t)hwm, err));
        held = *own_peak = hwm;
    }
    return steps_add(s, *start + last_t, -(int64_t)held, err);
}

tq_status tq_tree_timeline(const char *const *paths, size_t n, enum tq_tree_figure fig, tq_tree_step_fn step,
                           void *ctx, struct tq_tree_peak *out, uint64_t *own_peaks, struct tq_err *err)
{
    struct steps s = {0};
    memset(out, 0, sizeof *out);
    out->t0_unix_ns = UINT64_MAX;
    tq_status st = TQ_OK;
    for (size_t i = 0; i < n && !st; i++) {
        uint64_t own = 0, start = 0;
        st = trace_steps(paths[i], fig, &s, &start, &own, err);
        out->sum_of_peaks += own;
        if (own_peaks)
            own_peaks[i] = own;
        out->t0_unix_ns = start < out->t0_unix_ns ? start : out->t0_unix_ns;
    }
    if (!n)
        out->t0_unix_ns = 0;
    if (!st) {
        qsort(s.v, s.n, sizeof *s.v, step_cmp);
        int64_t now = 0;
        for (size_t i = 0; i < s.n && !st; i++) {
            now += s.v[i].delta;
            uint64_t total = now > 0 ? (uint64_t)now : 0;
            if (total > out->peak) {
                out->peak = total;
                out->t_unix_ns = s.v[i].t;
            }
            if (step)
                st = step(s.v[i].t > out->t0_unix_ns ? s.v[i].t - out->t0_unix_ns : 0, total, ctx, err);
        }
    }
    free(s.v);
    return st;
}
