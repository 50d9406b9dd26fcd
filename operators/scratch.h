/* scratch.h - per-thread kernel scratch that outlives one compute() call: tq_op_run streams a block slab by slab,
 * and a kernel that mapped (and the kernel then zero-filled, page by page) fresh scratch for every slab spent a
 * third of its CPU time in page faults at 400^3. The run owns one of these and hands it to every slab's compute(). */
#ifndef TQ_SCRATCH_H
#define TQ_SCRATCH_H

#include <stddef.h>

struct tq_op_scratch {
    size_t n;        /* workers with an entry */
    void **block;    /* block[w]: worker w's mapping, or NULL */
    size_t *bytes;   /* its length */
};

/* A zero-initialised cache is empty and valid: struct tq_op_scratch s = {0}. */

/* Worker w's buffer of at least `bytes` bytes (contents unspecified: what the last call left), page aligned and
 * backed by transparent huge pages where the kernel grants them. Kept across calls; replaced (the old one
 * unmapped) only when too small. NULL without memory (the cache stays valid). Not thread-safe: call it before
 * starting the workers. */
void *tq_op_scratch_get(struct tq_op_scratch *s, int w, size_t bytes);

/* Unmap every buffer and empty the cache. Safe on an empty cache. Can't fail. */
void tq_op_scratch_release(struct tq_op_scratch *s);

#endif
