/* event_order.c - threads' records merged into the process-wide order of their events (event_order.h).
 *
 * A record's events are already in order (their numbers increase), so the merge holds whole records ("runs") in a
 * min-heap keyed by the number of each run's first held event, and gives out events while the smallest is the next
 * number: a run's consecutive numbers go out in one stretch, and the heap is touched once per stretch, not once per
 * event. A record that follows on from the last number given out, while nothing is held, is given out as it is. */
#include "event_order.h"

#include <string.h>

struct tq_event_run {
    struct tq_event *ev; /* the record's events, ev[pos..n) still held */
    uint32_t n, pos;
};

void tq_event_order_init(struct tq_event_order *o, const struct tq_block_mem *mem, size_t limit)
{
    memset(o, 0, sizeof *o);
    o->mem = mem;
    o->limit = limit;
}

void tq_event_order_start(struct tq_event_order *o, uint64_t first)
{
    o->next = first;
    o->started = true;
}

static uint64_t head_seq(const struct tq_event_run *r)
{
    return r->ev[r->pos].seq;
}

static void sift_down(struct tq_event_order *o, size_t i)
{
    struct tq_event_run *h = o->runs;
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < o->nruns && head_seq(&h[l]) < head_seq(&h[m]))
            m = l;
        if (l + 1 < o->nruns && head_seq(&h[l + 1]) < head_seq(&h[m]))
            m = l + 1;
        if (m == i)
            return;
        struct tq_event_run t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void sift_up(struct tq_event_order *o, size_t i)
{
    struct tq_event_run *h = o->runs;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (head_seq(&h[p]) <= head_seq(&h[i]))
            return;
        struct tq_event_run t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

/* Room for n events in out (0; -1 when memory is short). Its contents need not be kept (it is filled after), so it
 * is made anew, with an eighth to spare rather than doubled: out holds at most what is held. */
static int out_room(struct tq_event_order *o, size_t n)
{
    if (n <= o->out_cap)
        return 0;
    size_t cap = n + n / 8 > 4096 ? n + n / 8 : 4096;
    struct tq_event *v = o->mem->zalloc(cap * sizeof *v);
    if (!v)
        return -1;
    if (o->out)
        o->mem->release(o->out, o->out_cap * sizeof *o->out);
    o->out = v;
    o->out_cap = cap;
    return 0;
}

/* Hold in[0..n) as a run (0; -1 when memory is short, nothing held). */
static int hold(struct tq_event_order *o, const struct tq_event *in, uint32_t n)
{
    if (o->nruns == o->runs_cap) {
        size_t cap = o->runs_cap ? 2 * o->runs_cap : 64;
        struct tq_event_run *v = o->mem->zalloc(cap * sizeof *v);
        if (!v)
            return -1;
        if (o->runs) {
            memcpy(v, o->runs, o->nruns * sizeof *v);
            o->mem->release(o->runs, o->runs_cap * sizeof *o->runs);
        }
        o->runs = v;
        o->runs_cap = cap;
    }
    struct tq_event *ev = o->mem->zalloc((size_t)n * sizeof *ev);
    if (!ev)
        return -1;
    memcpy(ev, in, (size_t)n * sizeof *ev);
    o->runs[o->nruns] = (struct tq_event_run){.ev = ev, .n = n};
    sift_up(o, o->nruns++);
    o->held += n;
    return 0;
}

/* Give out into o->out[k..) the held events that are next in order: a missing number below `below` is passed
 * over, as is any when more than limit events wait (below = UINT64_MAX: all of them); returns the new k. out has
 * room for all held. */
static size_t release(struct tq_event_order *o, size_t k, uint64_t below)
{
    while (o->nruns) {
        struct tq_event_run *r = &o->runs[0];
        if (head_seq(r) != o->next) {
            if (head_seq(r) >= below && o->held <= o->limit)
                break;
            o->gaps++; /* numbers next..head_seq(r) - 1 never came: given up */
            o->next = head_seq(r);
        }
        uint32_t from = r->pos;
        while (r->pos < r->n && r->ev[r->pos].seq == o->next) {
            r->pos++;
            o->next++;
        }
        memcpy(&o->out[k], &r->ev[from], (size_t)(r->pos - from) * sizeof *o->out);
        k += r->pos - from;
        o->held -= r->pos - from;
        if (r->pos == r->n) {
            o->mem->release(r->ev, (size_t)r->n * sizeof *r->ev);
            o->runs[0] = o->runs[--o->nruns];
        }
        if (o->nruns)
            sift_down(o, 0);
    }
    return k;
}

int tq_event_order_add(struct tq_event_order *o, const struct tq_event *in, uint32_t n, const struct tq_event **out,
                       size_t *nout)
{
    *out = in;
    *nout = n;
    if (!n)
        return 0;
    if (!o->started)
        tq_event_order_start(o, in[0].seq);
    /* the common case, every record of a thread running alone: the next numbers, nothing held */
    if (!o->nruns && in[0].seq == o->next && in[n - 1].seq - in[0].seq == n - 1) {
        o->next += n;
        return 0;
    }
    uint32_t late = 0; /* events whose place was given up already: out at once, first */
    while (late < n && in[late].seq < o->next)
        late++;
    if (out_room(o, o->held + n) || (late < n && hold(o, in + late, n - late))) {
        o->late += n; /* given out as they are */
        return -1;
    }
    o->late += late;
    memcpy(o->out, in, (size_t)late * sizeof *o->out);
    *out = o->out;
    *nout = release(o, late, 0);
    return 0;
}

int tq_event_order_drain(struct tq_event_order *o, const struct tq_event **out, size_t *nout)
{
    *out = o->out;
    *nout = 0;
    if (!o->nruns)
        return 0;
    if (out_room(o, o->held))
        return -1;
    *nout = release(o, 0, UINT64_MAX);
    return 0;
}

int tq_event_order_release_below(struct tq_event_order *o, uint64_t below, const struct tq_event **out,
                                 size_t *nout)
{
    *out = o->out;
    *nout = 0;
    if (!o->nruns || head_seq(&o->runs[0]) >= below)
        return 0;
    if (out_room(o, o->held))
        return -1;
    *nout = release(o, 0, below);
    return 0;
}

static void drop_runs(struct tq_event_order *o)
{
    for (size_t i = 0; i < o->nruns; i++)
        o->mem->release(o->runs[i].ev, (size_t)o->runs[i].n * sizeof *o->runs[i].ev);
    o->nruns = 0;
    o->held = 0;
}

void tq_event_order_reset(struct tq_event_order *o, uint64_t first)
{
    drop_runs(o);
    tq_event_order_start(o, first);
}

void tq_event_order_free(struct tq_event_order *o)
{
    drop_runs(o);
    if (o->runs)
        o->mem->release(o->runs, o->runs_cap * sizeof *o->runs);
    if (o->out)
        o->mem->release(o->out, o->out_cap * sizeof *o->out);
    o->runs = NULL;
    o->out = NULL;
    o->nruns = o->runs_cap = o->out_cap = o->held = 0;
}
