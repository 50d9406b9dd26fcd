/* opjob.c - read block + halo, compute, write: the work of one runner worker (see opjob.h). */
#include "opjob.h"

#include <stdlib.h>
#include <string.h>

tq_status tq_opjob_block(void *ctx, const struct tq_box *out, struct tq_err *err)
{
    const struct tq_opjob *job = ctx;
    struct tq_block_io io = {.out_box = *out};
    memcpy(io.vol_shape, job->in_shape, sizeof io.vol_shape);
    tq_op_input_box(job->op, &job->params, job->in_shape, out, &io.in_box);
    /* Each worker opens its own reader: a reader's buffers and format state are not shared across processes. */
    tq_vol_reader *r = NULL;
    float *in = NULL, *res = NULL;
    tq_status st = tq_vol_reader_open(job->input, &r, err);
    if (st == TQ_OK) {
        in = malloc(tq_box_voxels(&io.in_box) * sizeof *in);
        res = malloc(tq_box_voxels(out) * sizeof *res);
        if (!in || !res)
            st = tq_fail(err, TQ_ERR_NOMEM, "no memory for a %zu-voxel block", tq_box_voxels(&io.in_box));
    }
    if (st == TQ_OK)
        st = tq_vol_read_box(r, &io.in_box, in, err);
    if (st == TQ_OK) {
        io.in = in;
        io.out = res;
        st = job->op->compute(&job->params, &io, err);
    }
    free(in); /* before the write: the input is no longer needed and the limit is per process */
    in = NULL;
    if (st == TQ_OK)
        st = tq_vol_write_box(job->writer, out, res, err);
    free(res);
    tq_vol_reader_free(r);
    return st;
}
