/* sampled_set.c - record --sample-bytes: the addresses of the live heap blocks that were sampled (recorded), so that
 * the free or realloc of a block that was not sampled is not recorded at all (see shim.h).
 *
 * Two parts, both in raw mmap memory (never malloc):
 *  - a counting filter: one byte per bucket of address hashes, the number of sampled live blocks in that bucket
 *    (sticky at 255). An unsampled free reads one byte and, finding 0, is done: no lock, no shared write.
 *  - the set itself: STRIPES tables of address hashes (tq_hash_ids, raw_mem.c: linear probing, backward-shift
 *    deletion, grown by doubling), each behind its own spin lock. mix() is a bijection of 64-bit values (a multiply
 *    by an odd constant, then an xorshift), so equal hashes are equal addresses. Only blocks holding a sample point
 *    are in it (about one per sample-bytes of live heap), so it stays small.
 * Ordering: a block is added after the allocator returned it and taken out before it goes back to the allocator
 * (free, and realloc before it calls glibc), so an address is never in the set twice and a block another thread
 * gets at the same address later cannot be taken out by mistake. Callers hold the guard (tq_self.guard > 0): a
 * signal handler's free() while a stripe lock is held is then not traced, so it cannot deadlock on the lock. */
#include <string.h>

#include "shim.h"

#define STRIPES 64
#define FIRST_CAP 128 /* addresses per stripe at first (a power of two; 2 KiB of slots) */

struct stripe {
    _Alignas(64) atomic_flag lock;
    struct tq_hash_ids set; /* mix(address) -> 1 */
};

int tq_sampled_on;
_Atomic uint8_t *tq_sampled_filter;
static struct stripe stripes[STRIPES] = {[0 ... STRIPES - 1] = {.set = {.first_cap = FIRST_CAP}}};

static inline uint64_t mix(uintptr_t a)
{
    uint64_t h = (uint64_t)a * 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 29);
}

static struct stripe *stripe_of(uint64_t h)
{
    return &stripes[(h >> 40) % STRIPES];
}

static void lock(struct stripe *s)
{
    while (atomic_flag_test_and_set_explicit(&s->lock, memory_order_acquire))
        ;
}

static void unlock(struct stripe *s)
{
    atomic_flag_clear_explicit(&s->lock, memory_order_release);
}

static void filter_add(const void *p)
{
    _Atomic uint8_t *c = &tq_sampled_filter[tq_sampled_bucket(p)];
    uint8_t v = atomic_load_explicit(c, memory_order_relaxed);
    while (v != 255 && !atomic_compare_exchange_weak_explicit(c, &v, (uint8_t)(v + 1), memory_order_relaxed,
                                                              memory_order_relaxed))
        ;
}

static void filter_remove(const void *p)
{
    _Atomic uint8_t *c = &tq_sampled_filter[tq_sampled_bucket(p)];
    uint8_t v = atomic_load_explicit(c, memory_order_relaxed);
    while (v != 255 && v != 0 && !atomic_compare_exchange_weak_explicit(c, &v, (uint8_t)(v - 1),
                                                                        memory_order_relaxed, memory_order_relaxed))
        ;
}

int tq_sampled_add(const void *p)
{
    uint64_t h = mix((uintptr_t)p);
    struct stripe *s = stripe_of(h);
    lock(s);
    struct tq_hash_slot *slot = tq_hash_ids_slot(&s->set, h);
    if (slot && !slot->id) {
        *slot = (struct tq_hash_slot){h, 1};
        s->set.used++;
        filter_add(p);
    }
    unlock(s);
    return slot ? 0 : -1;
}

int tq_sampled_take(const void *p)
{
    uint64_t h = mix((uintptr_t)p);
    struct stripe *s = stripe_of(h);
    lock(s);
    int found = tq_hash_ids_remove(&s->set, h);
    unlock(s);
    if (found)
        filter_remove(p);
    return found;
}

int tq_sampled_init(void)
{
    tq_sampled_filter = tq_raw_map(TQ_SAMPLED_FILTER_N);
    if (!tq_sampled_filter)
        return -1;
    tq_sampled_on = 1;
    return 0;
}

void tq_sampled_reset_child(void)
{
    if (!tq_sampled_on)
        return;
    /* the parent's blocks belong to the parent's trace: the child's starts with none sampled */
    for (int i = 0; i < STRIPES; i++) {
        atomic_flag_clear(&stripes[i].lock);
        tq_hash_ids_clear(&stripes[i].set);
    }
    memset((void *)tq_sampled_filter, 0, TQ_SAMPLED_FILTER_N);
}
