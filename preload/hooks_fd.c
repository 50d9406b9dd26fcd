/* hooks_fd.c - the shim's own descriptors stay out of the program's way, and the program's descriptor calls cannot
 * take them away (issue 12).
 *
 * The trace and /proc/self/statm descriptors are moved at start to numbers the program does not use: just above
 * its RLIMIT_NOFILE soft limit when that can be raised for a moment (the program cannot allocate there), else near
 * 1000. So the program's first open() still gets 3, as without the shim. Then:
 * - close(), close_range() and closefrom() leave them open and act on every other descriptor; close() of one of them
 *   fails with EBADF, which is what the program would get without the shim (the number was never its own);
 * - dup2()/dup3() onto one of their numbers first moves the shim's descriptor elsewhere, then does what the program
 *   asked: the program gets exactly the number it wanted;
 * - a credential change (setuid and friends) that makes the trace file impossible to reopen is written to the trace
 *   (GAP UNREACHABLE) while the descriptor still works, so a later loss is never silent;
 * - raw system calls bypass all of this: the writer then finds the descriptor gone or replaced at its next flush and
 *   reopens the trace by its absolute path (session.c, traces/writer.c), writing a GAP record.
 * A vfork child, a process whose trace is over, and the shim's own calls (guard up) pass straight through.
 *
 * The descriptor gate closes the check-then-act windows between the program's threads and the shim's (issue 16):
 * a hooked close/dup2/dup3/close_range/closefrom holds it shared from its check of the shim's numbers to the end of
 * its system call; the shim holds it exclusively (tq_fd_gate_close) while it gives a descriptor a new number and
 * from its check that the trace descriptor is still the trace (fstat dev/ino) to its last write (traces/writer.c,
 * through the writer's hold_fds callback). So a program's call can neither act on a number that became the shim's
 * after its check, nor replace the trace between the writer's check and its write: the program's files never get
 * trace bytes through a libc call. Raw system calls remain (the writer's window is then its check-to-write
 * microseconds; tests/test_shim_fds.c). The shared side is lock-free and nests (a signal handler in a hooked call);
 * a close() that blocks (a lingering socket) delays the shim's next write until it returns. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim.h"

#define TQ_EXPORT __attribute__((visibility("default")))

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

static int raw_close(int fd)
{
    return (int)syscall(SYS_close, fd);
}

/* ---- the descriptor gate ---- */

static _Atomic int gate_users;  /* program calls between their check and the end of their system call */
static _Atomic int gate_shut;   /* the shim renumbers, or checks and writes, its descriptors */
static int gate_depth;          /* the shim's nesting (one holder at a time: the session lock's) */
static __thread int gate_mine;  /* this thread's open program calls (a signal handler may nest one) */

#ifdef TQ_TESTING
static long race_us; /* test builds: TQ_TESTING_FD_RACE_US widens the window between check and call */
static void race_pause(void)
{
    if (race_us)
        usleep((useconds_t)race_us);
}
#else
static void race_pause(void)
{
}
#endif

static void gate_enter(void)
{
    if (gate_mine++)
        return;
    for (;;) {
        atomic_fetch_add(&gate_users, 1);
        if (!atomic_load(&gate_shut))
            return;
        atomic_fetch_sub(&gate_users, 1);
        while (atomic_load(&gate_shut))
            sched_yield();
    }
}

static void gate_leave(void)
{
    if (--gate_mine == 0)
        atomic_fetch_sub(&gate_users, 1);
}

static void gate_leave_cb(void *arg)
{
    (void)arg;
    gate_leave();
}

void tq_fd_gate_close(void)
{
    if (gate_depth++)
        return;
    atomic_store(&gate_shut, 1);
    /* a call of this very thread that a signal handler of the shim interrupted (_exit writing END) is not waited for */
    while (atomic_load(&gate_users) > (gate_mine ? 1 : 0))
        sched_yield();
}

void tq_fd_gate_open(void)
{
    if (--gate_depth == 0)
        atomic_store(&gate_shut, 0);
}

void tq_fd_gate_reset_child(void)
{
    atomic_store(&gate_users, 0); /* the parent's other threads are not in this process */
    atomic_store(&gate_shut, 0);
    gate_depth = 0;
    gate_mine = 0;
}

static int place_high(int fd);

int tq_fd_place_high(int fd)
{
    if (fd < 0)
        return -1;
    tq_fd_gate_close();
    int nfd = place_high(fd);
    tq_fd_gate_open();
    return nfd;
}

