/* operator.h - the one table of seismic operators: name, halo per axis, axis rules and the block kernel.
 *
 * Contract used by the planner (model/plan.c) and the runner: an operator computes any box of its output
 * from the input box grown by its halo (clamped to the volume); at the volume's true faces it applies scipy's
 * 'reflect' boundary itself. Coordinates of output boxes are output-volume coordinates; an operator whose output is
 * trimmed (GST3D, like the original) has output shape = input shape - 2*trim per axis, and output voxel x
 * corresponds to input voxel x + trim. Adding an operator is adding one entry to the table in operator.c. */
#ifndef TQ_OPERATOR_H
#define TQ_OPERATOR_H

#include <stddef.h>

#include "../common/status.h"
#include "box.h"

#define TQ_HALO_WHOLE ((size_t)-1) /* halo value meaning "the whole axis is needed" (Envelope along samples) */
#define TQ_OP_MAX_RADIUS 4096      /* largest Gaussian radius accepted (truncate * sigma) */

/* Parameters shared by all operators; fields an operator does not use are ignored. */
struct tq_op_params {
    double sigma[3]; /* Gaussian: per-axis sigma (default 3,3,3) */
    double truncate; /* Gaussian: radius = (int)(truncate * sigma + 0.5) (default 4.0) */
    int full_size;   /* GST3D: 1 = full-size output, 0 = trim one voxel per face like the original (default 0) */
    int threads;     /* worker threads inside one block; 0 = number of cores */
    size_t slab_bytes; /* tq_op_run streams blocks in slabs of this many output bytes (0 = TQ_OP_SLAB_BYTES) */
    size_t cmd_halo[3]; /* a user command's halo per axis (TQ_HALO_WHOLE allowed); see usercmd.h */
    size_t cmd_trim;    /* a user command's trim per face */
};

struct tq_op_scratch; /* scratch.h */

/* Everything one kernel call needs: the input box (block + halo, clamped) and the output box to fill. */
struct tq_block_io {
    size_t vol_shape[3];    /* shape of the whole input volume */
    struct tq_box in_box;   /* the region of the input held in `in`, input coordinates */
    const float *in;        /* in_box voxels, C order; borrowed */
    struct tq_box out_box;  /* the region of the output to compute, output coordinates */
    float *out;             /* out_box voxels, C order; borrowed, written by the kernel. NULL (only for an operator
                               whose table entry has put_inlines, and only with put_inline set): there is no output
                               buffer, the kernel hands every output inline to put_inline instead */
    struct tq_op_scratch *scratch; /* per-thread scratch kept across calls (tq_op_run's slabs); borrowed; NULL =
                                      the kernel maps and unmaps its own */
    /* Optional (NULL: nobody listens). A kernel that fills `out` inline by inline calls it from the worker that
     * computed them, once output inlines [lo, hi) (output coordinates, inside out_box) are final, each inline once;
     * tq_op_run writes them to its sink at once, so the writing overlaps the other workers' compute instead of
     * following it. Its failure (the sink's I/O error) is the kernel's to return. Inlines a kernel does not report
     * are written after compute returns. */
    tq_status (*inlines_done)(const struct tq_block_io *io, size_t lo, size_t hi, struct tq_err *err);
    void *done_ctx; /* the caller's state for inlines_done (and put_inline) */
    /* Set with out NULL: the kernel computes output inline x (output coordinates, inside out_box) into a buffer of
     * its own (one out_box plane, C order) and calls this from that worker, once per inline, to have it written to
     * the output at once. Its failure (the sink's I/O error) is the kernel's to return. */
    tq_status (*put_inline)(const struct tq_block_io *io, size_t x, const float *plane, struct tq_err *err);
};

struct tq_op {
    const char *name;   /* "envelope", "gaussian", "gst3d" */
    const char *title;  /* one line for help text */
    unsigned splittable; /* bit a set: axis a may be cut into chunks (Envelope: axes 0 and 1 only) */
    /* Halo per axis in input voxels (TQ_HALO_WHOLE for a whole axis). Can't fail. */
    void (*halo)(const struct tq_op_params *p, size_t halo[3]);
    /* Voxels trimmed off each face of the output (0 for all but trimmed GST3D). Can't fail. */
    size_t (*trim)(const struct tq_op_params *p);
    /* Compute io->out_box from io->in. io->in_box may be any superset of tq_op_input_box(io->out_box); the result
     * is bit-identical whatever the block (see operators/OPERATORS.md). Runs tq_op_threads(p) threads.
     * Fails with TQ_ERR_USAGE when in_box does not cover the need or out_box is outside the output,
     * TQ_ERR_NOMEM when scratch memory is missing. */
    tq_status (*compute)(const struct tq_op_params *p, const struct tq_block_io *io, struct tq_err *err);
    /* 1: compute() also takes io->out NULL with io->put_inline set (one plane per worker instead of a slab of
     * output): tq_op_run then holds no output slab buffer. */
    int put_inlines;
};

/* The operator called `name`, or NULL. Can't fail. */
const struct tq_op *tq_op_find(const char *name);

/* The table, ended by an entry with name NULL. */
extern const struct tq_op tq_ops[];

/* Default parameters (sigma 3, truncate 4, trimmed, all cores). Can't fail. */
void tq_op_params_default(struct tq_op_params *p);

/* Check parameters for `op`: sigma and truncate finite and > 0 (Gaussian), radius <= TQ_OP_MAX_RADIUS,
 * threads >= 0. Fails with TQ_ERR_RANGE naming the bad value. */
tq_status tq_op_params_check(const struct tq_op *op, const struct tq_op_params *p, struct tq_err *err);

/* Gaussian radius along axis a: (int)(truncate * sigma[a] + 0.5), as scipy.ndimage computes it. Can't fail. */
size_t tq_op_gauss_radius(const struct tq_op_params *p, int a);

/* The number of worker threads `p->threads` asks for (0 = online cores, at least 1). Can't fail. */
int tq_op_threads(const struct tq_op_params *p);

/* Fails with TQ_ERR_USAGE unless io->in_box contains tq_op_input_box(io->out_box), out_box lies inside the
 * output volume and the output has somewhere to go (io->out, or for an operator with put_inlines io->put_inline);
 * kernels call it first, so any superset of the needed input is accepted. */
tq_status tq_op_check_io(const struct tq_op *op, const struct tq_op_params *p, const struct tq_block_io *io,
                         struct tq_err *err);

/* Output shape of `op` for an input of in_shape; fails with TQ_ERR_RANGE when the input is too small. */
tq_status tq_op_output_shape(const struct tq_op *op, const struct tq_op_params *p, const size_t in_shape[3],
                             size_t out_shape[3], struct tq_err *err);

/* The input box (output box shifted by trim, grown by the halo, clamped to the volume) needed for out_box.
 * Can't fail (out_box must lie inside the output volume). */
void tq_op_input_box(const struct tq_op *op, const struct tq_op_params *p, const size_t vol_shape[3],
                     const struct tq_box *out_box, struct tq_box *in_box);

#endif
