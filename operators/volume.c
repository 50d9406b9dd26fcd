/* volume.c - opening volumes by file extension, box checks, and the no-clobber writer (temporary name in the same
 * directory, pwrite of boxes in any order, rename on commit). Formats live in npy.c and segy.c. */
#define _GNU_SOURCE /* asprintf, mkostemp */
#include "volume.h"
#include "volfmt.h"
#include "../common/alloc.h"
#include "../common/atomic_file.h"
#include "../common/cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

struct tq_vol_reader {
    enum tq_vol_format fmt;
    size_t shape[3];
    size_t bytes_read;
    struct tq_npy_reader *npy;
    struct tq_segy_reader *segy;
};

struct tq_vol_writer {
    enum tq_vol_format fmt;
    size_t shape[3];
    int fd;
    int cleanup;        /* common/cleanup.h handle of the uncommitted temporary (0: not registered) */
    int overwrite;
    int committed;
    pid_t owner;        /* only the creating process may commit or remove the temporary */
    size_t data_offset; /* .npy: first sample byte */
    int keep;           /* free leaves the uncommitted temporary in place (tq_vol_writer_keep, reopen) */
    char *path, *tmp;
};

tq_status tq_vol_format_of(const char *path, enum tq_vol_format *fmt, struct tq_err *err)
{
    const char *dot = path ? strrchr(path, '.') : NULL;
    if (dot && !strcasecmp(dot, ".npy"))
        *fmt = TQ_VOL_NPY;
    else if (dot && (!strcasecmp(dot, ".segy") || !strcasecmp(dot, ".sgy")))
        *fmt = TQ_VOL_SEGY;
    else
        return tq_fail(err, TQ_ERR_USAGE, "'%s': unknown volume format (use a .npy, .segy or .sgy name)",
                       path ? path : "");
    return TQ_OK;
}

tq_status tq_vol_check_box(const size_t shape[3], const struct tq_box *b, struct tq_err *err)
{
    for (int a = 0; a < 3; a++)
        if (b->lo[a] >= b->hi[a] || b->hi[a] > shape[a])
            return tq_fail(err, TQ_ERR_RANGE,
                           "box [%zu:%zu, %zu:%zu, %zu:%zu] is empty or outside the volume %zux%zux%zu",
                           b->lo[0], b->hi[0], b->lo[1], b->hi[1], b->lo[2], b->hi[2], shape[0], shape[1],
                           shape[2]);
    return TQ_OK;
}

tq_status tq_vol_check_shape(const size_t shape[3], struct tq_err *err)
{
    size_t n = 1;
    for (int a = 0; a < 3; a++)
        if (shape[a] == 0 || __builtin_mul_overflow(n, shape[a], &n))
            return tq_fail(err, TQ_ERR_RANGE, "volume shape %zux%zux%zu has an empty axis or is too large", shape[0],
                           shape[1], shape[2]);
    if (n > ((size_t)1 << 60) / 8) /* 8-byte samples must still have byte offsets that fit an off_t */
        return tq_fail(err, TQ_ERR_RANGE, "volume shape %zux%zux%zu is too large", shape[0], shape[1], shape[2]);
    return TQ_OK;
}

tq_status tq_vol_input_open(const char *path, size_t size, const char *what,
                            tq_status (*parse)(void *reader, const char *path, struct tq_err *err), void **out,
                            size_t shape[3], struct tq_err *err)
{
    *out = NULL;
    struct tq_vol_input *in = tq_calloc(1, size);
    if (!in)
        return tq_fail(err, TQ_ERR_NOMEM, "no memory for a %s", what);
    snprintf(in->path, sizeof in->path, "%s", path);
    in->fd = open(path, O_RDONLY | O_CLOEXEC);
    tq_status st = in->fd < 0 ? tq_fail_errno(err, TQ_ERR_IO, "cannot open '%s'", path) : parse(in, path, err);
    if (st) {
        tq_vol_input_free(in);
        return st;
    }
    memcpy(shape, in->shape, sizeof in->shape);
    *out = in;
    return TQ_OK;
}

