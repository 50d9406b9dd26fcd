/* test_operators.c - Envelope, Gaussian and GST3D against SciPy (tests/oracle/ops_oracle.py), and any block of an
 * output computed from its own input box bit-identical to the same box of the whole. */
#include <criterion/criterion.h>
#include <sys/wait.h>
#include <fftw3.h>
#include <gsl/gsl_eigen.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../operators/block_exec.h"
#include "../operators/kernels.h"
#include "../operators/operator.h"
#include "../operators/scratch.h"
#include "../operators/volume.h"
#include "helpers.h"

static uint64_t rng_next(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 11;
}

static double rng_unit(uint64_t *s)
{
    return (double)rng_next(s) / 9007199254740992.0;
}

/* kind 0: uniform noise in [-1, 1); kind 1: the synthetic model (operators/synth.c: folded dipping layers plus a
 * little noise, varying along all three axes). */
static float *make_volume(const size_t n[3], int kind, uint64_t seed)
{
    float *v = malloc(n[0] * n[1] * n[2] * sizeof *v);
    if (kind) {
        struct tq_box all = {{0, 0, 0}, {n[0], n[1], n[2]}};
        struct tq_err err = {0};
        cr_assert_eq(tq_synth_box(n, seed, &all, v, &err), TQ_OK, "%s", err.msg);
        return v;
    }
    for (size_t q = 0; q < n[0] * n[1] * n[2]; q++)
        v[q] = (float)(2 * rng_unit(&seed) - 1);
    return v;
}

/* The whole output of op for vol (one compute call over the whole volume). */
static float *run_whole(const struct tq_op *op, const struct tq_op_params *p, const size_t n[3], const float *vol,
                        size_t out_n[3])
{
    struct tq_err err = {0};
    cr_assert_eq(tq_op_output_shape(op, p, n, out_n, &err), TQ_OK, "%s", err.msg);
    struct tq_block_io io = {.vol_shape = {n[0], n[1], n[2]}, .in = vol};
    for (int a = 0; a < 3; a++) {
        io.in_box.hi[a] = n[a];
        io.out_box.hi[a] = out_n[a];
    }
    io.out = malloc(out_n[0] * out_n[1] * out_n[2] * sizeof(float));
    cr_assert_eq(op->compute(p, &io, &err), TQ_OK, "%s: %s", op->name, err.msg);
    return io.out;
}

static void write_raw(const char *path, const float *v, size_t count)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f != NULL, "cannot write %s", path);
    cr_assert_eq(fwrite(v, sizeof *v, count, f), count);
    fclose(f);
}

struct oracle_case {
    const char *op;
    size_t n[3];
    int kind;
    double sigma[3];
    int full;
};

static const struct oracle_case cases[] = {
    {"envelope", {5, 6, 64}, 0, {3, 3, 3}, 0},   {"envelope", {4, 3, 75}, 1, {3, 3, 3}, 0},
    {"envelope", {1, 1, 1}, 0, {3, 3, 3}, 0},    {"envelope", {3, 1, 2}, 0, {3, 3, 3}, 0},
    {"envelope", {1, 7, 3}, 0, {3, 3, 3}, 0},    {"envelope", {2, 2, 250}, 1, {3, 3, 3}, 0},
    {"gaussian", {17, 14, 31}, 0, {3, 3, 3}, 0}, {"gaussian", {30, 28, 40}, 1, {3, 3, 3}, 0},
    {"gaussian", {1, 20, 9}, 0, {3, 3, 3}, 0},   {"gaussian", {6, 1, 1}, 0, {3, 3, 3}, 0},
    {"gaussian", {9, 8, 12}, 0, {1.5, 0.7, 2.2}, 0}, {"gaussian", {4, 5, 6}, 1, {0.1, 5.0, 1.0}, 0},
    {"gst3d", {12, 13, 20}, 1, {3, 3, 3}, 0},    {"gst3d", {12, 13, 20}, 1, {3, 3, 3}, 1},
    {"gst3d", {9, 10, 11}, 0, {3, 3, 3}, 0},     {"gst3d", {3, 3, 3}, 0, {3, 3, 3}, 0},
    {"gst3d", {1, 9, 12}, 1, {3, 3, 3}, 1},      {"gst3d", {8, 1, 1}, 0, {3, 3, 3}, 1},
    {"gst3d", {16, 11, 24}, 0, {3, 3, 3}, 1},
};
#define NCASES (sizeof cases / sizeof cases[0])

