/* aggregate.c - record --aggregate: per-stack totals kept in the process (calls, bytes, held at the heap peak) and
 * written as AGGREGATE records with each flush instead of every event (FORMAT.md 9).
 *
 * Fed under the session lock with the events of each thread's buffer after tq_blocks_aggregate gave them block ids
 * (so frees are matched across threads). What each stack holds at the peak is copied lazily, like memray's
 * aggregated mode: a new peak only marks the copy pending, and the copy is made when the heap is about to shrink
 * from it (or at a flush while it still is at the peak), so a run of allocations costs nothing extra. A copy costs
 * one pass over the stacks; peaks that beat the last copied one by less than max(64 KiB, 1/256) are not copied,
 * which bounds the copies of a slowly climbing heap (the reported peak is then that close to the true one).
 * Memory: raw mmap only (virtual space reserved for AGG_STACKS stacks, touched as used; the table by block id grows
 * by doubling and is touched up to the highest id). Both count as the shim's own memory (tq_raw_mapped, the SAMPLE's
 * shim_bytes) as far as they are touched, so the report does not give them to the program. */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "session.h"

#define AGG_STACKS (1u << 22) /* stack ids counted (aggregate mode refuses more) */
#define AGG_PER_REC 4096u     /* entries per AGGREGATE record (well under a writer buffer) */

struct stk {
    uint64_t calls, bytes, live, peak;
    int dirty; /* changed since the last AGGREGATE record */
};

struct blk {
    uint32_t stack;
    uint64_t size;
};

static struct stk *stks;
static uint32_t top_stack;          /* highest stack id seen */
static struct blk *blks;            /* by block id */
static size_t nblks;
static size_t blks_hi;              /* ids below it may have been written: the touched part of blks */
static uint64_t live, peak, peak_t, copied, copied_t;
static int pending;                 /* a peak above the copied one is not copied yet */
static uint64_t stks_counted, blks_counted; /* bytes of each table counted in tq_raw_mapped (whole pages touched) */

static uint64_t pages_of(uint64_t bytes)
{
    return (bytes + 4095) & ~(uint64_t)4095;
}

/* The table now has its first `bytes` touched: count the pages beyond those counted so far. Can't fail. */
static void count_touched(uint64_t *counted, uint64_t bytes)
{
    uint64_t now = pages_of(bytes);
    if (now > *counted) {
        atomic_fetch_add_explicit(&tq_raw_mapped, now - *counted, memory_order_relaxed);
        *counted = now;
    }
}

/* A table's mapping goes: its counted pages are no longer the shim's. Can't fail. */
static void uncount(uint64_t *counted)
{
    atomic_fetch_sub_explicit(&tq_raw_mapped, *counted, memory_order_relaxed);
    *counted = 0;
}

int tq_agg_init(void)
{
    stks = tq_raw_reserve(AGG_STACKS * sizeof *stks);
    return stks ? 0 : -1;
}

uint32_t tq_agg_max_stacks(void)
{
    return AGG_STACKS;
}

/* Every stack's holding now becomes its holding at the peak (we are at the peak). */
static void copy_peak(void)
{
    for (uint32_t i = 1; i <= top_stack; i++)
        if (stks[i].peak != stks[i].live) {
            stks[i].peak = stks[i].live;
            stks[i].dirty = 1;
        }
    copied = live;
    copied_t = peak_t;
    pending = 0;
}

/* The heap is about to shrink: copy the peak first if it is pending and worth it. */
static void before_shrink(void)
{
    if (!pending || live != peak)
        return;
    uint64_t step = copied / 256 > (64u << 10) ? copied / 256 : (64u << 10);
    if (peak >= copied + step || !copied)
        copy_peak();
    else
        pending = 0;
}

static int blk_room(uint64_t id)
{
    if (id < nblks)
        return 0;
    size_t n = nblks ? nblks : 1u << 14;
    while (n <= id)
        n *= 2;
    struct blk *b = tq_raw_reserve(n * sizeof *b);
    if (!b)
        return -1;
    for (size_t i = 0; i < blks_hi; i++) /* no further: the rest is untouched zero pages in both */
        b[i] = blks[i];
    if (blks) {
        syscall(SYS_munmap, blks, nblks * sizeof *blks);
        uncount(&blks_counted);
    }
    count_touched(&blks_counted, blks_hi * sizeof *blks);
    blks = b;
    nblks = n;
    return 0;
}

static void take(uint64_t id)
{
    if (!id || id >= nblks || !blks[id].stack)
        return;
    before_shrink();
    struct stk *s = &stks[blks[id].stack];
    s->live -= blks[id].size;
    s->dirty = 1;
    live -= blks[id].size;
    blks[id].stack = 0;
}

static void give(const struct tq_event *e)
{
    if (!e->addr || !e->stack_id || e->stack_id >= AGG_STACKS || blk_room(e->addr))
        return;
    struct stk *s = &stks[e->stack_id];
    if (e->stack_id > top_stack) {
        top_stack = e->stack_id;
        count_touched(&stks_counted, ((uint64_t)top_stack + 1) * sizeof *stks);
    }
    s->calls++;
    s->bytes += e->size;
    s->live += e->size;
    s->dirty = 1;
    blks[e->addr] = (struct blk){e->stack_id, e->size};
    if (e->addr >= blks_hi) {
        blks_hi = e->addr + 1;
        count_touched(&blks_counted, blks_hi * sizeof *blks);
    }
    live += e->size;
    if (live > peak) {
        peak = live;
        peak_t = e->t_ns;
        pending = 1;
    }
}

void tq_agg_apply(const struct tq_event *ev, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        const struct tq_event *e = &ev[i];
        switch (e->kind) {
        case TQ_CALL_FREE: take(e->addr); break;
        case TQ_CALL_REALLOC:
        case TQ_CALL_REALLOCARRAY: take(e->old_addr); give(e); break;
        case TQ_CALL_MALLOC: case TQ_CALL_CALLOC: case TQ_CALL_POSIX_MEMALIGN: case TQ_CALL_ALIGNED_ALLOC:
        case TQ_CALL_MEMALIGN: case TQ_CALL_VALLOC: case TQ_CALL_PVALLOC: give(e); break;
        default: break; /* the mmap family is not heap */
        }
    }
}

void tq_agg_put_locked(void)
{
    static uint8_t rec[TQ_REC_HEADER_SIZE + 24 + AGG_PER_REC * 40];
    static struct tq_agg_entry ent[AGG_PER_REC];
    if (pending && live == peak)
        copy_peak(); /* at the peak right now: make the figures written exact */
    uint32_t n = 0;
    for (uint32_t id = 1; stks && id <= top_stack; id++) {
        if (!stks[id].dirty)
            continue;
        stks[id].dirty = 0;
        ent[n++] = (struct tq_agg_entry){.stack_id = id, .calls = stks[id].calls, .bytes = stks[id].bytes,
                                         .peak_bytes = stks[id].peak};
        if (n == AGG_PER_REC || id == top_stack) {
            size_t k = tq_rec_put_aggregate(rec, sizeof rec, copied, copied_t, ent, n);
            if (k)
                tq_writer_append(&tq_sess.w, rec, k);
            n = 0;
        }
    }
}

void tq_agg_reset(void)
{
    if (stks)
        for (uint32_t i = 0; i <= top_stack; i++)
            stks[i] = (struct stk){0};
    for (size_t i = 0; i < blks_hi; i++) /* the pages stay touched (and counted) */
        blks[i].stack = 0;
    top_stack = 0;
    live = peak = peak_t = copied = copied_t = 0;
    pending = 0;
}
