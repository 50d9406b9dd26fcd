/* writer.h - create a trace file safely and append records to it as independent zstd frames (FORMAT.md). */
#ifndef TQ_TRACE_WRITER_H
#define TQ_TRACE_WRITER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct tq_rec_gap;

/* A trace being written. Not thread-safe: the owner serializes calls (the shim holds its writer lock). */
struct tq_trace_writer {
    int fd;               /* -1 when closed */
    void *cctx;           /* ZSTD_CCtx */
    uint8_t *buf;         /* records not yet compressed */
    size_t len, cap;
    uint8_t *ev;          /* PACKED_EVENTS records staged for this frame's PACKED_GROUP (NULL: none are grouped);
                           * it is zbuf, which only a flush uses, after the staged records have gone to buf */
    size_t ev_len;
    uint8_t *zbuf;        /* one compressed frame */
    size_t zcap;
    int failed;           /* a write failed (disk full...): later appends and flushes are dropped */
    unsigned long long dev, ino; /* identity of the file: a program that closes "all" descriptors may reuse fd */
    uint64_t bytes_written;
    /* Called by a flush that finds fd is no longer the trace (closed, or its number now names another file): return
     * a new descriptor of the same file, or -1. The writer checks the new one against dev/ino, never closes the
     * old number, and writes *gap (cause and fd filled in by the writer, the rest by the callback) as its own
     * frame before the queued records, so nothing is lost. NULL (the default): the trace stops there. The owner
     * may also set fd to -1 (it had to give the number up): the next flush then reopens through this callback. */
    int (*reopen)(void *arg, struct tq_rec_gap *gap);
    void *reopen_arg;
    unsigned reopened;    /* times reopen succeeded */
    /* Optional: the owner's lock against descriptor changes by other threads (on 1: take, 0: release), held from the
     * check that fd still is the trace (fstat dev/ino) to the last write, and around reopening and closing, so the
     * descriptor cannot become another file in between (the shim's descriptor gate, preload/hooks_fd.c). */
    void (*hold_fds)(int on);
};

#define TQ_WRITER_BUF (256u << 10) /* records per frame at most; a frame is also cut by every flush */

/* What tq_trace_dir_check finds wrong with an output directory. */
enum { TQ_DIR_OK = 0, TQ_DIR_FOREIGN = 1, TQ_DIR_SHARED = 2 };

/* Whether traces may safely go into dir: TQ_DIR_OK when it is owned by the caller (or root) and not writable by
 * every user unless sticky (/tmp-like; group-writable is fine); TQ_DIR_FOREIGN when another user owns it (*owner gets the uid: that user could
 * replace or redirect the traces); TQ_DIR_SHARED when every user may write it and it is not sticky; -errno when it
 * cannot be examined. Allocates nothing, uses no stdio: safe inside the shim. */
int tq_trace_dir_check(const char *dir, unsigned *owner);

/* Create "DIR/traceq.EXE.PID.tq" with O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC, mode 0600; when that name exists
 * (a file or a planted symlink: neither is followed nor overwritten) try "traceq.EXE.PID.N.tq" for N = 1..99.
 * EXE is reduced to its last path component with characters outside [A-Za-z0-9._-] replaced by '_'.
 * Writes the chosen path into path[pathsz]. Returns the descriptor, or -errno (-EPERM when tq_trace_dir_check
 * refuses DIR, -ENAMETOOLONG, -EEXIST when all 100 names are taken, or open's error). Allocates nothing, uses no stdio: safe inside the shim. */
int tq_trace_create(const char *dir, const char *exe, pid_t pid, char *path, size_t pathsz);

/* Memory the writer holds (its buffers and compression context), in bytes. */
size_t tq_writer_own_bytes(const struct tq_trace_writer *w);

/* Set up a writer on fd and queue the file preamble. Returns 0, or -1 when memory is short (w stays closed). */
int tq_writer_open(struct tq_trace_writer *w, int fd);

/* Group the PACKED_EVENTS records given to tq_writer_append_events (FORMAT.md 16). They are staged in the
 * compressed-frame buffer (free between flushes): no memory is added. Returns 0, or -1 on a closed writer. */
int tq_writer_group_events(struct tq_trace_writer *w);

/* Queue one encoded PACKED_EVENTS record. With grouping on, the frame's event records are staged and written as one
 * PACKED_GROUP at the end of the frame, or earlier, right before any record other than SAMPLE, CALLS, STACK,
 * STACK_DELTA and PYCODE (which do not depend on the events before them: MODULE, SNAPSHOT, EXEC and END keep their place among
 * the events). Same results as tq_writer_append. */
int tq_writer_append_events(struct tq_trace_writer *w, const void *rec, size_t n);

/* Queue one encoded record (n bytes). Compresses and writes a frame first when the buffer is full.
 * Returns 0, or -1 when the record is larger than the buffer or writing failed. */
int tq_writer_append(struct tq_trace_writer *w, const void *rec, size_t n);

/* Compress the queued records into one zstd frame (with checksum) and write it. Returns 0 (also when
 * nothing was queued), or -1 when writing failed (w->failed is set; the program must not be disturbed).
 * Before writing it checks that fd still is the trace file (fstat's dev/ino against those it opened): if the
 * program closed it (and maybe opened something else under that number), it never writes into the program's file:
 * it asks w->reopen for the trace again (see above) or, without one or when that fails, stops the trace there. */
int tq_writer_flush(struct tq_trace_writer *w);

/* Drop queued records without writing them (a fork child drops its parent's). Can't fail. */
void tq_writer_discard(struct tq_trace_writer *w);

/* A fork child's copy of its parent's writer: drop the parent's queued records and let go of its file (closed only
 * if fd still is the trace) but keep the buffers and the compression context for the child's own trace
 * (tq_writer_restart). Freeing them would hand glibc mmapped chunks above its mmap threshold, which raises that
 * threshold and the trim threshold for the rest of the child: the program's heap would grow differently (the shim
 * must stay invisible). Can't fail. */
void tq_writer_release_file(struct tq_trace_writer *w);

/* tq_writer_open on a writer that may hold the buffers of tq_writer_release_file, which it then reuses (nothing is
 * allocated); on a closed writer (zeroed, or after tq_writer_close) the same as tq_writer_open. Returns 0 or -1. */
int tq_writer_restart(struct tq_trace_writer *w, int fd);

/* Flush, close the file (only if fd still is the trace: never the program's file) and free the buffers. Returns
 * tq_writer_flush's result. close(NULL-ish) is a no-op. */
int tq_writer_close(struct tq_trace_writer *w);

#endif
