/* massif_tree.h - the call tree of massif's detailed snapshot, built from heap_replay.h's peak figures. */
#ifndef TQ_MASSIF_TREE_H
#define TQ_MASSIF_TREE_H

#include <stdio.h>

#include "../common/status.h"
#include "../report/heap_replay.h"

/* Write the "heap_tree=peak" body: the root "nN: ROOT (heap allocation functions) ..." and below it the
 * allocation sites (innermost frames, each with its peak_bytes) with their callers, children by bytes descending,
 * as massif does, plus one node of `mmap_bytes` for the program's own mmap bytes when not 0. `root` must be at
 * least the sites' sum + mmap_bytes (ms_print refuses children larger than their snapshot); it is raised to that
 * when below. Fails with TQ_ERR_NOMEM, or TQ_ERR_IO when writing fails. */
tq_status tq_massif_tree_write(struct tq_heap_replay *r, uint64_t root, uint64_t mmap_bytes, FILE *out,
                               struct tq_err *err);

#endif
