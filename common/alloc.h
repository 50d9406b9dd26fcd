/* alloc.h - malloc/calloc/realloc/strdup/asprintf/getline for all the code outside the shim (preload/ never calls
 * these), with a test hook that makes one chosen allocation fail so every out-of-memory path can be exercised
 * (style.md habit 8, tests/test_alloc_fail.c). jansson allocates through tq_malloc too (common/jsonfile.c sets it
 * once at start, and treats a parse during which one of its allocations failed as out of memory). Not routed here:
 * the shim's own allocations (traces/writer.c, built into libtraceq.so), those other libraries make for us (libdw,
 * cairo, segyio, zstd, FFTW, GSL) and libc's own (scandir, stdio). */
#ifndef TQ_ALLOC_H
#define TQ_ALLOC_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

/* Like malloc, calloc and realloc; NULL when memory runs out or when the failure hook picks this call (then
 * errno is ENOMEM and, for tq_realloc, p is left untouched). */
void *tq_malloc(size_t size);
void *tq_calloc(size_t n, size_t size);
void *tq_realloc(void *p, size_t size);

/* Like posix_memalign: 0, or ENOMEM (when the hook picks this call too) or EINVAL, *p then untouched. */
int tq_posix_memalign(void **p, size_t align, size_t size);

/* Like strdup, strndup and asprintf (a failure hooked or real gives NULL / -1 with errno ENOMEM; *out is then NULL).
 * Each counts as one allocation. */
char *tq_strdup(const char *s);
char *tq_strndup(const char *s, size_t n);
int tq_asprintf(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Like getline (the buffer grows through tq_realloc; *line is NUL-terminated), except that the end of the file gives
 * 0: the line's length with its newline, 0 at end of file, or -1 on an error (errno is ENOMEM when the buffer
 * could not grow, else the stream's error). */
ssize_t tq_getline(char **line, size_t *cap, FILE *f);

/* Test hook: the allocation numbered `n` (0 = the next one) through the functions above fails, once; n < 0 (the
 * default) fails none. Also resets tq_alloc_count. Thread-safe (atomic counter). Can't fail. */
void tq_alloc_fail_nth(long n);

/* Allocations made through the functions above since the last tq_alloc_fail_nth call (counting a failed one).
 * Tests use it to know when N has passed every allocation of the call under test. Can't fail. */
long tq_alloc_count(void);

#endif
