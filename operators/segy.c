/* segy.c - post-stack SEG-Y cubes through libsegyio: geometry like segyio.tools.cube, box reads of only the traces
 * a box touches (pread, fork-safe) of every sample format segyio reads (IBM float, int32, int16, IEEE float, int8),
 * big- or little-endian, widened to float; and IEEE inline-sorted writing with full headers. */
#include "volfmt.h"
#include "../common/alloc.h"

#include <segyio/segy.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define IL_BYTE SEGY_TR_INLINE    /* 189, as segyio */
#define XL_BYTE SEGY_TR_CROSSLINE /* 193 */
#define DEFAULT_DT_US 4000        /* sample interval written when there is no `like` file */

struct tq_segy_reader {
    struct tq_vol_input in; /* first: path, descriptor, shape (inlines, xlines, samples) */
    int format;         /* SEGY_IBM_FLOAT_4_BYTE, SEGY_SIGNED_INTEGER_4_BYTE, ..._SHORT_2_BYTE, ..._CHAR_1_BYTE or IEEE */
    int esize;          /* bytes per sample: 4, 2 or 1 */
    int lsb;            /* little-endian file (headers and samples), told apart by its format code */
    int sorting;        /* SEGY_INLINE_SORTING or SEGY_CROSSLINE_SORTING */
    size_t trace0;      /* byte offset of the first trace header */
    size_t trace_bytes; /* header + samples */
};

/* Number of trace (i, j) in the file, whichever way it is sorted. */
static size_t trace_index(const struct tq_segy_reader *r, size_t i, size_t j)
{
    return r->sorting == SEGY_INLINE_SORTING ? i * r->in.shape[1] + j : j * r->in.shape[0] + i;
}

/* Byte offset of trace (i, j)'s header. */
static size_t trace_offset(const struct tq_segy_reader *r, size_t i, size_t j)
{
    return r->trace0 + trace_index(r, i, j) * r->trace_bytes;
}

/* Bytes per sample of a format segyio reads, else 0. */
static int format_size(int format)
{
    switch (format) {
    case SEGY_IBM_FLOAT_4_BYTE:
    case SEGY_SIGNED_INTEGER_4_BYTE:
    case SEGY_IEEE_FLOAT_4_BYTE: return 4;
    case SEGY_SIGNED_SHORT_2_BYTE: return 2;
    case SEGY_SIGNED_CHAR_1_BYTE: return 1;
    default: return 0;
    }
}

/* Read the binary header: sample format, byte order (a little-endian file's format code reads as a code segyio does
 * not know when taken big-endian: 0x0300 for 3), sample count and the first trace's offset. */
static tq_status read_binheader(segy_file *fp, struct tq_segy_reader *r, int *samples, struct tq_err *err)
{
    struct stat sb;
    if (fstat(r->in.fd, &sb) != 0)
        return tq_fail_errno(err, TQ_ERR_IO, "%s: stat failed", r->in.path);
    char bin[SEGY_BINARY_HEADER_SIZE];
    if (sb.st_size < SEGY_TEXT_HEADER_SIZE + SEGY_BINARY_HEADER_SIZE || segy_binheader(fp, bin) != SEGY_OK)
        return tq_fail(err, TQ_ERR_FORMAT, "%s: not a SEG-Y file (shorter than its 3600 bytes of headers)", r->in.path);
    int be = segy_format(bin), le = (unsigned char)bin[24] | (unsigned char)bin[25] << 8;
    r->lsb = !format_size(be) && format_size(le);
    if (r->lsb) {
        /* segyio swaps every header it returns to big-endian once told the file is little-endian */
        if (segy_set_format(fp, le | SEGY_LSB) != SEGY_OK || segy_binheader(fp, bin) != SEGY_OK)
            return tq_fail(err, TQ_ERR_FORMAT, "%s: cannot read its little-endian binary header", r->in.path);
    }
    r->format = segy_format(bin);
    r->esize = format_size(r->format);
    *samples = segy_samples(bin);
    long trace0 = segy_trace0(bin);
    if (!r->esize)
        return tq_fail(err, TQ_ERR_FORMAT, "%s: not a SEG-Y file, or an unsupported sample format code %d (read: "
                       "1 IBM float, 2 int32, 3 int16, 5 IEEE float, 8 int8, big- or little-endian, as segyio)",
                       r->in.path, be);
    if (!r->lsb && segy_set_format(fp, r->format) != SEGY_OK)
        return tq_fail(err, TQ_ERR_FORMAT, "%s: segyio refuses sample format %d", r->in.path, r->format);
    if (*samples <= 0 && trace0 >= SEGY_TEXT_HEADER_SIZE + SEGY_BINARY_HEADER_SIZE) {
        /* some writers leave the binary header's count at 0; the first trace header then says it */
        char th[SEGY_TRACE_HEADER_SIZE];
        int32_t n = 0;
        if (pread(r->in.fd, th, sizeof th, trace0) == (ssize_t)sizeof th && !segy_get_field(th, SEGY_TR_SAMPLE_COUNT, &n))
            *samples = n;
    }
    if (*samples <= 0 || trace0 < SEGY_TEXT_HEADER_SIZE + SEGY_BINARY_HEADER_SIZE)
        return tq_fail(err, TQ_ERR_FORMAT, "%s: not a SEG-Y file (binary header gives %d samples per trace)",
                       r->in.path, *samples);
    r->trace0 = (size_t)trace0;
    r->trace_bytes = SEGY_TRACE_HEADER_SIZE + (size_t)*samples * (size_t)r->esize;
    r->in.shape[2] = (size_t)*samples;
    if ((uint64_t)sb.st_size < r->trace0 + r->trace_bytes)
        return tq_fail(err, TQ_ERR_TRUNCATED, "%s: truncated SEG-Y: no complete trace after the headers", r->in.path);
    if (((uint64_t)sb.st_size - r->trace0) % r->trace_bytes != 0)
        return tq_fail(err, TQ_ERR_TRUNCATED, "%s: truncated SEG-Y: %lld bytes is not the headers plus whole "
                       "traces of %d samples", r->in.path, (long long)sb.st_size, *samples);
    return TQ_OK;
}

