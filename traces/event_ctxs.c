/* event_ctxs.c - a reader's decoding contexts of CTX_EVENTS records (event_ctxs.h, FORMAT.md 18). */
#ifndef TQ_SHIM /* readers only: the shim keeps its encoder's context in each thread's buffer */
#include "event_ctxs.h"

#include <stdlib.h>

#include "../common/alloc.h"

tq_status tq_event_ctxs_open(struct tq_event_ctxs *c, const char *path, const struct tq_rec *rec,
                             struct tq_rec_events *e, struct tq_events_iter *it, struct tq_err *err)
{
    if (tq_rec_get_events(rec, e, it))
        return tq_fail(err, TQ_ERR_FORMAT, "%s: corrupt EVENTS record", path);
    if (!TQ_REC_IS_CTX(rec->type))
        return TQ_OK;
    if (!c->ctx[e->ctx]) {
        if (!(c->ctx[e->ctx] = tq_malloc(sizeof *c->ctx[e->ctx])))
            return tq_fail(err, TQ_ERR_NOMEM, "out of memory for a decoding context");
        tq_pack_ctx_init(c->ctx[e->ctx]);
    }
    if (tq_events_use_ctx(it, e, c->ctx[e->ctx]))
        return tq_fail(err, TQ_ERR_FORMAT, "%s: corrupt trace: events of context %u before its first record", path,
                       e->ctx);
    return TQ_OK;
}

void tq_event_ctxs_clear(struct tq_event_ctxs *c)
{
    for (unsigned i = 0; i < TQ_CTX_MAX; i++) {
        free(c->ctx[i]);
        c->ctx[i] = NULL;
    }
}
#endif
