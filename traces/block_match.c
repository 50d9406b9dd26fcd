/* block_match.c - match frees to allocations across threads' records by their process-wide order (block_match.h).
 *
 * Which of the live blocks a free() releases is the one thing an event must say that the reader cannot guess; an
 * id from a LIFO free list says it in about log2(live blocks) bits, and the allocation right after a free usually
 * gets the id just released (difference 0). Ids are given out in the order records are fed, the order a reader
 * replays. A free of an address with no id, or with an id of a later block (whose allocation came first) and no
 * free of an earlier block expected there, is kept as an "orphan" (address -> order number; an address may have
 * several, when it was handed out and freed again by threads whose records came first), and an allocation of that
 * address gets the earliest orphan after it in the process-wide order, unless its own record has another event at
 * the address before that free (then the free is some later block's): that is its free, placed right after it.
 * Orphans before it stay for allocations still to come (or, for blocks from before the trace, e.g. inherited across
 * fork, forever: they are few). A free is "expected" at an address when its block was ended there already (a later
 * allocation at the address came first): counted per address while a later block is live there, consumed when it
 * comes. Tables grow by doubling, from the memory provider. */
#include "block_match.h"

struct tq_block_slot {
    uint64_t addr; /* 0 = empty */
    uint64_t id;   /* block id (ids), the free's time in ns (orphans), frees still to come (expected) */
    uint64_t seq;  /* order number of the allocation (ids) or of the free (orphans) */
};

static size_t home(uint64_t addr, size_t cap)
{
    return (size_t)((addr >> 4) * 0x9E3779B97F4A7C15ull >> 20) & (cap - 1);
}

static int table_grow(const struct tq_block_mem *mem, struct tq_block_table *t)
{
    size_t cap = t->cap ? t->cap * 2 : 1u << 14;
    struct tq_block_slot *v = mem->zalloc(cap * sizeof *v);
    if (!v)
        return -1;
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->v[i].addr)
            continue;
        size_t j = home(t->v[i].addr, cap);
        while (v[j].addr)
            j = (j + 1) & (cap - 1);
        v[j] = t->v[i];
    }
    if (t->v)
        mem->release(t->v, t->cap * sizeof *t->v);
    t->v = v;
    t->cap = cap;
    return 0;
}

/* The entry of addr, or NULL. */
static struct tq_block_slot *table_find(struct tq_block_table *t, uint64_t addr)
{
    if (!t->cap)
        return NULL;
    for (size_t j = home(addr, t->cap);; j = (j + 1) & (t->cap - 1)) {
        if (t->v[j].addr == addr)
            return &t->v[j];
        if (!t->v[j].addr)
            return NULL;
    }
}

/* Remove the slot at index j (linear probing: entries after the hole that belong before it move back). */
static void table_remove_at(struct tq_block_table *t, size_t j)
{
    size_t hole = j;
    for (size_t k = (hole + 1) & (t->cap - 1); t->v[k].addr; k = (k + 1) & (t->cap - 1)) {
        size_t h = home(t->v[k].addr, t->cap);
        if (((k - h) & (t->cap - 1)) >= ((k - hole) & (t->cap - 1))) {
            t->v[hole] = t->v[k];
            hole = k;
        }
    }
    t->v[hole].addr = 0;
    t->used--;
}

/* Remove addr into *val. Returns 0, or -1 when absent. Linear probing: entries after the hole that belong
 * before it move back. */
static int table_take(struct tq_block_table *t, uint64_t addr, uint64_t *val)
{
    if (!t->cap)
        return -1;
    size_t j = home(addr, t->cap);
    while (t->v[j].addr != addr) {
        if (!t->v[j].addr)
            return -1;
        j = (j + 1) & (t->cap - 1);
    }
    *val = t->v[j].id;
    table_remove_at(t, j);
    return 0;
}

