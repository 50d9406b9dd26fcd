/* dip.c - GST3D's per-voxel step: the dip of the eigenvector of a symmetric 3x3 tensor's largest eigenvalue,
 * in closed form, branch-free so that whole planes of voxels vectorise (checked against GSL in the tests). */
#include <math.h>
#include <immintrin.h>
#include <string.h>

#include "kernels.h"

/* dip_core (scalar), dip_plane_avx2 (4 voxels at a time) and dip_plane_avx512 (8) perform the same IEEE operations
 * in the same order, lane by lane: +, -, *, / and sqrt are correctly rounded, selects replace branches and nothing
 * is fused into an FMA (fp-contract off below: AVX-512F has FMA instructions of its own). So every voxel gets the
 * same bits whichever path and block computed it. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off") /* AVX-512F has FMA instructions of its own: GCC would fuse in dip8 */
#endif

/* atan(x) for x in [0, 1] as x * P(x^2), P of degree 7 fitted by least squares on [0, 1] (max error 2.9e-7 rad =
 * 1.7e-5 degree). */
static inline double atan01(double x)
{
    double z = x * x;
    double p = -0.005020576016063317;
    p = p * z + 0.025330154803904145;
    p = p * z - 0.0608725668951625;
    p = p * z + 0.10002088131304603;
    p = p * z - 0.14047784530571744;
    p = p * z + 0.19974023063825264;
    p = p * z - 0.333322322953556;
    p = p * z + 0.999999922736497;
    return x * p;
}

/* cos(arccos(r) / 3) for r in [-1, 1], the root in [0.5, 1] of 4c^3 - 3c = r: a degree-5 fit in s = sqrt((1 + r)
 * / 2) = cos(arccos(r) / 2) (max error 2.7e-6), polished by one Newton step on the cubic (error then ~1e-11 where
 * lambda_max is a simple root; near r = -1 it is a double root and the eigenvector is undefined anyway). */
static inline double cos_third_acos(double r)
{
    double s = sqrt(0.5 * (1 + r));
    double c = 0.004153836351740706;
    c = c * s - 0.01913355735266723;
    c = c * s + 0.04756315912966307;
    c = c * s - 0.10981502964445207;
    c = c * s + 0.5772309136940573;
    c = c * s + 0.5000026840050211;
    double d = 12 * c * c - 3, f = 4 * c * c * c - 3 * c - r;
    return d > 1e-9 ? c - f / d : c;
}

/* The dip of one tensor, or NaN when lambda_max is a double root (the caller then takes the slow path). */
static inline double dip_core(double a00, double a11, double a22, double a01, double a02, double a12)
{
    double p1 = a01 * a01 + a02 * a02 + a12 * a12, q = (a00 + a11 + a22) * (1.0 / 3);
    double b00 = a00 - q, b11 = a11 - q, b22 = a22 - q;
    double p2 = b00 * b00 + b11 * b11 + b22 * b22 + 2 * p1;
    double p = sqrt((p2 > 0 ? p2 : 6.0) * (1.0 / 6));
    double det = b00 * (b11 * b22 - a12 * a12) - a01 * (a01 * b22 - a12 * a02) + a02 * (a01 * a12 - b11 * a02);
    double r = det / (2 * p * p * p);
    r = r < -1 ? -1 : r;
    r = r > 1 ? 1 : r;
    double lam = q + 2 * p * cos_third_acos(r); /* the largest of the three roots */
    double m00 = a00 - lam, m11 = a11 - lam, m22 = a22 - lam;
    /* The eigenvector is orthogonal to every row of A - lam*I: take the longest cross product of two rows. */
    double x01 = a01 * a12 - a02 * m11, y01 = a02 * a01 - m00 * a12, z01 = m00 * m11 - a01 * a01;
    double x02 = a01 * m22 - a02 * a12, y02 = a02 * a02 - m00 * m22, z02 = m00 * a12 - a01 * a02;
    double x12 = m11 * m22 - a12 * a12, y12 = a12 * a02 - a01 * m22, z12 = a01 * a12 - m11 * a02;
    double n01 = x01 * x01 + y01 * y01 + z01 * z01, n02 = x02 * x02 + y02 * y02 + z02 * z02;
    double n12 = x12 * x12 + y12 * y12 + z12 * z12;
    int use02 = n02 > n01;
    double bx = use02 ? x02 : x01, by = use02 ? y02 : y01, bz = use02 ? z02 : z01, bn = use02 ? n02 : n01;
    int use12 = n12 > bn;
    bx = use12 ? x12 : bx;
    by = use12 ? y12 : by;
    bz = use12 ? z12 : bz;
    bn = use12 ? n12 : bn;
    /* arccos(|v_2| / |v|) as atan2(|v_xy|, |v_2|): well conditioned near 0 degree too */
    double h = sqrt(bx * bx + by * by), z = fabs(bz);
    int steep = h > z;
    double a = atan01(steep ? z / h : h / z);
    double deg = (steep ? M_PI / 2 - a : a) * (180.0 / M_PI);
    deg = bn > 0 ? deg : NAN;
    /* isotropic (p2 == 0): like numpy's eigh, whose last eigenvector is then the sample axis. A NaN tensor (NaN or
     * infinite input, which SciPy's filters spread the same way) keeps its NaN, as SciPy's result has it. */
    return p2 == 0 ? 0.0 : deg;
}

