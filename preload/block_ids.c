/* block_ids.c - record --stacks: heap events name blocks by small reusable ids instead of addresses (FORMAT.md 6).
 *
 * Which of the live blocks a free() releases is the one thing an event must say that the reader cannot guess; an
 * address says it in ~20-40 bits of noise, an id from a LIFO free list in about log2(live blocks) bits, and the
 * allocation right after a free usually gets the id just released (difference 0). Ids are given out under the
 * session lock in the order records are queued, so they are consistent with the order the reader replays.
 * Threads buffer their events, so a block allocated in one thread and freed in another can reach the writer
 * free first. Every event carries a process-wide order number; a free of an address with no id is kept as an
 * "orphan" (address -> order number), and an allocation of that address that came *before* it in the process-wide
 * order is that block: it gets its free in a record written right after (tq_blocks_rewrite's late[]). An allocation
 * that came after it is a new block at a reused address (the orphan was a block from before the trace, e.g.
 * inherited across fork) and the orphan is dropped.
 * Tables live in raw mmap'd memory and grow by doubling: nothing here calls malloc. */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim.h"

struct slot {
    uint64_t addr; /* 0 = empty */
    uint64_t id;   /* block id (ids) or unused (orphans) */
    uint64_t seq;  /* order number of the allocation (ids) or of the free (orphans) */
};

struct table {
    struct slot *v;
    size_t cap, used;
};

static struct table ids;      /* live block address -> id */
static struct table orphans;  /* address freed before its allocation was seen -> the free's order number */
static struct tq_id_pool *pool;  /* released ids of the thread whose record is rewritten, reused last in first out:
                                  * per thread, so a thread's ids stay close together (shorter differences) */
static uint64_t next_id = 1;     /* 0 is "unknown block" */

static size_t home(uint64_t addr, size_t cap)
{
    return (size_t)((addr >> 4) * 0x9E3779B97F4A7C15ull >> 20) & (cap - 1);
}

static int table_grow(struct table *t)
{
    size_t cap = t->cap ? t->cap * 2 : 1u << 14;
    struct slot *m = tq_raw_map(cap * sizeof *m);
    if (!m)
        return -1;
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->v[i].addr)
            continue;
        size_t j = home(t->v[i].addr, cap);
        while (m[j].addr)
            j = (j + 1) & (cap - 1);
        m[j] = t->v[i];
    }
    if (t->v)
        tq_raw_unmap(t->v, t->cap * sizeof *t->v);
    t->v = m;
    t->cap = cap;
    return 0;
}

/* Set addr -> (val, seq) (replacing). Returns -1 when memory is short. */
static int table_put(struct table *t, uint64_t addr, uint64_t val, uint64_t seq)
{
    if ((t->used + 1) * 4 > t->cap * 3 && table_grow(t))
        return -1;
    size_t j = home(addr, t->cap);
    while (t->v[j].addr && t->v[j].addr != addr)
        j = (j + 1) & (t->cap - 1);
    t->used += !t->v[j].addr;
    t->v[j] = (struct slot){addr, val, seq};
    return 0;
}

/* The entry of addr, or NULL. */
static struct slot *table_find(struct table *t, uint64_t addr)
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

/* Remove addr into *val. Returns 0, or -1 when absent. Linear probing: entries after the hole that belong
 * before it move back. */
static int table_take(struct table *t, uint64_t addr, uint64_t *val)
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
    return 0;
}

static void spare_push(uint64_t id)
{
    if (pool->n == pool->cap) {
        size_t cap = pool->cap ? pool->cap * 2 : 1u << 12;
        uint64_t *s = tq_raw_map(cap * sizeof *s);
        if (!s)
            return; /* the id is not reused: ids only grow */
        if (pool->v) {
            for (size_t i = 0; i < pool->n; i++)
                s[i] = pool->v[i];
            tq_raw_unmap(pool->v, pool->cap * sizeof *pool->v);
        }
        pool->v = s;
        pool->cap = cap;
    }
    pool->v[pool->n++] = id;
}

static uint64_t spare_pop(void)
{
    return pool->n ? pool->v[--pool->n] : next_id++;
}

