/* info_blocks.c - live blocks named by (size, stack): a count per kind and the frees waiting (info_blocks.h).
 * An open-addressing table of kinds (linear probing, doubled at 1/2 full); a kind's waiting frees are a small array of
 * order numbers, made only when one waits. */
#include "info_blocks.h"

#include <stdlib.h>
#include <string.h>

#include "../common/alloc.h"

struct kind {
    uint64_t size;
    uint32_t stack;   /* 0: an empty slot (an INFO block always names a stack) */
    uint32_t nwait, wait_cap;
    uint64_t live;
    uint64_t *wait;   /* order numbers of the frees waiting (nwait of them) */
};

struct tq_info_blocks {
    struct kind *slot;
    size_t cap, used; /* cap a power of 2 */
    uint64_t live, waiting;
};

struct tq_info_blocks *tq_info_blocks_new(void)
{
    struct tq_info_blocks *t = tq_calloc(1, sizeof *t);
    if (t && !(t->slot = tq_calloc(t->cap = 256, sizeof *t->slot))) {
        free(t);
        return NULL;
    }
    return t;
}

static size_t home(uint32_t stack, uint64_t size, size_t cap)
{
    uint64_t h = (size * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)stack * 0xC2B2AE3D27D4EB4Full);
    return (size_t)(h ^ (h >> 29)) & (cap - 1);
}

static bool grow(struct tq_info_blocks *t)
{
    size_t cap = 2 * t->cap;
    struct kind *s = tq_calloc(cap, sizeof *s);
    if (!s)
        return false;
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->slot[i].stack)
            continue;
        size_t j = home(t->slot[i].stack, t->slot[i].size, cap);
        while (s[j].stack)
            j = (j + 1) & (cap - 1);
        s[j] = t->slot[i];
    }
    free(t->slot);
    t->slot = s;
    t->cap = cap;
    return true;
}

/* The slot of (stack, size), made when missing; NULL when memory runs out. */
static struct kind *kind_of(struct tq_info_blocks *t, uint32_t stack, uint64_t size)
{
    if (2 * (t->used + 1) > t->cap && !grow(t))
        return NULL;
    size_t j = home(stack, size, t->cap);
    while (t->slot[j].stack && (t->slot[j].stack != stack || t->slot[j].size != size))
        j = (j + 1) & (t->cap - 1);
    if (!t->slot[j].stack) {
        t->slot[j] = (struct kind){.size = size, .stack = stack};
        t->used++;
    }
    return &t->slot[j];
}

int tq_info_blocks_alloc(struct tq_info_blocks *t, uint32_t stack, uint64_t size, uint64_t seq)
{
    struct kind *k = kind_of(t, stack, size);
    if (!k)
        return -1;
    uint32_t best = UINT32_MAX; /* the earliest free after it */
    for (uint32_t i = 0; i < k->nwait; i++)
        if (k->wait[i] > seq && (best == UINT32_MAX || k->wait[i] < k->wait[best]))
            best = i;
    if (best != UINT32_MAX) {
        k->wait[best] = k->wait[--k->nwait];
        t->waiting--;
        return 0;
    }
    k->live++;
    t->live++;
    return 1;
}

int tq_info_blocks_release(struct tq_info_blocks *t, uint32_t stack, uint64_t size, uint64_t seq)
{
    struct kind *k = kind_of(t, stack, size);
    if (!k)
        return -1;
    if (k->live) {
        k->live--;
        t->live--;
        return 1;
    }
    if (k->nwait == k->wait_cap) {
        uint32_t cap = k->wait_cap ? 2 * k->wait_cap : 4;
        uint64_t *w = tq_realloc(k->wait, cap * sizeof *w);
        if (!w)
            return -1;
        k->wait = w;
        k->wait_cap = cap;
    }
    k->wait[k->nwait++] = seq;
    t->waiting++;
    return 0;
}

uint64_t tq_info_blocks_live(const struct tq_info_blocks *t)
{
    return t->live;
}

uint64_t tq_info_blocks_waiting(const struct tq_info_blocks *t)
{
    return t->waiting;
}

void tq_info_blocks_free(struct tq_info_blocks *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->cap; i++)
        free(t->slot[i].wait);
    free(t->slot);
    free(t);
}
