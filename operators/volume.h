/* volume.h - float32 volumes on disk (.npy and SEG-Y) read and written one box at a time, and synthetic volumes.
 *
 * In memory a volume is float32, C order, shape (inlines, xlines, samples), samples fastest. A reader never loads
 * more than the box asked for (SEG-Y: only the traces the box touches). A writer creates the file under a temporary
 * name in the same directory, accepts boxes in any order (pwrite into a preallocated file), and only
 * tq_vol_writer_commit() renames it to the final name; tq_vol_writer_free() without commit removes the temporary. */
#ifndef TQ_VOLUME_H
#define TQ_VOLUME_H

#include <stddef.h>
#include <stdint.h>

#include "../common/status.h"
#include "box.h"

enum tq_vol_format { TQ_VOL_NPY, TQ_VOL_SEGY };

/* The format a path names by its extension (.npy; .segy/.sgy), or fails with TQ_ERR_USAGE. */
tq_status tq_vol_format_of(const char *path, enum tq_vol_format *fmt, struct tq_err *err);

typedef struct tq_vol_reader tq_vol_reader;

/* Open a volume for reading (format from the extension). Axis 0 is always inlines: a crossline-sorted SEG-Y reads
 * as segyio.tools.cube(f).transpose(1, 0, 2), since cube() keeps such files in (xline, inline) order. Fails with
 * TQ_ERR_USAGE (unknown extension), TQ_ERR_IO (missing file), TQ_ERR_FORMAT (bad header, unsupported dtype or
 * sample format, Fortran order, not 3-D), TQ_ERR_RANGE (zero-size axis) or TQ_ERR_TRUNCATED. Caller frees with
 * tq_vol_reader_free. */
tq_status tq_vol_reader_open(const char *path, tq_vol_reader **out, struct tq_err *err);
/* Shape of the opened volume. Can't fail. */
void tq_vol_reader_shape(const tq_vol_reader *r, size_t shape[3]);
/* Bytes per sample as stored in the file: 4 (float32; also every SEG-Y, converted) or 8 (a float64 .npy, read
 * as float32). Can't fail. */
size_t tq_vol_reader_sample_bytes(const tq_vol_reader *r);
/* Format of the opened volume. Can't fail. */
enum tq_vol_format tq_vol_reader_format(const tq_vol_reader *r);
/* Sample bytes this reader has read from its file so far (a box costs exactly its own voxels: tests use this to
 * check that a box read touches only the traces and samples it needs). Can't fail. */
size_t tq_vol_reader_bytes_read(const tq_vol_reader *r);
/* Fails with TQ_ERR_RANGE on a zero axis or a voxel count whose byte size would not fit a file offset. */
tq_status tq_vol_check_shape(const size_t shape[3], struct tq_err *err);
/* Fails with TQ_ERR_RANGE unless lo < hi <= shape on every axis. */
tq_status tq_vol_check_box(const size_t shape[3], const struct tq_box *box, struct tq_err *err);
/* Read `box` into dst (tq_box_voxels(box) floats, C order). Several threads, or processes forked after open, may
 * read through one reader at once (pread, no shared file position). Fails with TQ_ERR_RANGE on a box outside the
 * volume, TQ_ERR_TRUNCATED on a short read, TQ_ERR_IO otherwise. */
tq_status tq_vol_read_box(tq_vol_reader *r, const struct tq_box *box, float *dst, struct tq_err *err);
/* NULL is a no-op. */
void tq_vol_reader_free(tq_vol_reader *r);

typedef struct tq_vol_writer tq_vol_writer;

/* Create `path` (via a temporary name) for a volume of `shape`; refuses to overwrite unless `overwrite`.
 * `like` (may be NULL) is a SEG-Y reader whose geometry/headers a SEG-Y output copies (centred when `like` is
 * larger, as for a trimmed output; ignored for .npy). Fails with TQ_ERR_USAGE (unknown extension, exists),
 * TQ_ERR_RANGE (empty axis) or TQ_ERR_IO. Caller frees. */
tq_status tq_vol_writer_create(const char *path, const size_t shape[3], int overwrite, const tq_vol_reader *like,
                               tq_vol_writer **out, struct tq_err *err);
/* Write `box` from src (pwrite at explicit offsets). Safe to call from several threads, or from processes forked
 * after create, on different boxes of one file; only the creating process commits or removes the temporary.
 * Fails with TQ_ERR_RANGE (box outside the shape) or TQ_ERR_IO. */
tq_status tq_vol_write_box(tq_vol_writer *w, const struct tq_box *box, const float *src, struct tq_err *err);
/* Close and rename the temporary to the final name; without `overwrite` fails (TQ_ERR_USAGE) if the final name
 * appeared meanwhile. Fails with TQ_ERR_IO. Committing twice is a no-op. */