/* Work out sorting and the inline/crossline counts the way segyio.open does for a post-stack file. */
static tq_status read_geometry(segy_file *fp, struct tq_segy_reader *r, struct tq_err *err)
{
    int bsize = (int)(r->trace_bytes - SEGY_TRACE_HEADER_SIZE), traces = 0, offsets = 0, nil = 0, nxl = 0;
    long t0 = (long)r->trace0;
    if (segy_traces(fp, &traces, t0, bsize) != SEGY_OK || traces <= 0)
        return tq_fail(err, TQ_ERR_TRUNCATED, "%s: cannot count whole traces (truncated SEG-Y?)", r->in.path);
    if (traces == 1) {
        r->sorting = SEGY_INLINE_SORTING;
        r->in.shape[0] = r->in.shape[1] = 1;
        return TQ_OK;
    }
    if (segy_sorting(fp, IL_BYTE, XL_BYTE, SEGY_TR_OFFSET, &r->sorting, t0, bsize) != SEGY_OK ||
        (r->sorting != SEGY_INLINE_SORTING && r->sorting != SEGY_CROSSLINE_SORTING))
        return tq_fail(err, TQ_ERR_FORMAT, "%s: cannot tell inline from crossline sorting (inline/crossline "
                       "numbers at bytes 189/193 are not a regular grid)", r->in.path);
    if (segy_offsets(fp, IL_BYTE, XL_BYTE, traces, &offsets, t0, bsize) != SEGY_OK || offsets != 1)
        return tq_fail(err, TQ_ERR_FORMAT, "%s: pre-stack SEG-Y (%d offsets per trace position) is not supported; "
                       "a volume needs one trace per inline/crossline", r->in.path, offsets);
    if (segy_lines_count(fp, IL_BYTE, XL_BYTE, r->sorting, offsets, &nil, &nxl, t0, bsize) != SEGY_OK ||
        nil <= 0 || nxl <= 0 || (long)nil * nxl != traces)
        return tq_fail(err, TQ_ERR_FORMAT, "%s: %d traces do not fill a regular grid of %d x %d lines (an irregular "
                       "survey, or a SEG-Y truncated by whole traces)", r->in.path, traces, nil, nxl);
    r->in.shape[0] = (size_t)nil;
    r->in.shape[1] = (size_t)nxl;
    return TQ_OK;
}

/* segyio works out the geometry; the samples are then read with pread on our own descriptor, because a segyio
 * FILE* has one shared file position and could not serve forked or threaded readers. */
static tq_status segy_parse(void *reader, const char *path, struct tq_err *err)
{
    segy_file *fp = segy_open(path, "rb");
    int samples = 0;
    tq_status st = fp ? TQ_OK : tq_fail_errno(err, TQ_ERR_IO, "cannot open '%s'", path);
    if (!st)
        st = read_binheader(fp, reader, &samples, err);
    if (!st)
        st = read_geometry(fp, reader, err);
    if (fp)
        segy_close(fp);
    return st;
}

