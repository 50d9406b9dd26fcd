/* sites.c - merge the heap replay's stacks into allocation sites by their innermost frame (see sites.h). */
#define _GNU_SOURCE
#include "sites.h"
#include "../common/alloc.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heap_replay.h"
#include "symbolize.h"

enum { CALLERS_SHOWN = 4 };

static const char *base_name(const char *path)
{
    const char *slash = path ? strrchr(path, '/') : NULL;
    return slash ? slash + 1 : path ? path : "";
}

/* The callers of the site's frame `at` as "f1 < f2 < ..." (Python frames with their lines: a script's call chain
 * reads as file:line). */
static char *callers_of(struct tq_heap_replay *r, const struct tq_heap_site *hs, uint32_t at)
{
    char buf[1024] = "", name[256];
    size_t len = 0;
    for (uint32_t i = at + 1; i < hs->depth && i <= at + CALLERS_SHOWN; i++) {
        tq_heap_replay_frame(r, hs, i, tq_heap_replay_is_python(hs, i), name, sizeof name);
        int k = snprintf(buf + len, sizeof buf - len, "%s%s", i > at + 1 ? " < " : "", name);
        if (k < 0 || (size_t)k >= sizeof buf - len)
            break;
        len += (size_t)k;
    }
    return tq_strdup(buf);
}

static int by_key(const void *a, const void *b)
{
    return strcmp(((const struct tq_site *)a)->key, ((const struct tq_site *)b)->key);
}

/* One row per stack with figures, then merged by key (sorted, adjacent rows summed). */
static tq_status collect(struct tq_heap_replay *r, struct tq_sites *out, struct tq_err *err)
{
    size_t n = tq_heap_replay_count(r), k = 0;
    struct tq_site *v = tq_calloc(n ? n : 1, sizeof *v);
    uint64_t *best = tq_calloc(n ? n : 1, sizeof *best); /* the figure that picks each row's callers */
    if (!v || !best) {
        free(v);
        free(best);
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory for sites");
    }
    out->v = v;
    for (size_t i = 0; i < n; i++) {
        const struct tq_heap_site *hs = tq_heap_replay_site(r, i);
        if (!hs->calls && !hs->peak_bytes && !hs->leaked_bytes)
            continue;
        char name[512];
        struct tq_symbol sym;
        uint32_t at = hs->depth ? tq_heap_replay_site_frame(r, hs) : 0;
        bool known = hs->depth && tq_heap_replay_lookup(r, hs, at, &sym);
        if (hs->depth)
            tq_heap_replay_frame(r, hs, at, 1, name, sizeof name);
        else
            snprintf(name, sizeof name, "(no stack)");
        v[k] = (struct tq_site){.key = tq_strdup(name), .module = tq_strdup(known ? base_name(sym.module) : ""),
                                .callers = hs->depth ? callers_of(r, hs, at) : tq_strdup(""), .peak = hs->peak_bytes,
                                .allocated = hs->allocated_bytes, .calls = hs->calls, .leaked = hs->leaked_bytes,
                                .leaked_blocks = hs->leaked_blocks, .temporary = hs->temporary_calls,
                                .temporary_bytes = hs->temporary_bytes, .allocated_err = hs->allocated_err,
                                .peak_err = hs->peak_err, .leaked_err = hs->leaked_err};
        best[k] = hs->peak_bytes ? hs->peak_bytes : hs->allocated_bytes;
        out->n = ++k;
        out->allocated += hs->allocated_bytes;
        out->calls += hs->calls;
        out->leaked += hs->leaked_bytes;
        out->leaked_blocks += hs->leaked_blocks;
        out->temporary += hs->temporary_calls;
        out->temporary_bytes += hs->temporary_bytes;
        if (!v[k - 1].key || !v[k - 1].module || !v[k - 1].callers) {
            free(best);
            return tq_fail(err, TQ_ERR_NOMEM, "out of memory for sites");
        }
    }
    /* Merge rows with the same key; the callers shown are those of the stack that weighs most. */
    struct pair {
        struct tq_site s; /* first: by_key reads the key through a pair pointer */
        uint64_t w;
    } *pv = tq_malloc((k ? k : 1) * sizeof *pv);
    struct tq_site *m = tq_calloc(k ? k : 1, sizeof *m);
    if (!pv || !m) {
        free(pv);
        free(m);
        free(best);
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory for sites");
    }
    for (size_t i = 0; i < k; i++)
        pv[i] = (struct pair){v[i], best[i]};
    qsort(pv, k, sizeof *pv, by_key); /* struct pair starts with the site: by_key reads its key */
    size_t j = 0;
    uint64_t wj = 0;
    for (size_t i = 0; i < k; i++) {
        if (j && !strcmp(m[j - 1].key, pv[i].s.key)) {
            struct tq_site *d = &m[j - 1];
            d->peak += pv[i].s.peak;
            d->allocated += pv[i].s.allocated;
            d->calls += pv[i].s.calls;
            d->leaked += pv[i].s.leaked;
            d->leaked_blocks += pv[i].s.leaked_blocks;
            d->temporary += pv[i].s.temporary;
            d->temporary_bytes += pv[i].s.temporary_bytes;
            /* independent stacks: variances add */
            d->allocated_err = hypot(d->allocated_err, pv[i].s.allocated_err);
            d->peak_err = hypot(d->peak_err, pv[i].s.peak_err);
            d->leaked_err = hypot(d->leaked_err, pv[i].s.leaked_err);
            if (pv[i].w > wj) {
                free(d->callers);
                d->callers = pv[i].s.callers;
                wj = pv[i].w;
            } else {
                free(pv[i].s.callers);
            }
            free(pv[i].s.key);
            free(pv[i].s.module);
        } else {
            m[j++] = pv[i].s;
            wj = pv[i].w;
        }
    }
    free(pv);
    free(best);
    free(v);
    out->v = m;
    out->n = j;
    return TQ_OK;
}

