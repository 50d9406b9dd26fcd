/* event_match.h - the heap events of a trace's EVENTS and ADDR_EVENTS records, in replay order, with every heap
 * block named by a key that its free repeats (FORMAT.md 6 and 14). ADDR_EVENTS name blocks by address and carry
 * each event's process-wide order: their frees are matched to allocations here (traces/block_match.h), offline, as
 * heaptrack's interpreter does, so the traced process keeps no table of live blocks. EVENTS (trace format 1.3 and
 * older, and record --aggregate's shim) name blocks by ids already and pass through. */
#ifndef TQ_EVENT_MATCH_H
#define TQ_EVENT_MATCH_H

#include <stdint.h>

#include "../common/status.h"
#include "../traces/block_match.h"
#include "../traces/codec.h"

struct tq_event_match; /* opaque */

/* The heap (tq_calloc, free) as the memory of a block matcher's tables: what the analyzer's matchers use, where
 * the shim's use raw mappings. */
extern const struct tq_block_mem tq_event_match_heap_mem;

/* An empty matcher (one per replay of a trace). */
tq_status tq_event_match_new(struct tq_event_match **out, struct tq_err *err);
/* The events of record rec (type EVENTS or ADDR_EVENTS) into *ev[0..*n), borrowed until the next call; path names
 * the trace in messages. Fails with TQ_ERR_FORMAT on a corrupt record, TQ_ERR_NOMEM when memory runs out. */
tq_status tq_event_match_record(struct tq_event_match *m, const char *path, const struct tq_rec *rec,
                                const struct tq_event **ev, uint32_t *n, struct tq_err *err);
/* Free it; NULL is a no-op. */
void tq_event_match_free(struct tq_event_match *m);

#endif
