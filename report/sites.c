/* sites.c - merge the heap replay's stacks into allocation sites by their innermost frame (see sites.h). */
#define _GNU_SOURCE
#include "sites.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/alloc.h"
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

/* One stack with figures, before stacks are merged into sites. */
struct row {
    char *key, *module;
    const struct tq_heap_site *hs;
};

static int by_row_key(const void *a, const void *b)
{
    const struct row *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->hs->stack_id > y->hs->stack_id) - (x->hs->stack_id < y->hs->stack_id);
}

static tq_status fill_row(struct tq_heap_replay *r, const struct tq_heap_site *hs, struct row *row)
{
    char name[512];
    struct tq_symbol sym;
    uint32_t at = hs->depth ? tq_heap_replay_site_frame(r, hs) : 0;
    bool known = hs->depth && tq_heap_replay_lookup(r, hs, at, &sym);
    if (hs->depth)
        tq_heap_replay_frame(r, hs, at, 1, name, sizeof name);
    else
        snprintf(name, sizeof name, "(no stack)");
    *row = (struct row){tq_strdup(name), tq_strdup(known ? base_name(sym.module) : ""), hs};
    return row->key && row->module ? TQ_OK : TQ_ERR_NOMEM;
}

/* The stacks of one site whose paths are shown: the one that weighs most by each figure (ties: the lowest stack
 * id, rows being sorted by it). */
struct best {
    const struct tq_heap_site *peak, *allocated, *calls, *leaked, *temporary;
};

static void consider(struct best *b, const struct tq_heap_site *hs)
{
    if (!b->peak || hs->peak_bytes > b->peak->peak_bytes)
        b->peak = hs;
    if (!b->allocated || hs->allocated_bytes > b->allocated->allocated_bytes)
        b->allocated = hs;
    if (!b->calls || hs->calls > b->calls->calls)
        b->calls = hs;
    if (!b->leaked || hs->leaked_bytes > b->leaked->leaked_bytes)
        b->leaked = hs;
    if (!b->temporary || hs->temporary_calls > b->temporary->temporary_calls)
        b->temporary = hs;
}

/* The callers of a stack's site frame, "" without a stack. */
static char *path_of(struct tq_heap_replay *r, const struct tq_heap_site *hs)
{
    return hs->depth ? callers_of(r, hs, tq_heap_replay_site_frame(r, hs)) : tq_strdup("");
}

/* The caller paths of a merged site. The path shown with the heap at the peak is the one of the stack that held
 * the bytes then; a site holding nothing at the peak shows the stack that allocated most (and one that leaked
 * nothing or made no temporary allocation, the same). */
static tq_status set_callers(struct tq_heap_replay *r, const struct best *b, struct tq_site *site)
{
    const struct tq_heap_site *fallback = b->allocated->allocated_bytes ? b->allocated : b->peak;
    site->callers = path_of(r, b->peak->peak_bytes ? b->peak : fallback);
    site->callers_allocated = path_of(r, b->allocated);
    site->callers_calls = path_of(r, b->calls);
    site->callers_leaked = path_of(r, b->leaked->leaked_bytes ? b->leaked : fallback);
    site->callers_temporary = path_of(r, b->temporary->temporary_calls ? b->temporary : fallback);
    return site->callers && site->callers_allocated && site->callers_calls && site->callers_leaked &&
                   site->callers_temporary
               ? TQ_OK
               : TQ_ERR_NOMEM;
}

