/* event_match.c - heap events of EVENTS/ADDR_EVENTS records with frees matched to their blocks (event_match.h).
 *
 * An ADDR_EVENTS allocation or free is decided as traces/block_match.c decides it for the shim (same rules, the
 * same table of frees seen before their allocation), but the replay needs no block ids: the live block's size and
 * stack are kept under its address, and a free reads them back. Before, the matcher gave every block an id
 * (address -> id table) and the replay looked the id up in a second table (id -> size, stack).
 * Threads' records are first merged into the process-wide order of their events (traces/event_order.h): in that
 * order every free comes after its allocation and the live block at its address is its own, so those rules (frees
 * waiting as orphans, expected frees, the record's look-ahead) only act on events whose place in the order was given
 * up (a record lost, a trace cut short), and on a fork child's first events. */
#include "event_match.h"

#include <stdlib.h>

#include "../common/alloc.h"
#include "../common/hugemem.h"
#include "../traces/event_ctxs.h"
#include "../traces/event_order.h"
#include "live_blocks.h"

struct tq_event_match {
    struct tq_live_blocks *live;
    struct tq_block_table orphans; /* ADDR_EVENTS frees seen before their allocation (traces/block_match.h) */
    struct tq_block_table expected; /* frees still to come of ended blocks at a live block's address (same) */
    struct tq_block_lookahead ahead; /* the record being matched, looked ahead on first need (same) */
    uint64_t seq_base;             /* order numbers are kept as seq - seq_base (< TQ_LIVE_SEQ_LIMIT) */
    bool based;
    struct tq_event_order order;   /* ADDR_EVENTS: records' events put into the process-wide order first */
    const struct tq_event *pend;   /* events in replay order not matched yet: pend[0..npend) */
    size_t npend;
    bool pend_by_id;               /* they are EVENTS' (block ids) */
    const char *path;              /* the trace, in messages */
    struct tq_event *in;           /* a record's decoded events */
    uint32_t cap;                  /* events in fits */
    struct tq_matched_event *out;  /* the matched ones */
    size_t out_cap;                /* events out fits */
    struct tq_event_ctxs ctxs;     /* CTX_EVENTS: each writer context's decoding state */
};

/* The orphans' table is small, but a sampled trace's can reach MiBs: huge pages from 2 MiB up (common/hugemem.h). */
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
    if (!m || !(m->live = tq_live_blocks_new())) {
        free(m);
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory");
    }
    tq_block_lookahead_init(&m->ahead, &tq_event_match_heap_mem);
    tq_event_order_init(&m->order, &tq_event_match_heap_mem, TQ_EVENT_ORDER_LIMIT);
    *out = m;
    return TQ_OK;
}

void tq_event_match_begins_at(struct tq_event_match *m, uint64_t first)
{
    tq_event_order_start(&m->order, first);
}

/* Room for n decoded events. */
static tq_status reserve(struct tq_event_match *m, uint32_t n, struct tq_err *err)
{
    if (n <= m->cap)
        return TQ_OK;
    uint32_t cap = n > 2 * m->cap ? n : 2 * m->cap;
    struct tq_event *in = tq_realloc(m->in, (size_t)cap * sizeof *in);
    if (!in)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory for events");
    m->in = in;
    m->cap = cap;
    return TQ_OK;
}

/* Room for the matching of n events: 2n matched ones (each may bring one implied free). */
static tq_status reserve_out(struct tq_event_match *m, size_t n, struct tq_err *err)
{
    if (2 * n <= m->out_cap)
        return TQ_OK;
    size_t cap = 2 * n > 2 * m->out_cap ? 2 * n : 2 * m->out_cap;
    struct tq_matched_event *o = tq_realloc(m->out, cap * sizeof *o);
    if (!o)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory for events");
    m->out = o;
    m->out_cap = cap;
    return TQ_OK;
}

static bool is_heap_alloc(unsigned k)
{
    return k == TQ_CALL_MALLOC || k == TQ_CALL_CALLOC || k == TQ_CALL_POSIX_MEMALIGN || k == TQ_CALL_ALIGNED_ALLOC ||
           k == TQ_CALL_MEMALIGN || k == TQ_CALL_VALLOC || k == TQ_CALL_PVALLOC;
}

