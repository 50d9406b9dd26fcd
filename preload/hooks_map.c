/* hooks_map.c - the interposed mmap family, made as raw system calls and counted apart from the heap. */
#define _GNU_SOURCE
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

TQ_EXPORT int munmap(void *addr, size_t len)
{
    int r = (int)syscall(SYS_munmap, addr, len);
    if (tq_counting() && !tq_stacks_unwinder_call(__builtin_return_address(0))) {
        if (r == 0) {
            tq_count_mmap(-pages(len));
            tq_stacks_note(TQ_CALL_MUNMAP, addr, (uint64_t)pages(len), NULL, 0);
        }
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
    void *p = (void *)syscall(SYS_mremap, old, old_len, new_len, flags, want);
    if (tq_counting() && !tq_stacks_unwinder_call(__builtin_return_address(0))) {
        if (p != MAP_FAILED) {
            tq_count_mmap((flags & MREMAP_DONTUNMAP) ? pages(new_len) : pages(new_len) - pages(old_len));
            tq_stacks_note(TQ_CALL_MREMAP, p, (uint64_t)pages(new_len), old, 1);
        }
        tq_count_call(TQ_CALL_MREMAP);
    }
    return p;
}
