/* live_map.h - the live allocations of a replayed trace: block key -> (size, stack id). Small keys (block ids) are
 * held in an array indexed by key, any other key in a hash map; memory follows the live blocks (live_map.c). */
#ifndef TQ_LIVE_MAP_H
#define TQ_LIVE_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tq_live_map; /* opaque */

/* An empty map. Returns NULL when memory runs out. */
struct tq_live_map *tq_live_map_new(void);

/* Record a live block (replaces an entry with the same address). Returns false when memory runs out. */
bool tq_live_map_put(struct tq_live_map *m, uint64_t addr, uint64_t size, uint32_t stack);

/* Remove the block at addr into *size / *stack. Returns false when addr is not live (nothing changes). */
bool tq_live_map_take(struct tq_live_map *m, uint64_t addr, uint64_t *size, uint32_t *stack);

/* A hint that key will be put or taken soon: its slot is fetched into the cache. Can't fail. */
void tq_live_map_prefetch(const struct tq_live_map *m, uint64_t key);

/* Number of live blocks. Can't fail. */
size_t tq_live_map_count(const struct tq_live_map *m);

/* Free the map. tq_live_map_free(NULL) is a no-op. */
void tq_live_map_free(struct tq_live_map *m);

#endif
