/* filter1d.c - scipy-compatible 1-D correlation along rows (see filter1d.h). */
#include "filter1d.h"
#include "../common/alloc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Never fuse a*b+c into an FMA: a fused vector body next to an unfused scalar tail would break bit-identity. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

tq_status tq_taps_from(const double *w, size_t r, struct tq_taps *tp, struct tq_err *err)
{
    int sym = 1, anti = 1;
    for (size_t t = 1; t <= r; t++) {
        sym &= w[r - t] == w[r + t];
        anti &= w[r - t] == -w[r + t];
    }
    if (!sym && !(anti && w[r] == 0.0))
        return tq_fail(err, TQ_ERR_USAGE, "correlation weights are neither symmetric nor antisymmetric");
    tp->w = tq_malloc((r + 1) * sizeof *tp->w);
    if (!tp->w)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory for %zu filter weights", r + 1);
    tp->r = r;
    tp->anti = !sym;
    for (size_t t = 0; t <= r; t++)
        tp->w[t] = (float)w[r - t];
    return TQ_OK;
}

tq_status tq_taps_gauss(double sigma, size_t radius, struct tq_taps *tp, struct tq_err *err)
{
    double *w = tq_malloc((2 * radius + 1) * sizeof *w);
    if (!w)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory for %zu filter weights", 2 * radius + 1);
    /* Same formula and order as scipy's _gaussian_kernel1d: exp(-0.5 / sigma^2 * x^2), then divide by the sum. */
    double s2 = sigma * sigma, sum = 0;
    for (size_t q = 0; q <= 2 * radius; q++) {
        double x = (double)q - (double)radius;
        w[q] = exp(-0.5 / s2 * x * x);
        sum += w[q];
    }
    for (size_t q = 0; q <= 2 * radius; q++)
        w[q] /= sum;
    tq_status st = tq_taps_from(w, radius, tp, err);
    free(w);
    return st;
}

void tq_taps_free(struct tq_taps *tp)
{
    free(tp->w);
    tp->w = NULL;
}

typedef float v8f __attribute__((vector_size(32)));

/* An unaligned 8-float load (a macro: returning a v8f from a function would change the ABI without AVX). */
#define load8(p)                          \
    __extension__({                       \
        v8f load8_v_;                     \
        memcpy(&load8_v_, (p), sizeof load8_v_); \
        load8_v_;                         \
    })

/* The vector bodies and the scalar tail below do, lane by lane, the same float operations in the same order (no
 * FMA contraction, see the pragma above), so a voxel's value never depends on where its row was cut: that is what
 * makes blocks bit-identical to the whole. AVX2 clones only widen the lanes; IEEE results stay the same. Four
 * independent accumulators per step hide the add latency. */
#define TQ_ROWS_KERNEL(name, OP)                                                                                   \
    __attribute__((target_clones("avx2", "default"))) static void name(const float *w, size_t r,                  \
                                                                       const float *const *rows, size_t n,         \
                                                                       float *out)                                 \
    {                                                                                                              \
        size_t k = 0;                                                                                              \
        for (; k + 32 <= n; k += 32) {                                                                             \
            v8f a0 = w[0] * load8(rows[r] + k), a1 = w[0] * load8(rows[r] + k + 8);                                \
            v8f a2 = w[0] * load8(rows[r] + k + 16), a3 = w[0] * load8(rows[r] + k + 24);                          \
            for (size_t t = r; t >= 1; t--) {                                                                      \
                const float *m = rows[r - t] + k, *p = rows[r + t] + k;                                            \
                a0 = a0 + w[t] * (load8(m) OP load8(p));                                                           \
                a1 = a1 + w[t] * (load8(m + 8) OP load8(p + 8));                                                   \
                a2 = a2 + w[t] * (load8(m + 16) OP load8(p + 16));                                                 \
                a3 = a3 + w[t] * (load8(m + 24) OP load8(p + 24));                                                 \
            }                                                                                                      \
            memcpy(out + k, &a0, sizeof a0);                                                                       \
            memcpy(out + k + 8, &a1, sizeof a1);                                                                   \
            memcpy(out + k + 16, &a2, sizeof a2);                                                                  \
            memcpy(out + k + 24, &a3, sizeof a3);                                                                  \
        }                                                                                                          \
        for (; k + 8 <= n; k += 8) {                                                                               \
            v8f acc = w[0] * load8(rows[r] + k);                                                                   \
            for (size_t t = r; t >= 1; t--)                                                                        \
                acc = acc + w[t] * (load8(rows[r - t] + k) OP load8(rows[r + t] + k));                             \
            memcpy(out + k, &acc, sizeof acc);                                                                     \
        }                                                                                                          \
        for (; k < n; k++) {                                                                                       \
            float acc = w[0] * rows[r][k];                                                                         \
            for (size_t t = r; t >= 1; t--)                                                                        \
                acc = acc + w[t] * (rows[r - t][k] OP rows[r + t][k]);                                             \
            out[k] = acc;                                                                                          \
        }                                                                                                          \
    }

TQ_ROWS_KERNEL(rows_sym, +)
TQ_ROWS_KERNEL(rows_anti, -)

void tq_f1d_rows(const struct tq_taps *tp, const float *const *rows, size_t n, float *out)
{
    if (tp->anti)
        rows_anti(tp->w, tp->r, rows, n, out);
    else
        rows_sym(tp->w, tp->r, rows, n, out);
}

static long long clamp_ll(long long v, long long lo, long long hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

void tq_f1d_extend(const float *line, size_t lo, size_t n, long long from, size_t count, float *ext)
{
    /* q in [a, b) reads indices inside [0, n): a straight copy; only the ends need tq_reflect (and its division). */
    long long c = (long long)count, a = clamp_ll(-from, 0, c), b = clamp_ll((long long)n - from, a, c);
    for (long long q = 0; q < a; q++)
        ext[q] = line[tq_reflect(from + q, n) - lo];
    if (b > a)
        memcpy(ext + a, line + (from + a - (long long)lo), (size_t)(b - a) * sizeof *ext);
    for (long long q = b; q < c; q++)
        ext[q] = line[tq_reflect(from + q, n) - lo];
}

void tq_f1d_line(const struct tq_taps *tp, const float *line, size_t lo, size_t n, size_t out_lo, size_t count,
                 float *ext, const float **rows, float *out)
{
    size_t r = tp->r;
    tq_f1d_extend(line, lo, n, (long long)out_lo - (long long)r, count + 2 * r, ext);
    for (size_t q = 0; q <= 2 * r; q++)
        rows[q] = ext + q;
    tq_f1d_rows(tp, rows, count, out);
}
