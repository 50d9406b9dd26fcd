/* sampled_set.c - record --sample-bytes: the addresses of the live heap blocks that were sampled (recorded), so that
 * the free or realloc of a block that was not sampled is not recorded at all (see shim.h).
 *
 * Two parts, both in raw mmap memory (never malloc):
 *  - a counting filter: one byte per bucket of address hashes, the number of sampled live blocks in that bucket
 *    (sticky at 255). An unsampled free reads one byte and, finding 0, is done: no lock, no shared write.
 *  - the set itself: STRIPES open-addressing tables of addresses (linear probing, backward-shift deletion), each
 *    behind its own spin lock, grown by doubling. Only blocks holding a sample point are in it (about one per
 *    sample-bytes of live heap), so it stays small.
 * Ordering: a block is added after the allocator returned it and taken out before it goes back to the allocator
 * (free, and realloc before it calls glibc), so an address is never in the set twice and a block another thread
 * gets at the same address later cannot be taken out by mistake. Callers hold the guard (tq_self.guard > 0): a
 * signal handler's free() while a stripe lock is held is then not traced, so it cannot deadlock on the lock. */
#include <string.h>

#include "shim.h"

#define STRIPES 64
#define FIRST_CAP 256 /* addresses per stripe at first (a power of two) */

struct stripe {
    _Alignas(64) atomic_flag lock;
    uintptr_t *v; /* 0 = empty slot */
    size_t cap, used;
};

int tq_sampled_on;
_Atomic uint8_t *tq_sampled_filter;
static struct stripe stripes[STRIPES];

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

/* Double s's table (its lock held). -1 when the kernel refuses memory. */
static int grow(struct stripe *s)
{
    size_t cap = s->cap ? s->cap * 2 : FIRST_CAP;
    uintptr_t *v = tq_raw_map(cap * sizeof *v);
    if (!v)
        return -1;
    for (size_t i = 0; i < s->cap; i++) {
        if (!s->v[i])
            continue;
        size_t j = mix(s->v[i]) & (cap - 1);
        while (v[j])
            j = (j + 1) & (cap - 1);
        v[j] = s->v[i];
    }
    tq_raw_unmap(s->v, s->cap * sizeof *s->v);
    s->v = v;
    s->cap = cap;
    return 0;
}

int tq_sampled_add(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    uint64_t h = mix(a);
    struct stripe *s = stripe_of(h);
    int rc = -1;
    lock(s);
    if (s->used * 2 < s->cap || !grow(s)) {
        size_t j = h & (s->cap - 1);
        while (s->v[j] && s->v[j] != a)
            j = (j + 1) & (s->cap - 1);
        if (!s->v[j]) {
            s->v[j] = a;
            s->used++;
            filter_add(p);
        }
        rc = 0;
    }
    unlock(s);
    return rc;
}

int tq_sampled_take(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    uint64_t h = mix(a);
    struct stripe *s = stripe_of(h);
    int found = 0;
    lock(s);
    if (s->cap) {
        size_t mask = s->cap - 1, j = h & mask;
        while (s->v[j] && s->v[j] != a)
            j = (j + 1) & mask;
        if (s->v[j]) {
            found = 1;
            /* backward-shift deletion: move later members of the probe run into the hole */
            size_t hole = j;
            for (size_t k = (j + 1) & mask; s->v[k]; k = (k + 1) & mask) {
                size_t home = mix(s->v[k]) & mask;
                /* s->v[k] may move to hole when hole lies cyclically in [home, k) */
                if (((k - home) & mask) >= ((k - hole) & mask)) {
                    s->v[hole] = s->v[k];
                    hole = k;
                }
            }
            s->v[hole] = 0;
            s->used--;
        }
    }
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
        if (stripes[i].v)
            memset(stripes[i].v, 0, stripes[i].cap * sizeof *stripes[i].v);
        stripes[i].used = 0;
    }
    memset((void *)tq_sampled_filter, 0, TQ_SAMPLED_FILTER_N);
}