/* lambda_max is a double root, so any unit vector orthogonal to the non-zero row of A - lambda*I is an
 * eigenvector: take the one closest to the sample axis (e2 minus its component along that row). */
static double dip_double_root(const double t[6])
{
    double a00 = t[0], a11 = t[1], a22 = t[2], a01 = t[3], a02 = t[4], a12 = t[5];
    double q = (a00 + a11 + a22) / 3;
    double p = sqrt(((a00 - q) * (a00 - q) + (a11 - q) * (a11 - q) + (a22 - q) * (a22 - q) +
                     2 * (a01 * a01 + a02 * a02 + a12 * a12)) / 6);
    double lam = q + p; /* r = -1: the double root is q + 2p cos(pi/3) */
    double m[3][3] = {{a00 - lam, a01, a02}, {a01, a11 - lam, a12}, {a02, a12, a22 - lam}};
    int k = 0;
    double kn = 0;
    for (int i = 0; i < 3; i++) {
        double n = m[i][0] * m[i][0] + m[i][1] * m[i][1] + m[i][2] * m[i][2];
        if (n > kn) {
            kn = n;
            k = i;
        }
    }
    if (kn == 0)
        return 0;
    double v0 = -m[k][2] * m[k][0] / kn, v1 = -m[k][2] * m[k][1] / kn, v2 = 1 - m[k][2] * m[k][2] / kn;
    double h = sqrt(v0 * v0 + v1 * v1);
    return h == 0 && v2 == 0 ? 90.0 : atan2(h, fabs(v2)) * (180.0 / M_PI);
}

double tq_gst3d_dip(const double t[6])
{
    if (!isfinite(t[0] + t[1] + t[2] + t[3] + t[4] + t[5])) /* NaN or infinite: no direction, NaN as in SciPy */
        return NAN;
    double d = dip_core(t[0], t[1], t[2], t[3], t[4], t[5]);
    return isnan(d) ? dip_double_root(t) : d;
}

__attribute__((target("avx2"))) static __m256d sel(__m256d mask, __m256d yes, __m256d no)
{
    return _mm256_blendv_pd(no, yes, mask);
}

/* dip_core for 4 voxels; see the comment at the top for why it must mirror dip_core operation by operation. */
__attribute__((target("avx2"))) static __m128 dip4(__m256d a00, __m256d a11, __m256d a22, __m256d a01, __m256d a02,
                                                    __m256d a12)
{
#define VD __m256d
#define VM __m256d
#define SET1 _mm256_set1_pd
#define MUL _mm256_mul_pd
#define ADD _mm256_add_pd
#define SUB _mm256_sub_pd
#define DIV _mm256_div_pd
#define SQRT _mm256_sqrt_pd
#define ABS(x) _mm256_andnot_pd(SET1(-0.0), x)
#define CMP _mm256_cmp_pd
#define GT(a, b) _mm256_cmp_pd(a, b, _CMP_GT_OQ)
#define SEL sel
#define TO_FLOAT _mm256_cvtpd_ps
#include "dip_lanes.h"
}

/* dip4 for 8 voxels with AVX-512 (CPUs that have it run the latency-bound chain of divisions and square roots on
 * twice the voxels per instruction): the same operations lane by lane, so the same bits. */
