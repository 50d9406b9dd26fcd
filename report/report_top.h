/* report_top.h - the `traceq report --top N` section: the biggest allocation sites of a --stacks trace. */
#ifndef TQ_REPORT_TOP_H
#define TQ_REPORT_TOP_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "sites.h"

/* Print the top n sites by heap held at the peak, by bytes allocated and by calls to out (sorting s). Can't fail. */
void tq_report_top_print(FILE *out, struct tq_sites *s, int n);

/* Print the top n sites by heap held where the trace ends (for a trace without exit: what the process held at its
 * last flush, last_flush_ns after the trace started), sorting s. Can't fail. */
void tq_report_top_print_end(FILE *out, struct tq_sites *s, int n, uint64_t last_flush_ns);

/* The same as a JSON object {"peak": [...], "allocated": [...], "calls": [...], "end": [...] (not for
 * --aggregate traces), totals}. NULL when memory
 * runs out. */
json_t *tq_report_top_json(struct tq_sites *s, int n);

#endif