static bool is_realloc(unsigned k)
{
    return k == TQ_CALL_REALLOC || k == TQ_CALL_REALLOCARRAY;
}

/* A free the matching implies, of the block b, at the time of event e. */
static struct tq_matched_event implied_free(const struct tq_event *e, uint64_t key, uint64_t size, uint32_t stack)
{
    return (struct tq_matched_event){.ev = {.kind = TQ_CALL_FREE, .t_ns = e->t_ns, .addr = key, .seq = e->seq},
                                     .released = true, .released_size = size, .released_stack = stack};
}

/* Release into *o the block that a free of addr with order number seq (rebased) ends: the live block there when
 * it was allocated before seq. Returns its key, or 0 when there is none: a free of an earlier block at addr that was
 * given its free already (expected there) is consumed; any other (of a block allocated in a record not fed yet, or
 * before the trace began) waits as an orphan. */
static tq_status match_free(struct tq_event_match *m, const struct tq_event *e, uint64_t addr, uint64_t seq,
                            struct tq_matched_event *o, uint64_t *key, struct tq_err *err)
{
    struct tq_live_block b;
    *key = 0;
    if (!addr)
        return TQ_OK;
    int got = tq_live_blocks_take_before(m->live, addr, seq, &b);
    if (got == 1) {
        o->released = true;
        o->released_size = b.size;
        o->released_stack = b.stack;
        *key = addr;
        if (m->expected.used) /* (a call saved on every free of a trace without any) */
            tq_block_expect_drop(&m->expected, addr);
        return TQ_OK;
    }
    if (got == 0 && tq_block_expect_consume(&m->expected, addr))
        return TQ_OK;
    if (tq_block_orphan_add(&tq_event_match_heap_mem, &m->orphans, addr, e->seq, e->t_ns))
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory for unmatched frees");
    return TQ_OK;
}

/* An allocation e at e->addr (not 0) with order number seq (rebased): held as live, or *dead when its free was seen
 * already (in another thread's record, or a later block at its address is known). A block before it at the address
 * whose free is still to come ends now: its free is appended to out first. */
static tq_status match_alloc(struct tq_event_match *m, const struct tq_event *e, uint32_t i, uint64_t seq,
                             struct tq_matched_event *out, uint32_t *k, bool *dead, struct tq_err *err)
{
    uint64_t fseq;
    struct tq_live_block b;
    *dead = false;
    if (m->orphans.used && tq_block_orphan_take_after(&m->orphans, e->addr, e->seq, &m->ahead, i, &fseq) == 0) {
        *dead = true;
        return TQ_OK;
    }
    struct tq_live_block nb = {.key = e->addr, .seq = seq, .size = e->size, .stack = e->stack_id};
    int held = tq_live_blocks_put_unless_later(m->live, &nb, &b);
    if (held < 0)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory for live blocks");
    if (held == 0) /* a later block at this address is known: this one died before it */
        *dead = true;
    else if (held == 2) /* the block before at this address died in between; its free is still to come */
        out[(*k)++] = implied_free(e, e->addr, b.size, b.stack);
    if (held != 1 && tq_block_expect_add(&tq_event_match_heap_mem, &m->expected, e->addr))
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory for expected frees");
    return TQ_OK;
}

/* The order number of e kept in the table: rebased so that a trace's numbers fit in TQ_LIVE_SEQ_LIMIT. */
static tq_status rebase(struct tq_event_match *m, const char *path, const struct tq_event *e, uint64_t *seq,
                        struct tq_err *err)
{
    if (!m->based) {
        m->seq_base = e->seq > TQ_LIVE_SEQ_LIMIT / 2 ? e->seq - TQ_LIVE_SEQ_LIMIT / 2 : 0;
        m->based = true;
    }
    if (e->seq < m->seq_base || e->seq - m->seq_base >= TQ_LIVE_SEQ_LIMIT)
        return tq_fail(err, TQ_ERR_FORMAT, "%s: event order numbers span 2^40 or more", path);
    *seq = e->seq - m->seq_base;
    return TQ_OK;
}