__attribute__((target("avx512f"))) static __m256 dip8(__m512d a00, __m512d a11, __m512d a22, __m512d a01, __m512d a02,
                                                      __m512d a12)
{
#define VD __m512d
#define VM __mmask8
#define SET1 _mm512_set1_pd
#define MUL _mm512_mul_pd
#define ADD _mm512_add_pd
#define SUB _mm512_sub_pd
#define DIV _mm512_div_pd
#define SQRT _mm512_sqrt_pd
#define ABS _mm512_abs_pd
#define CMP _mm512_cmp_pd_mask
#define GT(a, b) _mm512_cmp_pd_mask(a, b, _CMP_GT_OQ)
#define SEL(m, yes, no) _mm512_mask_blend_pd(m, no, yes)
#define TO_FLOAT _mm512_cvtpd_ps
#include "dip_lanes.h"
}


__attribute__((target("avx512f"))) static void dip_plane_avx512(const float *const t[6], size_t n, float *out)
{
#define LD(p) _mm512_cvtps_pd(_mm256_loadu_ps(p))
    size_t v = 0;
    for (; v + 8 <= n; v += 8)
        _mm256_storeu_ps(out + v, dip8(LD(t[0] + v), LD(t[1] + v), LD(t[2] + v), LD(t[3] + v), LD(t[4] + v),
                                       LD(t[5] + v)));
    if (v == n)
        return;
    /* the tail goes through the same vector code, zero-padded (a zero tensor is harmless: dip 0) */
    float pad[6][8] = {{0}}, res[8];
    for (int k = 0; k < 6; k++)
        memcpy(pad[k], t[k] + v, (n - v) * sizeof(float));
    _mm256_storeu_ps(res, dip8(LD(pad[0]), LD(pad[1]), LD(pad[2]), LD(pad[3]), LD(pad[4]), LD(pad[5])));
    memcpy(out + v, res, (n - v) * sizeof(float));
#undef LD
}

__attribute__((target("avx2"))) static void dip_plane_avx2(const float *const t[6], size_t n, float *out)
{
    size_t v = 0;
    for (; v + 4 <= n; v += 4)
        _mm_storeu_ps(out + v, dip4(_mm256_cvtps_pd(_mm_loadu_ps(t[0] + v)), _mm256_cvtps_pd(_mm_loadu_ps(t[1] + v)),
                                    _mm256_cvtps_pd(_mm_loadu_ps(t[2] + v)), _mm256_cvtps_pd(_mm_loadu_ps(t[3] + v)),
                                    _mm256_cvtps_pd(_mm_loadu_ps(t[4] + v)), _mm256_cvtps_pd(_mm_loadu_ps(t[5] + v))));
    if (v == n)
        return;
    /* the tail goes through the same vector code, zero-padded (a zero tensor is harmless: dip 0) */
    float pad[6][4] = {{0}}, res[4];
    for (int k = 0; k < 6; k++)
        memcpy(pad[k], t[k] + v, (n - v) * sizeof(float));
    _mm_storeu_ps(res, dip4(_mm256_cvtps_pd(_mm_loadu_ps(pad[0])), _mm256_cvtps_pd(_mm_loadu_ps(pad[1])),
                            _mm256_cvtps_pd(_mm_loadu_ps(pad[2])), _mm256_cvtps_pd(_mm_loadu_ps(pad[3])),
                            _mm256_cvtps_pd(_mm_loadu_ps(pad[4])), _mm256_cvtps_pd(_mm_loadu_ps(pad[5]))));
    memcpy(out + v, res, (n - v) * sizeof(float));
}

int tq_gst3d_dip_lanes(int max_lanes)
{
    if (max_lanes >= 8 && __builtin_cpu_supports("avx512f"))
        return 8;
    if (max_lanes >= 4 && __builtin_cpu_supports("avx2"))
        return 4;
    return 1;
}

void tq_gst3d_dip_plane_lanes(const float *ten, size_t n, float *out, int max_lanes)
{
    const float *t[6] = {ten, ten + n, ten + 2 * n, ten + 3 * n, ten + 4 * n, ten + 5 * n};
    int lanes = tq_gst3d_dip_lanes(max_lanes);
    if (lanes == 8)
        dip_plane_avx512(t, n, out);
    else if (lanes == 4)
        dip_plane_avx2(t, n, out);
    else
        for (size_t v = 0; v < n; v++)
            out[v] = (float)dip_core(t[0][v], t[1][v], t[2][v], t[3][v], t[4][v], t[5][v]);
    for (size_t v = 0; v < n; v++)
        if (isnan(out[v])) {
            double d[6] = {t[0][v], t[1][v], t[2][v], t[3][v], t[4][v], t[5][v]};
            out[v] = (float)tq_gst3d_dip(d);
        }
}

void tq_gst3d_dip_plane(const float *ten, size_t n, float *out)
{
    tq_gst3d_dip_plane_lanes(ten, n, out, 8);
}
