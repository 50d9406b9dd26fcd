/* writer.c - safe trace file creation and zstd frame writing (see writer.h, FORMAT.md "Crash safety"). */
#include "writer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "codec.h"

/* Append s to dst[*n..cap) (always NUL-terminated). Returns -1 when it did not fit. */
static int cat_str(char *dst, size_t cap, size_t *n, const char *s)
{
    size_t k = strlen(s);
    if (*n + k + 1 > cap)
        return -1;
    memcpy(dst + *n, s, k + 1);
    *n += k;
    return 0;
}

static void fmt_uint(char *out, unsigned long v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (int i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = 0;
}

/* The sanitized last path component of exe, at most 64 characters. */
static void exe_token(const char *exe, char out[65])
{
    const char *slash = exe ? strrchr(exe, '/') : NULL;
    const char *b = slash ? slash + 1 : (exe ? exe : "");
    size_t n = 0;
    for (; b[n] && n < 64; n++) {
        char c = b[n];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                 c == '_' || c == '-';
        out[n] = ok ? c : '_';
    }
    if (n == 0)
        out[n++] = '_';
    out[n] = 0;
}

int tq_trace_dir_check(const char *dir, unsigned *owner)
{
    struct stat st;
    if (stat(dir && *dir ? dir : ".", &st) != 0)
        return -errno;
    if (owner)
        *owner = (unsigned)st.st_uid;
    if (st.st_uid != geteuid() && st.st_uid != 0)
        return TQ_DIR_FOREIGN;
    /* Group-writable is allowed: umask 002 systems make every directory so, and the group is trusted there. */
    if ((st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX))
        return TQ_DIR_SHARED;
    return TQ_DIR_OK;
}

int tq_trace_create(const char *dir, const char *exe, pid_t pid, char *path, size_t pathsz)
{
    /* Issue 8: another user's directory is refused, not used (its owner could swap our traces for links). */
    int safe = tq_trace_dir_check(dir, NULL);
    if (safe != TQ_DIR_OK)
        return safe < 0 ? safe : -EPERM;
    char tok[65], num[24], suf[24];
    exe_token(exe, tok);
    fmt_uint(num, (unsigned long)pid);
    for (unsigned k = 0; k < 100; k++) {
        size_t n = 0;
        path[0] = 0;
        suf[0] = 0;
        if (k) {
            suf[0] = '.';
            fmt_uint(suf + 1, k);
        }
        if (cat_str(path, pathsz, &n, dir && *dir ? dir : ".") || cat_str(path, pathsz, &n, "/traceq.") ||
            cat_str(path, pathsz, &n, tok) || cat_str(path, pathsz, &n, ".") || cat_str(path, pathsz, &n, num) ||
            cat_str(path, pathsz, &n, suf) || cat_str(path, pathsz, &n, ".tq"))
            return -ENAMETOOLONG;
        /* O_EXCL makes a planted symlink fail with EEXIST instead of being followed; O_NOFOLLOW is belt and braces. */
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0)
            return fd;
        if (errno != EEXIST)
            return -errno;
    }
    return -EEXIST;
}

size_t tq_writer_own_bytes(const struct tq_trace_writer *w)
{
    return (w->buf ? w->cap : 0) + (w->zbuf ? w->zcap : 0) + (w->cctx ? ZSTD_sizeof_CCtx(w->cctx) : 0);
}

int tq_writer_group_events(struct tq_trace_writer *w)
{
    if (!w->buf || !w->zbuf)
        return -1;
    /* The staged records live in zbuf (zcap >= cap): a frame is only compressed by tq_writer_flush, after
     * put_group has moved them into buf, so the two uses never overlap and grouping costs no memory. */
    w->ev = w->zbuf;
    return 0;
}

/* Bytes the queued records take once the staged events are grouped (at most). */
static size_t pending(const struct tq_trace_writer *w)
{
    return w->len + (w->ev_len ? w->ev_len + TQ_GROUP_OVERHEAD : 0);
}

/* Write the staged events as one PACKED_GROUP after the queued records (there is room: see pending). */
static void put_group(struct tq_trace_writer *w)
{
    if (!w->ev_len)
        return;
    /* 0 only if the staged bytes were not PACKED_EVENTS records: the shim's encoder makes them, so never */
    w->len += tq_rec_put_packed_group(w->buf + w->len, w->cap - w->len, w->ev, w->ev_len);
    w->ev_len = 0;
}

