/* envelope.c - abs(scipy.signal.hilbert(x, axis=-1)) per trace with single-precision FFTW.
 *
 * The analytic signal is x + i*H(x), where H(x) is the inverse real FFT of -i*sign(f)*X(f) with the DC and (even
 * lengths) Nyquist terms zeroed: exactly what scipy's h-weights (1, 2, ..., 2, 1 at Nyquist, 0) give. So each trace
 * costs one r2c and one c2r FFT of its own length, and the envelope is sqrt(x^2 + H^2). */
#include <immintrin.h>
#include <fftw3.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "../common/alloc.h"
#include "parallel.h"

/* Traces per work item: handing them out one by one (an atomic increment and a call per trace) cost about 5% of
 * the FFTs' time at 400^3 (one thread, Envelope / FFTW alone 1.04-1.12 -> 1.01-1.05 in turns in one process). */
#define ENV_TRACES_PER_ITEM 16

/* FFTW's planner is not thread-safe: every plan creation goes through this lock. Plans are kept for the life of
 * the process, one pair per trace length (few lengths ever occur), and executed from any thread; past PLAN_CACHE
 * lengths a call makes its own pair and destroys it when done. FFTW_ESTIMATE,
 * not FFTW_MEASURE: measuring may choose a different algorithm in another process (another rounding), and the
 * runner's workers must produce the very bits of a whole run. */
#define PLAN_CACHE 32
struct env_plans {
    size_t n;
    fftwf_plan fwd, inv;
    int owned; /* made for one call (the cache was full): plans_put destroys it */
};
static struct env_plans plan_cache[PLAN_CACHE];
static size_t plan_count;
static pthread_mutex_t plan_lock = PTHREAD_MUTEX_INITIALIZER;

static tq_status plans_get(size_t n, struct env_plans *out, struct tq_err *err)
{
    tq_status st = TQ_OK;
    pthread_mutex_lock(&plan_lock);
    size_t k = 0;
    while (k < plan_count && plan_cache[k].n != n)
        k++;
    if (k == plan_count) {
        float *re = fftwf_alloc_real(n);
        fftwf_complex *sp = fftwf_alloc_complex(n / 2 + 1);
        struct env_plans p = {n, NULL, NULL, plan_count == PLAN_CACHE};
        if (re && sp) {
            p.fwd = fftwf_plan_dft_r2c_1d((int)n, re, sp, FFTW_ESTIMATE);
            p.inv = fftwf_plan_dft_c2r_1d((int)n, sp, re, FFTW_ESTIMATE);
        }
        if (!p.fwd || !p.inv) {
            st = tq_fail(err, TQ_ERR_NOMEM, "envelope: cannot make an FFT plan of length %zu", n);
            if (p.fwd)
                fftwf_destroy_plan(p.fwd);
            if (p.inv)
                fftwf_destroy_plan(p.inv);
        } else if (p.owned) {
            *out = p;
        } else {
            plan_cache[plan_count++] = p;
        }
        fftwf_free(re);
        fftwf_free(sp);
        if (!st && !p.owned)
            *out = plan_cache[k];
    } else {
        *out = plan_cache[k];
    }
    pthread_mutex_unlock(&plan_lock);
    return st;
}

/* Done with plans from plans_get: a call's own pair is destroyed (the cache's stay). */
static void plans_put(struct env_plans *p)
{
    if (!p->owned)
        return;
    pthread_mutex_lock(&plan_lock);
    fftwf_destroy_plan(p->fwd);
    fftwf_destroy_plan(p->inv);
    pthread_mutex_unlock(&plan_lock);
    p->owned = 0;
}

struct env_scratch {
    float *re;
    fftwf_complex *sp;
};

struct env_ctx {
    const struct tq_block_io *io;
    struct env_plans plans;
    size_t n, in_n[3], out_n[3];
    struct env_scratch *scr;
    atomic_size_t *left; /* per output inline, its traces not yet done (only when io->inlines_done listens) */
    size_t traces;       /* of the output box */
};

void tq_envelope_halo(const struct tq_op_params *p, size_t halo[3])
{
    (void)p;
    halo[0] = 0;
    halo[1] = 0;
    halo[2] = TQ_HALO_WHOLE;
}

