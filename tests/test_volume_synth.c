/* test_volume_synth.c - the synthetic volume: deterministic per seed, any box equal to the same box of the whole,
 * structure along all three axes, and `traceq synth` writing exactly tq_synth_box's values. */
#include <math.h>

#include "volume_test.h"

static float *synth_whole(const size_t shape[3], uint64_t seed)
{
    struct tq_box all = {{0, 0, 0}, {shape[0], shape[1], shape[2]}};
    float *v = malloc(tq_box_voxels(&all) * sizeof *v);
    struct tq_err err = {0};
    cr_assert_eq(tq_synth_box(shape, seed, &all, v, &err), TQ_OK, "%s", err.msg);
    return v;
}

Test(volume_synth, same_seed_same_volume_other_seed_differs)
{
    const size_t shape[3] = {9, 11, 64};
    size_t n = 9 * 11 * 64;
    float *a = synth_whole(shape, 1), *b = synth_whole(shape, 1), *c = synth_whole(shape, 2);
    cr_assert(!memcmp(a, b, n * 4), "seed 1 twice gave different volumes");
    size_t differ = 0;
    for (size_t i = 0; i < n; i++)
        differ += a[i] != c[i];
    cr_assert_gt(differ, n * 9 / 10, "seeds 1 and 2 share %zu of %zu values", n - differ, n);
    for (size_t i = 0; i < n; i++)
        cr_assert(isfinite(a[i]));
    free(a);
    free(b);
    free(c);
}

Test(volume_synth, any_box_equals_the_same_box_of_the_whole)
{
    const size_t shape[3] = {13, 10, 150};
    float *whole = synth_whole(shape, 77);
    float *got = malloc(13 * 10 * 150 * sizeof *got), *want = malloc(13 * 10 * 150 * sizeof *want);
    uint64_t state = 5;
    struct tq_err err = {0};
    for (int n = 0; n < 60; n++) {
        struct tq_box b = vt_random_box(shape, &state);
        if (n < 8) /* the eight corners, one voxel each, and so every face */
            for (int a = 0; a < 3; a++) {
                b.lo[a] = (n >> a & 1) ? shape[a] - 1 : 0;
                b.hi[a] = b.lo[a] + 1;
            }
        cr_assert_eq(tq_synth_box(shape, 77, &b, got, &err), TQ_OK, "%s", err.msg);
        vt_extract(whole, shape, &b, want);
        cr_assert(!memcmp(got, want, tq_box_voxels(&b) * 4), "box %d [%zu:%zu,%zu:%zu,%zu:%zu] differs", n,
                  b.lo[0], b.hi[0], b.lo[1], b.hi[1], b.lo[2], b.hi[2]);
    }
    free(whole);
    free(got);
    free(want);
}

/* Variance of the first difference along axis a (a discrete gradient), over the whole volume. */
static double gradient_variance(const float *v, const size_t s[3], int a)
{
    size_t stride = a == 0 ? s[1] * s[2] : a == 1 ? s[2] : 1;
    double sum = 0, sum2 = 0;
    size_t n = 0;
    for (size_t i = 0; i < s[0]; i++)
        for (size_t j = 0; j < s[1]; j++)
            for (size_t k = 0; k < s[2]; k++) {
                size_t idx[3] = {i, j, k};
                if (idx[a] + 1 >= s[a])
                    continue;
                size_t p = (i * s[1] + j) * s[2] + k;
                double d = (double)v[p + stride] - v[p];
                sum += d;
                sum2 += d * d;
                n++;
            }
    return sum2 / (double)n - (sum / (double)n) * (sum / (double)n);
}