void tq_vol_input_free(void *reader)
{
    struct tq_vol_input *in = reader;
    if (!in)
        return;
    if (in->fd >= 0)
        close(in->fd);
    free(in);
}

tq_status tq_vol_pread_all(int fd, void *buf, size_t len, size_t off, const char *path, struct tq_err *err)
{
    char *p = buf;
    while (len) {
        ssize_t got = pread(fd, p, len, (off_t)off);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return tq_fail_errno(err, TQ_ERR_IO, "%s: read failed", path);
        if (got == 0)
            return tq_fail(err, TQ_ERR_TRUNCATED, "%s: file ends early (truncated?)", path);
        p += got;
        len -= (size_t)got;
        off += (size_t)got;
    }
    return TQ_OK;
}

tq_status tq_vol_pwrite_all(int fd, const void *buf, size_t len, size_t off, const char *path, struct tq_err *err)
{
    const char *p = buf;
    while (len) {
        ssize_t put = pwrite(fd, p, len, (off_t)off);
        if (put < 0 && errno == EINTR)
            continue;
        if (put <= 0)
            return tq_fail_errno(err, TQ_ERR_IO, "%s: write failed", path);
        p += put;
        len -= (size_t)put;
        off += (size_t)put;
    }
    return TQ_OK;
}

/* Fail with a clear message when `path` does not exist or is not a regular file. */
static tq_status check_input(const char *path, struct tq_err *err)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return tq_fail_errno(err, TQ_ERR_IO, "cannot open '%s'", path);
    if (!S_ISREG(sb.st_mode))
        return tq_fail(err, TQ_ERR_IO, "'%s' is not a regular file", path);
    return TQ_OK;
}

tq_status tq_vol_reader_open(const char *path, tq_vol_reader **out, struct tq_err *err)
{
    *out = NULL;
    enum tq_vol_format fmt;
    TQ_TRY(tq_vol_format_of(path, &fmt, err));
    TQ_TRY(check_input(path, err));
    tq_vol_reader *r = tq_calloc(1, sizeof *r);
    if (!r)
        return tq_fail(err, TQ_ERR_NOMEM, "no memory for a volume reader");
    r->fmt = fmt;
    tq_status st = fmt == TQ_VOL_NPY ? tq_npy_reader_open(path, &r->npy, r->shape, err)
                                     : tq_segy_reader_open(path, &r->segy, r->shape, err);
    if (st) {
        tq_vol_reader_free(r);
        return st;
    }
    *out = r;
    return TQ_OK;
}

void tq_vol_reader_shape(const tq_vol_reader *r, size_t shape[3])
{
    memcpy(shape, r->shape, sizeof r->shape);
}

size_t tq_vol_reader_sample_bytes(const tq_vol_reader *r)
{
    return r->npy ? tq_npy_reader_sample_bytes(r->npy) : 4;
}

enum tq_vol_format tq_vol_reader_format(const tq_vol_reader *r)
{
    return r->fmt;
}

size_t tq_vol_reader_bytes_read(const tq_vol_reader *r)
{
    return __atomic_load_n(&r->bytes_read, __ATOMIC_RELAXED);
}

tq_status tq_vol_read_box(tq_vol_reader *r, const struct tq_box *box, float *dst, struct tq_err *err)
{
    TQ_TRY(tq_vol_check_box(r->shape, box, err));
    size_t bytes = 0;
    tq_status st = r->fmt == TQ_VOL_NPY ? tq_npy_read_box(r->npy, box, dst, &bytes, err)
                                        : tq_segy_read_box(r->segy, box, dst, &bytes, err);
    /* several threads may read boxes through one reader at once; only this counter is shared */
    __atomic_fetch_add(&r->bytes_read, bytes, __ATOMIC_RELAXED);
    return st;
}

void tq_vol_reader_free(tq_vol_reader *r)
{
    if (!r)
        return;
    tq_npy_reader_free(r->npy);
    tq_segy_reader_free(r->segy);
    free(r);
}

