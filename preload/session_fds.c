/* session_fds.c - the session's side of keeping its descriptors (see hooks_fd.c): which numbers are the shim's,
 * giving one up when the program dup2()s onto it, reopening the trace (by its absolute path, same file only) and
 * /proc/self/statm when a raw system call took them, and noting credential changes that make reopening impossible. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "session.h"

static int owner(void)
{
    return tq_sess.active && (pid_t)syscall(SYS_getpid) == tq_sess.pid;
}

/* The writer's hold_fds callback: the gate is shut from its check of the descriptor to its last write. */
static void hold_fds(int on)
{
    if (on)
        tq_fd_gate_close();
    else
        tq_fd_gate_open();
}

/* Whether descriptor fd is the file dev/ino. After a raw close the number may already be the program's own file
 * (the shim only notices at its next flush): that one is the program's to close or replace. */
static int is_file(int fd, unsigned long long dev, unsigned long long ino)
{
    struct stat st;
    return fstat(fd, &st) == 0 && (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

int tq_session_owns_fd(int fd)
{
    if (fd < 0)
        return 0;
    int trace = fd == __atomic_load_n(&tq_sess.w.fd, __ATOMIC_RELAXED);
    if (!trace && fd != __atomic_load_n(&tq_sess.statm_fd, __ATOMIC_RELAXED))
        return 0;
    return owner() && (trace ? is_file(fd, tq_sess.w.dev, tq_sess.w.ino)
                             : is_file(fd, tq_sess.statm_dev, tq_sess.statm_ino));
}

int tq_session_fds(int out[2])
{
    int a = __atomic_load_n(&tq_sess.w.fd, __ATOMIC_RELAXED), b = __atomic_load_n(&tq_sess.statm_fd, __ATOMIC_RELAXED);
    int n = 0;
    if (tq_session_owns_fd(a))
        out[n++] = a;
    if (b != a && tq_session_owns_fd(b))
        out[n++] = b;
    if (n == 2 && out[0] > out[1]) {
        out[0] = b;
        out[1] = a;
    }
    return n;
}

/* Open flags for the trace again: never create, never follow a link, never block on a FIFO planted there. */
#define TQ_REOPEN_FLAGS (O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)

/* The writer's reopen callback (traces/writer.h): the same path, made absolute at start, so a chdir() does not
 * matter; the writer checks that it is the same file (dev/ino) before writing a byte. Lock held. */
static int reopen_trace(void *arg, struct tq_rec_gap *gap)
{
    (void)arg;
    uint64_t now = tq_now_ns();
    gap->t_ns = now - tq_sess.t0;
    gap->since_ns = tq_sess.last_flush > tq_sess.t0 ? tq_sess.last_flush - tq_sess.t0 : 0;
    gap->uid = (uint32_t)geteuid();
    gap->gid = (uint32_t)getegid();
    const char *how = gap->fd < 0 ? "took" : gap->cause == TQ_GAP_CLOSED ? "closed" : "replaced";
    int fd = open(tq_sess.path, TQ_REOPEN_FLAGS);
    if (fd < 0) {
        tq_session_say("the program %s the trace's descriptor %d and %s cannot be reopened: %s; the trace ends here",
                       how, gap->fd, tq_sess.path, strerror(errno));
        return -1;
    }
    fcntl(fd, F_SETFL, O_APPEND);
    int high = tq_fd_place_high(fd);
    if (high >= 0) /* else it keeps a low number: better than losing the trace */
        fd = high;
    tq_session_say("the program %s the trace's descriptor %d; reopened %s", how, gap->fd, tq_sess.path);
    return fd;
}

/* Open /proc/self/statm out of the program's way and remember which file it is. Later reopenings (at_start 0)
 * never keep a low number, which the program's next open() would expect to get: no room up there, no statm. */
static void open_statm(int at_start)
{
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    int high = tq_fd_place_high(fd);
    if (high >= 0) {
        fd = high;
    } else if (fd >= 0 && !at_start) {
        close(fd);
        fd = -1;
    }
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0) {
        tq_sess.statm_dev = (unsigned long long)st.st_dev;
        tq_sess.statm_ino = (unsigned long long)st.st_ino;
    }
    __atomic_store_n(&tq_sess.statm_fd, fd, __ATOMIC_RELAXED);
}

void tq_session_fds_start(void)
{
    tq_sess.w.reopen = reopen_trace;
    tq_sess.w.hold_fds = hold_fds;
    tq_sess.creds_noted = 0;
    open_statm(1);
}

void tq_session_check_statm_locked(void)
{
    int fd = tq_sess.statm_fd;
    if (fd >= 0 && is_file(fd, tq_sess.statm_dev, tq_sess.statm_ino))
        return;
    open_statm(0); /* the old number is gone or someone else's file now: never read or close it again */
}

/* Append a GAP record and write it out at once (lock held). */
static void put_gap_flush_locked(const struct tq_rec_gap *g)
{
    uint8_t rec[TQ_REC_HEADER_SIZE + 64];
    size_t n = tq_rec_put_gap(rec, sizeof rec, g);
    if (n)
        tq_writer_append(&tq_sess.w, rec, n);
    tq_writer_flush(&tq_sess.w);
    tq_sess.last_flush = tq_now_ns();
}

/* Move the shim's descriptor at *slot (which is fd) elsewhere; when no number is free, close it and leave -1. */
static void move_away(int *slot, int fd)
{
    int high = tq_fd_place_high(fd);
    if (high < 0)
        syscall(SYS_close, fd);
    __atomic_store_n(slot, high, __ATOMIC_RELAXED);
}

void tq_session_yield_fd(int fd)
{
    tq_guard_up();
    pthread_mutex_lock(&tq_sess.lock);
    tq_fd_gate_close(); /* no program call between its check and its system call while the numbers change */
    if (!tq_session_owns_fd(fd)) { /* changed meanwhile: nothing of ours there */
    } else if (fd == tq_sess.w.fd) {
        int high = tq_fd_place_high(fd);
        if (high < 0) { /* no free number: say so in the trace while it can still be written, then give it up */
            struct tq_rec_gap g = {.t_ns = tq_now_ns() - tq_sess.t0, .cause = TQ_GAP_NO_ROOM, .fd = fd,
                                   .uid = (uint32_t)geteuid(), .gid = (uint32_t)getegid()};
            put_gap_flush_locked(&g);
            syscall(SYS_close, fd);
        }
        __atomic_store_n(&tq_sess.w.fd, high, __ATOMIC_RELAXED); /* -1: the next flush reopens (writer.h) */
        if (high < 0)
            tq_session_say("the program took descriptor %d and no other number is free: the trace gave it up", fd);
        else
            tq_session_say("the program took descriptor %d; the trace moved to %d", fd, high);
    } else if (fd == tq_sess.statm_fd) {
        move_away(&tq_sess.statm_fd, fd); /* -1: the next sample reopens it */
    }
    tq_fd_gate_open();
    pthread_mutex_unlock(&tq_sess.lock);
    tq_guard_down();
}

void tq_session_creds_changed(void)
{
    if (!owner())
        return;
    tq_guard_up();
    pthread_mutex_lock(&tq_sess.lock);
    if (!tq_sess.finished && tq_sess.w.buf) {
        int fd = open(tq_sess.path, TQ_REOPEN_FLAGS);
        if (fd >= 0) {
            close(fd);
            tq_sess.creds_noted = 0;
        } else if (!tq_sess.creds_noted) {
            /* The descriptor still works; only a later loss of it could not be repaired. Say so now, while the
             * trace can still be written, so such an ending is never silent. */
            struct tq_rec_gap g = {.t_ns = tq_now_ns() - tq_sess.t0, .cause = TQ_GAP_UNREACHABLE,
                                   .fd = tq_sess.w.fd, .uid = (uint32_t)geteuid(), .gid = (uint32_t)getegid()};
            put_gap_flush_locked(&g);
            tq_sess.creds_noted = 1;
            tq_session_say("after the change to uid %u gid %u, %s cannot be reopened if its descriptor is lost",
                           g.uid, g.gid, tq_sess.path);
        }
    }
    pthread_mutex_unlock(&tq_sess.lock);
    tq_guard_down();
}
