/* block_ids.c - the shim's block matcher (traces/block_match.h) for record --aggregate, which needs each free's
 * block in-process to keep per-stack totals; its tables live in raw mmap'd memory (nothing here calls malloc).
 * Plain record --stacks keeps no such table: it writes addresses with their order (ADDR_EVENTS) and the analyzer
 * matches them offline.
 *
 * Threads' buffers reach it in the order they are handed off or flushed, not in the order of their events, so the
 * records first go through the merge of traces/event_order.h (as in the analyzer): a record's events wait until
 * every event numbered before them has come; a flush, which writes every buffer, gives out what was numbered before
 * it began (an event being written then, numbered but not yet published, comes with the next flush and is matched
 * by block_match's rules for events out of order). Then each free is of the block allocated before it at its
 * address, and the per-stack totals (aggregate.c) hold no freed block as live.
 *
 * The matcher's tables grow by doubling and some are touched only up to their fill (the id pools, the look-ahead),
 * so their mapped size overstates what they hold by up to half: the shim's own memory (SAMPLE shim_bytes) counts
 * their resident pages instead (mincore, at each sample), so the report gives the program neither more nor less than
 * its own. Mappings beyond the registry's room are counted at their mapped size (tq_raw_map). */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim.h"

/* Events held for their order before a missing number is given up: 7 MiB of raw memory (a flush gives out what
 * waits, so this bounds only a flush interval's events). */
#define ORDER_LIMIT ((size_t)1 << 17)
#define CHUNK 2048 /* events rewritten at a time */
#define MAPS_MAX 256 /* registered mappings: a few tables plus one id pool per thread that freed */

static struct {
    void *p;
    size_t n;
} maps[MAPS_MAX];

static void *raw_zalloc(size_t n)
{
    for (unsigned i = 0; i < MAPS_MAX; i++)
        if (!maps[i].p) {
            void *p = tq_raw_reserve(n); /* fresh anonymous pages are zero */
            if (p) {
                maps[i].p = p;
                maps[i].n = n;
            }
            return p;
        }
    return tq_raw_map(n);
}

static void raw_release(void *p, size_t n)
{
    for (unsigned i = 0; p && i < MAPS_MAX; i++)
        if (maps[i].p == p) {
            syscall(SYS_munmap, p, n);
            maps[i].p = NULL;
            return;
        }
    tq_raw_unmap(p, n);
}

uint64_t tq_blocks_resident_locked(void)
{
    static unsigned char vec[4096];
    uint64_t pages = 0;
    for (unsigned i = 0; i < MAPS_MAX; i++) {
        if (!maps[i].p)
            continue;
        size_t npages = (maps[i].n + 4095) / 4096;
        for (size_t at = 0; at < npages; at += sizeof vec) {
            size_t k = npages - at < sizeof vec ? npages - at : sizeof vec;
            if (syscall(SYS_mincore, (char *)maps[i].p + at * 4096, k * 4096, vec) != 0)
                break;
            for (size_t j = 0; j < k; j++)
                pages += vec[j] & 1;
        }
    }
    return pages * 4096;
}

static const struct tq_block_mem raw_mem = {raw_zalloc, raw_release};
static struct tq_block_match matcher = {.mem = &raw_mem, .next_id = 1};
static struct tq_event_order order = {.mem = &raw_mem, .limit = ORDER_LIMIT, .started = true}; /* from 0 */
static struct tq_id_pool order_pool; /* ids of the blocks of events given out by a flush */

/* Block ids for ev[0..n) and the events into the per-stack totals. */
static void apply(const struct tq_event *ev, size_t n, struct tq_id_pool *pool)
{
    static struct tq_event out[2 * CHUNK]; /* session lock held: one caller at a time */
    for (size_t i = 0; i < n; i += CHUNK) {
        uint32_t k = (uint32_t)(n - i < CHUNK ? n - i : CHUNK);
        tq_agg_apply(out, tq_block_match_rewrite(&matcher, ev + i, k, out, pool));
    }
}

void tq_blocks_aggregate(const struct tq_event *in, uint32_t n, struct tq_id_pool *ids_of_thread)
{
    const struct tq_event *ev;
    size_t k;
    tq_event_order_add(&order, in, n, &ev, &k); /* memory short: given out as they are (-1) */
    apply(ev, k, ids_of_thread);
}

void tq_blocks_aggregate_below(uint64_t below)
{
    const struct tq_event *ev;
    size_t k;
    if (!tq_event_order_release_below(&order, below, &ev, &k))
        apply(ev, k, &order_pool);
}

void tq_blocks_reset(uint64_t first_seq)
{
    tq_block_match_reset(&matcher);
    tq_event_order_reset(&order, first_seq);
    order_pool.n = 0;
}