/* Append a free of block id to out: a block whose free is in a record already written, or not yet written. */
static void die_now(uint64_t id, uint64_t t_ns, struct tq_event *out, uint32_t *nout)
{
    out[(*nout)++] = (struct tq_event){.kind = TQ_CALL_FREE, .t_ns = t_ns, .addr = id};
}

/* An allocation at addr with order number seq: its id. Events of several threads arrive in record order, which
 * is not the process-wide order (see the file comment); frees this implies are appended to out. The caller
 * appends the allocation itself (before any free of its own block: *dead_after says so). */
static uint64_t block_alloc(uint64_t addr, uint64_t seq, uint64_t t_ns, struct tq_event *out, uint32_t *nout,
                            int *dead_after)
{
    *dead_after = 0;
    if (!addr)
        return 0;
    uint64_t fseq;
    if (orphans.used && table_take(&orphans, addr, &fseq) == 0 && seq < fseq) {
        *dead_after = 1; /* its free was written already, in another thread's record */
        return spare_pop();
    }
    if ((ids.used + 1) * 4 > ids.cap * 3 && table_grow(&ids))
        return 0;
    size_t j = home(addr, ids.cap); /* one probe: the block's slot, or where it goes */
    while (ids.v[j].addr && ids.v[j].addr != addr)
        j = (j + 1) & (ids.cap - 1);
    struct slot *at = &ids.v[j];
    if (at->addr && at->seq > seq) { /* a later block at this address is known: this one died before it */
        *dead_after = 1;
        return spare_pop();
    }
    if (at->addr) { /* the block before at this address died in between; its free is in a record not written yet */
        die_now(at->id, t_ns, out, nout);
        spare_push(at->id);
    } else {
        ids.used++;
    }
    *at = (struct slot){addr, spare_pop(), seq};
    return at->id;
}

/* A free of addr with order number seq: the block's id, or 0 when it is not known (then noted as an orphan). */
static uint64_t block_free(uint64_t addr, uint64_t seq)
{
    if (!addr)
        return 0;
    struct slot *cur = table_find(&ids, addr);
    if (cur && cur->seq < seq) {
        uint64_t id;
        table_take(&ids, addr, &id);
        spare_push(id);
        return id;
    }
    if (!cur) /* allocated in a record not written yet, or before the trace began */
        table_put(&orphans, addr, 0, seq);
    return 0; /* a free of an earlier block at this address: it was given its free already */
}

static int is_heap_alloc(unsigned k)
{
    return k == TQ_CALL_MALLOC || k == TQ_CALL_CALLOC || k == TQ_CALL_POSIX_MEMALIGN || k == TQ_CALL_ALIGNED_ALLOC ||
           k == TQ_CALL_MEMALIGN || k == TQ_CALL_VALLOC || k == TQ_CALL_PVALLOC;
}

uint32_t tq_blocks_rewrite(const struct tq_event *in, const uint64_t *seq, uint32_t n, struct tq_event *out,
                           struct tq_id_pool *ids_of_thread)
{
    uint32_t k = 0;
    pool = ids_of_thread;
    for (uint32_t i = 0; i < n; i++) {
        struct tq_event e = in[i];
        int dead = 0;
        if (is_heap_alloc(e.kind)) {
            e.addr = block_alloc(e.addr, seq[i], e.t_ns, out, &k, &dead);
        } else if (e.kind == TQ_CALL_FREE) {
            e.addr = block_free(e.addr, seq[i]);
        } else if (e.kind == TQ_CALL_REALLOC || e.kind == TQ_CALL_REALLOCARRAY) {
            e.old_addr = block_free(e.old_addr, seq[i]); /* first: a block moved in place keeps its id */
            e.addr = block_alloc(e.addr, seq[i], e.t_ns, out, &k, &dead);
        }
        out[k++] = e;
        if (dead) { /* right after its allocation; its id is free again for the next one */
            die_now(e.addr, e.t_ns, out, &k);
            spare_push(e.addr);
        }
    }
    return k;
}

void tq_blocks_reset(void)
{
    for (size_t i = 0; i < ids.cap; i++)
        ids.v[i].addr = 0;
    for (size_t i = 0; i < orphans.cap; i++)
        orphans.v[i].addr = 0;
    ids.used = orphans.used = 0;
    next_id = 1; /* (the callers empty the threads' pools) */
}
