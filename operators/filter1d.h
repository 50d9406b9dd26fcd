/* filter1d.h - the 1-D correlation pieces every operator shares: scipy 'reflect' indexing and a vectorised row
 * kernel whose result for one voxel never depends on where the row starts or ends (so blocks equal the whole). */
#ifndef TQ_FILTER1D_H
#define TQ_FILTER1D_H

#include <stddef.h>

#include "../common/status.h"

/* A symmetric (anti = 0) or antisymmetric (anti = 1) correlation kernel of radius r: w[0] is the centre weight and
 * w[t] the weight at offset -t; the weight at +t is w[t] (symmetric) or -w[t] (antisymmetric). */
struct tq_taps {
    size_t r;
    int anti;
    float *w; /* r + 1 weights, owned (tq_taps_free) */
};

/* scipy.ndimage mode 'reflect' (half-sample symmetric, d c b a | a b c d, repeated with period 2n, so it also
 * works for axes shorter than the radius): the in-axis index standing for index i of an axis of length n >= 1.
 * Can't fail. */
static inline size_t tq_reflect(long long i, size_t n)
{
    long long p = 2 * (long long)n;
    long long m = i % p;
    if (m < 0)
        m += p;
    return (size_t)(m >= (long long)n ? p - 1 - m : m);
}

/* Fill `tp` from explicit weights w[-r..r] (2r+1 values) that are symmetric or antisymmetric about the centre.
 * Fails with TQ_ERR_USAGE when they are neither, TQ_ERR_NOMEM without memory. */
tq_status tq_taps_from(const double *w, size_t r, struct tq_taps *tp, struct tq_err *err);

/* scipy.ndimage.gaussian_filter1d's weights for `sigma` and `radius` (exp(-x^2 / 2 sigma^2), normalised to sum 1,
 * computed in double like scipy, stored as float). Fails with TQ_ERR_NOMEM. */
tq_status tq_taps_gauss(double sigma, size_t radius, struct tq_taps *tp, struct tq_err *err);

/* Release the weights; safe on a zeroed or already freed struct. */
void tq_taps_free(struct tq_taps *tp);

/* out[k] = w[0]*c[k] + sum over t = r..1 of w[t] * (m_t[k] +- p_t[k]), k < n, in float, where rows[r] = c,
 * rows[r - t] = m_t (the row at offset -t) and rows[r + t] = p_t. Every k gets the same operations in the same
 * order whatever n is (vector body and tail alike), so results are bit-identical across block shapes.
 * Can't fail. */
void tq_f1d_rows(const struct tq_taps *tp, const float *const *rows, size_t n, float *out);

/* Pad one line along its axis for tq_f1d_rows: ext[q] = line[tq_reflect(from + q, n) - lo] for q < count, where
 * `line` holds the axis indices [lo, lo + len) of an axis of length n. Can't fail (indices must be covered). */
void tq_f1d_extend(const float *line, size_t lo, size_t n, long long from, size_t count, float *ext);

/* Correlate one line along its own axis: out[k] for axis indices [out_lo, out_lo + count), reading `line` (axis
 * indices [lo, lo + len) of an axis of length n, reflect at 0 and n) through the scratch `ext`
 * (count + 2r floats) and `rows` (2r + 1 pointers). Can't fail. */
void tq_f1d_line(const struct tq_taps *tp, const float *line, size_t lo, size_t n, size_t out_lo, size_t count,
                 float *ext, const float **rows, float *out);

#endif