/* Make an empty temporary file next to `path` (same directory, so the final rename cannot cross filesystems). */
static tq_status make_temp(tq_vol_writer *w, struct tq_err *err)
{
    const char *slash = strrchr(w->path, '/');
    int dirlen = slash ? (int)(slash - w->path + 1) : 0;
    const char *base = slash ? slash + 1 : w->path;
    if (tq_asprintf(&w->tmp, "%.*s.%s.tmp.XXXXXX", dirlen, w->path, base) < 0) {
        w->tmp = NULL;
        return tq_fail(err, TQ_ERR_NOMEM, "no memory for a file name");
    }
    sigset_t mask; /* no signal between creating the temporary and registering it for cleanup */
    tq_cleanup_hold(&mask);
    w->fd = mkostemp(w->tmp, O_CLOEXEC);
    if (w->fd >= 0)
        w->cleanup = tq_cleanup_add_file(w->tmp);
    tq_cleanup_release(&mask);
    if (w->fd < 0) {
        tq_status st = tq_fail_errno(err, TQ_ERR_IO, "cannot create a temporary file for '%s'", w->path);
        free(w->tmp);
        w->tmp = NULL;
        return st;
    }
    /* mkstemp makes the file 0600; give it the mode a plain creat() would have. */
    if (tq_atomic_file_set_mode(w->fd) != 0)
        return tq_fail_errno(err, TQ_ERR_IO, "cannot set the mode of '%s'", w->tmp);
    return TQ_OK;
}

tq_status tq_vol_writer_create(const char *path, const size_t shape[3], int overwrite, const tq_vol_reader *like,
                               tq_vol_writer **out, struct tq_err *err)
{
    *out = NULL;
    enum tq_vol_format fmt;
    TQ_TRY(tq_vol_format_of(path, &fmt, err));
    TQ_TRY(tq_vol_check_shape(shape, err));
    if (!overwrite && access(path, F_OK) == 0)
        return tq_fail(err, TQ_ERR_USAGE, "'%s' already exists (pass --force to overwrite it)", path);
    tq_vol_writer *w = tq_calloc(1, sizeof *w);
    if (!w || !(w->path = tq_strdup(path))) {
        free(w);
        return tq_fail(err, TQ_ERR_NOMEM, "no memory for a volume writer");
    }
    w->fd = -1;
    w->fmt = fmt;
    w->overwrite = overwrite;
    w->owner = getpid();
    memcpy(w->shape, shape, sizeof w->shape);
    tq_status st = make_temp(w, err);
    if (!st && fmt == TQ_VOL_NPY)
        st = tq_npy_file_init(w->fd, shape, &w->data_offset, err);
    else if (!st)
        st = tq_segy_file_init(w->fd, w->tmp, shape, like ? like->segy : NULL, err);
    if (st) {
        tq_vol_writer_free(w);
        return st;
    }
    *out = w;
    return TQ_OK;
}

tq_status tq_vol_write_box(tq_vol_writer *w, const struct tq_box *box, const float *src, struct tq_err *err)
{
    TQ_TRY(tq_vol_check_box(w->shape, box, err));
    if (w->fmt == TQ_VOL_NPY)
        return tq_npy_write_box(w->fd, w->data_offset, w->shape, box, src, err);
    return tq_segy_write_box(w->fd, w->shape, box, src, err);
}

tq_status tq_vol_writer_commit(tq_vol_writer *w, struct tq_err *err)
{
    if (w->committed)
        return TQ_OK;
    if (getpid() != w->owner)
        return tq_fail(err, TQ_ERR_INTERNAL, "'%s' can only be committed by the process that created it", w->path);
    if (close(w->fd) != 0) {
        w->fd = -1;
        return tq_fail_errno(err, TQ_ERR_IO, "cannot finish writing '%s'", w->tmp);
    }
    w->fd = -1;
    /* Without --force, a file that appeared at path since create is never replaced. */
    if (tq_atomic_file_publish(w->tmp, w->path, w->overwrite) != 0) {
        if (errno == EEXIST && !w->overwrite)
            return tq_fail(err, TQ_ERR_USAGE, "'%s' already exists (pass --force to overwrite it)", w->path);
        return tq_fail_errno(err, TQ_ERR_IO, "cannot rename '%s' to '%s'", w->tmp, w->path);
    }
    tq_cleanup_forget(w->cleanup);
    w->cleanup = 0;
    w->committed = 1;
    return TQ_OK;
}

