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
 * A vfork child, a process whose trace is over, and the shim's own calls (guard up) pass straight through. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

int tq_fd_place_high(int fd)
{
    if (fd < 0)
        return -1;
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

TQ_EXPORT int close(int fd)
{
    if (watching() && tq_session_owns_fd(fd)) {
        errno = EBADF; /* never the program's descriptor: without the shim the number was not open */
        return -1;
    }
    return pass_close(fd);
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
    if (!watching() || (flags & CLOSE_RANGE_CLOEXEC) || lo > hi)
        return raw_close_range(lo, hi, flags);
    return close_range_around(lo, hi, flags);
}

TQ_EXPORT void closefrom(int lo)
{
    unsigned from = lo < 0 ? 0 : (unsigned)lo;
    int rc = watching() ? close_range_around(from, UINT_MAX, 0) : raw_close_range(from, UINT_MAX, 0);
    if (rc == 0 || errno != ENOSYS)
        return;
    /* A kernel older than close_range (5.9): one descriptor at a time up to the limit, as glibc's fallback would. */
    struct rlimit rl;
    long top = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (1u << 20)
                   ? (long)rl.rlim_cur
                   : 1L << 20;
    for (long fd = from; fd < top; fd++)
        if (!watching() || !tq_session_owns_fd((int)fd))
            raw_close((int)fd);
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

TQ_EXPORT int dup2(int oldfd, int newfd)
{
    if (oldfd != newfd && make_room(oldfd, newfd))
        return -1;
    if (oldfd == newfd && watching() && tq_session_owns_fd(oldfd)) {
        errno = EBADF;
        return -1;
    }
#ifdef SYS_dup2
    return (int)syscall(SYS_dup2, oldfd, newfd);
#else
    if (oldfd == newfd)
        return fcntl(oldfd, F_GETFD) < 0 ? -1 : newfd;
    return (int)syscall(SYS_dup3, oldfd, newfd, 0);
#endif
}

TQ_EXPORT int dup3(int oldfd, int newfd, int flags)
{
    if (oldfd != newfd && make_room(oldfd, newfd))
        return -1;
    return (int)syscall(SYS_dup3, oldfd, newfd, flags);
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