Test(operators, match_scipy, .timeout = 120)
{
    char *dir = tq_tmpdir(), path[4096], in[4096], out[4096];
    snprintf(path, sizeof path, "%s/manifest", dir);
    FILE *man = fopen(path, "w");
    cr_assert(man != NULL);
    for (size_t c = 0; c < NCASES; c++) {
        const struct oracle_case *oc = &cases[c];
        const struct tq_op *op = tq_op_find(oc->op);
        struct tq_op_params p;
        tq_op_params_default(&p);
        memcpy(p.sigma, oc->sigma, sizeof p.sigma);
        p.full_size = oc->full;
        p.threads = 1 + (int)(c % 3);
        float *vol = make_volume(oc->n, oc->kind, 1000 + c);
        size_t out_n[3];
        float *res = run_whole(op, &p, oc->n, vol, out_n);
        snprintf(in, sizeof in, "%s/c%zu.in.f32", dir, c);
        snprintf(out, sizeof out, "%s/c%zu.out.f32", dir, c);
        write_raw(in, vol, oc->n[0] * oc->n[1] * oc->n[2]);
        write_raw(out, res, out_n[0] * out_n[1] * out_n[2]);
        fprintf(man, "c%zu %s %zu %zu %zu %g %g %g %d %s %s\n", c, oc->op, oc->n[0], oc->n[1], oc->n[2], oc->sigma[0],
                oc->sigma[1], oc->sigma[2], oc->full, in, out);
        free(vol);
        free(res);
    }
    fclose(man);
    char cmd[8192], *stdout_text = NULL, *stderr_text = NULL;
    snprintf(cmd, sizeof cmd, "%s %s %s", tq_python(), tq_src_path("tests/oracle/ops_oracle.py"), path);
    cr_assert_eq(tq_run(cmd, &stdout_text, &stderr_text), 0, "oracle failed: %s", stderr_text);
    cr_log_info("oracle:\n%s", stdout_text);
    char *line = stdout_text;
    for (size_t c = 0; c < NCASES; c++) {
        size_t idx, checked, total;
        double e, ref;
        cr_assert(line && sscanf(line, "c%zu err=%lf ref=%lf checked=%zu total=%zu", &idx, &e, &ref, &checked, &total) == 5,
                  "bad oracle line for case %zu: %s", c, line ? line : "(none)");
        cr_assert_eq(idx, c);
        const struct oracle_case *oc = &cases[c];
        if (!strcmp(oc->op, "gst3d")) {
            /* Compared only where the largest eigenvalue is well separated: l1 - l2 > 0.05 * l1 and
             * l1 > 1e-3 * max(l1) (the oracle computes the mask; see tests/oracle/ops_oracle.py). Random volumes
             * separate their eigenvalues less often than the synthetic model. */
            cr_assert(checked * 4 >= total || (oc->kind == 0 && checked > 0) || total < 8,
                      "case %zu: only %zu of %zu voxels well separated", c, checked, total);
            cr_assert(e <= 0.01, "case %zu gst3d %zux%zux%zu full=%d: dip differs by %g deg", c, oc->n[0], oc->n[1],
                      oc->n[2], oc->full, e);
        } else {
            cr_assert(e <= 1e-5 * ref, "case %zu %s %zux%zux%zu: max error %g vs max |value| %g", c, oc->op, oc->n[0],
                      oc->n[1], oc->n[2], e, ref);
        }
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    free(stdout_text);
    free(stderr_text);
    tq_rmtree(dir);
    free(dir);
}

/* Cut [0, n) at up to 3 random points; returns the number of pieces and fills cuts[0..pieces]. */
static size_t random_cuts(size_t n, uint64_t *s, size_t cuts[5])
{
    size_t k = 0;
    cuts[k++] = 0;
    size_t want = rng_next(s) % 4;
    for (size_t q = 0; q < want; q++) {
        size_t c = 1 + rng_next(s) % (n > 1 ? n - 1 : 1);
        if (c > cuts[k - 1] && c < n)
            cuts[k++] = c;
    }
    cuts[k] = n;
    return k;
}

static void check_blocks(const char *name, const size_t n[3], int full, uint64_t seed)
{
    const struct tq_op *op = tq_op_find(name);
    struct tq_op_params p;
    tq_op_params_default(&p);
    p.full_size = full;
    p.threads = 2;
    if (!strcmp(name, "gaussian")) {
        p.sigma[0] = 1.0;
        p.sigma[1] = 2.0;
        p.sigma[2] = 0.8;
    }
    float *vol = make_volume(n, (int)(seed % 2), seed);
    size_t on[3];
    float *whole = run_whole(op, &p, n, vol, on);
    for (int round = 0; round < 3; round++) {
        size_t cut[3][5], pieces[3];
        for (int a = 0; a < 3; a++) {
            pieces[a] = random_cuts(on[a], &seed, cut[a]);
            /* Envelope needs whole traces: its blocks may still cut samples (halo = whole axis). */
        }
        for (size_t b0 = 0; b0 < pieces[0]; b0++)
            for (size_t b1 = 0; b1 < pieces[1]; b1++)
                for (size_t b2 = 0; b2 < pieces[2]; b2++) {
                    struct tq_block_io io = {.vol_shape = {n[0], n[1], n[2]}};
                    size_t bi[3] = {b0, b1, b2};
                    for (int a = 0; a < 3; a++) {
                        io.out_box.lo[a] = cut[a][bi[a]];
                        io.out_box.hi[a] = cut[a][bi[a] + 1];
                    }
                    tq_op_input_box(op, &p, n, &io.out_box, &io.in_box);
                    size_t in_n[3], o_n[3];
                    for (int a = 0; a < 3; a++) {
                        in_n[a] = tq_box_len(&io.in_box, a);
                        o_n[a] = tq_box_len(&io.out_box, a);
                    }
                    float *in = malloc(tq_box_voxels(&io.in_box) * sizeof *in);
                    for (size_t i = 0; i < in_n[0]; i++)
                        for (size_t j = 0; j < in_n[1]; j++)
                            memcpy(in + (i * in_n[1] + j) * in_n[2],
                                   vol + ((io.in_box.lo[0] + i) * n[1] + io.in_box.lo[1] + j) * n[2] + io.in_box.lo[2],
                                   in_n[2] * sizeof *in);
                    io.in = in;
                    io.out = malloc(tq_box_voxels(&io.out_box) * sizeof(float));
                    struct tq_err err = {0};
                    cr_assert_eq(op->compute(&p, &io, &err), TQ_OK, "%s", err.msg);
                    for (size_t i = 0; i < o_n[0]; i++)
                        for (size_t j = 0; j < o_n[1]; j++) {
                            const float *w = whole + ((io.out_box.lo[0] + i) * on[1] + io.out_box.lo[1] + j) * on[2] +
                                             io.out_box.lo[2];
                            cr_assert(!memcmp(io.out + (i * o_n[1] + j) * o_n[2], w, o_n[2] * sizeof(float)),
                                      "%s %zux%zux%zu full=%d: block [%zu,%zu)x[%zu,%zu)x[%zu,%zu) differs from whole",
                                      name, n[0], n[1], n[2], full, io.out_box.lo[0], io.out_box.hi[0],
                                      io.out_box.lo[1], io.out_box.hi[1], io.out_box.lo[2], io.out_box.hi[2]);
                        }
                    free(in);
                    free(io.out);
                }
    }
    free(vol);
    free(whole);
}

static const size_t block_shapes[][3] = {{13, 10, 37}, {16, 9, 24}, {1, 11, 30}, {7, 1, 5}, {5, 6, 1}, {3, 3, 3}};

Test(operators, blocks_equal_whole_envelope)
{
    for (size_t s = 0; s < sizeof block_shapes / sizeof block_shapes[0]; s++)
        check_blocks("envelope", block_shapes[s], 0, 11 + s);
}

Test(operators, blocks_equal_whole_gaussian)
{
    for (size_t s = 0; s < sizeof block_shapes / sizeof block_shapes[0]; s++)
        check_blocks("gaussian", block_shapes[s], 0, 21 + s);
}

Test(operators, blocks_equal_whole_gst3d)
{
    for (size_t s = 0; s < sizeof block_shapes / sizeof block_shapes[0]; s++) {
        check_blocks("gst3d", block_shapes[s], 1, 31 + s);
        if (block_shapes[s][0] > 2 && block_shapes[s][1] > 2 && block_shapes[s][2] > 2)
            check_blocks("gst3d", block_shapes[s], 0, 41 + s);
    }
}

/* The closed-form eigenvector against GSL's gsl_eigen_symmv, where the top eigenvalue is well separated. */
Test(operators, gst3d_dip_matches_gsl)
{
    gsl_eigen_symmv_workspace *ws = gsl_eigen_symmv_alloc(3);
    gsl_matrix *m = gsl_matrix_alloc(3, 3), *evec = gsl_matrix_alloc(3, 3);
    gsl_vector *eval = gsl_vector_alloc(3);
    uint64_t s = 7;
    size_t checked = 0;
    for (int trial = 0; trial < 20000; trial++) {
        double g[3][3], t[6];
        /* a sum of three outer products of random vectors: symmetric positive semi-definite, like the tensor */
        memset(g, 0, sizeof g);
        for (int k = 0; k < 3; k++) {
            double v[3] = {2 * rng_unit(&s) - 1, 2 * rng_unit(&s) - 1, 2 * rng_unit(&s) - 1};
            double wgt = k == 0 ? 1 : pow(rng_unit(&s), 2);
            for (int a = 0; a < 3; a++)
                for (int b = 0; b < 3; b++)
                    g[a][b] += wgt * v[a] * v[b];
        }
        t[0] = g[0][0], t[1] = g[1][1], t[2] = g[2][2], t[3] = g[0][1], t[4] = g[0][2], t[5] = g[1][2];
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 3; b++)
                gsl_matrix_set(m, a, b, g[a][b]);
        gsl_eigen_symmv(m, eval, evec, ws);
        gsl_eigen_symmv_sort(eval, evec, GSL_EIGEN_SORT_VAL_DESC);
        double l1 = gsl_vector_get(eval, 0), l2 = gsl_vector_get(eval, 1);
        if (!(l1 - l2 > 1e-3 * l1))
            continue;
        double want = acos(fmin(1, fabs(gsl_matrix_get(evec, 2, 0)))) * 180 / M_PI;
        double got = tq_gst3d_dip(t);
        cr_assert(fabs(got - want) < 1e-4, "trial %d: dip %.8f vs GSL %.8f (l1 %g l2 %g)", trial, got, want, l1, l2);
        checked++;
    }
    cr_assert(checked > 15000, "only %zu tensors checked", checked);
    double iso[6] = {2, 2, 2, 0, 0, 0}, flat[6] = {0, 0, 5, 0, 0, 0}, vert[6] = {5, 0, 0, 0, 0, 0};
    cr_assert_eq(tq_gst3d_dip(iso), 0.0);
    cr_assert(fabs(tq_gst3d_dip(flat)) < 1e-12);
    cr_assert(fabs(tq_gst3d_dip(vert) - 90) < 1e-12);
    gsl_matrix_free(m);
    gsl_matrix_free(evec);
    gsl_vector_free(eval);
    gsl_eigen_symmv_free(ws);
}

