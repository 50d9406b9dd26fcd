/* opjob.h - one operator over one volume file as a runner task (runner.h): each worker process opens its own
 * reader on the input, reads only its block plus halo, computes it, and writes the block into the shared output. */
#ifndef TQ_OPJOB_H
#define TQ_OPJOB_H

#include <stddef.h>

#include "../common/status.h"
#include "../operators/box.h"
#include "../operators/operator.h"
#include "../operators/volume.h"

struct tq_opjob {
    const struct tq_op *op;         /* borrowed */
    struct tq_op_params params;
    const char *input;              /* input volume path; borrowed */
    size_t in_shape[3];
    tq_vol_writer *writer;          /* the output, created (or reopened) before the workers fork; borrowed */
};

/* Runner compute callback (ctx is a struct tq_opjob): compute output box `out` and write it. Fails like
 * tq_vol_reader_open / tq_vol_read_box / the operator's compute / tq_vol_write_box, with the step named. */
tq_status tq_opjob_block(void *ctx, const struct tq_box *out, struct tq_err *err);

#endif
