/* alloc.c - the readers' allocation calls and their failure hook (see alloc.h). */
#include "alloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static long fail_at = -1; /* the allocation number that fails, or -1 */
static long count;        /* allocations since tq_alloc_fail_nth */

/* 1 when this allocation is the one the hook picked. */
static int alloc_hooked(void)
{
    long k = __atomic_fetch_add(&count, 1, __ATOMIC_RELAXED);
    if (k != __atomic_load_n(&fail_at, __ATOMIC_RELAXED))
        return 0;
    errno = ENOMEM;
    return 1;
}

void *tq_malloc(size_t size)
{
    return alloc_hooked() ? NULL : malloc(size);
}

void *tq_calloc(size_t n, size_t size)
{
    return alloc_hooked() ? NULL : calloc(n, size);
}

void *tq_realloc(void *p, size_t size)
{
    return alloc_hooked() ? NULL : realloc(p, size);
}

char *tq_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = tq_malloc(n);
    return p ? memcpy(p, s, n) : NULL;
}

void tq_alloc_fail_nth(long n)
{
    __atomic_store_n(&fail_at, n < 0 ? -1 : n, __ATOMIC_RELAXED);
    __atomic_store_n(&count, 0, __ATOMIC_RELAXED);
}

long tq_alloc_count(void)
{
    return __atomic_load_n(&count, __ATOMIC_RELAXED);
}