/* The original's volumes were one trace repeated: zero gradient across traces. Ours must not be. */
Test(volume_synth, varies_along_all_three_axes)
{
    const size_t shape[3] = {40, 40, 200};
    for (uint64_t seed = 1; seed <= 3; seed++) {
        float *v = synth_whole(shape, seed);
        double g[3];
        for (int a = 0; a < 3; a++)
            g[a] = gradient_variance(v, shape, a);
        /* noise alone (uniform +-0.05, differenced) gives about 1.7e-3; layers must add clearly more than that */
        cr_assert_gt(g[0], 4e-3, "seed %d: no structure along inlines (gradient variance %g)", (int)seed, g[0]);
        cr_assert_gt(g[1], 4e-3, "seed %d: no structure along crosslines (gradient variance %g)", (int)seed, g[1]);
        cr_assert_gt(g[2], 0.1, "seed %d: no structure along samples (gradient variance %g)", (int)seed, g[2]);
        /* the wavelet's band limit makes samples the fastest-varying axis, like real post-stack data */
        cr_assert_gt(g[2], g[0]);
        cr_assert_gt(g[2], g[1]);
        free(v);
    }
}

Test(volume_synth, cli_writes_what_synth_box_computes)
{
    const size_t shape[3] = {6, 7, 45};
    char *dir = tq_tmpdir(), path[4200];
    float *want = synth_whole(shape, 12);
    const char *names[] = {"s.npy", "s.segy"};
    for (int f = 0; f < 2; f++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[f]);
        cr_assert_eq(tq_runf("%s synth --shape 6x7x45 --seed 12 -o '%s'", tq_build_path("traceq"), path), 0);
        float *got = vt_read_whole(path, shape);
        cr_assert(!memcmp(got, want, sizeof(float) * 6 * 7 * 45), "%s differs from tq_synth_box", names[f]);
        free(got);
    }
    free(want);
    tq_rmtree(dir);
    free(dir);
}

/* The replica of the original's saved volume: one trace (scipy's convolve of the seeded reflectivity with its
 * wavelet) along axis 1, exactly constant along axes 0 and 2, and written by `traceq synth --model original`. */
Test(volume_synth, original_model_replicates_the_one_trace_volume)
{
    const size_t shape[3] = {3, 300, 7}; /* the original's builder called with 3x7x300 */
    char *dir = tq_tmpdir(), raw[4200], path[4200];
    snprintf(raw, sizeof raw, "%s/trace.raw", dir);
    snprintf(path, sizeof path, "%s/orig.npy", dir);
    cr_assert_eq(vt_oracle("orig-trace 300 5 '%s'", raw), 0);
    float *want = vt_load_raw(raw, 300);
    cr_assert_eq(tq_runf("%s synth --model original --shape 3x300x7 --seed 5 -o '%s'", tq_build_path("traceq"),
                         path), 0);
    float *v = vt_read_whole(path, shape);
    double peak = 0;
    for (size_t x = 0; x < 300; x++)
        peak = fabs(want[x]) > peak ? fabs(want[x]) : peak;
    for (size_t i = 0; i < 3; i++)
        for (size_t x = 0; x < 300; x++)
            for (size_t s = 0; s < 7; s++) {
                float got = v[(i * 300 + x) * 7 + s];
                cr_assert_eq(got, v[x * 7], "not constant along axes 0 and 2 at (%zu, %zu, %zu)", i, x, s);
                cr_assert(fabs(got - want[x]) <= 1e-5 * peak, "trace sample %zu: %g, scipy %g", x, got, want[x]);
            }
    struct tq_box b = {{1, 100, 2}, {3, 180, 5}};
    float part[2 * 80 * 3], whole_part[2 * 80 * 3];
    struct tq_err err = {0};
    cr_assert_eq(tq_synth_model_box(TQ_SYNTH_ORIGINAL, shape, 5, &b, part, &err), TQ_OK, "%s", err.msg);
    vt_extract(v, shape, &b, whole_part);
    cr_assert(!memcmp(part, whole_part, sizeof part), "a box of the original model differs from the whole");
    free(v);
    free(want);
    tq_rmtree(dir);
    free(dir);
}
