/* block_ids.c - record --stacks: heap events name blocks by small reusable ids instead of addresses (FORMAT.md 6).
 *
 * Which of the live blocks a free() releases is the one thing an event must say that the reader cannot guess; an
 * address says it in ~20-40 bits of noise, an id from a LIFO free list in about log2(live blocks) bits, and the
 * allocation right after a free usually gets the id just released (difference 0). Ids are given out under the
 * session lock in the order records are queued, so they are consistent with the order the reader replays.
 * Tables live in raw mmap'd memory and grow by doubling: nothing here calls malloc. */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim.h"

struct slot {
    uint64_t addr; /* 0 = empty */
    uint64_t id;
};

static struct slot *map;
static size_t map_cap, map_used;
static uint64_t *spare;          /* released ids, reused last-in first-out */
static size_t spare_n, spare_cap;
static uint64_t next_id = 1;     /* 0 is "unknown block" */

static void *raw_map(size_t n)
{
    void *p = (void *)syscall(SYS_mmap, NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                              -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static size_t home(uint64_t addr, size_t cap)
{
    return (size_t)((addr >> 4) * 0x9E3779B97F4A7C15ull >> 20) & (cap - 1);
}

static int map_grow(void)
{
    size_t cap = map_cap ? map_cap * 2 : 1u << 14;
    struct slot *m = raw_map(cap * sizeof *m);
    if (!m)
        return -1;
    for (size_t i = 0; i < map_cap; i++) {
        if (!map[i].addr)
            continue;
        size_t j = home(map[i].addr, cap);
        while (m[j].addr)
            j = (j + 1) & (cap - 1);
        m[j] = map[i];
    }
    if (map)
        syscall(SYS_munmap, map, map_cap * sizeof *map);
    map = m;
    map_cap = cap;
    return 0;
}

/* A new id for the block at addr (an address still mapped is overwritten: its free was not seen yet). */
static uint64_t block_new(uint64_t addr)
{
    if (!addr || ((map_used + 1) * 4 > map_cap * 3 && map_grow()))
        return 0;
    uint64_t id = spare_n ? spare[--spare_n] : next_id++;
    size_t j = home(addr, map_cap);
    while (map[j].addr && map[j].addr != addr)
        j = (j + 1) & (map_cap - 1);
    map_used += !map[j].addr;
    map[j] = (struct slot){addr, id};
    return id;
}

static void spare_push(uint64_t id)
{
    if (spare_n == spare_cap) {
        size_t cap = spare_cap ? spare_cap * 2 : 1u << 12;
        uint64_t *s = raw_map(cap * sizeof *s);
        if (!s)
            return; /* the id is not reused: ids only grow */
        if (spare) {
            for (size_t i = 0; i < spare_n; i++)
                s[i] = spare[i];
            syscall(SYS_munmap, spare, spare_cap * sizeof *spare);
        }
        spare = s;
        spare_cap = cap;
    }
    spare[spare_n++] = id;
}

/* The id of the block at addr, forgotten now (0 when it was never given one). Linear probing: the entries after
 * the hole that belong before it move back. */
static uint64_t block_take(uint64_t addr)
{
    if (!addr || !map_cap)
        return 0;
    size_t j = home(addr, map_cap);
    while (map[j].addr != addr) {
        if (!map[j].addr)
            return 0;
        j = (j + 1) & (map_cap - 1);
    }
    uint64_t id = map[j].id;
    size_t hole = j;
    for (size_t k = (hole + 1) & (map_cap - 1); map[k].addr; k = (k + 1) & (map_cap - 1)) {
        size_t h = home(map[k].addr, map_cap);
        if (((k - h) & (map_cap - 1)) >= ((k - hole) & (map_cap - 1))) {
            map[hole] = map[k];
            hole = k;
        }
    }
    map[hole].addr = 0;
    map_used--;
    spare_push(id);
    return id;
}

static int is_heap_alloc(unsigned k)
{
    return k == TQ_CALL_MALLOC || k == TQ_CALL_CALLOC || k == TQ_CALL_POSIX_MEMALIGN || k == TQ_CALL_ALIGNED_ALLOC ||
           k == TQ_CALL_MEMALIGN || k == TQ_CALL_VALLOC || k == TQ_CALL_PVALLOC;
}

void tq_blocks_rewrite(struct tq_event *ev, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        struct tq_event *e = &ev[i];
        if (is_heap_alloc(e->kind)) {
            e->addr = block_new(e->addr);
        } else if (e->kind == TQ_CALL_FREE) {
            e->addr = block_take(e->addr);
        } else if (e->kind == TQ_CALL_REALLOC || e->kind == TQ_CALL_REALLOCARRAY) {
            e->old_addr = block_take(e->old_addr); /* first: a block moved in place keeps its id */
            e->addr = block_new(e->addr);
        }
    }
}

void tq_blocks_reset(void)
{
    for (size_t i = 0; i < map_cap; i++)
        map[i].addr = 0;
    map_used = 0;
    spare_n = 0;
    next_id = 1;
}