Test(operators, table_and_shapes)
{
    struct tq_op_params p;
    struct tq_err err = {0};
    tq_op_params_default(&p);
    cr_assert_null(tq_op_find("sobel"));
    const struct tq_op *g = tq_op_find("gst3d"), *e = tq_op_find("envelope"), *ga = tq_op_find("gaussian");
    cr_assert(g && e && ga);
    cr_assert_eq(e->splittable, 0x3u);
    size_t in[3] = {200, 200, 400}, out[3], h[3];
    cr_assert_eq(tq_op_output_shape(g, &p, in, out, &err), TQ_OK);
    cr_assert(out[0] == 198 && out[1] == 198 && out[2] == 398);
    size_t thin[3] = {2, 50, 50};
    cr_assert_eq(tq_op_output_shape(g, &p, thin, out, &err), TQ_ERR_RANGE);
    p.full_size = 1;
    cr_assert_eq(tq_op_output_shape(g, &p, thin, out, &err), TQ_OK);
    ga->halo(&p, h);
    cr_assert(h[0] == 12 && h[1] == 12 && h[2] == 12);
    struct tq_box ob = {{0, 5, 390}, {1, 6, 400}}, ib;
    tq_op_input_box(ga, &p, in, &ob, &ib);
    cr_assert(ib.lo[0] == 0 && ib.hi[0] == 13 && ib.lo[1] == 0 && ib.hi[1] == 18 && ib.lo[2] == 378 && ib.hi[2] == 400);
    p.sigma[1] = 0;
    cr_assert_eq(tq_op_params_check(ga, &p, &err), TQ_ERR_RANGE);
    cr_assert(strstr(err.msg, "sigma") != NULL);
}