/* -i * X on the positive frequencies; 0 at DC and at Nyquist (even n): the spectrum of H(x). (re, im) becomes
 * (im, -re), two bins per SSE2 step: only moves and sign flips, so the bits are those of the scalar loop. */
static void env_rotate(fftwf_complex *sp, size_t n)
{
    sp[0][0] = sp[0][1] = 0;
    size_t k = 1, end = (n + 1) / 2;
#if defined(__SSE2__)
    const __m128 flip = _mm_set_ps(-0.0f, 0.0f, -0.0f, 0.0f); /* lanes 1 and 3: the new imaginary parts */
    for (; k + 2 <= end; k += 2) {
        __m128 v = _mm_loadu_ps(&sp[k][0]);
        _mm_storeu_ps(&sp[k][0], _mm_xor_ps(_mm_shuffle_ps(v, v, _MM_SHUFFLE(2, 3, 0, 1)), flip));
    }
#endif
    for (; k < end; k++) {
        float re = sp[k][0];
        sp[k][0] = sp[k][1];
        sp[k][1] = -re;
    }
    if (n % 2 == 0)
        sp[n / 2][0] = sp[n / 2][1] = 0;
}

/* out[k] = sqrt(x[k]^2 + (h[k] * scale)^2). Scalar sqrtf was latency-bound and cost Envelope as much as its FFTs;
 * this runs 8 lanes with AVX where the CPU has it, else 4 with SSE2 (part of x86-64). Every operation is correctly
 * rounded in the vector bodies and the tail alike, and no target here has FMA to fuse them, so the bits do not
 * depend on the path or on where a lane falls. */
#if defined(__x86_64__)
__attribute__((target("avx"))) static void env_magnitude_avx(const float *x, const float *h, float scale, size_t n,
                                                              float *out)
{
    size_t k = 0;
    __m256 sc = _mm256_set1_ps(scale);
    for (; k + 8 <= n; k += 8) {
        __m256 xr = _mm256_loadu_ps(x + k), hi = _mm256_mul_ps(_mm256_loadu_ps(h + k), sc);
        _mm256_storeu_ps(out + k, _mm256_sqrt_ps(_mm256_add_ps(_mm256_mul_ps(xr, xr), _mm256_mul_ps(hi, hi))));
    }
    for (; k < n; k++) {
        float xr = x[k], hi = h[k] * scale;
        out[k] = sqrtf(xr * xr + hi * hi);
    }
}
#endif

static void env_magnitude(const float *x, const float *h, float scale, size_t n, float *out)
{
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx")) {
        env_magnitude_avx(x, h, scale, n, out);
        return;
    }
#endif
    size_t k = 0;
#if defined(__SSE2__)
    __m128 sc = _mm_set1_ps(scale);
    for (; k + 4 <= n; k += 4) {
        __m128 xr = _mm_loadu_ps(x + k), hi = _mm_mul_ps(_mm_loadu_ps(h + k), sc);
        _mm_storeu_ps(out + k, _mm_sqrt_ps(_mm_add_ps(_mm_mul_ps(xr, xr), _mm_mul_ps(hi, hi))));
    }
#endif
    for (; k < n; k++) {
        float xr = x[k], hi = h[k] * scale;
        out[k] = sqrtf(xr * xr + hi * hi);
    }
}

/* `done` traces of output inline r (relative to out_box) are done: the worker that finishes the inline's last trace
 * reports the inline (its decrement comes after every other worker's, so it sees all their stores to that inline). */
static tq_status env_traces_done(const struct env_ctx *c, size_t r, size_t done, struct tq_err *err)
{
    if (!c->left || atomic_fetch_sub(&c->left[r], done) != done)
        return TQ_OK;
    size_t i = c->io->out_box.lo[0] + r;
    return c->io->inlines_done(c->io, i, i + 1, err);
}