/* Orphans: one address may have several frees waiting (freed, handed out again and freed again by threads whose
 * records came first, while the first allocation's record is still to come). Add one more (its time goes in the
 * slot's id). A waiting free older than ORPHAN_WAIT_NS gives its slot to the new one: the shim flushes every
 * thread's events at least every 100 ms, so an allocation still to come is younger than that; and with
 * --sample-bytes every free of an unsampled block is an orphan that never matches, so the table must not grow with
 * events. At most ORPHANS_PER_ADDR wait per address (then the oldest goes). -1 when memory is short. */
#define ORPHAN_WAIT_NS 5000000000ull
#define ORPHANS_PER_ADDR 256
int tq_block_orphan_add(const struct tq_block_mem *mem, struct tq_block_table *t, uint64_t addr, uint64_t seq,
                        uint64_t t_ns)
{
    if ((t->used + 1) * 4 > t->cap * 3 && table_grow(mem, t))
        return -1;
    size_t j = home(addr, t->cap), oldest = SIZE_MAX;
    unsigned same = 0;
    for (; t->v[j].addr; j = (j + 1) & (t->cap - 1)) {
        if (t->v[j].addr != addr)
            continue;
        if (t->v[j].id + ORPHAN_WAIT_NS < t_ns) { /* stale: this slot is the new one's */
            oldest = j;
            same = ORPHANS_PER_ADDR;
            break;
        }
        same++;
        if (oldest == SIZE_MAX || t->v[j].seq < t->v[oldest].seq)
            oldest = j;
    }
    if (same >= ORPHANS_PER_ADDR) {
        if (seq > t->v[oldest].seq)
            t->v[oldest] = (struct tq_block_slot){addr, t_ns, seq};
        return 0;
    }
    t->used++;
    t->v[j] = (struct tq_block_slot){addr, t_ns, seq};
    return 0;
}

static uint64_t lookahead_next(struct tq_block_lookahead *la, uint32_t i) __attribute__((noinline));

/* The free that ends a block allocated at addr with order number seq (la->in[i]): the earliest waiting free of addr
 * after seq, taken out into *fseq, provided it comes before the record's next event at addr (a free after that one
 * is some later block's). Returns 0, or -1 when there is none (earlier frees stay: they end blocks still to
 * come). */
int tq_block_orphan_take_after(struct tq_block_table *t, uint64_t addr, uint64_t seq, struct tq_block_lookahead *la,
                               uint32_t i, uint64_t *fseq)
{
    if (!t->cap || !t->used)
        return -1;
    size_t best = SIZE_MAX;
    for (size_t j = home(addr, t->cap); t->v[j].addr; j = (j + 1) & (t->cap - 1))
        if (t->v[j].addr == addr && t->v[j].seq > seq && (best == SIZE_MAX || t->v[j].seq < t->v[best].seq))
            best = j;
    if (best == SIZE_MAX || t->v[best].seq >= lookahead_next(la, i))
        return -1;
    *fseq = t->v[best].seq;
    table_remove_at(t, best);
    return 0;
}

#define EXPECTED_MAX 0xffffffffull
int tq_block_expect_add(const struct tq_block_mem *mem, struct tq_block_table *t, uint64_t addr)
{
    struct tq_block_slot *x = table_find(t, addr);
    if (x) {
        if (x->id < EXPECTED_MAX)
            x->id++;
        return 0;
    }
    if ((t->used + 1) * 4 > t->cap * 3 && table_grow(mem, t))
        return -1;
    size_t j = home(addr, t->cap);
    while (t->v[j].addr)
        j = (j + 1) & (t->cap - 1);
    t->v[j] = (struct tq_block_slot){addr, 1, 0};
    t->used++;
    return 0;
}

int tq_block_expect_consume(struct tq_block_table *t, uint64_t addr)
{
    struct tq_block_slot *x = t->used ? table_find(t, addr) : NULL;
    if (!x)
        return 0;
    if (--x->id == 0)
        table_remove_at(t, (size_t)(x - t->v));
    return 1;
}

void tq_block_expect_drop(struct tq_block_table *t, uint64_t addr)
{
    uint64_t n;
    if (t->used)
        table_take(t, addr, &n);
}

