/* info_blocks.h - the live heap blocks a trace names by (size, stack) instead of their addresses (INFO_EVENTS,
 * traces/FORMAT.md 20): a count per (stack id, size), and the frees that came before any such block was live.
 *
 * Blocks of one (stack, size) are alike for every report (sites, peaks, leaks), so a free need not say which one
 * it ends. Memory follows the distinct (stack, size) pairs, never the blocks or the events. A free replayed while
 * none of its kind is live (another thread's record holding the allocation comes later in the file) waits, with its
 * order number, for an allocation of its kind made before it, which then dies right away: the address matcher's
 * rule for a free seen before its allocation (traces/block_match.h). */
#ifndef TQ_INFO_BLOCKS_H
#define TQ_INFO_BLOCKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tq_info_blocks; /* opaque */

/* An empty table. Returns NULL when memory runs out. */
struct tq_info_blocks *tq_info_blocks_new(void);

/* An allocation of (stack, size) with order number seq: 1 when it is held live, 0 when a free of its kind with a
 * later order number waited (the block died at once: that free is used up), -1 when memory runs out. */
int tq_info_blocks_alloc(struct tq_info_blocks *t, uint32_t stack, uint64_t size, uint64_t seq);

/* A free of (stack, size) with order number seq: 1 when it ends a live block of its kind, 0 when none is live (the
 * free waits for an allocation of its kind before seq), -1 when memory runs out. */
int tq_info_blocks_release(struct tq_info_blocks *t, uint32_t stack, uint64_t size, uint64_t seq);

/* Live blocks held, and frees waiting. Can't fail. */
uint64_t tq_info_blocks_live(const struct tq_info_blocks *t);
uint64_t tq_info_blocks_waiting(const struct tq_info_blocks *t);

/* Free the table. tq_info_blocks_free(NULL) is a no-op. */
void tq_info_blocks_free(struct tq_info_blocks *t);

#endif
