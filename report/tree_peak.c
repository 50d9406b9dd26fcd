/* tree_peak.c - a process tree's memory at once, from its traces' samples as their summaries kept them (see
 * tree_peak.h). */
#include "tree_peak.h"

#include <stdlib.h>
#include <string.h>

#include "../common/alloc.h"

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

static uint64_t later(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

/* One trace's steps: each sample's change from the one before, and its last value taken away at its end (its last
 * timestamp: END, EXEC, GAP or sample, the summary's duration). */
static tq_status trace_steps(const struct tq_trace_summary *t, enum tq_tree_figure fig, struct steps *s,
                             uint64_t *own_peak, struct tq_err *err)
{
    uint64_t held = 0, hwm = t->vm_hwm ? t->vm_hwm : t->ru_maxrss;
    *own_peak = 0;
    if (t->samples && !t->points)
        return tq_fail(err, TQ_ERR_USAGE, "%s: summarized without its samples", t->path);
    for (uint64_t i = 0; i < t->samples; i++) {
        const struct tq_summary_point *x = &t->points[i];
        uint64_t v = fig == TQ_TREE_RSS ? x->rss : x->held;
        TQ_TRY(steps_add(s, t->start_unix_ns + x->t_ns, (int64_t)v - (int64_t)held, err));
        held = v;
        *own_peak = later(*own_peak, held);
    }
    if (!t->samples && hwm && fig == TQ_TREE_RSS) { /* never sampled: its high-water mark, all its life */
        TQ_TRY(steps_add(s, t->start_unix_ns, (int64_t)hwm, err));
        held = *own_peak = hwm;
    }
    return steps_add(s, t->start_unix_ns + t->duration_ns, -(int64_t)held, err);
}

tq_status tq_tree_timeline(const struct tq_trace_summary *t, size_t n, enum tq_tree_figure fig, tq_tree_step_fn step,
                           void *ctx, struct tq_tree_peak *out, uint64_t *own_peaks, struct tq_err *err)
{
    struct steps s = {0};
    memset(out, 0, sizeof *out);
    out->t0_unix_ns = UINT64_MAX;
    tq_status st = TQ_OK;
    for (size_t i = 0; i < n && !st; i++) {
        uint64_t own = 0;
        st = trace_steps(&t[i], fig, &s, &own, err);
        out->sum_of_peaks += own;
        if (own_peaks)
            own_peaks[i] = own;
        out->t0_unix_ns = t[i].start_unix_ns < out->t0_unix_ns ? t[i].start_unix_ns : out->t0_unix_ns;
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
