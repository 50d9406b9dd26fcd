/* live_blocks.c - the live heap blocks of a replay by key, compactly (live_blocks.h).
 *
 * 8 segments picked by the top bits of the key's hash, each a linear-probing table whose home slot is the hash's
 * middle bits scaled to the segment's size (so sizes need not be powers of two), with backward-shift deletion (no
 * tombstones: a taken block's slot is simply free). A segment grows by half again when 3/4 full, so the table is
 * between 1/2 and 3/4 full, 32-48 bytes per live block (plus at most a huge page per segment where a window is
 * rounded up to whole huge pages, see below), and a growth copies one segment (an eighth of the blocks) while the
 * others stay where they are.
 *
 * The segments of one size (a "generation") are windows of one area from common/hugemem.h, so that the table sits
 * on transparent huge pages as soon as it is 2 MiB (random probes into MiBs of 4 KiB pages are a TLB miss each, and
 * segments on their own would stay on small pages up to 2 MiB each). A huge page of the area goes back as soon as
 * every segment using it has moved on (giving back part of a huge page would split it: that cost twice the time),
 * and windows from 2 MiB up are whole huge pages, so that a segment moving on gives its window back at once.
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

enum { SEGMENT_BITS = 3, SEGMENTS = 1 << SEGMENT_BITS, FIRST_CAP = 64, GENERATIONS = 48 };
#define HUGE_PAGE ((size_t)2 << 20)

struct segment {
    struct slot *v; /* a window of its generation's area; NULL before the first block */
    uint32_t cap, used;
    int gen;
};

/* The area of the segments of one size: SEGMENTS windows of `window` bytes holding cap slots each. */
struct generation {
    char *area;
    size_t window;    /* bytes: whole huge pages from one huge page up */
    uint32_t cap;
    uint32_t members; /* segments in it now */
    uint32_t left;    /* bit i: segment i has moved on from it */
};

struct tq_live_blocks {
    struct segment seg[SEGMENTS];
    struct generation gen[GENERATIONS];
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

/* Segment i leaves generation g. The huge pages of the area that only segments gone from it used go back at once
 * (never part of a huge page: the kernel would split it), the whole area with its last segment. */
static void leave(struct tq_live_blocks *t, int g, size_t i)
{
    struct generation *G = &t->gen[g];
    G->left |= 1u << i;
    if (--G->members == 0) {
        tq_huge_free(G->area, SEGMENTS * G->window);
        *G = (struct generation){.cap = G->cap, .window = G->window};
        return;
    }
    size_t a = i, b = i; /* the run of departed segments around i */
    while (a > 0 && G->left & 1u << (a - 1))
        a--;
    while (b + 1 < SEGMENTS && G->left & 1u << (b + 1))
        b++;
    size_t from = (a * G->window + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    size_t to = b + 1 == SEGMENTS ? SEGMENTS * G->window : (b + 1) * G->window / HUGE_PAGE * HUGE_PAGE;
    if (to > from)
        tq_huge_release_part(G->area, SEGMENTS * G->window, from, to - from);
}

/* Move segment i into the next generation (half again as many slots). */
static bool segment_grow(struct tq_live_blocks *t, size_t i)
{
    struct segment *s = &t->seg[i];
    int g = s->v ? s->gen + 1 : 0;
    if (g >= GENERATIONS)
        return false;
    struct generation *G = &t->gen[g];
    if (!G->cap) {
        uint64_t cap = g ? t->gen[g - 1].cap + t->gen[g - 1].cap / 2 : FIRST_CAP;
        G->window = bytes_of((uint32_t)cap) < HUGE_PAGE ? bytes_of((uint32_t)cap)
                                                        : (bytes_of((uint32_t)cap) + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
        cap = G->window / sizeof(struct slot); /* a window of whole huge pages is all slots: no page half used */
        if (cap > UINT32_MAX)
            return false;
        G->cap = (uint32_t)cap;
    }
    if (!G->area && !(G->area = tq_huge_zalloc(SEGMENTS * G->window)))
        return false;
    struct segment bigger = {.v = (struct slot *)(G->area + i * G->window), .cap = G->cap, .used = s->used, .gen = g};
    for (uint32_t j = 0; j < s->cap; j++)
        if (s->v[j].key)
            *probe(&bigger, s->v[j].key, hash_key(s->v[j].key)) = s->v[j];
    G->members++;
    if (s->v)
        leave(t, s->gen, i);
    t->bytes += bytes_of(bigger.cap) - bytes_of(s->cap);
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

/* Where b goes in its segment: its key's slot, or a free one (growing the segment for a new key). NULL when
 * memory runs out. */
static struct slot *place(struct tq_live_blocks *t, const struct tq_live_block *b, struct segment **seg)
{
    uint64_t h = hash_key(b->key);
    struct segment *s = segment_of(t, h);
    struct slot *x = s->cap ? probe(s, b->key, h) : NULL;
    if (!(x && x->key) && (uint64_t)(s->used + 1) * 4 > (uint64_t)s->cap * 3) { /* a replacement needs no room */
        if (!segment_grow(t, (size_t)(s - t->seg)))
            return NULL;
        x = probe(s, b->key, h);
    }
    *seg = s;
    return x;
}

static void store(struct tq_live_blocks *t, struct segment *s, struct slot *x, const struct tq_live_block *b)
{
    if (!x->key) {
        s->used++;
        t->count++;
    }
    *x = (struct slot){b->key, b->size, (b->seq & (TQ_LIVE_SEQ_LIMIT - 1)) | (uint64_t)b->stack << 40};
}

bool tq_live_blocks_put(struct tq_live_blocks *t, const struct tq_live_block *b)
{
    struct segment *s;
    struct slot *x;
    if (!b->key)
        return true;
    if (!(x = place(t, b, &s)))
        return false;
    store(t, s, x, b);
    return true;
}

int tq_live_blocks_put_unless_later(struct tq_live_blocks *t, const struct tq_live_block *b,
                                    struct tq_live_block *prev)
{
    struct segment *s;
    struct slot *x;
    *prev = (struct tq_live_block){0};
    if (!b->key)
        return 1;
    if (!(x = place(t, b, &s)))
        return -1;
    if (x->key) {
        *prev = unpack(x);
        if (prev->seq > b->seq)
            return 0;
    }
    int held = x->key ? 2 : 1;
    store(t, s, x, b);
    return held;
}

/* Empty slot x of s (backward shift: later entries of the probe run whose home is at or before the hole move in). */
static void remove_at(struct tq_live_blocks *t, struct segment *s, struct slot *x)
{
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
    remove_at(t, s, x);
    return true;
}

int tq_live_blocks_take_before(struct tq_live_blocks *t, uint64_t key, uint64_t seq, struct tq_live_block *out)
{
    uint64_t h = hash_key(key);
    struct segment *s = segment_of(t, h);
    if (!key || !s->cap)
        return -1;
    struct slot *x = probe(s, key, h);
    if (!x->key)
        return -1;
    *out = unpack(x);
    if (out->seq >= seq)
        return 0;
    remove_at(t, s, x);
    return 1;
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
    for (int g = 0; g < GENERATIONS; g++)
        tq_huge_free(t->gen[g].area, SEGMENTS * t->gen[g].window);
    free(t);
}
