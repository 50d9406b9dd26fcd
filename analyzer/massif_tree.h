/* massif_tree.h - the call tree of massif's detailed snapshot, built from heap_replay.h's peak figures. */
#ifndef TQ_MASSIF_TREE_H
#define TQ_MASSIF_TREE_H

#include <stdio.h>

#include "../common/status.h"
#include "heap_replay.h"

/* Write the "heap_tree=peak" body: the root "nN: BYTES (heap allocation functions) ..." and below it the
 * allocation sites (innermost frames) with their callers, children by bytes descending, as massif does.
 * Fails with TQ_ERR_NOMEM, or TQ_ERR_IO when writing fails. */
tq_status tq_massif_tree_write(struct tq_heap_replay *r, FILE *out, struct tq_err *err);

#endif
