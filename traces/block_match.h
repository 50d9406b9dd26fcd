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

/* The record being matched, looked ahead: per event, the order number of the record's next event at the address it
 * allocates (UINT64_MAX: none), made on first need (most records never ask) with a table of addresses stamped with
 * the record's number. */
struct tq_block_lookahead {
    const struct tq_block_mem *mem;
    const struct tq_event *in; /* the record: in[0..n) */
    uint32_t n;
    int state;                 /* 0: not made yet for this record, 1: made, -1: memory was short */
    uint64_t *next_same;       /* next_same[0..n_cap) */
    struct tq_block_ahead *slots;
    size_t n_cap, cap;         /* slots has cap entries */
    uint64_t stamp;
};

struct tq_block_match {
    const struct tq_block_mem *mem;
    struct tq_block_table ids;      /* live block address -> (id, order number of its allocation) */
    struct tq_block_table orphans;  /* address freed before its allocation was seen -> the free's order number */
    struct tq_block_table expected; /* address of a live block -> frees of earlier blocks there still to come */
    struct tq_block_lookahead ahead; /* the record being rewritten, its event rec_i now */
    uint32_t rec_i;
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
/* Frees seen before their allocation ("orphans", see block_match.c), frees expected of blocks already ended, and
 * the record's look-ahead: the parts of the matching that the analyzer's replay (report/event_match.c, which keeps
 * its live blocks by address, not by id) shares with this matcher.
 * Add the free of addr with order number seq at time t_ns to t (0; -1 when mem is short), or take the earliest
 * free of addr after seq out of t into *fseq for the allocation la->in[i] (0; -1 when there is none, or when the
 * record has another event at addr between the allocation and that free: the free is some later block's). */
int tq_block_orphan_add(const struct tq_block_mem *mem, struct tq_block_table *t, uint64_t addr, uint64_t seq,
                        uint64_t t_ns);
int tq_block_orphan_take_after(struct tq_block_table *t, uint64_t addr, uint64_t seq, struct tq_block_lookahead *la,
                               uint32_t i, uint64_t *fseq);
/* Expected frees (block_match.c): one more free still to come of an ended block at addr, whose live block is later
 * (0; -1 when mem is short); a free older than the live block at addr consumes one (1), or finds none (0: it is of
 * a block still to come, an orphan); the live block at addr ended, and with it what was expected there. */
int tq_block_expect_add(const struct tq_block_mem *mem, struct tq_block_table *t, uint64_t addr);
int tq_block_expect_consume(struct tq_block_table *t, uint64_t addr);
void tq_block_expect_drop(struct tq_block_table *t, uint64_t addr);
/* An empty look-ahead using mem; the record in[0..n) is the one matched now; release its memory. Can't fail. */
void tq_block_lookahead_init(struct tq_block_lookahead *la, const struct tq_block_mem *mem);
void tq_block_lookahead_record(struct tq_block_lookahead *la, const struct tq_event *in, uint32_t n);
void tq_block_lookahead_free(struct tq_block_lookahead *la);
/* Release a table's memory (it is empty again). Can't fail. */
void tq_block_table_free(const struct tq_block_mem *mem, struct tq_block_table *t);
/* Release the tables, and pool's memory (pool may be NULL). Can't fail. */
void tq_block_match_free(struct tq_block_match *m, struct tq_id_pool *pool);

#endif
