/* report_top.h - the `traceq report --top N`, `--leaks` and `--temporary` sections of a --stacks trace: the biggest
 * allocation sites, what was never freed, and what was freed right after it was allocated (as heaptrack_print). */
#ifndef TQ_REPORT_TOP_H
#define TQ_REPORT_TOP_H

#include <jansson.h>
#include <stdio.h>

#include "sites.h"

/* Print the top n sites by heap held at the peak, by bytes allocated and by calls to out (sorting s). Can't fail. */
void tq_report_top_print(FILE *out, struct tq_sites *s, int n);

/* The same as a JSON object {"peak": [...], "allocated": [...], "calls": [...], totals}. NULL when memory
 * runs out. */
json_t *tq_report_top_json(struct tq_sites *s, int n);

/* Sites by heap bytes still live when the trace ends, with block counts: leaks when the trace has its END record,
 * "live when the trace ends" when it was cut (killed). Not for --aggregate traces (the caller refuses those). */
void tq_report_leaks_print(FILE *out, struct tq_sites *s, int n);

/* Sites by temporary allocations: blocks freed with no other allocation in between (heaptrack's definition; the
 * events of one thread are in order, those of several threads as their batches were flushed). */
void tq_report_temporary_print(FILE *out, struct tq_sites *s, int n);

/* The same two as JSON objects; NULL when memory runs out. */
json_t *tq_report_leaks_json(struct tq_sites *s, int n);
json_t *tq_report_temporary_json(struct tq_sites *s, int n);

#endif
