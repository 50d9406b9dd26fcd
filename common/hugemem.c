/* hugemem.c - big zeroed tables on transparent huge pages (see hugemem.h). */
#define _GNU_SOURCE /* mremap */
#include "hugemem.h"
#include "alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define HUGE_FROM ((size_t)2 << 20)

static size_t mapped_len(size_t bytes)
{
    return (bytes + HUGE_FROM - 1) / HUGE_FROM * HUGE_FROM;
}

void *tq_huge_zalloc(size_t bytes)
{
    if (bytes < HUGE_FROM)
        return tq_calloc(1, bytes ? bytes : 1);
    /* One huge page more than needed, then the unaligned head and the tail cut off: the table starts on a huge page
     * (kernels from 6.7 align such mappings themselves; older ones do not). */
    size_t len = mapped_len(bytes);
    char *m = mmap(NULL, len + HUGE_FROM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    char *p = (char *)(((uintptr_t)m + HUGE_FROM - 1) & ~(uintptr_t)(HUGE_FROM - 1));
    if (p > m)
        munmap(m, (size_t)(p - m));
    if (m + len + HUGE_FROM > p + len)
        munmap(p + len, (size_t)(m + len + HUGE_FROM - (p + len)));
    madvise(p, len, MADV_HUGEPAGE); /* advice only: 4 KiB pages otherwise */
    return p;
}

void *tq_huge_grow(void *p, size_t old_bytes, size_t new_bytes)
{
    if (!p)
        return tq_huge_zalloc(new_bytes);
    if (new_bytes < HUGE_FROM) {
        char *q = tq_realloc(p, new_bytes ? new_bytes : 1);
        if (q)
            memset(q + old_bytes, 0, new_bytes - old_bytes);
        return q;
    }
    if (old_bytes < HUGE_FROM) {
        void *q = tq_huge_zalloc(new_bytes);
        if (q) {
            memcpy(q, p, old_bytes);
            free(p);
        }
        return q;
    }
    size_t old_len = mapped_len(old_bytes), new_len = mapped_len(new_bytes);
    if (new_len == old_len)
        return p; /* the mapping's tail beyond old_bytes is still zero: nothing ever writes past a table's size */
    void *q = mremap(p, old_len, new_len, MREMAP_MAYMOVE);
    if (q == MAP_FAILED)
        return NULL;
    madvise((char *)q + old_len, new_len - old_len, MADV_HUGEPAGE);
    return q;
}

void tq_huge_release_part(void *p, size_t bytes, size_t off, size_t len)
{
    if (!p || bytes < HUGE_FROM || off >= bytes)
        return;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t end = off + len < bytes ? off + len : mapped_len(bytes); /* to the end: the mapping's tail with it */
    size_t from = (off + page - 1) / page * page, to = end / page * page;
    if (to > from)
        madvise((char *)p + from, to - from, MADV_DONTNEED); /* advice on our own mapping */
}

void tq_huge_free(void *p, size_t bytes)
{
    if (!p)
        return;
    if (bytes < HUGE_FROM)
        free(p);
    else
        munmap(p, mapped_len(bytes));
}