/* A slot of the look-ahead table: the order number of the next event at addr, if stamp is the record's. */
struct tq_block_ahead {
    uint64_t addr, seq, stamp;
};

void tq_block_lookahead_init(struct tq_block_lookahead *la, const struct tq_block_mem *mem)
{
    *la = (struct tq_block_lookahead){.mem = mem};
}

void tq_block_lookahead_record(struct tq_block_lookahead *la, const struct tq_event *in, uint32_t n)
{
    la->in = in;
    la->n = n;
    la->state = 0;
}

void tq_block_lookahead_free(struct tq_block_lookahead *la)
{
    if (la->next_same) {
        la->mem->release(la->next_same, la->n_cap * sizeof *la->next_same);
        la->mem->release(la->slots, la->cap * sizeof *la->slots);
    }
    tq_block_lookahead_init(la, la->mem);
}

static void ahead_note(struct tq_block_lookahead *la, uint64_t addr, uint64_t seq, uint64_t *next)
{
    size_t j = home(addr, la->cap);
    while (la->slots[j].stamp == la->stamp && la->slots[j].addr != addr)
        j = (j + 1) & (la->cap - 1);
    if (next)
        *next = la->slots[j].stamp == la->stamp ? la->slots[j].seq : UINT64_MAX;
    la->slots[j] = (struct tq_block_ahead){addr, seq, la->stamp};
}

static int is_heap_alloc(unsigned k)
{
    return k == TQ_CALL_MALLOC || k == TQ_CALL_CALLOC || k == TQ_CALL_POSIX_MEMALIGN || k == TQ_CALL_ALIGNED_ALLOC ||
           k == TQ_CALL_MEMALIGN || k == TQ_CALL_VALLOC || k == TQ_CALL_PVALLOC;
}

/* For each event of the record, the order number of the record's next event at its address into next_same
 * (walking back from the end). 0 when memory is short (then no limit applies). */
static int look_ahead(struct tq_block_lookahead *la)
{
    uint32_t n = la->n;
    if (!n)
        return 0;
    if (n > la->n_cap) {
        size_t cap = 64;
        while (cap < 2 * (size_t)n)
            cap *= 2;
        uint64_t *next = la->mem->zalloc(n * sizeof *next);
        struct tq_block_ahead *slots = next ? la->mem->zalloc(cap * sizeof *slots) : NULL;
        if (!slots) {
            if (next)
                la->mem->release(next, n * sizeof *next);
            return 0;
        }
        if (la->next_same) {
            la->mem->release(la->next_same, la->n_cap * sizeof *la->next_same);
            la->mem->release(la->slots, la->cap * sizeof *la->slots);
        }
        la->next_same = next;
        la->slots = slots;
        la->n_cap = n;
        la->cap = cap;
    }
    la->stamp++;
    for (uint32_t i = n; i-- > 0;) {
        const struct tq_event *e = &la->in[i];
        int realloc_k = e->kind == TQ_CALL_REALLOC || e->kind == TQ_CALL_REALLOCARRAY;
        la->next_same[i] = UINT64_MAX;
        if (e->addr && (realloc_k || e->kind == TQ_CALL_FREE || is_heap_alloc(e->kind)))
            ahead_note(la, e->addr, e->seq, &la->next_same[i]);
        if (realloc_k && e->old_addr && !(e->flags & TQ_EV_OLD_INFO)) /* else old_addr is a size (FORMAT.md 20) */
            ahead_note(la, e->old_addr, e->seq, NULL);
    }
    return 1;
}

/* The order number of the record's next event at the address of its event i, UINT64_MAX when there is none (or
 * memory is short, or no record is set). The table is made for the record on first need. */
/* (Not inlined: the scan for a waiting free, run for every allocation while any wait, stays a small leaf.) */
static uint64_t lookahead_next(struct tq_block_lookahead *la, uint32_t i)
{
    if (!la || i >= la->n)
        return UINT64_MAX;
    if (!la->state)
        la->state = look_ahead(la) ? 1 : -1;
    return la->state > 0 ? la->next_same[i] : UINT64_MAX;
}

