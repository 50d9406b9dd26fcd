/* npy.c - NumPy .npy files (format versions 1, 2 and 3): header parsing, box reads with float64->float32
 * conversion, and float32 header writing. The format is described in numpy/lib/format.py. */
#include "volfmt.h"
#include "../common/alloc.h"
#include "volume.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "npy.c assumes a little-endian host"
#endif

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_MAX_HEADER (1u << 20) /* a 3-D header is < 200 bytes; refuse absurd lengths before allocating */
#define NPY_CHUNK 4096            /* float64 elements converted per pread (32 KiB on the stack) */

struct tq_npy_reader {
    struct tq_vol_input in; /* first: path, descriptor, shape */
    size_t esize;           /* 4 or 8 */
    int swap;               /* big-endian data ('>') */
    size_t data_off;
};

/* Find `'key':` in a header dict and return the first non-blank character after the colon, or NULL. */
static const char *dict_value(const char *hdr, const char *key)
{
    char pat[32];
    snprintf(pat, sizeof pat, "'%s'", key);
    const char *p = strstr(hdr, pat);
    if (!p)
        return NULL;
    p += strlen(pat);
    while (*p == ' ')
        p++;
    if (*p++ != ':')
        return NULL;
    while (*p == ' ')
        p++;
    return p;
}

/* Parse "'<f4'" style descr into element size and byte order. */
static tq_status parse_descr(const char *v, const char *path, size_t *esize, int *swap, struct tq_err *err)
{
    char d[16] = "";
    if (!v || *v != '\'' || sscanf(v + 1, "%15[^']", d) != 1)
        return tq_fail(err, TQ_ERR_FORMAT, "%s: .npy header has no readable 'descr'", path);
    if ((d[0] == '<' || d[0] == '>' || d[0] == '=') && d[1] == 'f' && (d[2] == '4' || d[2] == '8') && !d[3]) {
        *esize = (size_t)(d[2] - '0');
        *swap = d[0] == '>';
        return TQ_OK;
    }
    return tq_fail(err, TQ_ERR_FORMAT, "%s: unsupported .npy dtype '%s' (only float32 '<f4' and float64 '<f8')",
                   path, d);
}

/* Parse "(a, b, c)" into exactly three sizes; zero axes are a range error. */
static tq_status parse_shape(const char *v, const char *path, size_t shape[3], struct tq_err *err)
{
    if (!v || *v != '(')
        return tq_fail(err, TQ_ERR_FORMAT, "%s: .npy header has no readable 'shape'", path);
    const char *p = v + 1;
    size_t n = 0;
    unsigned long long dims[8];
    while (*p && *p != ')') {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == ')')
            break;
        char *end;
        errno = 0;
        unsigned long long d = strtoull(p, &end, 10);
        if (end == p || errno || *p == '-')
            return tq_fail(err, TQ_ERR_FORMAT, "%s: bad .npy shape", path);
        if (n < 8)
            dims[n] = d;
        n++;
        p = end;
        while (*p == 'L' || *p == ' ')
            p++;
    }
    if (n != 3)
        return tq_fail(err, TQ_ERR_FORMAT, "%s: .npy array has %zu dimensions; a volume needs 3 (inlines, xlines, "
                       "samples)", path, n);
    for (int a = 0; a < 3; a++) {
        if (dims[a] == 0 || dims[a] > (1ull << 40))
            return tq_fail(err, TQ_ERR_RANGE, "%s: .npy shape (%llu, %llu, %llu) has an empty or huge axis", path,
                           dims[0], dims[1], dims[2]);
        shape[a] = (size_t)dims[a];
    }
    return tq_vol_check_shape(shape, err);
}

