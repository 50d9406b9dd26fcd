/* synth.c - the deterministic synthetic seismic volumes: ours (a Ricker wavelet convolved with a seeded random
 * reflectivity that follows dipping, folded layers, plus a little noise) and a replica of the original system's
 * one-trace volume as it saved it. Any box is computed on its own. */
#include "volume.h"
#include "../common/alloc.h"

#include <math.h>
#include <stdlib.h>

#define SYN_FREQ 25.0       /* Ricker peak frequency, Hz */
#define SYN_DT 0.004        /* sample interval, s */
#define SYN_WAVELET_LEN 250 /* wavelet samples; centre (t = 0) at index SYN_WAVELET_LEN / 2 */
#define SYN_TAP_EPS 1e-9    /* taps below this fraction of the peak are dropped (far below float32 resolution) */
#define SYN_NOISE 0.05      /* uniform noise amplitude; the signal's standard deviation is about 1 */
#define SYN_SLAB_BYTES (64u << 20) /* tq_synth_write_file generates and writes this much at a time */

/* The model's parameters, all drawn from the seed. Shifts are in samples; lengths in traces. */
struct syn_model {
    uint64_t seed;
    double dip_i, dip_j;        /* planar dip, samples per trace */
    double fold_amp;            /* fold amplitude at depth scale 1 */
    double fold_len_i, fold_len_j;
    double phase_i, phase_j;
    double taper_len_i;         /* a second, gentler fold along inlines so layers are not separable */
};

