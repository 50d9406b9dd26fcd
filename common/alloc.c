/* alloc.c - the allocation calls outside the shim and their failure hook (see alloc.h). */
#include "alloc.h"

#include <errno.h>
#include <stdarg.h>
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

int tq_posix_memalign(void **p, size_t align, size_t size)
{
    return alloc_hooked() ? ENOMEM : posix_memalign(p, align, size);
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

char *tq_strdup(const char *s)
{
    return tq_strndup(s, strlen(s));
}

char *tq_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *d = tq_malloc(len + 1);
    if (d) {
        memcpy(d, s, len);
        d[len] = 0;
    }
    return d;
}

int tq_asprintf(char **out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    *out = NULL;
    if (n < 0)
        return -1;
    char *s = tq_malloc((size_t)n + 1);
    if (!s)
        return -1;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    *out = s;
    return n;
}

ssize_t tq_getline(char **line, size_t *cap, FILE *f)
{
    size_t len = 0;
    for (;;) {
        if (!*line || *cap - len < 2) { /* room for one more character and the NUL */
            size_t ncap = *line && *cap ? 2 * *cap : 128;
            char *grown = tq_realloc(*line, ncap);
            if (!grown)
                return -1;
            *line = grown;
            *cap = ncap;
        }
        int c = getc(f);
        if (c == EOF) {
            (*line)[len] = 0;
            return ferror(f) ? -1 : (ssize_t)len;
        }
        (*line)[len++] = (char)c;
        if (c == '\n') {
            (*line)[len] = 0;
            return (ssize_t)len;
        }
    }
}
