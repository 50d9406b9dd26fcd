/* operator.c - the operator table and what the planner and runner need around it: lookup, parameter defaults
 * and checks, output shape and the input box of an output block. */
#include "operator.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

#include "kernels.h"

const struct tq_op tq_ops[] = {
    {"envelope", "|analytic signal| along samples = abs(scipy.signal.hilbert(x, axis=-1))", 0x3u,
     tq_envelope_halo, tq_op_no_trim, tq_envelope_compute, 0},
    {"gaussian", "scipy.ndimage.gaussian_filter(x, sigma, truncate=4, mode='reflect')", 0x7u, tq_gaussian_halo,
     tq_op_no_trim, tq_gaussian_compute, 0},
    {"gst3d", "gradient structure tensor dip in degrees (0 = flat layers), trimmed 1 voxel per face", 0x7u,
     tq_gst3d_halo, tq_gst3d_trim, tq_gst3d_compute, 1},
    {NULL, NULL, 0, NULL, NULL, NULL, 0},
};

const struct tq_op *tq_op_find(const char *name)
{
    for (const struct tq_op *op = tq_ops; name && op->name; op++)
        if (!strcmp(op->name, name))
            return op;
    return NULL;
}

void tq_op_params_default(struct tq_op_params *p)
{
    *p = (struct tq_op_params){.sigma = {3.0, 3.0, 3.0}, .truncate = 4.0, .full_size = 0, .threads = 0,
                               .slab_bytes = 0};
}

size_t tq_op_no_trim(const struct tq_op_params *p)
{
    (void)p;
    return 0;
}

size_t tq_op_gauss_radius(const struct tq_op_params *p, int a)
{
    return (size_t)(p->truncate * p->sigma[a] + 0.5);
}

int tq_op_threads(const struct tq_op_params *p)
{
    if (p->threads > 0)
        return p->threads;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

tq_status tq_op_params_check(const struct tq_op *op, const struct tq_op_params *p, struct tq_err *err)
{
    if (p->threads < 0)
        return tq_fail(err, TQ_ERR_RANGE, "threads must be >= 0 (0 = all cores), got %d", p->threads);
    if (op->compute != tq_gaussian_compute)
        return TQ_OK;
    if (!isfinite(p->truncate) || p->truncate <= 0)
        return tq_fail(err, TQ_ERR_RANGE, "truncate must be > 0, got %g", p->truncate);
    for (int a = 0; a < 3; a++) {
        if (!isfinite(p->sigma[a]) || p->sigma[a] <= 0)
            return tq_fail(err, TQ_ERR_RANGE, "sigma must be > 0 on every axis, got %g on axis %d", p->sigma[a], a);
        if (p->truncate * p->sigma[a] + 0.5 > TQ_OP_MAX_RADIUS)
            return tq_fail(err, TQ_ERR_RANGE, "sigma %g on axis %d gives a radius above %d", p->sigma[a], a,
                           TQ_OP_MAX_RADIUS);
    }
    return TQ_OK;
}

tq_status tq_op_output_shape(const struct tq_op *op, const struct tq_op_params *p, const size_t in_shape[3],
                             size_t out_shape[3], struct tq_err *err)
{
    size_t trim = op->trim(p);
    for (int a = 0; a < 3; a++) {
        if (in_shape[a] == 0)
            return tq_fail(err, TQ_ERR_RANGE, "input axis %d has size 0", a);
        if (in_shape[a] <= 2 * trim)
            return tq_fail(err, TQ_ERR_RANGE,
                           "%s trims %zu voxel(s) per face, so every axis needs more than %zu voxels (axis %d has "
                           "%zu)%s", op->name, trim, 2 * trim, a, in_shape[a],
                           op->trim == tq_gst3d_trim ? "; use the full-size output" : "");
        out_shape[a] = in_shape[a] - 2 * trim;
    }
    return TQ_OK;
}

void tq_op_input_box(const struct tq_op *op, const struct tq_op_params *p, const size_t vol_shape[3],
                     const struct tq_box *out_box, struct tq_box *in_box)
{
    size_t halo[3], trim = op->trim(p);
    op->halo(p, halo);
    for (int a = 0; a < 3; a++) {
        size_t lo = out_box->lo[a] + trim, hi = out_box->hi[a] + trim;
        if (halo[a] == TQ_HALO_WHOLE) {
            lo = 0;
            hi = vol_shape[a];
        } else {
            lo = lo > halo[a] ? lo - halo[a] : 0;
            hi = vol_shape[a] - hi > halo[a] ? hi + halo[a] : vol_shape[a];
        }
        in_box->lo[a] = lo;
        in_box->hi[a] = hi;
    }
}

tq_status tq_op_check_io(const struct tq_op *op, const struct tq_op_params *p, const struct tq_block_io *io,
                         struct tq_err *err)
{
    size_t out_shape[3];
    TQ_TRY(tq_op_output_shape(op, p, io->vol_shape, out_shape, err));
    for (int a = 0; a < 3; a++)
        if (io->out_box.lo[a] >= io->out_box.hi[a] || io->out_box.hi[a] > out_shape[a])
            return tq_fail(err, TQ_ERR_USAGE, "%s: output block [%zu,%zu) on axis %d is empty or outside the output "
                           "(size %zu)", op->name, io->out_box.lo[a], io->out_box.hi[a], a, out_shape[a]);
    if (!io->out && !(op->put_inlines && io->put_inline))
        return tq_fail(err, TQ_ERR_USAGE, "%s: no output buffer%s", op->name,
                       op->put_inlines ? " and no put_inline" : "");
    struct tq_box need;
    tq_op_input_box(op, p, io->vol_shape, &io->out_box, &need);
    for (int a = 0; a < 3; a++)
        if (io->in_box.lo[a] > need.lo[a] || io->in_box.hi[a] < need.hi[a] || io->in_box.hi[a] > io->vol_shape[a])
            return tq_fail(err, TQ_ERR_USAGE, "%s: input block [%zu,%zu) on axis %d does not cover the needed "
                           "[%zu,%zu)", op->name, io->in_box.lo[a], io->in_box.hi[a], a, need.lo[a], need.hi[a]);
    return TQ_OK;
}