static void spare_push(struct tq_block_match *m, uint64_t id)
{
    struct tq_id_pool *pool = m->pool;
    if (pool->n == pool->cap) {
        size_t cap = pool->cap ? pool->cap * 2 : 1u << 12;
        uint64_t *s = m->mem->zalloc(cap * sizeof *s);
        if (!s)
            return; /* the id is not reused: ids only grow */
        if (pool->v) {
            for (size_t i = 0; i < pool->n; i++)
                s[i] = pool->v[i];
            m->mem->release(pool->v, pool->cap * sizeof *pool->v);
        }
        pool->v = s;
        pool->cap = cap;
    }
    pool->v[pool->n++] = id;
}

static uint64_t spare_pop(struct tq_block_match *m)
{
    return m->pool->n ? m->pool->v[--m->pool->n] : m->next_id++;
}

/* Append a free of block id to out: a block whose free is in a record already fed, or not yet fed. */
static void die_now(uint64_t id, uint64_t t_ns, uint64_t seq, struct tq_event *out, uint32_t *nout)
{
    out[(*nout)++] = (struct tq_event){.kind = TQ_CALL_FREE, .t_ns = t_ns, .addr = id, .seq = seq};
}

/* An allocation at addr with order number seq: its id. Events of several threads arrive in record order, which
 * is not the process-wide order (see the file comment); frees this implies are appended to out. The caller
 * appends the allocation itself (before any free of its own block: *dead_after says so). */
static uint64_t block_alloc(struct tq_block_match *m, uint64_t addr, uint64_t seq, uint64_t t_ns,
                            struct tq_event *out, uint32_t *nout, int *dead_after)
{
    *dead_after = 0;
    if (!addr)
        return 0;
    uint64_t fseq;
    if (m->orphans.used && tq_block_orphan_take_after(&m->orphans, addr, seq, &m->ahead, m->rec_i, &fseq) == 0) {
        *dead_after = 1; /* its free was fed already, in another thread's record */
        return spare_pop(m);
    }
    struct tq_block_table *ids = &m->ids;
    if ((ids->used + 1) * 4 > ids->cap * 3 && table_grow(m->mem, ids))
        return 0;
    size_t j = home(addr, ids->cap); /* one probe: the block's slot, or where it goes */
    while (ids->v[j].addr && ids->v[j].addr != addr)
        j = (j + 1) & (ids->cap - 1);
    struct tq_block_slot *at = &ids->v[j];
    if (at->addr && at->seq > seq) { /* a later block at this address is known: this one died before it */
        *dead_after = 1;
        tq_block_expect_add(m->mem, &m->expected, addr); /* its free is still to come (none was waiting); when
                                                          * memory is short that free will wait as an orphan */
        return spare_pop(m);
    }
    if (at->addr) { /* the block before at this address died in between; its free is in a record not fed yet */
        tq_block_expect_add(m->mem, &m->expected, addr);
        die_now(at->id, t_ns, seq, out, nout);
        spare_push(m, at->id);
    } else {
        ids->used++;
    }
    *at = (struct tq_block_slot){addr, spare_pop(m), seq};
    return at->id;
}

/* A free of addr with order number seq: the block's id, or 0 when it is not known (then noted as an orphan). */
static uint64_t block_free(struct tq_block_match *m, uint64_t addr, uint64_t seq, uint64_t t_ns)
{
    if (!addr)
        return 0;
    struct tq_block_slot *cur = table_find(&m->ids, addr);
    if (cur && cur->seq < seq) {
        uint64_t id = 0;
        table_take(&m->ids, addr, &id);
        tq_block_expect_drop(&m->expected, addr);
        spare_push(m, id);
        return id;
    }
    if (cur && tq_block_expect_consume(&m->expected, addr))
        return 0; /* a free of an earlier block at this address: it was given its free already */
    /* allocated in a record not fed yet (also when a later block at addr is live: its allocation came first), or
     * before the trace began (the 1.3 shim stored 0 as the value here, which block_alloc reads as the free's number:
     * such frees were never matched) */
    tq_block_orphan_add(m->mem, &m->orphans, addr, seq, t_ns);
    return 0;
}

