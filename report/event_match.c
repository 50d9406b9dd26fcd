/* event_match.c - heap events of EVENTS/ADDR_EVENTS records with frees matched to allocations (event_match.h). */
#include "event_match.h"

#include <stdlib.h>

#include "../common/alloc.h"
#include "../common/hugemem.h"
#include "../traces/block_match.h"
#include "../traces/event_ctxs.h"

struct tq_event_match {
    struct tq_block_match blocks;
    struct tq_id_pool pool;     /* one pool: ids are keys for the replay only, never written */
    struct tq_event *in, *out;  /* a record's decoded events, and the matched ones (room for twice as many) */
    uint32_t cap;               /* events in fits */
    struct tq_event_ctxs ctxs;  /* CTX_EVENTS: each writer context's decoding state */
};

/* The matcher's tables reach tens of MiB on a real program (perl: 2 Mi slots of 24 bytes): huge pages from 2 MiB
 * up (common/hugemem.h), where their 4 KiB pages' faults and TLB misses were a third of `report --top`. */
static void *heap_zalloc(size_t n)
{
    return tq_huge_zalloc(n);
}

static void heap_release(void *p, size_t n)
{
    tq_huge_free(p, n);
}

const struct tq_block_mem tq_event_match_heap_mem = {heap_zalloc, heap_release};

tq_status tq_event_match_new(struct tq_event_match **out, struct tq_err *err)
{
    struct tq_event_match *m = tq_calloc(1, sizeof *m);
    if (!m)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory");
    tq_block_match_init(&m->blocks, &tq_event_match_heap_mem);
    *out = m;
    return TQ_OK;
}

/* Room for n decoded events (and 2n matched ones). */
static tq_status reserve(struct tq_event_match *m, uint32_t n, struct tq_err *err)
{
    if (n <= m->cap)
        return TQ_OK;
    uint32_t cap = n > 2 * m->cap ? n : 2 * m->cap;
    struct tq_event *in = tq_realloc(m->in, (size_t)cap * sizeof *in);
    if (!in)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory for events");
    m->in = in;
    struct tq_event *o = tq_realloc(m->out, 2 * (size_t)cap * sizeof *o);
    if (!o)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory for events");
    m->out = o;
    m->cap = cap;
    return TQ_OK;
}

tq_status tq_event_match_record(struct tq_event_match *m, const char *path, const struct tq_rec *rec,
                                const struct tq_event **ev, uint32_t *n, struct tq_err *err)
{
    struct tq_rec_events e;
    struct tq_events_iter it;
    TQ_TRY(tq_event_ctxs_open(&m->ctxs, path, rec, &e, &it, err));
    TQ_TRY(reserve(m, e.count, err));
    uint32_t k = 0;
    int got;
    while ((got = tq_events_next(&it, &m->in[k])) == 1)
        k++;
    if (got < 0)
        return tq_fail(err, TQ_ERR_FORMAT, "%s: corrupt event", path);
    if (!TQ_REC_EVENTS_BY_ADDR(rec->type)) { /* block ids already */
        *ev = m->in;
        *n = k;
        return TQ_OK;
    }
    for (uint32_t i = 1; i < k; i++)
        if (m->in[i].seq <= m->in[i - 1].seq)
            return tq_fail(err, TQ_ERR_FORMAT, "%s: events out of order in a record", path);
    *ev = m->out;
    *n = tq_block_match_rewrite(&m->blocks, m->in, k, m->out, &m->pool);
    return TQ_OK;
}

void tq_event_match_free(struct tq_event_match *m)
{
    if (!m)
        return;
    tq_block_match_free(&m->blocks, &m->pool);
    tq_event_ctxs_clear(&m->ctxs);
    free(m->in);
    free(m->out);
    free(m);
}
