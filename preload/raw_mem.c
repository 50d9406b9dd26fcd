/* raw_mem.c - memory the shim takes for itself straight from the kernel (never from malloc, which it is inside of),
 * and the one open-addressing table of 64-bit hashes to ids that the stack and code tables and the sampled set
 * share (see shim.h). */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim.h"

_Atomic uint64_t tq_raw_mapped; /* bytes mapped by tq_raw_map and not yet unmapped (page-rounded) */

static uint64_t page_round(size_t n)
{
    return ((uint64_t)n + 4095) & ~(uint64_t)4095;
}

void *tq_raw_reserve(size_t n)
{
    void *p = (void *)syscall(SYS_mmap, NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                              -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void *tq_raw_map(size_t n)
{
    void *p = tq_raw_reserve(n);
    if (p)
        atomic_fetch_add_explicit(&tq_raw_mapped, page_round(n), memory_order_relaxed);
    return p;
}

void tq_raw_unmap(void *p, size_t n)
{
    if (p && syscall(SYS_munmap, p, n) == 0)
        atomic_fetch_sub_explicit(&tq_raw_mapped, page_round(n), memory_order_relaxed);
}

static int grow(struct tq_hash_ids *t)
{
    size_t cap = t->cap ? t->cap * 2 : t->first_cap;
    struct tq_hash_slot *v = tq_raw_map(cap * sizeof *v);
    if (!v)
        return -1;
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->v[i].id)
            continue;
        size_t j = t->v[i].hash & (cap - 1);
        while (v[j].id)
            j = (j + 1) & (cap - 1);
        v[j] = t->v[i];
    }
    tq_raw_unmap(t->v, t->cap * sizeof *t->v);
    t->v = v;
    t->cap = cap;
    return 0;
}

struct tq_hash_slot *tq_hash_ids_slot(struct tq_hash_ids *t, uint64_t hash)
{
    if (t->used * 2 >= t->cap && grow(t))
        return NULL;
    size_t j = hash & (t->cap - 1);
    while (t->v[j].id && t->v[j].hash != hash)
        j = (j + 1) & (t->cap - 1);
    return &t->v[j];
}

int tq_hash_ids_remove(struct tq_hash_ids *t, uint64_t hash)
{
    if (!t->cap)
        return 0;
    size_t mask = t->cap - 1, j = hash & mask;
    while (t->v[j].id && t->v[j].hash != hash)
        j = (j + 1) & mask;
    if (!t->v[j].id)
        return 0;
    size_t hole = j;
    for (size_t k = (j + 1) & mask; t->v[k].id; k = (k + 1) & mask) {
        size_t home = t->v[k].hash & mask;
        /* v[k] may move to hole when hole lies cyclically in [home, k) */
        if (((k - home) & mask) >= ((k - hole) & mask)) {
            t->v[hole] = t->v[k];
            hole = k;
        }
    }
    t->v[hole] = (struct tq_hash_slot){0, 0};
    t->used--;
    return 1;
}

void tq_hash_ids_clear(struct tq_hash_ids *t)
{
    for (size_t i = 0; i < t->cap; i++)
        t->v[i] = (struct tq_hash_slot){0, 0};
    t->used = 0;
}
