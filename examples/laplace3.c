/* laplace3.c - a user's block operator in C for `traceq run --cmd`: the 7-point discrete Laplacian of a float32
 * C-order 3-D .npy volume, with 'reflect' (mirror, edge repeated) boundaries as scipy.ndimage uses, written as a
 * float32 .npy of the same shape (or, with --trim T, without T voxels on every face, as operators that drop their
 * unreliable border do). Halo 1 on every axis (and >= T). Self-contained (reads and writes .npy itself).
 *
 *     build/examples/laplace3 [--trim T] IN.npy OUT.npy
 *     traceq run --cmd 'build/examples/laplace3 {in} {out}' --halo 1 --input IN.npy --output OUT.npy ... */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Read a float32 ('<f4'), C-order, 3-D .npy; returns the data (malloc'd) and its shape, or NULL with a message. */
static float *npy_read(const char *path, size_t n[3])
{
    FILE *f = fopen(path, "rb");
    unsigned char pre[10];
    if (!f || fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6)) {
        fprintf(stderr, "laplace3: %s is not an .npy file\n", path);
        return NULL;
    }
    size_t hlen = pre[8] | (size_t)pre[9] << 8;
    if (pre[6] != 1) { /* version 2/3: 4-byte header length */
        unsigned char b[2];
        if (fread(b, 1, 2, f) != 2)
            return NULL;
        hlen |= (size_t)b[0] << 16 | (size_t)b[1] << 24;
    }
    char *h = calloc(1, hlen + 1);
    const char *shape = h && fread(h, 1, hlen, f) == hlen ? strstr(h, "'shape': (") : NULL;
    if (!shape || !strstr(h, "'<f4'") || strstr(h, "True") ||
        sscanf(shape + 10, "%zu, %zu, %zu", &n[0], &n[1], &n[2]) != 3) {
        fprintf(stderr, "laplace3: %s is not a float32 C-order 3-D .npy\n", path);
        return NULL;
    }
    free(h);
    size_t count = n[0] * n[1] * n[2];
    float *v = malloc(count * sizeof *v);
    if (!v || fread(v, sizeof *v, count, f) != count) {
        fprintf(stderr, "laplace3: cannot read the data of %s\n", path);
        return NULL;
    }
    fclose(f);
    return v;
}

static int npy_write(const char *path, const float *v, const size_t n[3])
{
    char h[128];
    int len = snprintf(h, sizeof h, "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %zu, %zu), }", n[0],
                       n[1], n[2]);
    int total = 10 + len + 1, pad = (64 - total % 64) % 64;
    memset(h + len, ' ', (size_t)pad);
    h[len + pad] = '\n';
    size_t hl = (size_t)len + (size_t)pad + 1;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hl & 255), (unsigned char)(hl >> 8)};
    FILE *f = fopen(path, "wb");
    size_t count = n[0] * n[1] * n[2];
    if (!f || fwrite(pre, 1, 10, f) != 10 || fwrite(h, 1, hl, f) != hl || fwrite(v, sizeof *v, count, f) != count ||
        fclose(f)) {
        fprintf(stderr, "laplace3: cannot write %s\n", path);
        return -1;
    }
    return 0;
}

/* Index i of an axis of length len with 'reflect' boundaries (-1 -> 0, len -> len - 1). */
static size_t reflect(long i, size_t len)
{
    return i < 0 ? 0 : (size_t)i >= len ? len - 1 : (size_t)i;
}

int main(int argc, char **argv)
{
    size_t trim = 0;
    if (argc == 5 && !strcmp(argv[1], "--trim")) {
        trim = strtoul(argv[2], NULL, 10);
        argv += 2;
        argc -= 2;
    }
    if (argc != 3) {
        fprintf(stderr, "usage: laplace3 [--trim T] IN.npy OUT.npy\n");
        return 2;
    }
    size_t n[3], m[3];
    float *x = npy_read(argv[1], n);
    if (!x)
        return 1;
    for (int a = 0; a < 3; a++) {
        if (n[a] <= 2 * trim) {
            fprintf(stderr, "laplace3: axis %d (%zu voxels) is too short for --trim %zu\n", a, n[a], trim);
            return 1;
        }
        m[a] = n[a] - 2 * trim;
    }
    float *y = malloc(m[0] * m[1] * m[2] * sizeof *y);
    if (!y)
        return 1;
#define AT(i, j, k) x[((i) * n[1] + (j)) * n[2] + (k)]
    for (size_t i = trim; i < n[0] - trim; i++)
        for (size_t j = trim; j < n[1] - trim; j++)
            for (size_t k = trim; k < n[2] - trim; k++) {
                float c = AT(i, j, k);
                float s = AT(reflect((long)i - 1, n[0]), j, k) + AT(reflect((long)i + 1, n[0]), j, k) +
                          AT(i, reflect((long)j - 1, n[1]), k) + AT(i, reflect((long)j + 1, n[1]), k) +
                          AT(i, j, reflect((long)k - 1, n[2])) + AT(i, j, reflect((long)k + 1, n[2]));
                y[((i - trim) * m[1] + (j - trim)) * m[2] + (k - trim)] = s - 6.0f * c;
            }
    int rc = npy_write(argv[2], y, m) ? 1 : 0;
    free(x);
    free(y);
    return rc;
}