/* Read the preamble and header dict; fill r's dtype, shape and data offset. */
static tq_status read_header(struct tq_npy_reader *r, struct tq_err *err)
{
    unsigned char pre[12];
    ssize_t got = pread(r->in.fd, pre, sizeof pre, 0);
    if (got < 0)
        return tq_fail_errno(err, TQ_ERR_IO, "%s: read failed", r->in.path);
    if (got < 10 || memcmp(pre, NPY_MAGIC, NPY_MAGIC_LEN) != 0)
        return tq_fail(err, TQ_ERR_FORMAT, "%s: not a .npy file (bad magic)", r->in.path);
    unsigned major = pre[6];
    size_t hlen, pre_len;
    if (major == 1) {
        hlen = pre[8] | (size_t)pre[9] << 8;
        pre_len = 10;
    } else if ((major == 2 || major == 3) && got == 12) {
        hlen = pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
        pre_len = 12;
    } else {
        return tq_fail(err, TQ_ERR_FORMAT, "%s: unsupported .npy format version %u", r->in.path, major);
    }
    if (hlen == 0 || hlen > NPY_MAX_HEADER)
        return tq_fail(err, TQ_ERR_FORMAT, "%s: bad .npy header length %zu", r->in.path, hlen);
    char *hdr = tq_malloc(hlen + 1);
    if (!hdr)
        return tq_fail(err, TQ_ERR_NOMEM, "%s: no memory for the .npy header", r->in.path);
    got = pread(r->in.fd, hdr, hlen, (off_t)pre_len);
    if (got != (ssize_t)hlen) {
        free(hdr);
        return tq_fail(err, TQ_ERR_TRUNCATED, "%s: .npy header is truncated", r->in.path);
    }
    hdr[hlen] = '\0';
    tq_status st = parse_descr(dict_value(hdr, "descr"), r->in.path, &r->esize, &r->swap, err);
    const char *fo = st ? NULL : dict_value(hdr, "fortran_order");
    if (!st && (!fo || strncmp(fo, "False", 5) != 0))
        st = tq_fail(err, TQ_ERR_FORMAT, "%s: .npy array is in Fortran order; only C order is supported "
                     "(save np.ascontiguousarray(a))", r->in.path);
    if (!st)
        st = parse_shape(dict_value(hdr, "shape"), r->in.path, r->in.shape, err);
    free(hdr);
    r->data_off = pre_len + hlen;
    return st;
}

/* Check that the file holds all the data the header promises. */
static tq_status check_size(const struct tq_npy_reader *r, struct tq_err *err)
{
    struct stat sb;
    if (fstat(r->in.fd, &sb) != 0)
        return tq_fail_errno(err, TQ_ERR_IO, "%s: stat failed", r->in.path);
    size_t n = r->in.shape[0] * r->in.shape[1] * r->in.shape[2];
    if ((uint64_t)sb.st_size < r->data_off + (uint64_t)n * r->esize)
        return tq_fail(err, TQ_ERR_TRUNCATED, "%s: truncated .npy: %lld bytes, header promises %zu", r->in.path,
                       (long long)sb.st_size, r->data_off + n * r->esize);
    return TQ_OK;
}

/* The header, then a size check against it (tq_vol_input_open's parse step). */
static tq_status npy_parse(void *reader, const char *path, struct tq_err *err)
{
    (void)path;
    TQ_TRY(read_header(reader, err));
    return check_size(reader, err);
}

tq_status tq_npy_reader_open(const char *path, struct tq_npy_reader **out, size_t shape[3], struct tq_err *err)
{
    return tq_vol_input_open(path, sizeof **out, ".npy reader", npy_parse, (void **)out, shape, err);
}

/* Read `count` elements starting at element `first` into dst as float32. */
static tq_status read_run(struct tq_npy_reader *r, size_t first, size_t count, float *dst, struct tq_err *err)
{
    size_t off = r->data_off + first * r->esize;
    if (r->esize == 4) {
        TQ_TRY(tq_vol_pread_all(r->in.fd, dst, count * 4, off, r->in.path, err));
        if (r->swap)
            for (size_t i = 0; i < count; i++) {
                uint32_t u;
                memcpy(&u, dst + i, 4);
                u = __builtin_bswap32(u);
                memcpy(dst + i, &u, 4);
            }
        return TQ_OK;
    }
    double buf[NPY_CHUNK];
    for (size_t done = 0; done < count;) {
        size_t n = count - done < NPY_CHUNK ? count - done : NPY_CHUNK;
        TQ_TRY(tq_vol_pread_all(r->in.fd, buf, n * 8, off + done * 8, r->in.path, err));
        for (size_t i = 0; i < n; i++) {
            if (r->swap) {
                uint64_t u;
                memcpy(&u, buf + i, 8);
                u = __builtin_bswap64(u);
                memcpy(buf + i, &u, 8);
            }
            dst[done + i] = (float)buf[i];
        }
        done += n;
    }
    return TQ_OK;
}