tq_status tq_segy_reader_open(const char *path, struct tq_segy_reader **out, size_t shape[3], struct tq_err *err)
{
    return tq_vol_input_open(path, sizeof **out, "SEG-Y reader", segy_parse, (void **)out, shape, err);
}

/* Turn n samples of r's format, as read from the file into the start of row, into floats in place (widening from
 * the end, so no sample is overwritten before it is read). */
static void samples_to_float(const struct tq_segy_reader *r, float *row, size_t n)
{
    const unsigned char *b = (const unsigned char *)row;
    if (r->format == SEGY_IBM_FLOAT_4_BYTE || r->format == SEGY_IEEE_FLOAT_4_BYTE) {
        if (r->lsb) /* segy_to_native takes big-endian words */
            for (size_t i = 0; i < n; i++) {
                uint32_t u;
                memcpy(&u, row + i, 4);
                u = __builtin_bswap32(u);
                memcpy(row + i, &u, 4);
            }
        segy_to_native(r->format, (long long)n, row);
        return;
    }
    for (size_t i = n; i-- > 0;) {
        const unsigned char *p = b + i * (size_t)r->esize;
        float v;
        if (r->esize == 4)
            v = (float)(int32_t)(r->lsb ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                                              (uint32_t)p[3] << 24
                                        : (uint32_t)p[3] | (uint32_t)p[2] << 8 | (uint32_t)p[1] << 16 |
                                              (uint32_t)p[0] << 24);
        else if (r->esize == 2)
            v = (float)(int16_t)(uint16_t)(r->lsb ? p[0] | p[1] << 8 : p[1] | p[0] << 8);
        else
            v = (float)(int8_t)p[0];
        row[i] = v;
    }
}

tq_status tq_segy_read_box(struct tq_segy_reader *r, const struct tq_box *b, float *dst, size_t *bytes_read,
                           struct tq_err *err)
{
    const size_t nj = tq_box_len(b, 1), nk = tq_box_len(b, 2), es = (size_t)r->esize;
    for (size_t i = b->lo[0]; i < b->hi[0]; i++)
        for (size_t j = b->lo[1]; j < b->hi[1]; j++) {
            float *row = dst + ((i - b->lo[0]) * nj + (j - b->lo[1])) * nk;
            size_t off = trace_offset(r, i, j) + SEGY_TRACE_HEADER_SIZE + b->lo[2] * es;
            TQ_TRY(tq_vol_pread_all(r->in.fd, row, nk * es, off, r->in.path, err));
            samples_to_float(r, row, nk);
            *bytes_read += nk * es;
        }
    return TQ_OK;
}

void tq_segy_reader_free(struct tq_segy_reader *r)
{
    tq_vol_input_free(r);
}

/* How an output of `shape` sits inside `like`: centred (a trimmed output) or identical. 0 = not compatible. */
static int like_origin(const struct tq_segy_reader *like, const size_t shape[3], size_t origin[3])
{
    if (!like)
        return 0;
    for (int a = 0; a < 3; a++) {
        if (like->in.shape[a] < shape[a] || (like->in.shape[a] - shape[a]) % 2)
            return 0;
        origin[a] = (like->in.shape[a] - shape[a]) / 2;
    }
    return 1;
}

/* The 3200-byte textual header: EBCDIC, 40 card images of 80 columns, as segyio writes it. */
static tq_status write_text_header(const char *path, const size_t shape[3], struct tq_err *err)
{
    char text[SEGY_TEXT_HEADER_SIZE + 1];
    memset(text, ' ', SEGY_TEXT_HEADER_SIZE);
    char line[96];
    const char *lines[] = {"traceq volume: float32 post-stack cube, IEEE samples (format 5)", line,
                           "inline number in trace bytes 189-192, crossline number in bytes 193-196",
                           "sorting: inline (crossline number varies fastest)", "written by traceq " TQ_VERSION};
    snprintf(line, sizeof line, "inlines %zu  crosslines %zu  samples %zu  sample interval %d us", shape[0],
             shape[1], shape[2], DEFAULT_DT_US);
    for (int c = 0; c < 40; c++) {
        char card[96];
        int n = snprintf(card, sizeof card, "C%2d %s", c + 1,
                         c < 5 ? lines[c] : c == 38 ? "SEG Y REV1" : c == 39 ? "END TEXTUAL HEADER" : "");
        memcpy(text + c * 80, card, (size_t)(n < 80 ? n : 80));
    }
    text[SEGY_TEXT_HEADER_SIZE] = '\0';
    segy_file *fp = segy_open(path, "r+b");
    if (!fp)
        return tq_fail_errno(err, TQ_ERR_IO, "cannot open '%s' for its SEG-Y headers", path);
    int rc = segy_write_textheader(fp, 0, text);
    segy_close(fp);
    return rc == SEGY_OK ? TQ_OK : tq_fail(err, TQ_ERR_IO, "cannot write the SEG-Y textual header of '%s'", path);
}

