/* test_nan_input.c - NaN and infinite input voxels: GST3D's dip is NaN exactly where they reach (never 0 as for an
 * isotropic tensor), whole or in blocks, full-size or trimmed, and inside what SciPy marks NaN; Gaussian and
 * Envelope match SciPy's NaN and infinities exactly (tests/oracle/ops_oracle.py nan). */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../operators/kernels.h"
#include "helpers.h"

/* Run the oracle's nan mode; assert no mismatch with the footprint, nothing NaN that SciPy has finite, at least
 * one NaN, and finite voxels within tol. */
static void expect_nan_like_scipy(const char *dir, const char *op, const char *out, const char *full, double tol)
{
    char cmd[8192], *o = NULL;
    snprintf(cmd, sizeof cmd, "cd '%s' && %s %s nan %s in.npy %s %s", dir, tq_python(),
             tq_src_path("tests/oracle/ops_oracle.py"), op, out, full);
    cr_assert_eq(tq_run(cmd, &o, NULL), 0, "oracle failed: %s", o);
    long ref = -1, ours = -1, mism = -1, extra = -1;
    double err = -1;
    cr_assert_eq(sscanf(o, "nan_ref=%ld nan_ours=%ld mismatched=%ld not_in_scipy=%ld finite_err=%lf", &ref, &ours,
                        &mism, &extra, &err), 5, "%s", o);
    cr_expect_gt(ref, 0, "%s %s: the input's NaN reached nothing? %s", op, out, o);
    cr_expect_eq(mism, 0, "%s %s: NaN voxels differ from the footprint: %s", op, out, o);
    cr_expect_eq(extra, 0, "%s %s: NaN where SciPy is finite: %s", op, out, o);
    cr_expect(err >= 0 && err <= tol, "%s %s: finite voxels differ by %g: %s", op, out, err, o);
    free(o);
}

Test(nan_input, gst3d_and_gaussian_propagate_nan_as_scipy, .timeout = 300)
{
    char *dir = tq_tmpdir(), cmd[8192];
    /* a NaN inside, a NaN on a face, +inf inside and -inf in a corner of a 20x18x24 random volume */
    snprintf(cmd, sizeof cmd, "cd '%s' && %s -c \"import numpy as np; r = np.random.default_rng(5); "
                              "x = r.standard_normal((20, 18, 24)).astype(np.float32); x[6, 7, 9] = np.nan; "
                              "x[0, 12, 3] = np.nan; x[14, 4, 17] = np.inf; x[19, 17, 23] = -np.inf; "
                              "np.save('in.npy', x)\"", dir, tq_python());
    cr_assert_eq(tq_runf("%s", cmd), 0);
    const char *tq = tq_build_path("traceq");
    cr_assert_eq(tq_runf("cd '%s' && %s op gst3d --input in.npy -o g.npy >/dev/null", dir, tq), 0);
    cr_assert_eq(tq_runf("cd '%s' && %s op gst3d --input in.npy -o gb.npy --block 5,7,6 >/dev/null", dir, tq), 0);
    cr_assert_eq(tq_runf("cd '%s' && %s op gst3d --full-size --input in.npy -o gf.npy >/dev/null", dir, tq), 0);
    cr_assert_eq(tq_runf("cd '%s' && %s op gaussian --input in.npy -o ga.npy >/dev/null", dir, tq), 0);
    cr_assert_eq(tq_runf("cd '%s' && %s op envelope --input in.npy -o en.npy >/dev/null", dir, tq), 0);
    expect_nan_like_scipy(dir, "gst3d", "g.npy", "", 0.01);
    expect_nan_like_scipy(dir, "gst3d", "gb.npy", "", 0.01);
    expect_nan_like_scipy(dir, "gst3d", "gf.npy", "full", 0.01);
    expect_nan_like_scipy(dir, "gaussian", "ga.npy", "", 1e-4);
    expect_nan_like_scipy(dir, "envelope", "en.npy", "", 1e-4);
    tq_rmtree(dir);
    free(dir);
}

Test(nan_input, dip_of_a_non_finite_tensor_is_nan_on_both_paths)
{
    const double bad[][6] = {{NAN, 1, 1, 0, 0, 0}, {1, 1, 1, 0, 0, NAN}, {INFINITY, 1, 1, 0, 0, 0},
                             {1, 1, 1, -INFINITY, 0, 0}, {INFINITY, INFINITY, INFINITY, 0, 0, 0}};
    size_t n = sizeof bad / sizeof bad[0];
    float planes[6][8], out[8];
    for (size_t v = 0; v < 8; v++)
        for (int k = 0; k < 6; k++)
            planes[k][v] = v < n ? (float)bad[v][k] : (k < 3 ? 1.0f : 0.0f);
    tq_gst3d_dip_plane(&planes[0][0], 8, out); /* planes are contiguous: ten[k * n + v] with n = 8 */
    for (size_t v = 0; v < n; v++) {
        cr_expect(isnan(tq_gst3d_dip(bad[v])), "tensor %zu: scalar dip %g", v, tq_gst3d_dip(bad[v]));
        cr_expect(isnan(out[v]), "tensor %zu: vector dip %g", v, out[v]);
    }
    for (size_t v = n; v < 8; v++)
        cr_expect_eq(out[v], 0.0f, "an isotropic tensor keeps dip 0");
    const double iso[6] = {0, 0, 0, 0, 0, 0};
    cr_expect_eq(tq_gst3d_dip(iso), 0.0);
}
