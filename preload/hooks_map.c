/* hooks_map.c - the interposed mmap family, made as raw system calls and counted apart from the heap. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
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

/* Mappings made through these hooks while the guard was up are not the program's (libunwind maps a per-thread trace
 * cache while the shim unwinds, and its own thread-exit destructor unmaps it with the guard down): their start
 * addresses are kept here so that the later munmap is neither counted nor subtracted. Before this, 16 threads under
 * `record --stacks` ended with 16 munmaps too many and live mmap at -4 MiB (tests/test_stress_threads.c).
 * Lock-free open addressing; when a short probe finds no room the mapping is simply not remembered. */
#define TQ_HIDDEN_SLOTS 1024u
#define TQ_HIDDEN_PROBES 16u
static _Atomic uintptr_t hidden[TQ_HIDDEN_SLOTS];

static unsigned hidden_home(uintptr_t a)
{
    return (unsigned)(((uint64_t)(a >> 12) * 0x9E3779B97F4A7C15ull) >> 54) % TQ_HIDDEN_SLOTS;
}

static void hidden_add(void *p)
{
    unsigned h = hidden_home((uintptr_t)p);
    for (unsigned i = 0; i < TQ_HIDDEN_PROBES; i++) {
        uintptr_t empty = 0;
        if (atomic_compare_exchange_strong(&hidden[(h + i) % TQ_HIDDEN_SLOTS], &empty, (uintptr_t)p))
            return;
    }
}

/* Forget p if it was a hidden mapping; returns 1 when it was. */
static int hidden_take(void *p)
{
    unsigned h = hidden_home((uintptr_t)p);
    for (unsigned i = 0; i < TQ_HIDDEN_PROBES; i++) {
        _Atomic uintptr_t *slot = &hidden[(h + i) % TQ_HIDDEN_SLOTS];
        uintptr_t want = (uintptr_t)p;
        if (atomic_load_explicit(slot, memory_order_relaxed) == want && atomic_compare_exchange_strong(slot, &want, 0))
            return 1;
    }
    return 0;
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
    } else if (p != MAP_FAILED) {
        hidden_add(p);
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
    /* Take before unmapping: once the range is free another thread may map it again (a hidden mapping, even), and
     * a take after the syscall could steal that entry. */
    int hid = hidden_take(addr);
    int r = (int)syscall(SYS_munmap, addr, len);
    if (hid) {
        if (r != 0)
            hidden_add(addr);
        return r;
    }
    if (tq_counting()) {
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
    int hid = hidden_take(old); /* before the call, as in munmap */
    void *p = (void *)syscall(SYS_mremap, old, old_len, new_len, flags, want);
    if (hid) { /* a hidden mapping moved (or stayed): still not the program's */
        hidden_add(p != MAP_FAILED ? p : old);
        return p;
    }
    if (tq_counting()) {
        if (p != MAP_FAILED) {
            tq_count_mmap((flags & MREMAP_DONTUNMAP) ? pages(new_len) : pages(new_len) - pages(old_len));
            tq_stacks_note(TQ_CALL_MREMAP, p, (uint64_t)pages(new_len), old, 1);
        }
        tq_count_call(TQ_CALL_MREMAP);
    }
    return p;
}