/* The binary header: fresh, or `like`'s with the fields our layout fixes. Returns the sample interval (us). */
static tq_status write_bin_header(int fd, const size_t shape[3], const struct tq_segy_reader *like, segy_file *lfp,
                                  int *dt_us, struct tq_err *err)
{
    char bin[SEGY_BINARY_HEADER_SIZE] = {0};
    int32_t dt = DEFAULT_DT_US;
    if (like && lfp) {
        if (segy_binheader(lfp, bin) != SEGY_OK)
            return tq_fail(err, TQ_ERR_IO, "%s: cannot read its binary header", like->in.path);
    } else if (like) {
        TQ_TRY(tq_vol_pread_all(like->in.fd, bin, sizeof bin, SEGY_TEXT_HEADER_SIZE, like->in.path, err));
        if (segy_get_bfield(bin, SEGY_BIN_INTERVAL, &dt) != SEGY_OK || dt <= 0)
            dt = DEFAULT_DT_US;
    }
    segy_set_bfield(bin, SEGY_BIN_INTERVAL, dt);
    segy_set_bfield(bin, SEGY_BIN_INTERVAL_ORIG, dt);
    segy_set_bfield(bin, SEGY_BIN_SAMPLES, (int32_t)shape[2]);
    segy_set_bfield(bin, SEGY_BIN_SAMPLES_ORIG, (int32_t)shape[2]);
    segy_set_bfield(bin, SEGY_BIN_TRACES, (int32_t)(shape[1] < 32767 ? shape[1] : 0)); /* traces per inline */
    segy_set_bfield(bin, SEGY_BIN_FORMAT, SEGY_IEEE_FLOAT_4_BYTE);
    segy_set_bfield(bin, SEGY_BIN_SORTING_CODE, 4); /* "horizontally stacked": a post-stack cube */
    segy_set_bfield(bin, SEGY_BIN_SEGY_REVISION, 0x0100); /* rev 1: needed for IEEE samples */
    segy_set_bfield(bin, SEGY_BIN_TRACE_FLAG, 1);         /* every trace has shape[2] samples */
    segy_set_bfield(bin, SEGY_BIN_EXT_HEADERS, 0);
    *dt_us = dt;
    return tq_vol_pwrite_all(fd, bin, sizeof bin, SEGY_TEXT_HEADER_SIZE, "the SEG-Y output", err);
}

/* One trace header: a copy of `like`'s matching trace, or fresh numbering (inline i+1, crossline j+1). A
 * little-endian `like` is read through segyio (lfp), which hands its headers over big-endian. */
static tq_status fill_trace_header(char *h, const size_t shape[3], size_t i, size_t j, int dt_us,
                                   const struct tq_segy_reader *like, segy_file *lfp, const size_t origin[3],
                                   struct tq_err *err)
{
    if (like && lfp) {
        if (segy_traceheader(lfp, (int)trace_index(like, i + origin[0], j + origin[1]), h, (long)like->trace0,
                             (int)(like->trace_bytes - SEGY_TRACE_HEADER_SIZE)) != SEGY_OK)
            return tq_fail(err, TQ_ERR_IO, "%s: cannot read a trace header", like->in.path);
    }
    if (like) {
        if (!lfp)
            TQ_TRY(tq_vol_pread_all(like->in.fd, h, SEGY_TRACE_HEADER_SIZE, trace_offset(like, i + origin[0],
                                    j + origin[1]), like->in.path, err));
        int32_t delay = 0;
        segy_get_field(h, SEGY_TR_DELAY_REC_TIME, &delay);
        segy_set_field(h, SEGY_TR_DELAY_REC_TIME, delay + (int32_t)(origin[2] * (size_t)dt_us / 1000));
    } else {
        memset(h, 0, SEGY_TRACE_HEADER_SIZE);
        segy_set_field(h, SEGY_TR_TRACE_ID, 1); /* seismic data */
        segy_set_field(h, SEGY_TR_ENSEMBLE, (int32_t)(i * shape[1] + j + 1));
        segy_set_field(h, SEGY_TR_SEQ_LINE, (int32_t)(j + 1));
        segy_set_field(h, SEGY_TR_FIELD_RECORD, (int32_t)(i + 1));
        segy_set_field(h, IL_BYTE, (int32_t)(i + 1));
        segy_set_field(h, XL_BYTE, (int32_t)(j + 1));
        segy_set_field(h, SEGY_TR_OFFSET, 1);
    }
    segy_set_field(h, SEGY_TR_SEQ_FILE, (int32_t)(i * shape[1] + j + 1));
    segy_set_field(h, SEGY_TR_SAMPLE_COUNT, (int32_t)shape[2]);
    segy_set_field(h, SEGY_TR_SAMPLE_INTER, dt_us);
    return TQ_OK;
}