tq_status tq_sites_load(const char *path, struct tq_sites *out, struct tq_err *err)
{
    return tq_sites_load_opts(path, false, out, err);
}

tq_status tq_sites_load_opts(const char *path, bool python_only, struct tq_sites *out, struct tq_err *err)
{
    memset(out, 0, sizeof *out);
    struct tq_heap_replay *r;
    TQ_TRY(tq_heap_replay_run_opts(path, python_only, &r, err));
    out->peak = tq_heap_replay_peak(r);
    out->peak_t_ns = tq_heap_replay_peak_t_ns(r);
    out->aggregated = tq_heap_replay_aggregated(r);
    out->ended = tq_heap_replay_ended(r);
    out->sample_bytes = tq_heap_replay_sample_bytes(r);
    out->python_unsupported = tq_heap_replay_python_unsupported(r);
    tq_status st = collect(r, out, err);
    tq_heap_replay_free(r);
    if (st)
        tq_sites_clear(out);
    return st;
}

/* The figure a site is sorted by, biggest first (ties and TQ_SITES_BY_KEY: alphabetical). */
static uint64_t figure(const struct tq_site *x, enum tq_site_order order)
{
    switch (order) {
    case TQ_SITES_BY_PEAK: return x->peak;
    case TQ_SITES_BY_ALLOCATED: return x->allocated;
    case TQ_SITES_BY_CALLS: return x->calls;
    case TQ_SITES_BY_LEAKED: return x->leaked;
    case TQ_SITES_BY_TEMPORARY: return x->temporary;
    case TQ_SITES_BY_KEY: break;
    }
    return 0;
}

static int by_order(const void *a, const void *b, void *order)
{
    const struct tq_site *x = a, *y = b;
    uint64_t fx = figure(x, *(enum tq_site_order *)order), fy = figure(y, *(enum tq_site_order *)order);
    return fx != fy ? (fx < fy ? 1 : -1) : strcmp(x->key, y->key);
}

void tq_sites_sort(struct tq_sites *s, enum tq_site_order order)
{
    if (s->n)
        qsort_r(s->v, s->n, sizeof *s->v, by_order, &order);
}

const struct tq_site *tq_sites_find(const struct tq_sites *s, const char *key)
{
    struct tq_site probe = {.key = (char *)key};
    return s->n ? bsearch(&probe, s->v, s->n, sizeof *s->v, by_key) : NULL;
}

void tq_sites_clear(struct tq_sites *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].key);
        free(s->v[i].module);
        free(s->v[i].callers);
    }
    free(s->v);
    memset(s, 0, sizeof *s);
}