/* One row per stack with figures, sorted by key, then merged: adjacent rows with the same key are summed. */
static tq_status collect(struct tq_heap_replay *r, struct tq_sites *out, struct tq_err *err)
{
    size_t n = tq_heap_replay_count(r), k = 0;
    struct row *rows = tq_calloc(n ? n : 1, sizeof *rows);
    tq_status st = rows ? TQ_OK : TQ_ERR_NOMEM;
    for (size_t i = 0; i < n && !st; i++) {
        const struct tq_heap_site *hs = tq_heap_replay_site(r, i);
        if (hs->calls || hs->peak_bytes || hs->leaked_bytes)
            st = fill_row(r, hs, &rows[k++]);
    }
    if (!st)
        qsort(rows, k, sizeof *rows, by_row_key);
    struct tq_site *m = st ? NULL : tq_calloc(k ? k : 1, sizeof *m);
    if (!st && !m)
        st = TQ_ERR_NOMEM;
    size_t j = 0;
    for (size_t i = 0; i < k && !st; j++) {
        struct tq_site *site = &m[j];
        struct best b = {0};
        *site = (struct tq_site){.key = rows[i].key, .module = rows[i].module};
        rows[i].key = rows[i].module = NULL; /* now the site's */
        for (; i < k && (!rows[i].key || !strcmp(rows[i].key, site->key)); i++) {
            const struct tq_heap_site *hs = rows[i].hs;
            site->peak += hs->peak_bytes;
            /* the counts a site and the totals both sum: (its field, the stack's field) */
#define SITE_COUNTS(X)                                                                                             \
    X(allocated, allocated_bytes) X(calls, calls) X(leaked, leaked_bytes) X(leaked_blocks, leaked_blocks)          \
    X(temporary, temporary_calls) X(temporary_bytes, temporary_bytes)
#define ADD_COUNT(field, from)                                                                                     \
    site->field += hs->from;                                                                                       \
    out->field += hs->from;
            SITE_COUNTS(ADD_COUNT)
#undef ADD_COUNT
#undef SITE_COUNTS
            /* independent stacks: variances add */
            site->allocated_err = hypot(site->allocated_err, hs->allocated_err);
            site->peak_err = hypot(site->peak_err, hs->peak_err);
            site->leaked_err = hypot(site->leaked_err, hs->leaked_err);
            consider(&b, hs);
        }
        st = set_callers(r, &b, site);
    }
    for (size_t i = 0; rows && i < k; i++) {
        free(rows[i].key);
        free(rows[i].module);
    }
    free(rows);
    out->v = m;
    out->n = j;
    return st ? tq_fail(err, TQ_ERR_NOMEM, "out of memory for sites") : TQ_OK;
}

tq_status tq_sites_load(const char *path, struct tq_sites *out, struct tq_err *err)
{
    return tq_sites_load_opts(path, false, out, err);
}

tq_status tq_sites_load_opts(const char *path, bool python_only, struct tq_sites *out, struct tq_err *err)
{
    return tq_sites_load_with(path, python_only, false, out, err);
}

static tq_status load(const char *path, const struct tq_heap_replay_opts *o, struct tq_sites *out,
                      struct tq_err *err)
{
    memset(out, 0, sizeof *out);
    struct tq_heap_replay *r;
    TQ_TRY(tq_heap_replay_run_with(path, o, &r, err));
    const struct tq_heap_replay_facts *facts = tq_heap_replay_facts(r);
    out->killed = facts->killed;
    out->at_snapshot = facts->at_snapshot;
    out->peak = tq_heap_replay_peak(r);
    out->peak_t_ns = tq_heap_replay_peak_t_ns(r);
    out->aggregated = facts->aggregated;
    out->ended = facts->ended;
    out->sample_bytes = facts->sample_bytes;
    out->python_unsupported = tq_heap_replay_python_unsupported(r);
    tq_status st = collect(r, out, err);
    tq_heap_replay_free(r);
    if (st) {
        tq_sites_clear(out);
        if (o->summary)
            tq_trace_summary_clear(o->summary);
    }
    return st;
}

tq_status tq_sites_load_with(const char *path, bool python_only, bool until_snapshot, struct tq_sites *out,
                             struct tq_err *err)
{
    struct tq_heap_replay_opts o = {.python_only = python_only, .until_snapshot = until_snapshot};
    return load(path, &o, out, err);
}

tq_status tq_sites_load_summarized(const char *path, bool python_only, struct tq_trace_summary *summary,
                                   bool samples, struct tq_sites *out, struct tq_err *err)
{
    struct tq_heap_replay_opts o = {.python_only = python_only, .summary = summary, .summary_samples = samples};
    return load(path, &o, out, err);
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

static int by_key(const void *a, const void *b)
{
    return strcmp(((const struct tq_site *)a)->key, ((const struct tq_site *)b)->key);
}

const char *tq_site_callers(const struct tq_site *x, enum tq_site_order order)
{
    switch (order) {
    case TQ_SITES_BY_ALLOCATED: return x->callers_allocated;
    case TQ_SITES_BY_CALLS: return x->callers_calls;
    case TQ_SITES_BY_LEAKED: return x->callers_leaked;
    case TQ_SITES_BY_TEMPORARY: return x->callers_temporary;
    case TQ_SITES_BY_PEAK:
    case TQ_SITES_BY_KEY: break;
    }
    return x->callers;
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
        free(s->v[i].callers_allocated);
        free(s->v[i].callers_calls);
        free(s->v[i].callers_leaked);
        free(s->v[i].callers_temporary);
    }
    free(s->v);
    memset(s, 0, sizeof *s);
}
