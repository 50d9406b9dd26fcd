/* live_map.c - linear-probing hash map of live blocks with backward-shift deletion (no tombstones). */
#include "live_map.h"
#include "../common/alloc.h"

#include <stdlib.h>

struct slot {
    uint64_t addr; /* 0 = empty (malloc never returns NULL for a live block) */
    uint64_t size;
    uint32_t stack;
};

struct tq_live_map {
    struct slot *slots;
    size_t cap, count; /* cap is a power of two */
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
    if (m && !(m->slots = tq_calloc(m->cap = 1024, sizeof *m->slots))) {
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

static bool grow(struct tq_live_map *m)
{
    struct tq_live_map bigger = {tq_calloc(m->cap * 2, sizeof *m->slots), m->cap * 2, m->count};
    if (!bigger.slots)
        return false;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].addr)
            *find(&bigger, m->slots[i].addr) = m->slots[i];
    free(m->slots);
    *m = bigger;
    return true;
}

bool tq_live_map_put(struct tq_live_map *m, uint64_t addr, uint64_t size, uint32_t stack)
{
    if (addr == 0)
        return true;
    /* Keep the load under 1/2 so probes stay short. */
    if ((m->count + 1) * 2 > m->cap && !grow(m))
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

size_t tq_live_map_count(const struct tq_live_map *m)
{
    return m->count;
}

void tq_live_map_free(struct tq_live_map *m)
{
    if (!m)
        return;
    free(m->slots);
    free(m);
}
