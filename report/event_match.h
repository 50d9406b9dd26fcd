/* event_match.h - the heap events of a trace's EVENTS and ADDR_EVENTS records, in replay order, each free with the
 * size and stack of the live block it releases (FORMAT.md 6 and 14). ADDR_EVENTS name blocks by address and carry
 * each event's process-wide order: their frees are matched to allocations here, offline, as heaptrack's interpreter
 * does (the traced process keeps no table of live blocks). Records of different threads are merged into that order
 * first (traces/event_order.h), so a free comes after its allocation; the cross-thread rules of traces/block_match.h
 * only matter for events whose place in the order was given up. EVENTS (trace format 1.3 and older, and record --aggregate's shim) name blocks by ids
 * already. Either way the live blocks are held once, by key, in report/live_blocks.h. */
#ifndef TQ_EVENT_MATCH_H
#define TQ_EVENT_MATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "../common/status.h"
#include "../traces/block_match.h"
#include "../traces/codec.h"

struct tq_event_match; /* opaque */

/* A heap event as the replay applies it. ev.addr / ev.old_addr name the blocks it acquires / releases by key (the
 * block's address, or the record's block id; 0: none or not known), so that a free can be told to end the latest
 * allocation. Frees the matching implies (a block's free seen before its allocation, or a block at an address
 * handed out again whose free is still to come) are events of kind TQ_CALL_FREE with stack id 0. */
struct tq_matched_event {
    struct tq_event ev;
    bool released;           /* ev released a live block (a free, or a realloc's old block) of this size and stack */
    uint32_t released_stack;
    uint64_t released_size;
};

/* The heap (tq_calloc, free, huge pages for big tables) as the memory of a block matcher's tables: what the
 * analyzer's matchers use, where the shim's use raw mappings. */
extern const struct tq_block_mem tq_event_match_heap_mem;

/* An empty matcher (one per replay of a trace). Fails with TQ_ERR_NOMEM. */
tq_status tq_event_match_new(struct tq_event_match **out, struct tq_err *err);
/* Feed record rec (type EVENTS or ADDR_EVENTS) and set *ev[0..*n) to the first batch of the events now in replay
 * order, matched (*n = 0: none), borrowed until the next call; tq_event_match_more gives the next batches, until
 * *n = 0, before the next record. For ADDR_EVENTS those are the events now next in the process-wide order (of this
 * and earlier records; the rest are held until the events before them have been read, see tq_event_match_finish).
 * path names the trace in messages. Fails with TQ_ERR_FORMAT on a corrupt record (events out of order, an
 * allocation's stack id of 2^24 or more, order numbers spanning 2^40 or more), TQ_ERR_NOMEM when memory runs out. */
tq_status tq_event_match_record(struct tq_event_match *m, const char *path, const struct tq_rec *rec,
                                const struct tq_matched_event **ev, uint32_t *n, struct tq_err *err);
tq_status tq_event_match_more(struct tq_event_match *m, const struct tq_matched_event **ev, uint32_t *n,
                              struct tq_err *err);
/* The order number of the trace's first event: 0 for a trace begun with its process (PROCESS without FORKED).
 * Without it, the first record's first event starts the order (a fork child's trace). Call it before the first
 * record. Can't fail. */
void tq_event_match_begins_at(struct tq_event_match *m, uint64_t first);
/* At the end of the trace (or at a snapshot): the first batch of the events still held for their place in the order
 * (ADDR_EVENTS of several threads; see traces/event_order.h), matched, as tq_event_match_record gives them; then
 * tq_event_match_more. */
tq_status tq_event_match_finish(struct tq_event_match *m, const char *path, const struct tq_matched_event **ev,
                                uint32_t *n, struct tq_err *err);
/* Free it; NULL is a no-op. */
void tq_event_match_free(struct tq_event_match *m);

#endif
