/* live_blocks.h - the live heap blocks of a replayed trace: block key (its address, or the block id of an EVENTS
 * record) -> (order number of its allocation, size, stack id), in 24 bytes a block.
 *
 * A compact open-addressing table that holds only live blocks: a taken block's slot is free for the next one, so
 * its memory follows the most blocks live at once, never the events. It is cut into segments by the key's hash that
 * grow one at a time by half again, so growing never holds a second copy of the whole table (live_blocks.c). */
#ifndef TQ_LIVE_BLOCKS_H
#define TQ_LIVE_BLOCKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Order numbers and stack ids share a word: seq below 2^40 (a trace's numbers are rebased to fit, heap_replay.c),
 * stack ids below 2^24 (heap_replay.c refuses larger ones). */
#define TQ_LIVE_SEQ_LIMIT ((uint64_t)1 << 40)
#define TQ_LIVE_STACK_LIMIT ((uint32_t)1 << 24)

struct tq_live_block {
    uint64_t key;   /* never 0 */
    uint64_t seq;   /* < TQ_LIVE_SEQ_LIMIT */
    uint64_t size;
    uint32_t stack; /* < TQ_LIVE_STACK_LIMIT */
};

struct tq_live_blocks; /* opaque */

/* An empty table. Returns NULL when memory runs out. */
struct tq_live_blocks *tq_live_blocks_new(void);

/* The block at key into *out. Returns false when key is not live (or is 0). Can't fail. */
bool tq_live_blocks_find(const struct tq_live_blocks *t, uint64_t key, struct tq_live_block *out);

/* Hold b, replacing the block at b->key if there is one (a key of 0 is ignored). Returns false when memory runs out
 * (the table is then unchanged). */
bool tq_live_blocks_put(struct tq_live_blocks *t, const struct tq_live_block *b);

/* Remove the block at key into *out (out may be NULL). Returns false when key is not live (nothing changes). */
bool tq_live_blocks_take(struct tq_live_blocks *t, uint64_t key, struct tq_live_block *out);

/* The replay's matcher in one probe each (traces/block_match.c's rules):
 * take the block at key into *out if it was allocated before seq (1), or leave the block there, into *out, when it
 * was not (0); -1 when key is not live;
 * hold b unless the block at b->key was allocated after it: 1 when held at a free key, 2 when held in place of the
 * older block now in *prev, 0 when not held (*prev is the later block there), -1 when memory runs out. */
int tq_live_blocks_take_before(struct tq_live_blocks *t, uint64_t key, uint64_t seq, struct tq_live_block *out);
int tq_live_blocks_put_unless_later(struct tq_live_blocks *t, const struct tq_live_block *b,
                                    struct tq_live_block *prev);

/* A hint that key will be looked up soon: its slot is fetched into the cache. Can't fail. */
void tq_live_blocks_prefetch(const struct tq_live_blocks *t, uint64_t key);

/* Live blocks, and the bytes the table holds now. Can't fail. */
size_t tq_live_blocks_count(const struct tq_live_blocks *t);
size_t tq_live_blocks_bytes(const struct tq_live_blocks *t);

/* Free the table. tq_live_blocks_free(NULL) is a no-op. */
void tq_live_blocks_free(struct tq_live_blocks *t);

#endif