/* Set up w on fd with the given buffers and context (all three present, parameters set), queue the preamble. */
static void writer_start(struct tq_trace_writer *w, int fd, uint8_t *buf, uint8_t *zbuf, ZSTD_CCtx *c)
{
    memset(w, 0, sizeof *w);
    w->cap = TQ_WRITER_BUF;
    w->zcap = ZSTD_compressBound(TQ_WRITER_BUF);
    w->buf = buf;
    w->zbuf = zbuf;
    w->cctx = c;
    w->fd = fd;
    struct stat st;
    if (fstat(fd, &st) == 0) {
        w->dev = (unsigned long long)st.st_dev;
        w->ino = (unsigned long long)st.st_ino;
    }
    w->len = tq_trace_put_preamble(w->buf, w->cap);
}

int tq_writer_open(struct tq_trace_writer *w, int fd)
{
    memset(w, 0, sizeof *w);
    w->fd = -1;
    /* plain malloc, not common/alloc.h: the writer is the shim's (built into libtraceq.so, which has no common/) */
    uint8_t *buf = malloc(TQ_WRITER_BUF), *zbuf = malloc(ZSTD_compressBound(TQ_WRITER_BUF));
    ZSTD_CCtx *c = ZSTD_createCCtx();
    if (!buf || !zbuf || !c) {
        free(buf);
        free(zbuf);
        ZSTD_freeCCtx(c);
        return -1;
    }
    ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 1);
    ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
    /* FORMAT.md: readers cap the window at 8 MiB; frames are at most 256 KiB anyway. */
    ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, 18);
    writer_start(w, fd, buf, zbuf, c);
    return 0;
}

int tq_writer_restart(struct tq_trace_writer *w, int fd)
{
    if (w->fd >= 0 || !w->buf || !w->zbuf || !w->cctx)
        return tq_writer_open(w, fd);
    ZSTD_CCtx_reset(w->cctx, ZSTD_reset_session_only); /* the parameters stay */
    writer_start(w, fd, w->buf, w->zbuf, w->cctx);
    return 0;
}

/* Whether fd still is the file the writer opened (a program may close it and reuse the number). */
static int fd_is_trace(const struct tq_trace_writer *w, int *closed)
{
    struct stat st;
    *closed = fstat(w->fd, &st) != 0;
    return !*closed && (unsigned long long)st.st_dev == w->dev && (unsigned long long)st.st_ino == w->ino;
}

static int write_all(struct tq_trace_writer *w, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t k = write(w->fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            w->failed = 1;
            return -1;
        }
        p += k;
        n -= (size_t)k;
        w->bytes_written += (uint64_t)k;
    }
    return 0;
}

/* Compress n bytes of records into one frame in w->zbuf, *z bytes long. */
static int compress_frame(struct tq_trace_writer *w, const uint8_t *recs, size_t n, size_t *z)
{
    *z = ZSTD_compress2(w->cctx, w->zbuf, w->zcap, recs, n);
    if (ZSTD_isError(*z)) {
        w->failed = 1;
        return -1;
    }
    return 0;
}

/* Compress n bytes of records into one frame and write it. */
static int write_frame(struct tq_trace_writer *w, const uint8_t *recs, size_t n)
{
    size_t z;
    return compress_frame(w, recs, n, &z) ? -1 : write_all(w, w->zbuf, z);
}

/* w->fd is no longer the trace: get it again through w->reopen and write the GAP record. Returns 0 when the
 * writer has its file back (w->fd), -1 when not. */
static int reopen_trace(struct tq_trace_writer *w, int closed)
{
    if (!w->reopen)
        return -1;
    struct tq_rec_gap gap = {.cause = closed ? TQ_GAP_CLOSED : TQ_GAP_REPLACED, .fd = w->fd};
    int fd = w->reopen(w->reopen_arg, &gap);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0 || (unsigned long long)st.st_dev != w->dev || (unsigned long long)st.st_ino != w->ino) {
        close(fd);
        return -1;
    }
    w->fd = fd;
    w->reopened++;
    uint8_t rec[TQ_REC_HEADER_SIZE + 64];
    size_t n = tq_rec_put_gap(rec, sizeof rec, &gap);
    if (w->bytes_written == 0) /* nothing had reached the file yet, so nothing was cut: no GAP */
        return 0;
    if (n && write_frame(w, rec, n)) {
        close(fd); /* ours: the caller forgets the number */
        return -1;
    }
    return 0;
}

static void hold(struct tq_trace_writer *w, int on)
{
    if (w->hold_fds)
        w->hold_fds(on);
}

#ifdef TQ_TESTING
/* Test builds: TQ_TESTING_FD_RACE_US widens the window between the descriptor check and the write
 * (tests/test_shim_fds.c races dup2/close against it). */
static void race_pause(void)
{
    static long us = -1;
    if (us < 0) {
        const char *e = getenv("TQ_TESTING_FD_RACE_US");
        us = e ? atol(e) : 0;
    }
    if (us)
        usleep((useconds_t)us);
}
#else
static void race_pause(void)
{
}
#endif