/* The plane routine, on each path this CPU has (AVX-512 8 voxels, AVX2 4, scalar), gives the very bits of the
 * scalar tq_gst3d_dip, every tail length included. */
Test(operators, gst3d_dip_plane_equals_scalar)
{
    enum { N = 1003 };
    float *ten = malloc(6 * N * sizeof *ten), out[N];
    uint64_t s = 99;
    for (size_t v = 0; v < N; v++) {
        double g[3] = {2 * rng_unit(&s) - 1, 2 * rng_unit(&s) - 1, 2 * rng_unit(&s) - 1}, e = rng_unit(&s);
        float t[6] = {(float)(g[0] * g[0] + e), (float)(g[1] * g[1] + e), (float)(g[2] * g[2] + e),
                      (float)(g[0] * g[1]), (float)(g[0] * g[2]), (float)(g[1] * g[2])};
        if (v % 97 == 0) /* isotropic and double-root tensors take the other branches */
            t[0] = t[1] = t[2] = 1, t[3] = t[4] = t[5] = 0;
        if (v % 89 == 0)
            t[0] = t[1] = 2, t[2] = 1, t[3] = t[4] = t[5] = 0;
        for (int k = 0; k < 6; k++)
            ten[(size_t)k * N + v] = t[k];
    }
    for (int lanes = 8; lanes >= 1; lanes /= 2) {
        if (tq_gst3d_dip_lanes(lanes) != lanes)
            continue; /* not on this CPU (2 lanes is no path: skipped) */
        for (size_t n = N - 7; n <= N; n++) {
            /* planes of n voxels: re-pack so the component stride is n */
            float *packed = malloc(6 * n * sizeof *packed);
            for (int k = 0; k < 6; k++)
                memcpy(packed + (size_t)k * n, ten + (size_t)k * N, n * sizeof *packed);
            tq_gst3d_dip_plane_lanes(packed, n, out, lanes);
            for (size_t v = 0; v < n; v++) {
                double t[6];
                for (int k = 0; k < 6; k++)
                    t[k] = packed[(size_t)k * n + v];
                float want = (float)tq_gst3d_dip(t);
                cr_assert(!memcmp(&want, &out[v], sizeof want),
                          "%d lanes, voxel %zu of %zu: plane %.9g vs scalar %.9g", lanes, v, n, out[v], want);
            }
            free(packed);
        }
    }
    free(ten);
}

/* Envelope (its AVX or SSE2 rotation and magnitude, its traces handed out in groups) gives, bit for bit, a scalar
 * evaluation of the same formula: the same FFTW_ESTIMATE plans on FFTW-aligned buffers, (re, im) -> (im, -re) on
 * the positive frequencies, DC and Nyquist zeroed, then sqrtf(x^2 + (h / n)^2) one sample at a time. Every length
 * from 1 to 20 (each tail of the vector loops) and a few long ones, on 1 and 3 threads. */
