/* alloc.h - malloc/calloc/realloc for the file readers (model, plan, .npy, trace), with a test hook that makes one
 * chosen allocation fail so every out-of-memory path can be exercised (style.md habit 8). */
#ifndef TQ_ALLOC_H
#define TQ_ALLOC_H

#include <stddef.h>

/* Like malloc, calloc and realloc; NULL when memory runs out or when the failure hook picks this call (then
 * errno is ENOMEM and, for tq_realloc, p is left untouched). */
void *tq_malloc(size_t size);
void *tq_calloc(size_t n, size_t size);
void *tq_realloc(void *p, size_t size);

/* A malloc'd copy of the string s, like strdup; NULL when memory runs out (or the hook picks it). */
char *tq_strdup(const char *s);

/* Test hook: the allocation numbered `n` (0 = the next one) through the functions above fails, once; n < 0 (the
 * default) fails none. Also resets tq_alloc_count. Thread-safe (atomic counter). Can't fail. */
void tq_alloc_fail_nth(long n);

/* Allocations made through the functions above since the last tq_alloc_fail_nth call (counting a failed one).
 * Tests use it to know when N has passed every allocation of the call under test. Can't fail. */
long tq_alloc_count(void);

#endif