static int flush_checked(struct tq_trace_writer *w, size_t start, size_t z);

int tq_writer_flush(struct tq_trace_writer *w)
{
    /* fd < 0 with a reopen callback: the owner gave the number up (writer.h); the trace is reopened below. */
    if (!w->buf || w->failed || (w->fd < 0 && !w->reopen)) {
        w->len = w->ev_len = 0;
        return w->failed ? -1 : 0;
    }
    put_group(w);
    if (w->len == 0)
        return 0;
    /* The preamble is a skippable frame already: written raw; only records are compressed. */
    size_t start = w->bytes_written == 0 && w->len >= TQ_TRACE_PREAMBLE_SIZE ? TQ_TRACE_PREAMBLE_SIZE : 0;
    size_t z = 0;
    /* Compress first and check that the descriptor is still the trace right before writing: a program that
     * dup2s over descriptors with raw syscalls (no hook sees them) then has microseconds, not a compression's
     * time, to replace it in between. */
    if (w->len > start && compress_frame(w, w->buf + start, w->len - start, &z))
        return -1;
    hold(w, 1); /* from the check to the last write, no hooked call of the program changes the descriptor */
    int rc = flush_checked(w, start, z);
    hold(w, 0);
    return rc;
}

/* The rest of tq_writer_flush, descriptors held: check the descriptor (reopen when it is not the trace) and write. */
static int flush_checked(struct tq_trace_writer *w, size_t start, size_t z)
{
    int closed = 1;
    if (w->fd < 0 || !fd_is_trace(w, &closed)) {
        if (reopen_trace(w, closed)) {
            w->failed = 1;
            w->fd = -1; /* not ours any more: never write to it, never close it */
            w->len = 0;
            return -1;
        }
        if (w->len > start && compress_frame(w, w->buf + start, w->len - start, &z)) /* the GAP used zbuf */
            return -1;
    }
    race_pause();
    if (start && write_all(w, w->buf, start))
        return -1;
    int rc = z ? write_all(w, w->zbuf, z) : 0;
    w->len = 0;
    return rc;
}

/* Whether a record of this type may be written before event records that were queued earlier (writer.h). */
static int commutes_with_events(const uint8_t *rec, size_t n)
{
    unsigned type = n >= 2 ? (unsigned)(rec[0] | rec[1] << 8) : 0;
    return type == TQ_REC_SAMPLE || type == TQ_REC_SAMPLE_DELTA || type == TQ_REC_SAMPLE_PRED || type == TQ_REC_CALLS ||
           type == TQ_REC_STACK || type == TQ_REC_STACK_DELTA || type == TQ_REC_PYCODE;
}

int tq_writer_append(struct tq_trace_writer *w, const void *rec, size_t n)
{
    if (!w->buf || w->failed || (w->fd < 0 && !w->reopen) || n > w->cap)
        return -1;
    if (!commutes_with_events(rec, n))
        put_group(w);
    if (n > w->cap - pending(w) && tq_writer_flush(w))
        return -1;
    memcpy(w->buf + w->len, rec, n);
    w->len += n;
    return 0;
}

int tq_writer_append_events(struct tq_trace_writer *w, const void *rec, size_t n)
{
    if (!w->ev)
        return tq_writer_append(w, rec, n);
    if (!w->buf || w->failed || (w->fd < 0 && !w->reopen) || n > w->cap - TQ_GROUP_OVERHEAD)
        return -1;
    if (n + (w->ev_len ? 0 : TQ_GROUP_OVERHEAD) > w->cap - pending(w) && tq_writer_flush(w))
        return -1;
    memcpy(w->ev + w->ev_len, rec, n);
    w->ev_len += n;
    return 0;
}

void tq_writer_discard(struct tq_trace_writer *w)
{
    w->len = 0;
    w->ev_len = 0;
}

void tq_writer_release_file(struct tq_trace_writer *w)
{
    tq_writer_discard(w);
    int closed;
    hold(w, 1);
    if (w->fd >= 0 && fd_is_trace(w, &closed))
        close(w->fd);
    hold(w, 0);
    w->fd = -1;
    w->ev = NULL; /* the child's trace groups events again if it wants (tq_writer_group_events) */
}

int tq_writer_close(struct tq_trace_writer *w)
{
    if (w->fd < 0 && !w->buf)
        return 0;
    int rc = tq_writer_flush(w);
    int closed;
    hold(w, 1);
    if (w->fd >= 0 && fd_is_trace(w, &closed))
        close(w->fd);
    hold(w, 0);
    free(w->buf);
    free(w->zbuf); /* w->ev, when set, is zbuf */
    ZSTD_freeCCtx(w->cctx);
    memset(w, 0, sizeof *w);
    w->fd = -1;
    return rc;
}