Test(operators, envelope_equals_scalar)
{
    const struct tq_op *op = tq_op_find("envelope");
    size_t lens[32], nl = 0;
    for (size_t n = 1; n <= 20; n++)
        lens[nl++] = n;
    const size_t longer[] = {31, 32, 33, 63, 64, 65, 250, 401, 1000};
    for (size_t k = 0; k < sizeof longer / sizeof longer[0]; k++)
        lens[nl++] = longer[k];
    for (size_t l = 0; l < nl; l++) {
        size_t n = lens[l], shape[3] = {3, 7, n}, out_n[3];
        float *vol = make_volume(shape, 0, 7 + n);
        float *re = fftwf_alloc_real(n);
        fftwf_complex *sp = fftwf_alloc_complex(n / 2 + 1);
        fftwf_plan fwd = fftwf_plan_dft_r2c_1d((int)n, re, sp, FFTW_ESTIMATE);
        fftwf_plan inv = fftwf_plan_dft_c2r_1d((int)n, sp, re, FFTW_ESTIMATE);
        float *want = malloc(shape[0] * shape[1] * n * sizeof *want);
        for (size_t t = 0; t < shape[0] * shape[1]; t++) {
            const float *x = vol + t * n;
            for (size_t k = 0; k < n; k++)
                want[t * n + k] = fabsf(x[k]);
            if (n <= 2)
                continue;
            memcpy(re, x, n * sizeof *re);
            fftwf_execute(fwd);
            sp[0][0] = sp[0][1] = 0;
            for (size_t k = 1; k < (n + 1) / 2; k++) {
                float r = sp[k][0];
                sp[k][0] = sp[k][1];
                sp[k][1] = -r;
            }
            if (n % 2 == 0)
                sp[n / 2][0] = sp[n / 2][1] = 0;
            fftwf_execute(inv);
            for (size_t k = 0; k < n; k++) {
                float h = re[k] * (1.0f / (float)n);
                want[t * n + k] = sqrtf(x[k] * x[k] + h * h);
            }
        }
        for (int threads = 1; threads <= 3; threads += 2) {
            struct tq_op_params p;
            tq_op_params_default(&p);
            p.threads = threads;
            float *got = run_whole(op, &p, shape, vol, out_n);
            for (size_t v = 0; v < shape[0] * shape[1] * n; v++)
                cr_assert(!memcmp(&got[v], &want[v], sizeof *got), "n %zu, %d threads, voxel %zu: %.9g vs scalar %.9g",
                          n, threads, v, got[v], want[v]);
            free(got);
        }
        fftwf_destroy_plan(fwd);
        fftwf_destroy_plan(inv);
        fftwf_free(re);
        fftwf_free(sp);
        free(want);
        free(vol);
    }
}

/* One process sees more trace lengths than Envelope keeps plans for (32): every length still runs, and a length past
 * the cache (its plans made for the call and destroyed after) gives the same bits as in a process that saw no other
 * length (a child forked before the cache filled, which keeps that length's plans in its cache). */
Test(operators, envelope_runs_any_number_of_trace_lengths)
{
    const struct tq_op *op = tq_op_find("envelope");
    struct tq_op_params p;
    tq_op_params_default(&p);
    p.threads = 2;
    size_t late[3] = {2, 3, 97}, out_n[3], count = late[0] * late[1] * late[2];
    float *vol = make_volume(late, 0, 5);
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        float *fresh = run_whole(op, &p, late, vol, out_n);
        _exit(write(fds[1], fresh, count * sizeof *fresh) == (ssize_t)(count * sizeof *fresh) ? 0 : 1);
    }
    close(fds[1]);
    for (size_t n = 3; n < 3 + 40; n++) { /* 40 other lengths: the cache is full after 32 */
        size_t shape[3] = {2, 3, n};
        float *v = make_volume(shape, 0, 5 + n);
        free(run_whole(op, &p, shape, v, out_n));
        free(v);
    }
    float *got = run_whole(op, &p, late, vol, out_n), *fresh = malloc(count * sizeof *fresh);
    size_t have = 0;
    ssize_t r;
    while (have < count * sizeof *fresh && (r = read(fds[0], (char *)fresh + have, count * sizeof *fresh - have)) > 0)
        have += (size_t)r;
    close(fds[0]);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cr_assert_eq(have, count * sizeof *fresh);
    cr_assert(!memcmp(fresh, got, count * sizeof *fresh), "length 97 past the cache differs from a fresh process's");
    free(fresh);
    free(got);
    free(vol);
}

/* tq_op_run streaming thin slabs (sliding input window, memory and synthetic sources, memory sink) over a block
 * gives the same bits as one compute call over the whole volume. */
Test(operators, streamed_slabs_equal_whole)
{
    static const char *names[] = {"envelope", "gaussian", "gst3d"};
    static const size_t shapes[][3] = {{29, 7, 12}, {9, 5, 33}, {40, 3, 4}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int k = 0; k < 3; k++) {
            const struct tq_op *op = tq_op_find(names[k]);
            struct tq_op_params p;
            tq_op_params_default(&p);
            p.threads = 2;
            const size_t *n = shapes[s];
            float *vol = make_volume(n, 1, 77 + s);
            size_t on[3];
            float *whole = run_whole(op, &p, n, vol, on);
            size_t count = on[0] * on[1] * on[2];
            float *got = calloc(count, sizeof *got);
            struct tq_op_source src;
            struct tq_op_sink dst;
            tq_op_sink_mem(&dst, on, got);
            struct tq_err err = {0};
            /* 9-inline slabs move GST3D's 4 kept inlines on both threads (the slab advances past them) */
            for (size_t planes = 1; planes <= 9; planes += planes < 5 ? 2 : 4) {
                p.slab_bytes = planes * on[1] * on[2] * sizeof(float);
                /* one block covering all but the first inline, and the whole output */
                struct tq_box part = {{1, 0, 0}, {on[0], on[1], on[2]}}, all = {{0, 0, 0}, {on[0], on[1], on[2]}};
                memset(got, 0, count * sizeof *got);
                tq_op_source_mem(&src, n, vol);
                cr_assert_eq(tq_op_run(op, &p, &src, &dst, &part, &err), TQ_OK, "%s", err.msg);
                tq_op_source_synth(&src, n, 77 + s);
                struct tq_box first = {{0, 0, 0}, {1, on[1], on[2]}};
                cr_assert_eq(tq_op_run(op, &p, &src, &dst, &first, &err), TQ_OK, "%s", err.msg);
                cr_assert(!memcmp(got, whole, count * sizeof *got), "%s %zux%zux%zu, %zu-inline slabs: streamed "
                          "result differs from the whole", names[k], n[0], n[1], n[2], planes);
                struct tq_box bad = all;
                bad.hi[0]++;
                cr_assert_eq(tq_op_run(op, &p, &src, &dst, &bad, &err), TQ_ERR_RANGE);
            }
            free(vol);
            free(whole);
            free(got);
        }
}

