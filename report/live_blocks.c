/* live_blocks.c - the live heap blocks of a replay by key, compactly (live_blocks.h).
 *
 * 8 segments picked by the top bits of the key's hash, each a linear-probing table whose home slot is the hash's
 * middle bits scaled to the segment's size (so sizes need not be powers of two), with backward-shift deletion (no
 * tombstones: a taken block's slot is simply free). A segment grows by half again when 3/4 full, so the table is
 * between 1/2 and 3/4 full: 32-48 bytes per live block, and a growth copies one segment (an eighth of the blocks)
 * while the others stay where they are. Segments from 2 MiB up sit on transparent huge pages (common/hugemem.h):
 * random probes into tens of MiB of 4 KiB pages were a TLB miss each. (64 segments sharing one area per size, with
 * each leaving segment's pages given back, cost twice the time: giving back part of a huge page splits it.)
 *
 * Before, the replay kept every live block twice: the matcher's address -> block id table (24-byte slots, a power
 * of two at most 3/4 full, old and new tables together while it doubled) and the replay's block id -> (size,
 * stack) array: 92 MiB for perl's 800k live blocks. */
#include "live_blocks.h"
#include "../common/alloc.h"
#include "../common/hugemem.h"

#include <stdlib.h>

struct slot {
    uint64_t key;       /* 0 = empty */
    uint64_t size;
    uint64_t seq_stack; /* seq in the low 40 bits, stack id above */
};

enum { SEGMENT_BITS = 3, SEGMENTS = 1 << SEGMENT_BITS, FIRST_CAP = 64 };

struct segment {
    struct slot *v;
    uint32_t cap, used;
};

struct tq_live_blocks {
    struct segment seg[SEGMENTS];
    size_t count, bytes;
};

/* Fibonacci hashing: one multiplication mixes the key's bits upwards; the top bits pick the segment, the 32 below
 * them the home slot. */
static uint64_t hash_key(uint64_t k)
{
    return k * 0x9E3779B97F4A7C15ull;
}

static struct segment *segment_of(const struct tq_live_blocks *t, uint64_t h)
{
    return (struct segment *)&t->seg[h >> (64 - SEGMENT_BITS)];
}

static uint32_t home_of(uint64_t h, uint32_t cap)
{
    return (uint32_t)((uint64_t)(uint32_t)(h >> (32 - SEGMENT_BITS)) * cap >> 32);
}

/* The slot of key in s, or the empty slot where it would go. s->cap > 0, and s is never full. */
static struct slot *probe(const struct segment *s, uint64_t key, uint64_t h)
{
    uint32_t i = home_of(h, s->cap);
    for (;;) {
        struct slot *x = &s->v[i];
        if (x->key == key || x->key == 0)
            return x;
        if (++i == s->cap)
            i = 0;
    }
}

static size_t bytes_of(uint32_t cap)
{
    return (size_t)cap * sizeof(struct slot);
}

static bool segment_grow(struct tq_live_blocks *t, struct segment *s)
{
    uint32_t cap = s->cap ? s->cap + s->cap / 2 : FIRST_CAP;
    if (cap <= s->cap) /* 2^32 slots in one segment */
        return false;
    struct segment bigger = {.v = tq_huge_zalloc(bytes_of(cap)), .cap = cap, .used = s->used};
    if (!bigger.v)
        return false;
    for (uint32_t i = 0; i < s->cap; i++)
        if (s->v[i].key)
            *probe(&bigger, s->v[i].key, hash_key(s->v[i].key)) = s->v[i];
    tq_huge_free(s->v, bytes_of(s->cap));
    t->bytes += bytes_of(cap) - bytes_of(s->cap);
    *s = bigger;
    return true;
}

struct tq_live_blocks *tq_live_blocks_new(void)
{
    struct tq_live_blocks *t = tq_calloc(1, sizeof *t);
    if (t)
        t->bytes = sizeof *t;
    return t;
}

static struct tq_live_block unpack(const struct slot *x)
{
    return (struct tq_live_block){.key = x->key, .size = x->size, .seq = x->seq_stack & (TQ_LIVE_SEQ_LIMIT - 1),
                                  .stack = (uint32_t)(x->seq_stack >> 40)};
}

bool tq_live_blocks_find(const struct tq_live_blocks *t, uint64_t key, struct tq_live_block *out)
{
    uint64_t h = hash_key(key);
    const struct segment *s = segment_of(t, h);
    if (!key || !s->cap)
        return false;
    const struct slot *x = probe(s, key, h);
    if (!x->key)
        return false;
    *out = unpack(x);
    return true;
}

bool tq_live_blocks_put(struct tq_live_blocks *t, const struct tq_live_block *b)
{
    if (!b->key)
        return true;
    uint64_t h = hash_key(b->key);
    struct segment *s = segment_of(t, h);
    struct slot *x = s->cap ? probe(s, b->key, h) : NULL;
    if (!(x && x->key) && (uint64_t)(s->used + 1) * 4 > (uint64_t)s->cap * 3) { /* a replacement needs no room */
        if (!segment_grow(t, s))
            return false;
        x = probe(s, b->key, h);
    }
    if (!x->key) {
        s->used++;
        t->count++;
    }
    *x = (struct slot){b->key, b->size, (b->seq & (TQ_LIVE_SEQ_LIMIT - 1)) | (uint64_t)b->stack << 40};
    return true;
}

bool tq_live_blocks_take(struct tq_live_blocks *t, uint64_t key, struct tq_live_block *out)
{
    uint64_t h = hash_key(key);
    struct segment *s = segment_of(t, h);
    if (!key || !s->cap)
        return false;
    struct slot *x = probe(s, key, h);
    if (!x->key)
        return false;
    if (out)
        *out = unpack(x);
    /* Backward shift: later entries of the probe run whose home is at or before the hole move into it. */
    uint32_t hole = (uint32_t)(x - s->v), cap = s->cap;
    for (uint32_t j = hole + 1 == cap ? 0 : hole + 1; s->v[j].key; j = j + 1 == cap ? 0 : j + 1) {
        uint32_t home = home_of(hash_key(s->v[j].key), cap);
        uint32_t dist_home = j >= home ? j - home : j + cap - home, dist_hole = j >= hole ? j - hole : j + cap - hole;
        if (dist_home >= dist_hole) {
            s->v[hole] = s->v[j];
            hole = j;
        }
    }
    s->v[hole].key = 0;
    s->used--;
    t->count--;
    return true;
}

void tq_live_blocks_prefetch(const struct tq_live_blocks *t, uint64_t key)
{
    uint64_t h = hash_key(key);
    const struct segment *s = segment_of(t, h);
    if (s->cap)
        __builtin_prefetch(&s->v[home_of(h, s->cap)]);
}

size_t tq_live_blocks_count(const struct tq_live_blocks *t)
{
    return t->count;
}

size_t tq_live_blocks_bytes(const struct tq_live_blocks *t)
{
    return t->bytes;
}

void tq_live_blocks_free(struct tq_live_blocks *t)
{
    if (!t)
        return;
    for (int i = 0; i < SEGMENTS; i++)
        tq_huge_free(t->seg[i].v, bytes_of(t->seg[i].cap));
    free(t);
}