/* One trace: t indexes the traces of the output box in C order. */
static void env_trace(const struct env_ctx *c, size_t t, const struct env_scratch *s)
{
    const struct tq_block_io *io = c->io;
    size_t i = io->out_box.lo[0] + t / c->out_n[1], j = io->out_box.lo[1] + t % c->out_n[1];
    const float *x = io->in + ((i - io->in_box.lo[0]) * c->in_n[1] + (j - io->in_box.lo[1])) * c->n;
    float *out = io->out + t * c->out_n[2], *h = s->re;
    size_t k0 = io->out_box.lo[2], n = c->n;
    if (n <= 2) { /* no positive frequency below Nyquist: H(x) = 0 */
        for (size_t k = 0; k < c->out_n[2]; k++)
            out[k] = fabsf(x[k0 + k]);
        return;
    }
    memcpy(h, x, n * sizeof *h);
    fftwf_execute_dft_r2c(c->plans.fwd, h, s->sp);
    env_rotate(s->sp, n);
    fftwf_execute_dft_c2r(c->plans.inv, s->sp, h);
    env_magnitude(x + k0, h + k0, 1.0f / (float)n, c->out_n[2], out);
}

/* Work item `item`: traces [item, item + 1) * ENV_TRACES_PER_ITEM of the output box (fewer at its end), then the
 * report of each inline they finish. */
static tq_status env_item(void *ctx, size_t item, int worker, struct tq_err *err)
{
    struct env_ctx *c = ctx;
    size_t a = item * ENV_TRACES_PER_ITEM, b = a + ENV_TRACES_PER_ITEM < c->traces ? a + ENV_TRACES_PER_ITEM : c->traces;
    for (size_t t = a; t < b; t++)
        env_trace(c, t, &c->scr[worker]);
    for (size_t t = a; c->left && t < b;) { /* the runs of these traces inline by inline */
        size_t r = t / c->out_n[1], end = (r + 1) * c->out_n[1] < b ? (r + 1) * c->out_n[1] : b;
        TQ_TRY(env_traces_done(c, r, end - t, err));
        t = end;
    }
    return TQ_OK;
}

tq_status tq_envelope_compute(const struct tq_op_params *p, const struct tq_block_io *io, struct tq_err *err)
{
    const struct tq_op *op = tq_op_find("envelope");
    TQ_TRY(tq_op_params_check(op, p, err));
    TQ_TRY(tq_op_check_io(op, p, io, err));
    struct env_ctx c = {.io = io, .n = io->vol_shape[2]};
    for (int a = 0; a < 3; a++) {
        c.in_n[a] = tq_box_len(&io->in_box, a);
        c.out_n[a] = tq_box_len(&io->out_box, a);
    }
    c.traces = c.out_n[0] * c.out_n[1];
    size_t items = (c.traces + ENV_TRACES_PER_ITEM - 1) / ENV_TRACES_PER_ITEM;
    int nw = tq_par_workers(tq_op_threads(p), items);
    if (c.n > 2)
        TQ_TRY(plans_get(c.n, &c.plans, err));
    c.scr = tq_calloc((size_t)nw, sizeof *c.scr);
    tq_status st = c.scr ? TQ_OK : tq_fail(err, TQ_ERR_NOMEM, "envelope: out of memory for thread scratch");
    if (!st && io->inlines_done) { /* written while the other workers compute */
        c.left = tq_malloc(c.out_n[0] * sizeof *c.left);
        if (!c.left)
            st = tq_fail(err, TQ_ERR_NOMEM, "envelope: out of memory for thread scratch");
        for (size_t r = 0; c.left && r < c.out_n[0]; r++)
            atomic_init(&c.left[r], c.out_n[1]);
    }
    /* fftwf_alloc_* aligns like the arrays the plans were made with, as fftwf_execute_dft_* requires; FFTW only
     * promises thread safety for execute, so its allocator is called under the planner lock too. */
    pthread_mutex_lock(&plan_lock);
    for (int w = 0; w < nw && !st; w++) {
        c.scr[w].re = fftwf_alloc_real(c.n);
        c.scr[w].sp = fftwf_alloc_complex(c.n / 2 + 1);
        if (!c.scr[w].re || !c.scr[w].sp)
            st = tq_fail(err, TQ_ERR_NOMEM, "envelope: out of memory for FFT buffers");
    }
    pthread_mutex_unlock(&plan_lock);
    if (!st)
        st = tq_par_for(nw, items, env_item, &c, err);
    pthread_mutex_lock(&plan_lock);
    for (int w = 0; c.scr && w < nw; w++) {
        fftwf_free(c.scr[w].re);
        fftwf_free(c.scr[w].sp);
    }
    pthread_mutex_unlock(&plan_lock);
    if (c.n > 2)
        plans_put(&c.plans);
    free(c.scr);
    free(c.left);
    return st;
}
