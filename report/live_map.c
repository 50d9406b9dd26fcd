/* live_map.c - the live blocks of a replayed trace: a dense array indexed by key for small keys (block ids are
 * small integers reused last-in first-out, so this is where they all go), and a linear-probing hash map with
 * backward-shift deletion (no tombstones) for any key too large for the array (a corrupt or hand-made trace).
 *
 * A key lives in exactly one of the two: keys below dense_len are in the array (the array's growth moves any such
 * key out of the hash map), larger keys in the hash map. The array grows by doubling to cover a new key only while
 * that key is below 4x the live blocks (or 64 Ki), so its size follows the live blocks, not the key values. Before,
 * every block id went through the hash map: random probes into a 24-byte-slot table twice the live blocks, and on
 * a 2-core VM the page faults of each doubling; on perl's 800k live blocks that was a third of `report --top`. */
#include "live_map.h"
#include "../common/alloc.h"
#include "../common/hugemem.h"

#include <stdlib.h>
#include <string.h>

struct slot {
    uint64_t addr; /* 0 = empty (key 0 is never stored) */
    uint64_t size;
    uint32_t stack;
};

struct dense_slot {
    uint64_t size;
    uint32_t stack;
    uint32_t live; /* 1 = holds a block */
};

enum { DENSE_MIN = 1 << 16 };

struct tq_live_map {
    struct dense_slot *dense;
    size_t dense_len, dense_count;
    struct slot *slots;
    size_t cap, count; /* the hash map; cap is a power of two */
};

static size_t hash_addr(uint64_t a, size_t cap)
{
    a ^= a >> 33;
    a *= 0xff51afd7ed558ccdULL;
    a ^= a >> 33;
    return (size_t)a & (cap - 1);
}

struct tq_live_map *tq_live_map_new(void)
{
    struct tq_live_map *m = tq_calloc(1, sizeof *m);
    if (m && !(m->slots = tq_huge_zalloc((m->cap = 1024) * sizeof *m->slots))) {
        free(m);
        return NULL;
    }
    return m;
}

static struct slot *find(const struct tq_live_map *m, uint64_t addr)
{
    for (size_t i = hash_addr(addr, m->cap);; i = (i + 1) & (m->cap - 1))
        if (m->slots[i].addr == addr || m->slots[i].addr == 0)
            return &m->slots[i];
}

/* Rebuild the hash map with capacity cap, moving every key below m->dense_len into the array. */
static bool rehash(struct tq_live_map *m, size_t cap)
{
    struct tq_live_map bigger = {.slots = tq_huge_zalloc(cap * sizeof *m->slots), .cap = cap};
    if (!bigger.slots)
        return false;
    for (size_t i = 0; i < m->cap; i++) {
        const struct slot *s = &m->slots[i];
        if (!s->addr)
            continue;
        if (s->addr < m->dense_len) {
            m->dense[s->addr] = (struct dense_slot){s->size, s->stack, 1};
            m->dense_count++;
        } else {
            *find(&bigger, s->addr) = *s;
            bigger.count++;
        }
    }
    tq_huge_free(m->slots, m->cap * sizeof *m->slots);
    m->slots = bigger.slots;
    m->cap = cap;
    m->count = bigger.count;
    return true;
}

/* Whether key may go into the array (growing it), given the blocks live now. */
static bool dense_allowed(const struct tq_live_map *m, uint64_t key)
{
    size_t live = m->dense_count + m->count;
    return key < m->dense_len || key < DENSE_MIN || key / 4 < live + 1;
}

/* Grow the array to cover key (doubling), then move the keys it now covers out of the hash map. */
static bool dense_grow(struct tq_live_map *m, uint64_t key)
{
    size_t len = m->dense_len ? m->dense_len : 1024;
    while (len <= key)
        len *= 2;
    struct dense_slot *d = tq_huge_grow(m->dense, m->dense_len * sizeof *d, len * sizeof *d); /* zeroed tail */
    if (!d)
        return false;
    m->dense = d;
    m->dense_len = len;
    return m->count == 0 || rehash(m, m->cap);
}

bool tq_live_map_put(struct tq_live_map *m, uint64_t addr, uint64_t size, uint32_t stack)
{
    if (addr == 0)
        return true;
    if (dense_allowed(m, addr)) {
        if (addr >= m->dense_len && !dense_grow(m, addr))
            return false;
        struct dense_slot *d = &m->dense[addr];
        m->dense_count += !d->live;
        *d = (struct dense_slot){size, stack, 1};
        return true;
    }
    /* Keep the load under 1/2 so probes stay short. */
    if ((m->count + 1) * 2 > m->cap && !rehash(m, m->cap * 2))
        return false;
    struct slot *s = find(m, addr);
    if (s->addr == 0)
        m->count++;
    *s = (struct slot){addr, size, stack};
    return true;
}

bool tq_live_map_take(struct tq_live_map *m, uint64_t addr, uint64_t *size, uint32_t *stack)
{
    if (addr == 0)
        return false;
    if (addr < m->dense_len) {
        struct dense_slot *d = &m->dense[addr];
        if (!d->live)
            return false;
        *size = d->size;
        *stack = d->stack;
        d->live = 0;
        m->dense_count--;
        return true;
    }
    if (m->count == 0)
        return false;
    struct slot *s = find(m, addr);
    if (s->addr == 0)
        return false;
    *size = s->size;
    *stack = s->stack;
    /* Backward-shift: pull later entries of the probe run into the hole so lookups never stop early. */
    size_t hole = (size_t)(s - m->slots), mask = m->cap - 1;
    for (size_t j = (hole + 1) & mask; m->slots[j].addr; j = (j + 1) & mask) {
        size_t home = hash_addr(m->slots[j].addr, m->cap);
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            m->slots[hole] = m->slots[j];
            hole = j;
        }
    }
    m->slots[hole].addr = 0;
    m->count--;
    return true;
}

void tq_live_map_prefetch(const struct tq_live_map *m, uint64_t key)
{
    if (key < m->dense_len)
        __builtin_prefetch(&m->dense[key]);
}

size_t tq_live_map_count(const struct tq_live_map *m)
{
    return m->dense_count + m->count;
}

void tq_live_map_free(struct tq_live_map *m)
{
    if (!m)
        return;
    tq_huge_free(m->dense, m->dense_len * sizeof *m->dense);
    tq_huge_free(m->slots, m->cap * sizeof *m->slots);
    free(m);
}