/* tq_op_scratch keeps a worker's buffer (and what it holds) while it is big enough, replaces it when asked for
 * more, keeps workers apart, and releases to an empty cache that can be used again. */
Test(operators, scratch_is_kept_across_calls)
{
    struct tq_op_scratch s = {0};
    char *a = tq_op_scratch_get(&s, 1, 1000);
    cr_assert_not_null(a);
    cr_assert_eq(s.n, 2, "worker 1 makes room for workers 0 and 1");
    memset(a, 0x5a, 1000);
    cr_assert_eq(tq_op_scratch_get(&s, 1, 1000), a, "same size: the same buffer");
    cr_assert_eq(tq_op_scratch_get(&s, 1, 10), a, "smaller: the same buffer");
    cr_assert_eq(a[999], 0x5a, "contents survive a call");
    char *b = tq_op_scratch_get(&s, 0, 1000);
    cr_assert(b && b != a, "another worker gets its own buffer");
    char *c = tq_op_scratch_get(&s, 1, (size_t)4 << 20);
    cr_assert_not_null(c);
    cr_assert_geq(s.bytes[1], (size_t)4 << 20);
    c[((size_t)4 << 20) - 1] = 1; /* the whole length is usable */
    tq_op_scratch_release(&s);
    cr_assert(s.n == 0 && !s.block && !s.bytes);
    cr_assert_not_null(tq_op_scratch_get(&s, 0, 64), "a released cache is usable again");
    tq_op_scratch_release(&s);
    tq_op_scratch_release(&s);
}

/* What a test's inlines_done listener saw: per output inline, how often it was reported and its values then. */
struct done_log {
    size_t plane;        /* floats per output inline */
    unsigned *count;     /* count[i]: reports of inline out_box.lo[0] + i */
    float *seen;         /* the inline as it was when reported */
    size_t fail_at;      /* report of the inline that fails (SIZE_MAX: none) */
    pthread_mutex_t lock;
};

static tq_status log_inlines_done(const struct tq_block_io *io, size_t lo, size_t hi, struct tq_err *err)
{
    struct done_log *d = io->done_ctx;
    if (lo >= hi || lo < io->out_box.lo[0] || hi > io->out_box.hi[0])
        return tq_fail(err, TQ_ERR_USAGE, "reported [%zu,%zu) outside the block", lo, hi);
    pthread_mutex_lock(&d->lock);
    tq_status st = TQ_OK;
    for (size_t x = lo; x < hi && !st; x++) {
        size_t i = x - io->out_box.lo[0];
        d->count[i]++;
        memcpy(d->seen + i * d->plane, io->out + i * d->plane, d->plane * sizeof(float));
        if (x == d->fail_at)
            st = tq_fail(err, TQ_ERR_IO, "listener fails at inline %zu", x);
    }
    pthread_mutex_unlock(&d->lock);
    return st;
}

/* Every kernel reports every output inline exactly once and only once it is final (what tq_op_run then writes at
 * once, overlapping the other workers' compute), on 1 to 3 threads and blocks not starting at inline 0; a
 * listener's failure stops the kernel and is its result. */