static int place_high(int fd)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    int nfd = -1;
    /* Above the soft limit: the program cannot open or dup2 there unless it raises the limit itself. Only for
     * moderate limits: a descriptor at 1M would make the kernel's table for this process megabytes large. */
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < rl.rlim_max && rl.rlim_cur >= 64 && rl.rlim_cur <= 65536) {
        struct rlimit up = {rl.rlim_cur + 16 <= rl.rlim_max ? rl.rlim_cur + 16 : rl.rlim_max, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &up) == 0) {
            nfd = fcntl(fd, F_DUPFD_CLOEXEC, (int)rl.rlim_cur);
            setrlimit(RLIMIT_NOFILE, &rl); /* descriptors above a lowered limit stay valid */
        }
    }
    if (nfd < 0) {
        long base = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1024 ? 1024 : (long)rl.rlim_cur;
        base -= 24;
        if (base >= 3)
            nfd = fcntl(fd, F_DUPFD_CLOEXEC, (int)base);
    }
    if (nfd < 0)
        return -1; /* no room up there: fd stays where it is */
    raw_close(fd);
    return nfd;
}


static int (*real_close)(int);

void tq_fd_hooks_init(void)
{
    if (!real_close)
        real_close = (int (*)(int))tq_next_sym("close");
#ifdef TQ_TESTING
    const char *e = getenv("TQ_TESTING_FD_RACE_US");
    race_us = e ? atol(e) : 0;
#endif
}

/* close as the C library does it (a cancellation point); the raw call when it is not known yet. */
static int pass_close(int fd)
{
    return real_close ? real_close(fd) : raw_close(fd);
}

/* Whether the program's call must be checked at all: not the shim's own, not a foreign process image. */
static inline int watching(void)
{
    return !tq_self.guard && !tq_mode.off;
}

/* Whether the program's descriptor calls go through the gate: the program's own calls. (A vfork child shares the
 * gate: it may wait at it, never hold it shut.) */
static inline int gated(void)
{
    return watching();
}

/* close(fd) inside the gate; a cancellation in the C library's close leaves the gate on the way out. */
static int close_gated(int fd)
{
    int rc;
    pthread_cleanup_push(gate_leave_cb, NULL);
    rc = pass_close(fd);
    pthread_cleanup_pop(0);
    return rc;
}

TQ_EXPORT int close(int fd)
{
    if (!gated())
        return pass_close(fd);
    gate_enter();
    int rc;
    if (tq_session_owns_fd(fd)) {
        errno = EBADF; /* never the program's descriptor: without the shim the number was not open */
        rc = -1;
    } else {
        race_pause();
        rc = close_gated(fd);
    }
    int saved = errno;
    gate_leave();
    errno = saved;
    return rc;
}

static int raw_close_range(unsigned lo, unsigned hi, int flags)
{
    return (int)syscall(SYS_close_range, lo, hi, flags);
}

/* close_range(lo, hi, flags) around the shim's descriptors: the sub-ranges between them. */
static int close_range_around(unsigned lo, unsigned hi, int flags)
{
    int mine[2];
    int n = tq_session_fds(mine);
    unsigned from = lo;
    for (int i = 0; i < n; i++) {
        unsigned m = (unsigned)mine[i];
        if (m < from || m > hi)
            continue;
        if (m > from && raw_close_range(from, m - 1, flags) != 0)
            return -1;
        if (m == UINT_MAX)
            return 0;
        from = m + 1;
    }
    return from <= hi ? raw_close_range(from, hi, flags) : 0;
}

TQ_EXPORT int close_range(unsigned lo, unsigned hi, int flags)
{
    /* CLOEXEC only marks descriptors (the shim's are close-on-exec already); lo > hi is the kernel's EINVAL. */
    if (!gated() || (flags & CLOSE_RANGE_CLOEXEC) || lo > hi)
        return raw_close_range(lo, hi, flags);
    gate_enter();
    int rc = close_range_around(lo, hi, flags);
    int saved = errno;
    gate_leave();
    errno = saved;
    return rc;
}