static tq_status check_stack(const char *path, const struct tq_event *e, struct tq_err *err)
{
    if (e->stack_id >= TQ_LIVE_STACK_LIMIT)
        return tq_fail(err, TQ_ERR_FORMAT, "%s: stack id %u out of range", path, e->stack_id);
    return TQ_OK;
}

/* Events looked ahead: an event's slot is a cache miss in a table of tens of MiB, so it is fetched early. */
#define PREFETCH_AHEAD 8

/* ADDR_EVENTS: frees matched to allocations by address and order number; in[0..n) (checked by check_record) are in
 * the process-wide order (event_order.h) but for events that came after their place was given up. */
static tq_status match_by_addr(struct tq_event_match *m, const struct tq_event *in, uint32_t n, uint32_t *nout,
                               struct tq_err *err)
{
    uint32_t k = 0;
    TQ_TRY(reserve_out(m, n, err));
    tq_block_lookahead_record(&m->ahead, in, n);
    for (uint32_t i = 0; i < n; i++) {
        if (i + PREFETCH_AHEAD < n) {
            const struct tq_event *a = &in[i + PREFETCH_AHEAD];
            tq_live_blocks_prefetch(m->live, a->addr);
            if (is_realloc(a->kind))
                tq_live_blocks_prefetch(m->live, a->old_addr);
        }
        const struct tq_event *e = &in[i];
        bool alloc = is_heap_alloc(e->kind), re = is_realloc(e->kind), dead = false;
        if (!alloc && !re && e->kind != TQ_CALL_FREE) {
            m->out[k++] = (struct tq_matched_event){.ev = *e};
            continue;
        }
        uint64_t seq = e->seq - m->seq_base, key; /* in range: check_record */
        struct tq_matched_event o = {.ev = *e};
        if (e->kind == TQ_CALL_FREE) {
            TQ_TRY(match_free(m, e, e->addr, seq, &o, &key, err));
            o.ev.addr = key;
        } else {
            if (re) { /* first: a block moved in place is released before it is held again */
                TQ_TRY(match_free(m, e, e->old_addr, seq, &o, &key, err));
                o.ev.old_addr = key;
            }
            if (e->addr) {
                TQ_TRY(match_alloc(m, e, i, seq, m->out, &k, &dead, err));
            }
        }
        m->out[k++] = o;
        if (dead) /* right after its allocation */
            m->out[k++] = implied_free(e, e->addr, e->size, e->stack_id);
    }
    *nout = k;
    return TQ_OK;
}

/* A record's events m->in[0..n) checked before they are held for their order (so that a corrupt record is refused
 * where it is read): order numbers increasing and within 2^40 of the trace's first, allocations' stack ids in
 * range. */
static tq_status check_record(struct tq_event_match *m, const char *path, uint32_t n, struct tq_err *err)
{
    uint64_t seq;
    for (uint32_t i = 0; i < n; i++) {
        const struct tq_event *e = &m->in[i];
        if (i && e->seq <= e[-1].seq)
            return tq_fail(err, TQ_ERR_FORMAT, "%s: events out of order in a record", path);
        if (e->stack_id >= TQ_LIVE_STACK_LIMIT && (is_heap_alloc(e->kind) || is_realloc(e->kind)) && e->addr)
            TQ_TRY(check_stack(path, e, err));
    }
    if (n) { /* numbers increase: the first and last span the record */
        TQ_TRY(rebase(m, path, &m->in[0], &seq, err));
        TQ_TRY(rebase(m, path, &m->in[n - 1], &seq, err));
    }
    return TQ_OK;
}