Test(operators, kernels_report_final_inlines_once)
{
    static const char *names[] = {"envelope", "gaussian", "gst3d"};
    static const size_t shapes[][3] = {{23, 9, 14}, {6, 5, 40}, {3, 3, 3}, {5, 1, 2}};
    for (int k = 0; k < 3; k++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int threads = 1; threads <= 3; threads++) {
                const struct tq_op *op = tq_op_find(names[k]);
                struct tq_op_params p;
                tq_op_params_default(&p);
                p.threads = threads;
                const size_t *n = shapes[s];
                if (!strcmp(names[k], "gst3d") && (n[1] < 3 || n[2] < 3))
                    continue; /* trimmed GST3D needs 3 voxels on every axis */
                float *vol = make_volume(n, 1, 5 + s);
                size_t on[3];
                struct tq_err err = {0};
                cr_assert_eq(tq_op_output_shape(op, &p, n, on, &err), TQ_OK, "%s", err.msg);
                struct tq_block_io io = {.vol_shape = {n[0], n[1], n[2]}, .in = vol,
                                         .inlines_done = log_inlines_done};
                for (int a = 0; a < 3; a++) {
                    io.in_box.hi[a] = n[a];
                    io.out_box.hi[a] = on[a];
                }
                io.out_box.lo[0] = on[0] > 1 ? 1 : 0; /* a block that does not start at the volume's first inline */
                size_t ni = tq_box_len(&io.out_box, 0), plane = on[1] * on[2];
                struct done_log d = {.plane = plane, .count = calloc(ni, sizeof *d.count),
                                     .seen = calloc(ni * plane, sizeof(float)), .fail_at = SIZE_MAX};
                pthread_mutex_init(&d.lock, NULL);
                io.done_ctx = &d;
                io.out = malloc(ni * plane * sizeof(float));
                cr_assert_eq(op->compute(&p, &io, &err), TQ_OK, "%s", err.msg);
                for (size_t i = 0; i < ni; i++)
                    cr_assert_eq(d.count[i], 1, "%s %zux%zux%zu, %d threads: inline %zu reported %u times",
                                 names[k], n[0], n[1], n[2], threads, io.out_box.lo[0] + i, d.count[i]);
                cr_assert(!memcmp(d.seen, io.out, ni * plane * sizeof(float)),
                          "%s %zux%zux%zu, %d threads: an inline changed after it was reported", names[k], n[0],
                          n[1], n[2], threads);
                /* the listener fails at the block's last inline: compute returns its error */
                memset(d.count, 0, ni * sizeof *d.count);
                d.fail_at = io.out_box.hi[0] - 1;
                err = (struct tq_err){0};
                cr_assert_eq(op->compute(&p, &io, &err), TQ_ERR_IO, "%s: a failing listener is not returned",
                             names[k]);
                cr_assert(strstr(err.msg, "listener fails"), "%s: message %s", names[k], err.msg);
                pthread_mutex_destroy(&d.lock);
                free(d.count);
                free(d.seen);
                free(io.out);
                free(vol);
            }
}

/* A put_inline listener: logs each inline handed over (from the worker's own plane) like log_inlines_done. */
static tq_status log_put_inline(const struct tq_block_io *io, size_t x, const float *plane, struct tq_err *err)
{
    struct done_log *d = io->done_ctx;
    if (x < io->out_box.lo[0] || x >= io->out_box.hi[0])
        return tq_fail(err, TQ_ERR_USAGE, "inline %zu outside the block", x);
    pthread_mutex_lock(&d->lock);
    size_t i = x - io->out_box.lo[0];
    d->count[i]++;
    memcpy(d->seen + i * d->plane, plane, d->plane * sizeof(float));
    pthread_mutex_unlock(&d->lock);
    return x == d->fail_at ? tq_fail(err, TQ_ERR_IO, "listener fails at inline %zu", x) : TQ_OK;
}

/* Without an output buffer (io->out NULL) GST3D hands every output inline to io->put_inline exactly once, from its
 * worker's own plane, with the same bits as computed into io->out (so tq_op_run needs no output slab for it: its
 * declared slab buffers are the input's alone); a failing put_inline is its result; an operator without
 * put_inlines, or GST3D without a put_inline, refuses a NULL io->out (TQ_ERR_USAGE) instead of writing through it. */
Test(operators, gst3d_hands_over_inlines_without_an_output_slab)
{
    static const size_t shapes[][3] = {{23, 9, 14}, {3, 3, 3}, {9, 40, 5}};
    const struct tq_op *op = tq_op_find("gst3d");
    cr_assert(op->put_inlines && !tq_op_find("gaussian")->put_inlines && !tq_op_find("envelope")->put_inlines);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int threads = 1; threads <= 3; threads++) {
            struct tq_op_params p;
            tq_op_params_default(&p);
            p.threads = threads;
            const size_t *n = shapes[s];
            float *vol = make_volume(n, 1, 11 + s);
            size_t on[3];
            struct tq_err err = {0};
            cr_assert_eq(tq_op_output_shape(op, &p, n, on, &err), TQ_OK, "%s", err.msg);
            struct tq_block_io io = {.vol_shape = {n[0], n[1], n[2]}, .in = vol};
            for (int a = 0; a < 3; a++) {
                io.in_box.hi[a] = n[a];
                io.out_box.hi[a] = on[a];
            }
            io.out_box.lo[0] = on[0] > 1 ? 1 : 0;
            size_t ni = tq_box_len(&io.out_box, 0), plane = on[1] * on[2];
            float *want = malloc(ni * plane * sizeof(float));
            io.out = want;
            cr_assert_eq(op->compute(&p, &io, &err), TQ_OK, "%s", err.msg);
            io.out = NULL;
            cr_assert_eq(op->compute(&p, &io, &err), TQ_ERR_USAGE, "no output and no put_inline");
            struct done_log d = {.plane = plane, .count = calloc(ni, sizeof *d.count),
                                 .seen = calloc(ni * plane, sizeof(float)), .fail_at = SIZE_MAX};
            pthread_mutex_init(&d.lock, NULL);
            io.done_ctx = &d;
            io.put_inline = log_put_inline;
            err = (struct tq_err){0};
            cr_assert_eq(op->compute(&p, &io, &err), TQ_OK, "%s", err.msg);
            for (size_t i = 0; i < ni; i++)
                cr_assert_eq(d.count[i], 1, "%zux%zux%zu, %d threads: inline %zu handed over %u times", n[0], n[1],
                             n[2], threads, io.out_box.lo[0] + i, d.count[i]);
            cr_assert(!memcmp(d.seen, want, ni * plane * sizeof(float)),
                      "%zux%zux%zu, %d threads: an inline handed over differs from the one computed into io->out",
                      n[0], n[1], n[2], threads);
            d.fail_at = io.out_box.hi[0] - 1;
            cr_assert_eq(op->compute(&p, &io, &err), TQ_ERR_IO, "a failing put_inline is not returned");
            cr_assert(strstr(err.msg, "listener fails"), "message %s", err.msg);
            pthread_mutex_destroy(&d.lock);
            free(d.count);
            free(d.seen);
            free(want);
            free(vol);
        }
    /* the others have no way to hand inlines over: a NULL output is a usage error, not a write through NULL */
    static const char *others[] = {"gaussian", "envelope"};
    const size_t n[3] = {6, 5, 8};
    float *vol = make_volume(n, 1, 2);
    for (int k = 0; k < 2; k++) {
        struct tq_op_params p;
        tq_op_params_default(&p);
        struct tq_block_io io = {.vol_shape = {n[0], n[1], n[2]}, .in = vol, .put_inline = log_put_inline};
        for (int a = 0; a < 3; a++)
            io.in_box.hi[a] = io.out_box.hi[a] = n[a];
        struct tq_err err = {0};
        cr_assert_eq(tq_op_find(others[k])->compute(&p, &io, &err), TQ_ERR_USAGE, "%s", others[k]);
    }
    free(vol);
}

