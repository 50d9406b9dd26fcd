/* report_top.h - the `traceq report --top N` section: the biggest allocation sites of a --stacks trace. */
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

#endif
