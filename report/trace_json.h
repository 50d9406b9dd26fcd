/* trace_json.h - a trace summary as a jansson object (the shape of `traceq report --json`). */
#ifndef TQ_TRACE_JSON_H
#define TQ_TRACE_JSON_H

#include <jansson.h>

#include "trace_summary.h"

/* New JSON object with every field of s (sizes in bytes, times in seconds). Caller owns it (json_decref).
 * Returns NULL only when memory is short. */
json_t *tq_trace_summary_json(const struct tq_trace_summary *s);

/* A JSON string for text read from a trace (names, arguments: any bytes). Bytes that are not valid UTF-8 make
 * every byte >= 0x80 of it '?', since jansson refuses such strings. NULL gives JSON null. Returns NULL only when
 * memory is short. */
json_t *tq_json_text(const char *s);

#endif