TQ_EXPORT void closefrom(int lo)
{
    unsigned from = lo < 0 ? 0 : (unsigned)lo;
    int gate = gated();
    if (gate)
        gate_enter();
    int rc = gate ? close_range_around(from, UINT_MAX, 0) : raw_close_range(from, UINT_MAX, 0);
    int saved = errno;
    if (gate)
        gate_leave();
    errno = saved;
    if (rc == 0 || errno != ENOSYS)
        return;
    /* A kernel older than close_range (5.9): one descriptor at a time up to the limit, as glibc's fallback would. */
    struct rlimit rl;
    long top = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (1u << 20)
                   ? (long)rl.rlim_cur
                   : 1L << 20;
    if (gate)
        gate_enter();
    for (long fd = from; fd < top; fd++)
        if (!gate || !tq_session_owns_fd((int)fd))
            raw_close((int)fd);
    if (gate)
        gate_leave();
}

/* dup2/dup3 onto newfd: if that number is the shim's, move the shim's descriptor away first. Returns 0 to go on,
 * -1 (errno set) when the call must fail as it would without the shim. */
static int make_room(int oldfd, int newfd)
{
    if (!watching())
        return 0;
    if (tq_session_owns_fd(oldfd)) {
        errno = EBADF;
        return -1;
    }
    if (tq_session_owns_fd(newfd)) {
        if (fcntl(oldfd, F_GETFD) < 0) { /* the call will fail anyway (EBADF): keep ours */
            errno = EBADF;
            return -1;
        }
        tq_session_yield_fd(newfd);
    }
    return 0;
}

static int raw_dup(int oldfd, int newfd, int flags, int is_dup3)
{
    if (is_dup3)
        return (int)syscall(SYS_dup3, oldfd, newfd, flags);
#ifdef SYS_dup2
    return (int)syscall(SYS_dup2, oldfd, newfd);
#else
    if (oldfd == newfd)
        return fcntl(oldfd, F_GETFD) < 0 ? -1 : newfd;
    return (int)syscall(SYS_dup3, oldfd, newfd, 0);
#endif
}

/* dup2/dup3 with the shim's descriptor moved off newfd first (outside the gate: moving takes it exclusively), then
 * the check again and the call inside the gate; when a descriptor of the shim's landed on newfd in between, again. */
static int dup_onto(int oldfd, int newfd, int flags, int is_dup3)
{
    if (!gated() || (is_dup3 && oldfd == newfd)) /* dup3 onto itself: the kernel's EINVAL */
        return raw_dup(oldfd, newfd, flags, is_dup3);
    for (;;) {
        if (oldfd != newfd && make_room(oldfd, newfd))
            return -1;
        gate_enter();
        int again = 0, rc;
        if (tq_session_owns_fd(oldfd)) { /* never the program's descriptor (and dup2(ours, ours) as well) */
            errno = EBADF;
            rc = -1;
        } else if (oldfd != newfd && tq_session_owns_fd(newfd)) {
            again = 1;
            rc = -1;
        } else {
            race_pause();
            rc = raw_dup(oldfd, newfd, flags, is_dup3);
        }
        int saved = errno;
        gate_leave();
        errno = saved;
        if (!again)
            return rc;
    }
}

TQ_EXPORT int dup2(int oldfd, int newfd)
{
    return dup_onto(oldfd, newfd, 0, 0);
}

TQ_EXPORT int dup3(int oldfd, int newfd, int flags)
{
    return dup_onto(oldfd, newfd, flags, 1);
}

/* ---- credential changes: the same call, then a check that the trace can still be reopened ---- */

#define TQ_CRED_HOOK(name, params, args)                                                                     \
    TQ_EXPORT int name params                                                                                \
    {                                                                                                        \
        static int(*real) params;                                                                            \
        if (!real)                                                                                           \
            real = (int(*) params)tq_next_sym(#name);                                                        \
        if (!real) {                                                                                         \
            errno = ENOSYS;                                                                                  \
            return -1;                                                                                       \
        }                                                                                                    \
        int rc_ = real args;                                                                                 \
        if (rc_ == 0 && watching())                                                                          \
            tq_session_creds_changed();                                                                      \
        return rc_;                                                                                          \
    }

TQ_CRED_HOOK(setuid, (uid_t u), (u))
TQ_CRED_HOOK(seteuid, (uid_t u), (u))
TQ_CRED_HOOK(setreuid, (uid_t r, uid_t e), (r, e))
TQ_CRED_HOOK(setresuid, (uid_t r, uid_t e, uid_t s), (r, e, s))
TQ_CRED_HOOK(setgid, (gid_t g), (g))
TQ_CRED_HOOK(setegid, (gid_t g), (g))
TQ_CRED_HOOK(setregid, (gid_t r, gid_t e), (r, e))
TQ_CRED_HOOK(setresgid, (gid_t r, gid_t e, gid_t s), (r, e, s))
