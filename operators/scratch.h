/* scratch.h - per-thread kernel scratch that outlives one compute() call: tq_op_run streams a block slab by slab,
 * and a kernel that mapped (and the kernel then zero-filled, page by page) fresh scratch for every slab spent a
 * third of its CPU time in page faults at 400^3. The run owns one of these and hands it to every slab's compute(). */
#ifndef TQ_SCRATCH_H
#define TQ_SCRATCH_H

#include <stddef.h>

#include "../common/status.h"

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

/* Where n pieces of len[k] bytes lie in one block, one after the other, each on a 64-byte boundary: off[k] bytes
 * from its start. Returns the bytes the block needs. */
size_t tq_op_scratch_layout(size_t n, const size_t len[], size_t off[]);

/* A kernel's way to point worker w's scratch into block (or, with block NULL, only to count): returns the bytes the
 * worker needs. */
typedef size_t (*tq_op_carve_fn)(void *kernel, int w, char *block);

/* Give each of workers 0..nw-1 a block of pool (tq_op_scratch_get) as big as carve(kernel, w, NULL) says and carve
 * it. Fails with TQ_ERR_NOMEM as "WHO: out of memory for thread scratch". */
tq_status tq_op_scratch_carve(struct tq_op_scratch *pool, int nw, tq_op_carve_fn carve, void *kernel, const char *who,
                              struct tq_err *err);

/* Unmap every buffer and empty the cache. Safe on an empty cache. Can't fail. */
void tq_op_scratch_release(struct tq_op_scratch *s);

#endif