tq_status tq_npy_read_box(struct tq_npy_reader *r, const struct tq_box *b, float *dst, size_t *bytes_read,
                          struct tq_err *err)
{
    const size_t nx = r->in.shape[1], ns = r->in.shape[2];
    const size_t ni = tq_box_len(b, 0), nj = tq_box_len(b, 1), nk = tq_box_len(b, 2);
    /* Whole rows of samples are contiguous on disk: merge them into as few reads as the box allows. */
    if (nk == ns && nj == nx) {
        TQ_TRY(read_run(r, b->lo[0] * nx * ns, ni * nj * nk, dst, err));
    } else if (nk == ns) {
        for (size_t i = 0; i < ni; i++)
            TQ_TRY(read_run(r, ((b->lo[0] + i) * nx + b->lo[1]) * ns, nj * nk, dst + i * nj * nk, err));
    } else {
        for (size_t i = 0; i < ni; i++)
            for (size_t j = 0; j < nj; j++)
                TQ_TRY(read_run(r, ((b->lo[0] + i) * nx + b->lo[1] + j) * ns + b->lo[2], nk,
                                dst + (i * nj + j) * nk, err));
    }
    *bytes_read += ni * nj * nk * r->esize;
    return TQ_OK;
}

void tq_npy_reader_free(struct tq_npy_reader *r)
{
    tq_vol_input_free(r);
}

tq_status tq_npy_file_init(int fd, const size_t shape[3], size_t *data_offset, struct tq_err *err)
{
    char dict[256];
    int n = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %zu, %zu), }",
                     shape[0], shape[1], shape[2]);
    /* numpy pads the header with spaces and a final newline so the data starts on a 64-byte boundary. */
    size_t total = 10 + (size_t)n + 1;
    total = (total + 63) / 64 * 64;
    size_t hlen = total - 10;
    unsigned char hdr[320];
    memcpy(hdr, NPY_MAGIC, NPY_MAGIC_LEN);
    hdr[6] = 1;
    hdr[7] = 0;
    hdr[8] = (unsigned char)(hlen & 0xff);
    hdr[9] = (unsigned char)(hlen >> 8);
    memset(hdr + 10, ' ', hlen);
    memcpy(hdr + 10, dict, (size_t)n);
    hdr[total - 1] = '\n';
    if (pwrite(fd, hdr, total, 0) != (ssize_t)total)
        return tq_fail_errno(err, TQ_ERR_IO, "cannot write the .npy header");
    size_t bytes = total + shape[0] * shape[1] * shape[2] * 4;
    if (ftruncate(fd, (off_t)bytes) != 0)
        return tq_fail_errno(err, TQ_ERR_IO, "cannot size the .npy file to %zu bytes", bytes);
    *data_offset = total;
    return TQ_OK;
}

tq_status tq_npy_write_box(int fd, size_t data_offset, const size_t shape[3], const struct tq_box *b,
                           const float *src, struct tq_err *err)
{
    const size_t nx = shape[1], ns = shape[2];
    const size_t ni = tq_box_len(b, 0), nj = tq_box_len(b, 1), nk = tq_box_len(b, 2);
    size_t run = nk, runs_per_i = nj; /* contiguous floats per pwrite, and pwrites per inline */
    if (nk == ns) {
        run = nj * nk;
        runs_per_i = 1;
    }
    for (size_t i = 0; i < ni; i++)
        for (size_t r = 0; r < runs_per_i; r++) {
            size_t first = ((b->lo[0] + i) * nx + b->lo[1] + r) * ns + b->lo[2];
            TQ_TRY(tq_vol_pwrite_all(fd, src + (i * runs_per_i + r) * run, run * 4, data_offset + first * 4,
                                     "the .npy output", err));
        }
    return TQ_OK;
}

size_t tq_npy_reader_sample_bytes(const struct tq_npy_reader *r)
{
    return r->esize;
}
