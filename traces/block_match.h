/* block_match.h - which allocation each free releases, when threads' events arrive out of order (FORMAT.md 14).
 *
 * record --stacks buffers events per thread, so a block allocated in one thread and freed in another can reach the
 * trace free first, and an address can be freed and handed out again in between. Every event carries its place in
 * the process-wide order (tq_event.seq); this matcher, fed the records in file order, names each heap block by a
 * small id and yields events in which a free always comes after its block's allocation. The shim runs it in-process
 * for record --aggregate; the analyzer runs it offline on ADDR_EVENTS records (the shim then holds no table).
 * Memory comes from a provider: raw mmap in the shim (never malloc there), the C heap in the analyzer. */
#ifndef TQ_TRACE_BLOCK_MATCH_H
#define TQ_TRACE_BLOCK_MATCH_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"

/* Where the matcher's tables come from: zeroed memory of n bytes (NULL when short), and its release. */
struct tq_block_mem {
    void *(*zalloc)(size_t n);
    void (*release)(void *p, size_t n);
};

/* Block ids a thread's frees released, reused last in first out by its next allocations (a thread's ids stay close
 * together, so their differences are short when written). */
struct tq_id_pool {
    uint64_t *v;
    size_t n, cap;
};

struct tq_block_table {
    struct tq_block_slot *v;
    size_t cap, used;
};

struct tq_block_match {
    const struct tq_block_mem *mem;
    struct tq_block_table ids;     /* live block address -> (id, order number of its allocation) */
    struct tq_block_table orphans; /* address freed before its allocation was seen -> the free's order number */
    struct tq_id_pool *pool;       /* the pool of the record being rewritten */
    uint64_t next_id;              /* 0 is "unknown block" */
};

/* An empty matcher using mem. Can't fail (tables are made on first use). */
void tq_block_match_init(struct tq_block_match *m, const struct tq_block_mem *mem);
/* Copy events in[0..n) (in.seq = process-wide order) to out[] with the addresses of heap events replaced by block
 * ids, in record order; ids come from and return to pool (the record's thread's). A free whose allocation comes in
 * a later record is placed right after that allocation instead (at most one insertion per event: out has room for
 * 2n). Returns the events in out. Can't fail (a block that cannot get an id when memory is short is named 0). */
uint32_t tq_block_match_rewrite(struct tq_block_match *m, const struct tq_event *in, uint32_t n,
                                struct tq_event *out, struct tq_id_pool *pool);
/* Forget every block, keeping the tables' memory (a fork child; a new pass). Can't fail. */
void tq_block_match_reset(struct tq_block_match *m);
/* Release the tables, and pool's memory (pool may be NULL). Can't fail. */
void tq_block_match_free(struct tq_block_match *m, struct tq_id_pool *pool);

#endif