tq_status tq_segy_file_init(int fd, const char *path, const size_t shape[3], const struct tq_segy_reader *like,
                            struct tq_err *err)
{
    if (shape[2] > 32767 || shape[0] > INT32_MAX || shape[1] > INT32_MAX)
        return tq_fail(err, TQ_ERR_RANGE, "SEG-Y holds at most 32767 samples per trace (asked for %zu)", shape[2]);
    size_t origin[3] = {0, 0, 0};
    if (!like_origin(like, shape, origin))
        like = NULL;
    size_t trace_bytes = SEGY_TRACE_HEADER_SIZE + shape[2] * 4;
    size_t t0 = SEGY_TEXT_HEADER_SIZE + SEGY_BINARY_HEADER_SIZE;
    /* Size the file first (sparse zeros), so segyio can open it for update and boxes can land in any order. */
    if (ftruncate(fd, (off_t)(t0 + shape[0] * shape[1] * trace_bytes)) != 0)
        return tq_fail_errno(err, TQ_ERR_IO, "cannot size the SEG-Y output '%s'", path);
    if (like) {
        char text[SEGY_TEXT_HEADER_SIZE];
        TQ_TRY(tq_vol_pread_all(like->in.fd, text, sizeof text, 0, like->in.path, err));
        TQ_TRY(tq_vol_pwrite_all(fd, text, sizeof text, 0, path, err));
    } else {
        TQ_TRY(write_text_header(path, shape, err));
    }
    segy_file *lfp = NULL;
    if (like && like->lsb) {
        lfp = segy_open(like->in.path, "rb");
        if (!lfp || segy_set_format(lfp, like->format | SEGY_LSB) != SEGY_OK) {
            if (lfp)
                segy_close(lfp);
            return tq_fail_errno(err, TQ_ERR_IO, "cannot open '%s' for its headers", like->in.path);
        }
    }
    int dt_us = DEFAULT_DT_US;
    tq_status st = write_bin_header(fd, shape, like, lfp, &dt_us, err);
    char h[SEGY_TRACE_HEADER_SIZE];
    for (size_t i = 0; !st && i < shape[0]; i++)
        for (size_t j = 0; !st && j < shape[1]; j++) {
            st = fill_trace_header(h, shape, i, j, dt_us, like, lfp, origin, err);
            if (!st)
                st = tq_vol_pwrite_all(fd, h, sizeof h, t0 + (i * shape[1] + j) * trace_bytes, path, err);
        }
    if (lfp)
        segy_close(lfp);
    return st;
}

tq_status tq_segy_write_box(int fd, const size_t shape[3], const struct tq_box *b, const float *src,
                            struct tq_err *err)
{
    const size_t nj = tq_box_len(b, 1), nk = tq_box_len(b, 2);
    const size_t trace_bytes = SEGY_TRACE_HEADER_SIZE + shape[2] * 4;
    float *buf = tq_malloc(nk * sizeof *buf);
    if (!buf)
        return tq_fail(err, TQ_ERR_NOMEM, "no memory for a SEG-Y trace");
    tq_status st = TQ_OK;
    for (size_t i = b->lo[0]; !st && i < b->hi[0]; i++)
        for (size_t j = b->lo[1]; !st && j < b->hi[1]; j++) {
            memcpy(buf, src + ((i - b->lo[0]) * nj + (j - b->lo[1])) * nk, nk * sizeof *buf);
            segy_from_native(SEGY_IEEE_FLOAT_4_BYTE, (long long)nk, buf);
            size_t off = SEGY_TEXT_HEADER_SIZE + SEGY_BINARY_HEADER_SIZE + (i * shape[1] + j) * trace_bytes +
                         SEGY_TRACE_HEADER_SIZE + b->lo[2] * 4;
            st = tq_vol_pwrite_all(fd, buf, nk * 4, off, "the SEG-Y output", err);
        }
    free(buf);
    return st;
}
