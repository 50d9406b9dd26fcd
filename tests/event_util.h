/* event_util.h - what the event-coding tests share (test_ctx_events.c, test_info_events.c, test_repeat_events.c): an
 * encoded record seen as the reader gives it, and one record's events decoded with a coding context. */
#ifndef TQ_EVENT_UTIL_H
#define TQ_EVENT_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "../traces/codec.h"

/* The record at buf[0..n) (header included) as tq_trace_next returns it. */
static inline struct tq_rec rec_of(const uint8_t *buf, size_t n)
{
    return (struct tq_rec){.type = (uint16_t)(buf[0] | buf[1] << 8), .len = (uint32_t)(n - TQ_REC_HEADER_SIZE),
                           .data = buf + TQ_REC_HEADER_SIZE};
}

/* Decode the one-record event record at buf[0..n) with c into out (room for cap events): the number of events, or
 * -1 when it does not decode. *e gets its head. */
static inline long decode_head(const uint8_t *buf, size_t n, struct tq_pack_ctx *c, struct tq_event *out, size_t cap,
                               struct tq_rec_events *e)
{
    struct tq_rec rec = rec_of(buf, n);
    struct tq_events_iter it;
    if (tq_rec_get_events(&rec, e, &it) || tq_events_use_ctx(&it, e, c))
        return -1;
    size_t k = 0;
    int got;
    while (k <= cap && (got = tq_events_next(&it, k < cap ? &out[k] : &(struct tq_event){0})) == 1)
        k++;
    return got < 0 || k > cap ? -1 : (long)k;
}

/* decode_head without the head. */
static inline long decode(const uint8_t *buf, size_t n, struct tq_pack_ctx *c, struct tq_event *out, size_t cap)
{
    struct tq_rec_events e;
    return decode_head(buf, n, c, out, cap, &e);
}

#endif
