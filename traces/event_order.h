/* event_order.h - the events of several threads' records put back into the process-wide order (FORMAT.md 14).
 *
 * record --stacks buffers events per thread and writes each buffer as a record when it is full or flushed, so
 * records of different threads do not come in the order their events happened: a block passed between threads can
 * be freed, and its address handed out again, in a record read before the one holding its allocation. Every event
 * carries its order number (tq_event.seq), taken from one process-wide counter, so the numbers of a trace are dense:
 * each number from the first on is one event of some thread's record. This merge holds each record's events until
 * every event before them in that order has been read, and gives them out in that order; a free then always comes
 * after its block's allocation, and matching by address is exact. A thread running alone writes records whose
 * numbers follow on from the last one given out: those pass through without being copied.
 *
 * What is held is only what waits for an earlier event (about one flush interval of events: a thread's buffer is
 * written at every flush). A number that never comes (a record lost when memory was short, an event being written
 * when the process ended) is given up when more than `limit` events wait behind it, and at the end (drain); events
 * that come after their place was given up ("late") are given out at once, in record order, for the matcher's
 * out-of-order rules (traces/block_match.h). Memory comes from a provider (block_match.h): the C heap in the
 * analyzer, raw mappings in the shim. */
#ifndef TQ_TRACE_EVENT_ORDER_H
#define TQ_TRACE_EVENT_ORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "block_match.h"
#include "codec.h"

/* Events most held by default before a missing order number is given up (56 bytes each: 112 MiB). */
#define TQ_EVENT_ORDER_LIMIT ((size_t)1 << 21)

struct tq_event_run; /* a record's events still held (event_order.c) */

struct tq_event_order {
    const struct tq_block_mem *mem;
    size_t limit;               /* most events held before a missing number is given up */
    bool started;               /* next is known */
    uint64_t next;              /* order number of the next event to give out */
    struct tq_event_run *runs;  /* held records, a min-heap by the order number of their first held event */
    size_t nruns, runs_cap;
    size_t held;                /* events held in runs */
    struct tq_event *out;       /* events given out by the last call */
    size_t out_cap;
    uint64_t late;              /* events that came after their place was given up */
    uint64_t gaps;              /* missing order numbers given up (runs of them count once) */
};

/* An empty merge using mem, holding at most limit events before giving up a missing number. Can't fail. */
void tq_event_order_init(struct tq_event_order *o, const struct tq_block_mem *mem, size_t limit);
/* The order number of the trace's first event (0 for a trace begun with its process: the counter starts there).
 * Without this call, the first event fed starts the order (a fork child's trace, whose counter went on from its
 * parent's). Call it before the first record. Can't fail. */
void tq_event_order_start(struct tq_event_order *o, uint64_t first);
/* Feed a record's events in[0..n) (order numbers strictly increasing) and set *out[0..*nout) to the events now in
 * order: in itself when they follow on from the last one given out and nothing is held, else the merge's buffer
 * (borrowed until the next call). Returns 0, or -1 when memory is short (nothing was taken: the record's events
 * are then given out as they are, out of order). */
int tq_event_order_add(struct tq_event_order *o, const struct tq_event *in, uint32_t n, const struct tq_event **out,
                       size_t *nout);
/* Everything still held, in order (the end of the trace, or a snapshot). Returns 0, or -1 when memory is short
 * (*nout is then 0 and the events stay held). */
int tq_event_order_drain(struct tq_event_order *o, const struct tq_event **out, size_t *nout);
/* Every event numbered below `below` has been fed, or never will be (the shim at a flush: the counter stood at
 * `below` before every thread's buffer was written): the held events up to the first missing number at or above it
 * are given out into *out[0..*nout), the missing ones below it given up. Returns 0, or -1 when memory is short
 * (*nout is then 0 and the events stay held). */
int tq_event_order_release_below(struct tq_event_order *o, uint64_t below, const struct tq_event **out,
                                 size_t *nout);
/* Forget what is held and start again at order number first (a fork child). Can't fail. */
void tq_event_order_reset(struct tq_event_order *o, uint64_t first);
/* Release everything held and the buffers (the merge is empty again, its counts kept). Can't fail. */
void tq_event_order_free(struct tq_event_order *o);

#endif
