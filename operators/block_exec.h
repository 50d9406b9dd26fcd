/* block_exec.h - compute one output block of an operator: read its input box, compute, write the output box,
 * streaming slabs of inlines so memory stays a few slabs whatever the block (the chunked runner's unit of work). */
#ifndef TQ_BLOCK_EXEC_H
#define TQ_BLOCK_EXEC_H

#include <stdint.h>

#include "operator.h"
#include "volume.h"

/* Output bytes per slab: a block is computed TQ_OP_SLAB_BYTES of output inlines at a time (at least 4 inlines
 * per thread), and only the slab's input (plus halo, kept across slabs) is held in memory. params.slab_bytes
 * overrides it (then at least 1 inline per slab). */
#define TQ_OP_SLAB_BYTES ((size_t)64 << 20)

/* Where input voxels come from: a reader, a whole volume in memory, or the synthetic model (generated box by box,
 * never whole). Fill with one of the tq_op_source_* functions; everything is borrowed. */
struct tq_op_source {
    size_t shape[3];
    tq_vol_reader *reader;
    const float *mem;
    int synthetic;
    uint64_t seed;
};

/* Where output voxels go: a writer, or a whole output volume in memory of shape `shape`. Borrowed. */
struct tq_op_sink {
    size_t shape[3];
    tq_vol_writer *writer;
    float *mem;
};

/* The bytes tq_op_run allocates for its two slab buffers (the slab's input with its halo, the slab's output, which
 * an operator with put_inlines does without; a buffer of 2 MiB or more rounded up to whole 2 MiB huge pages) to compute the whole output of a volume of `shape`:
 * the heap an operator's run needs, declared before it runs (model/fit.h uses it as the "declared" feature; with
 * the default 64 MiB slabs it stops growing with the inlines once a slab no longer holds the whole volume). Exact
 * while one slab holds the volume; beyond, the slab's inline count is taken unrounded, so the figure never steps
 * down as an axis grows and is at most one inline plane per buffer above tq_op_run's. 0 for a shape or parameters
 * the operator refuses. Can't fail. */
uint64_t tq_op_slab_buffer_bytes(const struct tq_op *op, const struct tq_op_params *p, const size_t shape[3]);

/* Source reading `r`. Can't fail. */
void tq_op_source_reader(struct tq_op_source *s, tq_vol_reader *r);
/* Source reading the C-order volume `vol` of `shape` in memory. Can't fail. */
void tq_op_source_mem(struct tq_op_source *s, const size_t shape[3], const float *vol);
/* Source generating the synthetic volume of `shape` and `seed` (tq_synth_box). Can't fail. */
void tq_op_source_synth(struct tq_op_source *s, const size_t shape[3], uint64_t seed);
/* Sink writing through `w`. Can't fail. */
void tq_op_sink_writer(struct tq_op_sink *k, tq_vol_writer *w);
/* Sink filling the C-order output volume `out` of `shape`. Can't fail. */
void tq_op_sink_mem(struct tq_op_sink *k, const size_t shape[3], float *out);

/* Compute output block `out_box` of `op` from `src` into `dst`, slab by slab. The result is bit-identical to the
 * same box of a whole-volume run. Fails with TQ_ERR_RANGE (out_box empty or outside the output, input too small for
 * the operator), parameter errors (tq_op_params_check), TQ_ERR_NOMEM, or the source's / sink's I/O errors. */
tq_status tq_op_run(const struct tq_op *op, const struct tq_op_params *p, const struct tq_op_source *src,
                    const struct tq_op_sink *dst, const struct tq_box *out_box, struct tq_err *err);

/* tq_op_run from a volume reader to a volume writer: what a runner worker calls for its block. Fails like
 * tq_op_run. */
tq_status tq_op_run_block(const struct tq_op *op, const struct tq_op_params *p, tq_vol_reader *r, tq_vol_writer *w,
                          const struct tq_box *out_box, struct tq_err *err);

#endif