const char *tq_vol_writer_tmp_path(const tq_vol_writer *w)
{
    return w->committed ? NULL : w->tmp;
}

void tq_vol_writer_free(tq_vol_writer *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    if (getpid() == w->owner)
        tq_cleanup_forget(w->cleanup);
    /* A forked child that inherited the writer must not delete the parent's unfinished file. */
    if (!w->committed && !w->keep && w->tmp && getpid() == w->owner)
        unlink(w->tmp);
    free(w->tmp);
    free(w->path);
    free(w);
}

void tq_vol_writer_keep(tq_vol_writer *w)
{
    w->keep = 1;
    if (getpid() == w->owner) /* a journaled run's temporary survives a signal too: --resume continues it */
        tq_cleanup_forget(w->cleanup);
    w->cleanup = 0;
}

/* Check that tmp holds a volume of `shape` in format fmt; .npy: find where its samples start (they end the file).
 * The readers open the already opened file (/proc/self/fd/N), never the name again. */
static tq_status reopen_check(tq_vol_writer *w, struct tq_err *err)
{
    size_t shape[3];
    tq_status st = TQ_OK;
    char self[64];
    snprintf(self, sizeof self, "/proc/self/fd/%d", w->fd);
    if (w->fmt == TQ_VOL_NPY) {
        struct tq_npy_reader *npy = NULL;
        TQ_TRY(tq_npy_reader_open(self, &npy, shape, err));
        tq_npy_reader_free(npy);
        struct stat sb;
        size_t data = shape[0] * shape[1] * shape[2] * sizeof(float);
        if (fstat(w->fd, &sb) || (size_t)sb.st_size < data)
            return tq_fail(err, TQ_ERR_FORMAT, "'%s' is not a float32 volume", w->tmp);
        w->data_offset = (size_t)sb.st_size - data;
    } else {
        struct tq_segy_reader *segy = NULL;
        TQ_TRY(tq_segy_reader_open(self, &segy, shape, err));
        tq_segy_reader_free(segy);
    }
    if (memcmp(shape, w->shape, sizeof shape))
        st = tq_fail(err, TQ_ERR_RANGE, "'%s' holds a %zux%zux%zu volume, not %zux%zux%zu", w->tmp, shape[0],
                     shape[1], shape[2], w->shape[0], w->shape[1], w->shape[2]);
    return st;
}

tq_status tq_vol_writer_reopen(const char *path, const char *tmp_path, const size_t shape[3], int overwrite,
                               tq_vol_writer **out, struct tq_err *err)
{
    *out = NULL;
    enum tq_vol_format fmt;
    TQ_TRY(tq_vol_format_of(path, &fmt, err));
    tq_vol_writer *w = tq_calloc(1, sizeof *w);
    if (!w || !(w->path = tq_strdup(path)) || !(w->tmp = tq_strdup(tmp_path))) {
        if (w) /* not tq_vol_writer_free: its fd 0 is not ours to close */
            free(w->path);
        free(w);
        return tq_fail(err, TQ_ERR_NOMEM, "no memory for a volume writer");
    }
    w->fmt = fmt;
    w->overwrite = overwrite;
    w->owner = getpid();
    w->keep = 1;
    memcpy(w->shape, shape, sizeof w->shape);
    tq_status st = tq_vol_tmp_open(path, tmp_path, O_RDWR, &w->fd, err);
    if (st == TQ_OK)
        st = reopen_check(w, err);
    if (st) {
        tq_vol_writer_free(w);
        return st;
    }
    *out = w;
    return TQ_OK;
}