void tq_block_match_init(struct tq_block_match *m, const struct tq_block_mem *mem)
{
    *m = (struct tq_block_match){.mem = mem, .next_id = 1};
    tq_block_lookahead_init(&m->ahead, mem);
}

/* Events looked ahead: the slot of an event's address is a cache miss in a table of tens of MiB (perl: 2 Mi slots),
 * so it is fetched this many events before it is needed (a third of `report --top` was waiting for these misses). */
#define PREFETCH_AHEAD 8

uint32_t tq_block_match_rewrite(struct tq_block_match *m, const struct tq_event *in, uint32_t n,
                                struct tq_event *out, struct tq_id_pool *pool)
{
    uint32_t k = 0;
    m->pool = pool;
    m->ahead.mem = m->mem; /* (the shim's matcher is a static initializer: preload/block_ids.c) */
    tq_block_lookahead_record(&m->ahead, in, n);
    for (uint32_t i = 0; i < n; i++) {
        m->rec_i = i;
        if (i + PREFETCH_AHEAD < n && m->ids.cap) { /* a hint only: the table may grow before it is used */
            const struct tq_event *a = &in[i + PREFETCH_AHEAD];
            __builtin_prefetch(&m->ids.v[home(a->addr, m->ids.cap)]);
            if (a->kind == TQ_CALL_REALLOC || a->kind == TQ_CALL_REALLOCARRAY)
                __builtin_prefetch(&m->ids.v[home(a->old_addr, m->ids.cap)]);
        }
        struct tq_event e = in[i];
        int dead = 0;
        if (is_heap_alloc(e.kind)) {
            e.addr = block_alloc(m, e.addr, e.seq, e.t_ns, out, &k, &dead);
        } else if (e.kind == TQ_CALL_FREE) {
            e.addr = block_free(m, e.addr, e.seq, e.t_ns);
        } else if (e.kind == TQ_CALL_REALLOC || e.kind == TQ_CALL_REALLOCARRAY) {
            e.old_addr = block_free(m, e.old_addr, e.seq, e.t_ns); /* first: a block moved in place keeps its id */
            e.addr = block_alloc(m, e.addr, e.seq, e.t_ns, out, &k, &dead);
        }
        out[k++] = e;
        if (dead) { /* right after its allocation; its id is free again for the next one */
            die_now(e.addr, e.t_ns, e.seq, out, &k);
            spare_push(m, e.addr);
        }
    }
    return k;
}

void tq_block_match_reset(struct tq_block_match *m)
{
    for (size_t i = 0; i < m->ids.cap; i++)
        m->ids.v[i].addr = 0;
    for (size_t i = 0; i < m->orphans.cap; i++)
        m->orphans.v[i].addr = 0;
    for (size_t i = 0; i < m->expected.cap; i++)
        m->expected.v[i].addr = 0;
    m->ids.used = m->orphans.used = m->expected.used = 0;
    m->next_id = 1; /* (the callers empty the threads' pools) */
}

void tq_block_table_free(const struct tq_block_mem *mem, struct tq_block_table *t)
{
    if (t->v)
        mem->release(t->v, t->cap * sizeof *t->v);
    *t = (struct tq_block_table){0};
}

void tq_block_match_free(struct tq_block_match *m, struct tq_id_pool *pool)
{
    tq_block_table_free(m->mem, &m->ids);
    tq_block_table_free(m->mem, &m->orphans);
    tq_block_table_free(m->mem, &m->expected);
    tq_block_lookahead_free(&m->ahead);
    if (pool && pool->v)
        m->mem->release(pool->v, pool->cap * sizeof *pool->v);
    if (pool)
        *pool = (struct tq_id_pool){0};
    tq_block_match_init(m, m->mem);
}