/* tq_op_run reads each slab's input on its threads, a run of inlines each: from a file the result equals the whole
 * run from memory and every input voxel is read once (the planes two slabs share are kept, not read again); a file
 * cut short after it was opened fails with TQ_ERR_TRUNCATED on any thread, never a crash or a silent result. */
Test(operators, slab_read_on_threads)
{
    char *dir = tq_tmpdir();
    char path[4096];
    snprintf(path, sizeof path, "%s/in.npy", dir);
    const size_t n[3] = {31, 6, 9};
    struct tq_err err = {0};
    cr_assert_eq(tq_synth_write_file(path, n, 3, 0, &err), TQ_OK, "%s", err.msg);
    float *vol = make_volume(n, 1, 3);
    static const char *names[] = {"envelope", "gaussian", "gst3d"};
    for (int k = 0; k < 3; k++)
        for (int threads = 1; threads <= 3; threads++) {
            const struct tq_op *op = tq_op_find(names[k]);
            struct tq_op_params p;
            tq_op_params_default(&p);
            p.threads = threads;
            size_t on[3];
            float *whole = run_whole(op, &p, n, vol, on);
            size_t count = on[0] * on[1] * on[2];
            p.slab_bytes = 4 * on[1] * on[2] * sizeof(float); /* 4-inline slabs: many reads, each split */
            float *got = calloc(count, sizeof *got);
            tq_vol_reader *r = NULL;
            cr_assert_eq(tq_vol_reader_open(path, &r, &err), TQ_OK, "%s", err.msg);
            struct tq_op_source src;
            struct tq_op_sink dst;
            tq_op_source_reader(&src, r);
            tq_op_sink_mem(&dst, on, got);
            struct tq_box all = {{0, 0, 0}, {on[0], on[1], on[2]}};
            cr_assert_eq(tq_op_run(op, &p, &src, &dst, &all, &err), TQ_OK, "%s", err.msg);
            cr_assert(!memcmp(got, whole, count * sizeof *got), "%s, %d threads: read from the file, the result "
                      "differs from the whole", names[k], threads);
            cr_assert_eq(tq_vol_reader_bytes_read(r), n[0] * n[1] * n[2] * sizeof(float),
                         "%s, %d threads: %zu bytes read for a %zu-byte volume", names[k], threads,
                         tq_vol_reader_bytes_read(r), n[0] * n[1] * n[2] * sizeof(float));
            tq_vol_reader_free(r);
            free(got);
            free(whole);
        }
    /* cut the file after it was opened: the last inlines' reads come up short */
    tq_vol_reader *r = NULL;
    cr_assert_eq(tq_vol_reader_open(path, &r, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(truncate(path, 128 + 20 * n[1] * n[2] * sizeof(float)), 0);
    const struct tq_op *op = tq_op_find("gaussian");
    struct tq_op_params p;
    tq_op_params_default(&p);
    p.threads = 2;
    p.slab_bytes = 4 * n[1] * n[2] * sizeof(float);
    float *got = calloc(n[0] * n[1] * n[2], sizeof *got);
    struct tq_op_source src;
    struct tq_op_sink dst;
    tq_op_source_reader(&src, r);
    tq_op_sink_mem(&dst, n, got);
    struct tq_box all = {{0, 0, 0}, {n[0], n[1], n[2]}};
    err = (struct tq_err){0};
    cr_assert_eq(tq_op_run(op, &p, &src, &dst, &all, &err), TQ_ERR_TRUNCATED, "a cut file: %s", err.msg);
    tq_vol_reader_free(r);
    free(got);
    free(vol);
    tq_rmtree(dir);
    free(dir);
}
