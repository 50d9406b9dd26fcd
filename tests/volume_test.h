/* volume_test.h - small helpers the tests/test_volume_*.c files share: the Python oracle, raw float files,
 * random data and box extraction. Static inline so each test file carries its own copy of nothing but these. */
#ifndef TQ_VOLUME_TEST_H
#define TQ_VOLUME_TEST_H

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../operators/volume.h"
#include "helpers.h"

/* Run tests/py/vol_oracle.py with printf-style arguments; returns its exit status. */
static inline int vt_oracle(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int vt_oracle(const char *fmt, ...)
{
    char args[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    return tq_runf("%s %s %s", tq_python(), tq_src_path("tests/py/vol_oracle.py"), args);
}

/* Load a raw little-endian float32 file of exactly n values (asserts). Caller frees. */
static inline float *vt_load_raw(const char *path, size_t n)
{
    size_t len = 0;
    char *buf = tq_slurp(path, &len);
    cr_assert_not_null(buf, "cannot read %s", path);
    cr_assert_eq(len, n * 4, "%s has %zu bytes, expected %zu", path, len, n * 4);
    return (float *)buf;
}

/* Write n floats to a raw file (asserts). */
static inline void vt_save_raw(const char *path, const float *v, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(v, 4, n, f), n);
    fclose(f);
}

/* Deterministic pseudo-random floats with a wide spread of magnitudes (xorshift; no libc rand state). */
static inline void vt_fill_random(float *v, size_t n, uint64_t seed)
{
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double u = (double)(x >> 11) / 9007199254740992.0 - 0.5;
        v[i] = (float)(u * (double)(1u << (x % 20)));
    }
}

/* Copy `box` out of a whole C-order volume of `shape` into dst. */
static inline void vt_extract(const float *whole, const size_t shape[3], const struct tq_box *b, float *dst)
{
    size_t nj = tq_box_len(b, 1), nk = tq_box_len(b, 2);
    for (size_t i = b->lo[0]; i < b->hi[0]; i++)
        for (size_t j = b->lo[1]; j < b->hi[1]; j++)
            memcpy(dst + ((i - b->lo[0]) * nj + (j - b->lo[1])) * nk,
                   whole + (i * shape[1] + j) * shape[2] + b->lo[2], nk * sizeof *dst);
}

/* A random non-empty box inside `shape`, drawn from *state. */
static inline struct tq_box vt_random_box(const size_t shape[3], uint64_t *state)
{
    struct tq_box b;
    for (int a = 0; a < 3; a++) {
        *state = *state * 6364136223846793005ull + 1442695040888963407ull;
        size_t lo = (size_t)(*state >> 33) % shape[a];
        *state = *state * 6364136223846793005ull + 1442695040888963407ull;
        size_t len = 1 + (size_t)(*state >> 33) % (shape[a] - lo);
        b.lo[a] = lo;
        b.hi[a] = lo + len;
    }
    return b;
}

/* Read the whole volume at `path` (asserts success and the expected shape). Caller frees. */
static inline float *vt_read_whole(const char *path, const size_t shape[3])
{
    struct tq_err err = {0};
    tq_vol_reader *r = NULL;
    cr_assert_eq(tq_vol_reader_open(path, &r, &err), TQ_OK, "%s", err.msg);
    size_t got[3];
    tq_vol_reader_shape(r, got);
    cr_assert(got[0] == shape[0] && got[1] == shape[1] && got[2] == shape[2], "%s: shape %zux%zux%zu", path,
              got[0], got[1], got[2]);
    struct tq_box all = {{0, 0, 0}, {shape[0], shape[1], shape[2]}};
    float *v = malloc(tq_box_voxels(&all) * sizeof *v);
    cr_assert_eq(tq_vol_read_box(r, &all, v, &err), TQ_OK, "%s", err.msg);
    tq_vol_reader_free(r);
    return v;
}

#endif
