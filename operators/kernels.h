/* kernels.h - the per-operator functions the table in operator.c points at (internal to operators/). */
#ifndef TQ_KERNELS_H
#define TQ_KERNELS_H

#include "operator.h"

void tq_envelope_halo(const struct tq_op_params *p, size_t halo[3]);
tq_status tq_envelope_compute(const struct tq_op_params *p, const struct tq_block_io *io, struct tq_err *err);

void tq_gaussian_halo(const struct tq_op_params *p, size_t halo[3]);
tq_status tq_gaussian_compute(const struct tq_op_params *p, const struct tq_block_io *io, struct tq_err *err);

void tq_gst3d_halo(const struct tq_op_params *p, size_t halo[3]);
size_t tq_gst3d_trim(const struct tq_op_params *p);
tq_status tq_gst3d_compute(const struct tq_op_params *p, const struct tq_block_io *io, struct tq_err *err);
/* Dip in degrees [0, 90] of the symmetric tensor t = (a00, a11, a22, a01, a02, a12): arccos(|v_2|) of the unit
 * eigenvector v of its largest eigenvalue (closed form, double). 0 for an isotropic tensor, NaN when a component is
 * NaN or infinite (as SciPy's filters leave the tensor of a voxel near a NaN input). Can't fail. */
double tq_gst3d_dip(const double t[6]);
/* out[v] = tq_gst3d_dip of voxel v for n voxels whose six tensor components are the planes ten[k * n + v]
 * (vectorised; the same value as tq_gst3d_dip gives, bit for bit). Can't fail. */
void tq_gst3d_dip_plane(const float *ten, size_t n, float *out);
/* tq_gst3d_dip_plane on at most max_lanes voxels per step: 8 (AVX-512), 4 (AVX2) or 1 (scalar), as far as the CPU
 * has them; tq_gst3d_dip_lanes(max_lanes) says which it takes. Every path gives the same bits (the tests compare
 * them all). Can't fail. */
void tq_gst3d_dip_plane_lanes(const float *ten, size_t n, float *out, int max_lanes);
int tq_gst3d_dip_lanes(int max_lanes);

/* Trim of operators that keep the input shape: 0. Can't fail. */
size_t tq_op_no_trim(const struct tq_op_params *p);

#endif