tq_status tq_vol_writer_commit(tq_vol_writer *w, struct tq_err *err);
/* Name of the temporary file while uncommitted (borrowed), else NULL. Can't fail. */
const char *tq_vol_writer_tmp_path(const tq_vol_writer *w);
/* Free; removes the temporary file unless committed (or kept). NULL is a no-op. */
void tq_vol_writer_free(tq_vol_writer *w);
/* Re-open `tmp_path`, the uncommitted temporary an earlier writer for `path` made (a killed run being resumed, or
 * another MPI rank of the same run), to write more boxes; commit renames it to `path` as create's writer would.
 * Opens it only when tq_vol_tmp_open accepts it (TQ_ERR_FORMAT otherwise: never another file, never through a
 * link), then checks that it holds a volume of `shape` in path's format. The new writer keeps the temporary when freed
 * uncommitted. Fails with TQ_ERR_IO (open), TQ_ERR_FORMAT (not such a volume) or TQ_ERR_RANGE (other shape).
 * (Added by the runner for --resume and MPI.) */
tq_status tq_vol_writer_reopen(const char *path, const char *tmp_path, const size_t shape[3], int overwrite,
                               tq_vol_writer **out, struct tq_err *err);
/* Open tmp (open(2) flags, e.g. O_RDWR) only if it is a temporary a writer for `path` made: named
 * ".<path's name>.tmp.XXXXXX" (six letters or digits), in the same folder as path (compared by device and inode),
 * opened without following a symbolic link (O_NOFOLLOW), a regular file owned by this user with one link. Fails
 * with TQ_ERR_FORMAT saying which check failed (a journal or a peer named some other file), or TQ_ERR_IO (errno
 * kept: ENOENT when it does not exist). (operators/vol_tmp.c) */
tq_status tq_vol_tmp_open(const char *path, const char *tmp, int flags, int *fd, struct tq_err *err);
/* Remove tmp if tq_vol_tmp_open accepts it; a missing tmp is not an error. Fails like tq_vol_tmp_open (the file
 * is then left alone) or with TQ_ERR_IO when it cannot be removed. */
tq_status tq_vol_tmp_remove(const char *path, const char *tmp, struct tq_err *err);
/* Keep the temporary file when w is freed uncommitted, so a journaled run can be resumed. Can't fail. */
void tq_vol_writer_keep(tq_vol_writer *w);

/* Fill `box` of the deterministic synthetic volume of `shape` and `seed` (Ricker 25 Hz, dt 4 ms, folded dipping
 * layers plus a little noise; varies along all three axes). Any box of it equals the same box of the whole,
 * bit for bit. Thread-safe (no shared state). Fails with TQ_ERR_RANGE (empty shape, box outside) or TQ_ERR_NOMEM.
 * See operators/VOLUMES.md. */
tq_status tq_synth_box(const size_t shape[3], uint64_t seed, const struct tq_box *box, float *dst,
                       struct tq_err *err);

/* Write the synthetic volume of `shape` and `seed` to `path` (.npy or SEG-Y by extension) through a writer,
 * generating whole inlines in slabs of at most 64 MiB. Fails like tq_vol_writer_create / tq_vol_write_box; on
 * failure no file is left at `path`. */
tq_status tq_synth_write_file(const char *path, const size_t shape[3], uint64_t seed, int overwrite,
                              struct tq_err *err);

/* Synthetic models: ours (tq_synth_box), and a replica of the original system's generator as its SEG-Y writer
 * saved it: one seeded reflectivity trace of shape[1] samples convolved with its 250-tap Ricker wavelet, laid
 * along axis 1 and repeated along axes 0 and 2 (its axis swap), so the volume varies along axis 1 only and GST3D
 * dip is 90 degrees everywhere. The original called with (I, X, S) wrote a file of shape (I, S, X). */
enum tq_synth_model { TQ_SYNTH_FOLDED = 0, TQ_SYNTH_ORIGINAL = 1 };
/* tq_synth_box for either model. Fails with TQ_ERR_RANGE (box outside) or TQ_ERR_USAGE (unknown model). */
tq_status tq_synth_model_box(enum tq_synth_model model, const size_t shape[3], uint64_t seed,
                             const struct tq_box *box, float *dst, struct tq_err *err);
/* tq_synth_write_file for either model. Fails like it. */
tq_status tq_synth_model_write_file(enum tq_synth_model model, const char *path, const size_t shape[3],
                                    uint64_t seed, int overwrite, struct tq_err *err);


#endif