/* splitmix64: a strong 64-bit mixer, so every (seed, index) gives an independent-looking value. */
static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* A uniform value in [-1, 1) from a hash. */
static double unit_signed(uint64_t h)
{
    return (double)(h >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

static double param(uint64_t seed, uint64_t k, double lo, double hi)
{
    return lo + (hi - lo) * 0.5 * (unit_signed(mix64(seed ^ mix64(0x5157u + k))) + 1.0);
}

static void model_init(struct syn_model *m, uint64_t seed)
{
    m->seed = seed;
    /* dips of 0.25..0.6 samples per trace either way: never flat, so every axis carries structure */
    m->dip_i = param(seed, 1, 0.25, 0.6) * (param(seed, 9, -1, 1) < 0 ? -1 : 1);
    m->dip_j = param(seed, 2, 0.25, 0.6) * (param(seed, 10, -1, 1) < 0 ? -1 : 1);
    m->fold_amp = param(seed, 3, 5.0, 12.0);
    m->fold_len_i = param(seed, 4, 60.0, 140.0);
    m->fold_len_j = param(seed, 5, 60.0, 140.0);
    m->phase_i = param(seed, 6, 0.0, 2 * M_PI);
    m->phase_j = param(seed, 7, 0.0, 2 * M_PI);
    m->taper_len_i = param(seed, 8, 150.0, 300.0);
}

/* Layer shift of trace (i, j) at depth scale 1; the structure deepens with time (see depth_scale). */
static double trace_shift(const struct syn_model *m, size_t i, size_t j)
{
    double di = (double)i, dj = (double)j;
    return m->dip_i * di + m->dip_j * dj +
           m->fold_amp * sin(2 * M_PI * di / m->fold_len_i + m->phase_i) *
               cos(2 * M_PI * dj / m->fold_len_j + m->phase_j) +
           0.5 * m->fold_amp * sin(2 * M_PI * (di + dj) / m->taper_len_i);
}

/* Folds grow with depth so layers are not parallel: the shift at sample k is trace_shift * depth_scale(k). */
static double depth_scale(size_t k)
{
    return 0.4 + (double)k / 400.0;
}

/* Reflectivity of geological time u (a real number): the seeded series R[n] = U(-1, 1), linearly interpolated. */
static double reflectivity(const struct syn_model *m, double u)
{
    double f = floor(u);
    int64_t n = (int64_t)f;
    double t = u - f;
    double r0 = unit_signed(mix64(m->seed * 0x2545f4914f6cdd1dull + (uint64_t)n));
    double r1 = unit_signed(mix64(m->seed * 0x2545f4914f6cdd1dull + (uint64_t)(n + 1)));
    return r0 + (r1 - r0) * t;
}

/* Ricker taps w[c - h .. c + h] that matter; returns h, the half-width, and fills taps[0 .. 2h]. */
static size_t ricker_taps(double taps[SYN_WAVELET_LEN])
{
    const double a = M_PI * M_PI * SYN_FREQ * SYN_FREQ;
    size_t h = 0;
    for (size_t n = 0; n < SYN_WAVELET_LEN / 2; n++) {
        double t = (double)n * SYN_DT;
        if (fabs((1 - 2 * a * t * t) * exp(-a * t * t)) >= SYN_TAP_EPS) /* the peak is 1 */
            h = n;
    }
    for (size_t n = 0; n <= 2 * h; n++) {
        double t = ((double)n - (double)h) * SYN_DT;
        taps[n] = (1 - 2 * a * t * t) * exp(-a * t * t);
    }
    return h;
}

/* Convolve: out[q] = sum over n = 0..2h, in that order, of taps[2h - n] * r[q + n]. Four outputs at a time keep
 * four independent sums in flight; each output still adds its taps in the same order whatever the box, so a box
 * equals the same box of the whole bit for bit. */
static void convolve(const double *taps, size_t h, const double *r, size_t nk, double *out)
{
    size_t q = 0;
    for (; q + 4 <= nk; q += 4) {
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0; /* named, not an array, so they stay in registers at -O2 */
        for (size_t n = 0; n <= 2 * h; n++) {
            const double w = taps[2 * h - n], *rq = r + q + n;
            s0 += w * rq[0];
            s1 += w * rq[1];
            s2 += w * rq[2];
            s3 += w * rq[3];
        }
        out[q] = s0;
        out[q + 1] = s1;
        out[q + 2] = s2;
        out[q + 3] = s3;
    }
    for (; q < nk; q++) {
        double s = 0;
        for (size_t n = 0; n <= 2 * h; n++)
            s += taps[2 * h - n] * r[q + n];
        out[q] = s;
    }
}

/* One trace's samples [k0, k1) of a volume with ns samples: convolution of the reflectivity (zero outside
 * [0, ns), like scipy's mode='same') with the wavelet, plus noise. `r` is scratch for 2 (k1 - k0) + 2h values. */
static void synth_trace(const struct syn_model *m, size_t ns, size_t i, size_t j, size_t k0, size_t k1,
                        const double *taps, size_t h, double *r, float *dst)
{
    const size_t nk = k1 - k0;
    double shift = trace_shift(m, i, j), *conv = r + nk + 2 * h;
    /* r[q] holds the reflectivity at sample k0 - h + q (zero outside the trace). */
    for (size_t q = 0; q < nk + 2 * h; q++) {
        long k = (long)k0 - (long)h + (long)q;
        r[q] = k < 0 || k >= (long)ns ? 0.0 : reflectivity(m, (double)k - shift * depth_scale((size_t)k));
    }
    convolve(taps, h, r, nk, conv);
    uint64_t tr = mix64(m->seed ^ mix64(((uint64_t)i << 32) ^ (uint64_t)j ^ 0xabcdefull));
    for (size_t q = 0; q < nk; q++)
        dst[q] = (float)(conv[q] + SYN_NOISE * unit_signed(mix64(tr + k0 + q)));
}

tq_status tq_synth_box(const size_t shape[3], uint64_t seed, const struct tq_box *box, float *dst,
                       struct tq_err *err)
{
    TQ_TRY(tq_vol_check_box(shape, box, err));
    struct syn_model m;
    model_init(&m, seed);
    double taps[SYN_WAVELET_LEN];
    size_t h = ricker_taps(taps);
    size_t nk = tq_box_len(box, 2);
    double *r = tq_malloc((2 * nk + 2 * h) * sizeof *r);
    if (!r)
        return tq_fail(err, TQ_ERR_NOMEM, "no memory for a synthetic trace");
    for (size_t i = box->lo[0]; i < box->hi[0]; i++)
        for (size_t j = box->lo[1]; j < box->hi[1]; j++)
            synth_trace(&m, shape[2], i, j, box->lo[2], box->hi[2], taps, h, r,
                        dst + ((i - box->lo[0]) * tq_box_len(box, 1) + (j - box->lo[1])) * nk);
    free(r);
    return TQ_OK;
}


/* The original's wavelet (builders.py __ricker_wavelet): t = linspace(-L/2, L/2 - dt, L) * dt, which is not quite
 * centred on a sample; reproduced as is. All 250 taps are used, as scipy's convolve does. */
static void original_wavelet(double w[SYN_WAVELET_LEN])
{
    const double a = M_PI * M_PI * SYN_FREQ * SYN_FREQ, lo = -SYN_WAVELET_LEN / 2.0;
    const double step = ((SYN_WAVELET_LEN / 2.0 - SYN_DT) - lo) / (SYN_WAVELET_LEN - 1);
    for (int n = 0; n < SYN_WAVELET_LEN; n++) {
        double t = (lo + n * step) * SYN_DT;
        w[n] = (1 - 2 * a * t * t) * exp(-a * t * t);
    }
}

/* Sample k of the original's one trace of n samples: scipy.signal.convolve(reflectivity, wavelet, 'same'), i.e.
 * full-convolution index k + (L - 1) / 2, with a seeded U(-1, 1) reflectivity in place of its unseeded rand. */
static double original_trace_sample(uint64_t seed, size_t n, size_t k, const double w[SYN_WAVELET_LEN])
{
    const long c = (SYN_WAVELET_LEN - 1) / 2;
    double s = 0;
    for (long t = 0; t < SYN_WAVELET_LEN; t++) {
        long idx = (long)k + c - t;
        if (idx >= 0 && idx < (long)n)
            s += w[t] * unit_signed(mix64(seed * 0x2545f4914f6cdd1dull + (uint64_t)idx));
    }
    return s;
}

/* The original saved its (inline, xline, sample) array as if it were (inline, sample, xline): trace (i, x) of the
 * file holds data[i, :, x], the one trace's sample x repeated. So the file varies along axis 1 only. */
static tq_status original_box(const size_t shape[3], uint64_t seed, const struct tq_box *box, float *dst)
{
    double w[SYN_WAVELET_LEN];
    original_wavelet(w);
    size_t nj = tq_box_len(box, 1), nk = tq_box_len(box, 2);
    for (size_t j = box->lo[1]; j < box->hi[1]; j++) {
        /* float32 first, like the original's .astype(np.float32) before saving */
        float v = (float)original_trace_sample(seed, shape[1], j, w);
        for (size_t i = 0; i < tq_box_len(box, 0); i++)
            for (size_t k = 0; k < nk; k++)
                dst[(i * nj + (j - box->lo[1])) * nk + k] = v;
    }
    return TQ_OK;
}

tq_status tq_synth_model_box(enum tq_synth_model model, const size_t shape[3], uint64_t seed,
                             const struct tq_box *box, float *dst, struct tq_err *err)
{
    if (model == TQ_SYNTH_ORIGINAL) {
        TQ_TRY(tq_vol_check_box(shape, box, err));
        return original_box(shape, seed, box, dst);
    }
    if (model != TQ_SYNTH_FOLDED)
        return tq_fail(err, TQ_ERR_USAGE, "unknown synthetic model %d", (int)model);
    return tq_synth_box(shape, seed, box, dst, err);
}

tq_status tq_synth_model_write_file(enum tq_synth_model model, const char *path, const size_t shape[3],
                                    uint64_t seed, int overwrite, struct tq_err *err)
{
    tq_vol_writer *w; /* created first: it rejects empty shapes before the slab arithmetic below */
    TQ_TRY(tq_vol_writer_create(path, shape, overwrite, NULL, &w, err));
    size_t per_inline = shape[1] * shape[2];
    size_t slab = SYN_SLAB_BYTES / 4 / per_inline;
    if (slab == 0)
        slab = 1;
    if (slab > shape[0])
        slab = shape[0];
    float *buf = tq_malloc(slab * per_inline * sizeof *buf);
    tq_status st = buf ? TQ_OK : tq_fail(err, TQ_ERR_NOMEM, "no memory for %zu inlines", slab);
    for (size_t i = 0; !st && i < shape[0]; i += slab) {
        struct tq_box b = {{i, 0, 0}, {i + slab < shape[0] ? i + slab : shape[0], shape[1], shape[2]}};
        st = tq_synth_model_box(model, shape, seed, &b, buf, err);
        if (!st)
            st = tq_vol_write_box(w, &b, buf, err);
    }
    if (!st)
        st = tq_vol_writer_commit(w, err);
    free(buf);
    tq_vol_writer_free(w);
    return st;
}


tq_status tq_synth_write_file(const char *path, const size_t shape[3], uint64_t seed, int overwrite,
                              struct tq_err *err)
{
    return tq_synth_model_write_file(TQ_SYNTH_FOLDED, path, shape, seed, overwrite, err);
}