/* EVENTS: blocks named by ids already; an allocation replaces any block under its id. */
static tq_status match_by_id(struct tq_event_match *m, const char *path, const struct tq_event *in, uint32_t n,
                             struct tq_err *err)
{
    for (uint32_t i = 0; i < n; i++) {
        const struct tq_event *e = &in[i];
        struct tq_matched_event *o = &m->out[i];
        *o = (struct tq_matched_event){.ev = *e};
        bool alloc = is_heap_alloc(e->kind), re = is_realloc(e->kind);
        struct tq_live_block b;
        uint64_t gone = e->kind == TQ_CALL_FREE ? e->addr : re ? e->old_addr : 0;
        if (gone && tq_live_blocks_take(m->live, gone, &b)) {
            o->released = true;
            o->released_size = b.size;
            o->released_stack = b.stack;
        }
        if ((alloc || re) && e->addr) {
            TQ_TRY(check_stack(path, e, err));
            struct tq_live_block nb = {.key = e->addr, .size = e->size, .stack = e->stack_id};
            if (!tq_live_blocks_put(m->live, &nb))
                return tq_fail(err, TQ_ERR_NOMEM, "out of memory for live blocks");
        }
    }
    return TQ_OK;
}

/* Events matched at a time: the matched ones (twice as many at most) are given out in batches of that size, so their
 * buffer stays small however many events the order gives out at once. */
#define MATCH_BATCH 4096u

/* The next batch of the pending events, matched, into *ev[0..*n) (*n = 0: none left). */
static tq_status match_pending(struct tq_event_match *m, const struct tq_matched_event **ev, uint32_t *n,
                               struct tq_err *err)
{
    uint32_t k = m->npend < MATCH_BATCH ? (uint32_t)m->npend : MATCH_BATCH;
    *ev = m->out;
    *n = 0;
    if (!k)
        return TQ_OK;
    TQ_TRY(reserve_out(m, k, err));
    const struct tq_event *in = m->pend;
    m->pend += k;
    m->npend -= k;
    if (m->pend_by_id) {
        *n = k;
        TQ_TRY(match_by_id(m, m->path, in, k, err));
    } else {
        TQ_TRY(match_by_addr(m, in, k, n, err));
    }
    *ev = m->out; /* reserve_out may have moved it */
    return TQ_OK;
}

tq_status tq_event_match_record(struct tq_event_match *m, const char *path, const struct tq_rec *rec,
                                const struct tq_matched_event **ev, uint32_t *n, struct tq_err *err)
{
    struct tq_rec_events e;
    struct tq_events_iter it;
    *ev = m->out;
    *n = 0;
    m->npend = 0; /* a caller that stopped taking batches (an error) drops them */
    TQ_TRY(tq_event_ctxs_open(&m->ctxs, path, rec, &e, &it, err));
    TQ_TRY(reserve(m, e.count, err));
    uint32_t k = 0;
    int got;
    while ((got = tq_events_next(&it, &m->in[k])) == 1)
        k++;
    if (got < 0)
        return tq_fail(err, TQ_ERR_FORMAT, "%s: corrupt event", path);
    m->path = path;
    m->pend_by_id = !TQ_REC_EVENTS_BY_ADDR(rec->type);
    if (m->pend_by_id) { /* block ids already */
        m->pend = m->in;
        m->npend = k;
    } else {
        TQ_TRY(check_record(m, path, k, err));
        if (tq_event_order_add(&m->order, m->in, k, &m->pend, &m->npend))
            return tq_fail(err, TQ_ERR_NOMEM, "out of memory for events held for their order");
    }
    return match_pending(m, ev, n, err);
}

tq_status tq_event_match_more(struct tq_event_match *m, const struct tq_matched_event **ev, uint32_t *n,
                              struct tq_err *err)
{
    return match_pending(m, ev, n, err);
}

tq_status tq_event_match_finish(struct tq_event_match *m, const char *path, const struct tq_matched_event **ev,
                                uint32_t *n, struct tq_err *err)
{
    *ev = m->out;
    *n = 0;
    m->path = path;
    m->pend_by_id = false;
    if (tq_event_order_drain(&m->order, &m->pend, &m->npend))
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory for events held for their order");
    return match_pending(m, ev, n, err);
}

void tq_event_match_free(struct tq_event_match *m)
{
    if (!m)
        return;
    tq_live_blocks_free(m->live);
    tq_block_table_free(&tq_event_match_heap_mem, &m->orphans);
    tq_block_table_free(&tq_event_match_heap_mem, &m->expected);
    tq_block_lookahead_free(&m->ahead);
    tq_event_order_free(&m->order);
    tq_event_ctxs_clear(&m->ctxs);
    free(m->in);
    free(m->out);
    free(m);
}
