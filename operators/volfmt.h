/* volfmt.h - what volume.c needs from each on-disk format (npy.c, segy.c); not for use outside operators/volume*.c.
 *
 * volume.c owns files and names (temporary name, rename, no clobber) and checks every box against the shape before
 * calling these; the format modules own headers, layout and sample conversion. All reads and writes use
 * pread/pwrite at explicit offsets, so a reader or writer inherited across fork() is safe to use in the child. */
#ifndef TQ_VOLFMT_H
#define TQ_VOLFMT_H

#include <stddef.h>

#include "../common/status.h"
#include "box.h"

struct tq_npy_reader;
struct tq_segy_reader;

/* pread/pwrite exactly `len` bytes at `off` (retrying short transfers and EINTR). A read that meets the end of
 * the file fails with TQ_ERR_TRUNCATED, other failures with TQ_ERR_IO; `path` names the file in the message. */
tq_status tq_vol_pread_all(int fd, void *buf, size_t len, size_t off, const char *path, struct tq_err *err);
tq_status tq_vol_pwrite_all(int fd, const void *buf, size_t len, size_t off, const char *path, struct tq_err *err);

/* What every format reader starts with (its first member): its path (for messages), descriptor and shape. */
struct tq_vol_input {
    int fd;
    size_t shape[3];
    char path[4096];
};

/* Every reader's open: a zeroed reader of `size` bytes (a struct whose first member is a struct tq_vol_input; `what`
 * names it in the out-of-memory message), path opened read-only into it, then parse(reader, path, err) reads its
 * header and fills its shape. On success *out is the reader and shape its shape; on failure *out is NULL and the
 * reader freed. Fails with TQ_ERR_NOMEM, TQ_ERR_IO "cannot open 'path'", or parse's failure. */
tq_status tq_vol_input_open(const char *path, size_t size, const char *what,
                            tq_status (*parse)(void *reader, const char *path, struct tq_err *err), void **out,
                            size_t shape[3], struct tq_err *err);

/* Close a reader's descriptor and free it (a reader tq_vol_input_open made); NULL is a no-op. Can't fail. */
void tq_vol_input_free(void *reader);

/* Open an .npy file: float32 or float64 (either byte order), C order, 3-D, no zero axis. Fails with TQ_ERR_IO
 * (open), TQ_ERR_FORMAT (magic, header, dtype, fortran order, ndim), TQ_ERR_RANGE (zero axis) or
 * TQ_ERR_TRUNCATED (file shorter than the data). Caller frees with tq_npy_reader_free. */
tq_status tq_npy_reader_open(const char *path, struct tq_npy_reader **out, size_t shape[3], struct tq_err *err);
/* Read a box (already checked against the shape) as float32. Fails with TQ_ERR_IO or TQ_ERR_TRUNCATED. */
tq_status tq_npy_read_box(struct tq_npy_reader *r, const struct tq_box *box, float *dst, size_t *bytes_read,
                          struct tq_err *err);
/* NULL is a no-op. */
void tq_npy_reader_free(struct tq_npy_reader *r);
/* Bytes per sample in the file (4 for float32, 8 for float64). Can't fail. */
size_t tq_npy_reader_sample_bytes(const struct tq_npy_reader *r);

/* Write a float32 C-order .npy header for `shape` into the empty file `fd` and size the file for its data.
 * *data_offset gets the byte offset of the first sample. Fails with TQ_ERR_IO. */
tq_status tq_npy_file_init(int fd, const size_t shape[3], size_t *data_offset, struct tq_err *err);

/* Write a box (already checked) into a file made by tq_npy_file_init for `shape`. Fails with TQ_ERR_IO. */
tq_status tq_npy_write_box(int fd, size_t data_offset, const size_t shape[3], const struct tq_box *box,
                           const float *src, struct tq_err *err);

/* Open a post-stack SEG-Y cube like segyio.tools.cube: shape (inlines, xlines, samples) in trace order, IBM (1) or
 * IEEE (5) samples, inline or crossline sorting. Fails with TQ_ERR_IO, TQ_ERR_FORMAT (not a SEG-Y, unsupported
 * sample format, unsorted, pre-stack) or TQ_ERR_TRUNCATED. Caller frees with tq_segy_reader_free. */
tq_status tq_segy_reader_open(const char *path, struct tq_segy_reader **out, size_t shape[3], struct tq_err *err);
/* Read a box (already checked): only the traces and samples it covers. Fails with TQ_ERR_IO or TQ_ERR_TRUNCATED. */
tq_status tq_segy_read_box(struct tq_segy_reader *r, const struct tq_box *box, float *dst, size_t *bytes_read,
                           struct tq_err *err);
/* NULL is a no-op. */
void tq_segy_reader_free(struct tq_segy_reader *r);

/* Write the textual, binary and trace headers of an IEEE-float inline-sorted cube of `shape` into the empty file
 * `fd` (named `path`) and size it. With `like` (may be NULL) copy its text/binary headers and the trace headers of
 * the matching traces (centred when `like` is larger, as for a trimmed output). Fails with TQ_ERR_IO/FORMAT. */
tq_status tq_segy_file_init(int fd, const char *path, const size_t shape[3], const struct tq_segy_reader *like,
                            struct tq_err *err);
/* Write a box (already checked) into a file made by tq_segy_file_init for `shape`. Fails with TQ_ERR_IO/NOMEM. */
tq_status tq_segy_write_box(int fd, const size_t shape[3], const struct tq_box *box, const float *src,
                            struct tq_err *err);

#endif
