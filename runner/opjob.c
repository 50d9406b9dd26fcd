/* opjob.c - the work of one runner worker: its own reader on the input, then the operators' block executor
 * (read block + halo, compute, write; see block_exec.h). */
#include "opjob.h"

#include "../operators/block_exec.h"

tq_status tq_opjob_block(void *ctx, const struct tq_box *out, struct tq_err *err)
{
    const struct tq_opjob *job = ctx;
    /* Each worker opens its own reader, so no reader state is shared between processes. */
    tq_vol_reader *r = NULL;
    tq_status st = tq_vol_reader_open(job->input, &r, err);
    if (st == TQ_OK)
        st = tq_op_run_block(job->op, &job->params, r, job->writer, out, err);
    tq_vol_reader_free(r);
    return st;
}
