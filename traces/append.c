/* append.c - append one record as a new zstd frame to an existing trace file (see append.h). */
#ifndef TQ_SHIM /* the shim never appends to a trace it does not own; keep this out of libtraceq.so */
#include "append.h"
#include "../common/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "codec.h"

#define SCAN_BUF (8u << 20) /* larger than any frame the writer makes (TQ_WRITER_BUF of records) */

/* The offset just past the last complete frame of the file at fd (size bytes). */
static tq_status valid_end(int fd, const char *path, uint64_t size, uint64_t *end, struct tq_err *err)
{
    uint8_t *buf = tq_malloc(SCAN_BUF);
    if (!buf)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory");
    uint64_t off = 0;
    tq_status st = TQ_OK;
    while (off < size) {
        size_t want = size - off < SCAN_BUF ? (size_t)(size - off) : SCAN_BUF;
        ssize_t got = pread(fd, buf, want, (off_t)off);
        if (got < 0) {
            st = tq_fail_errno(err, TQ_ERR_IO, "cannot read %s", path);
            break;
        }
        size_t pos = 0, frame = 0;
        while (pos < (size_t)got && !ZSTD_isError(frame = ZSTD_findFrameCompressedSize(buf + pos, (size_t)got - pos)))
            pos += frame;
        off += pos;
        if (pos > 0)
            continue;
        if (off + want < size) /* no complete frame in 8 MiB that do not reach the end: not a cut, damage */
            st = tq_fail(err, TQ_ERR_FORMAT, "%s: damaged frame at byte %llu", path, (unsigned long long)off);
        break; /* else a partial frame at the tail */
    }
    free(buf);
    *end = off;
    return st;
}

tq_status tq_trace_append_record(const char *path, const void *rec, size_t n, struct tq_err *err)
{
    int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return tq_fail_errno(err, TQ_ERR_IO, "cannot open %s", path);
    struct stat sb;
    uint8_t pre[TQ_TRACE_PREAMBLE_SIZE];
    tq_status st = TQ_OK;
    if (fstat(fd, &sb) || !S_ISREG(sb.st_mode))
        st = tq_fail(err, TQ_ERR_FORMAT, "%s is not a regular file", path);
    else if (pread(fd, pre, sizeof pre, 0) != (ssize_t)sizeof pre ||
             memcmp(pre + 8, TQ_TRACE_PREAMBLE_MAGIC, 8) != 0)
        st = tq_fail(err, TQ_ERR_FORMAT, "%s is not a traceq trace", path);
    uint64_t end = 0;
    if (!st)
        st = valid_end(fd, path, (uint64_t)sb.st_size, &end, err);
    if (!st && end < TQ_TRACE_PREAMBLE_SIZE)
        st = tq_fail(err, TQ_ERR_FORMAT, "%s is not a traceq trace", path);
    size_t zcap = ZSTD_compressBound(n);
    uint8_t *z = st ? NULL : tq_malloc(zcap);
    ZSTD_CCtx *cctx = st ? NULL : ZSTD_createCCtx();
    if (!st && (!z || !cctx))
        st = tq_fail(err, TQ_ERR_NOMEM, "out of memory");
    if (!st) {
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
        size_t zn = ZSTD_compress2(cctx, z, zcap, rec, n);
        if (ZSTD_isError(zn))
            st = tq_fail(err, TQ_ERR_FORMAT, "cannot compress a record: %s", ZSTD_getErrorName(zn));
        else if ((end < (uint64_t)sb.st_size && ftruncate(fd, (off_t)end)) ||
                 pwrite(fd, z, zn, (off_t)end) != (ssize_t)zn)
            st = tq_fail_errno(err, TQ_ERR_IO, "cannot append to %s", path);
    }
    ZSTD_freeCCtx(cctx);
    free(z);
    if (close(fd) && !st)
        st = tq_fail_errno(err, TQ_ERR_IO, "cannot write %s", path);
    return st;
}
#endif
