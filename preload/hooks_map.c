/* hooks_map.c - the interposed mmap family, made as raw system calls and counted apart from the heap. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim.h"

#define TQ_EXPORT __attribute__((visibility("default")))

static inline int64_t pages(size_t len)
{
    static long page;
    if (!page)
        page = sysconf(_SC_PAGESIZE);
    return (int64_t)((len + (size_t)page - 1) & ~((size_t)page - 1));
}

/* Raw syscalls: calling glibc's mmap through dlsym could recurse into the allocator (profiler-anchors.md). */
static void *tq_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off, enum tq_call c)
{
    void *p = (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
    if (tq_counting()) {
        if (p != MAP_FAILED) {
            tq_count_mmap(pages(len));
            tq_stacks_note(c, p, (uint64_t)pages(len), NULL, 1);
        }
        tq_count_call(c);
    }
    return p;
}

TQ_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return tq_mmap(addr, len, prot, flags, fd, off, TQ_CALL_MMAP);
}

TQ_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return tq_mmap(addr, len, prot, flags, fd, off, TQ_CALL_MMAP64);
}

#ifdef TQ_TESTING
long tq_map_release_gap_us; /* test builds: TQ_TESTING_MUNMAP_GAP_US (session.c) */
/* The window between the system call that released a range and the hook's accounting after it, widened for the
 * test of their order (tests/test_shim_counters.c, map_race). */
static void release_gap(void)
{
    if (tq_map_release_gap_us) {
        int e = errno;
        usleep((useconds_t)tq_map_release_gap_us);
        errno = e;
    }
}
#else
static inline void release_gap(void)
{
}
#endif

/* munmap and a shrinking mremap count the bytes they release before the system call, as free() does: once the
 * kernel has released a range, another thread's mmap may be given it and count its bytes at once, and a release
 * counted after the call would let the live and peak figures hold both (a peak of mapped bytes that never were
 * mapped at once: tests/progs/map_race.c). A failed call gives the bytes back. Their events keep their order
 * numbers after the call (FORMAT.md 6 EVENTS: no reader matches mmap events by address). */
TQ_EXPORT int munmap(void *addr, size_t len)
{
    int counted = tq_counting() && !tq_stacks_unwinder_call(__builtin_return_address(0));
    if (counted)
        tq_count_mmap(-pages(len));
    int r = (int)syscall(SYS_munmap, addr, len);
    release_gap();
    if (counted) {
        if (r == 0)
            tq_stacks_note(TQ_CALL_MUNMAP, addr, (uint64_t)pages(len), NULL, 0);
        else
            tq_count_mmap(pages(len)); /* nothing was released (the range was mapped all along) */
        tq_count_call(TQ_CALL_MUNMAP);
    }
    return r;
}

TQ_EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
    void *want = NULL;
    if (flags & MREMAP_FIXED) { /* like glibc: the fifth argument exists only with MREMAP_FIXED */
        va_list ap;
        va_start(ap, flags);
        want = va_arg(ap, void *);
        va_end(ap);
    }
    int counted = tq_counting() && !tq_stacks_unwinder_call(__builtin_return_address(0));
    int64_t delta = (flags & MREMAP_DONTUNMAP) ? pages(new_len) : pages(new_len) - pages(old_len);
    int64_t released = delta < 0 ? delta : 0; /* a shrink releases its tail in the call: counted before it */
    if (counted && released)
        tq_count_mmap(released);
    void *p = (void *)syscall(SYS_mremap, old, old_len, new_len, flags, want);
    release_gap();
    if (counted) {
        if (p != MAP_FAILED) {
            if (delta > 0)
                tq_count_mmap(delta);
            tq_stacks_note(TQ_CALL_MREMAP, p, (uint64_t)pages(new_len), old, 1);
        } else if (released) {
            tq_count_mmap(-released); /* nothing was released */
        }
        tq_count_call(TQ_CALL_MREMAP);
    }
    return p;
}
