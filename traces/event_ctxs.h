/* event_ctxs.h - a reader's decoding contexts of CTX_EVENTS records (FORMAT.md 18): one per writer context number,
 * made at its first record, so that every event record opens the same way whatever its type. */
#ifndef TQ_TRACE_EVENT_CTXS_H
#define TQ_TRACE_EVENT_CTXS_H

#include "../common/status.h"
#include "codec.h"

struct tq_event_ctxs {
    struct tq_pack_ctx *ctx[TQ_CTX_MAX]; /* NULL until its number's first record */
};

/* Open rec (an event record: TQ_REC_HAS_EVENTS) for tq_events_next, like tq_rec_get_events; a CTX_EVENTS record gets
 * its number's context. Feed the records in file order and read each one's events to the end (they update the
 * context). Fails with TQ_ERR_FORMAT ("PATH: corrupt ...") or TQ_ERR_NOMEM. c starts zeroed. */
tq_status tq_event_ctxs_open(struct tq_event_ctxs *c, const char *path, const struct tq_rec *rec,
                             struct tq_rec_events *e, struct tq_events_iter *it, struct tq_err *err);

/* Free the contexts (c can be opened again: it starts over). */
void tq_event_ctxs_clear(struct tq_event_ctxs *c);

#endif
