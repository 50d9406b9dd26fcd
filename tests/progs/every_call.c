/* every_call.c - calls every interposed function with known sizes, N times (argv[1]); prints nothing.
 * test_shim_counters.c knows the per-iteration numbers: keep the two in step. */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static void *volatile sink; /* keeps the compiler from eliding malloc/free pairs */

static void keep(void *p)
{
    sink = p;
}

static void heap_round(void)
{
    char *a = malloc(1000);                  /* live 1000 */
    char *b = calloc(10, 100);               /* 2000 */
    keep(b);
    a = realloc(a, 3000);                    /* 4000 */
    a = realloc(a, 500);                     /* 1500 */
    char *volatile none = NULL;              /* volatile: the compiler would turn realloc(NULL, n) into malloc */
    char *c = realloc(none, 700);            /* 2200 */
    c = reallocarray(c, 30, 10);             /* 1800 */
    void *d = NULL;
    if (posix_memalign(&d, 64, 4096))        /* 5896 */
        abort();
    void *e = aligned_alloc(128, 256);       /* 6152 */
    keep(e);
    void *f = memalign(32, 100);             /* 6252 */
    void *g = valloc(5000);                  /* 11252 */
    void *h = pvalloc(100);                  /* 11352 */
    char *m = malloc(20000);                 /* 31352: the peak */
    if (malloc_usable_size(m) < 20000)
        abort();
    m[19999] = 1;
    keep(m);
    free(m);
    free(a);
    free(b);
    free(c);
    free(d);
    free(e);
    free(f);
    free(g);
    free(h);                                 /* 0 */
    char *x = malloc(10);                    /* 10 */
    keep(x);
    size_t volatile zero = 0;
    x = realloc(x, zero);                    /* glibc: frees, returns NULL; 0 */
    free(x);                                 /* free(NULL) */
}

static void map_round(void)
{
    long pg = sysconf(_SC_PAGESIZE);
    char *p = mmap(NULL, 3 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);   /* 3 pages */
    char *q = mmap64(NULL, pg + 904, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); /* 5 pages */
    if (p == MAP_FAILED || q == MAP_FAILED)
        abort();
    p = mremap(p, 3 * pg, 10 * pg, MREMAP_MAYMOVE);                                          /* 12 pages */
    if (p == MAP_FAILED)
        abort();
    p[0] = q[0] = 1;
    munmap(p, 10 * pg);                                                                      /* 2 pages */
    munmap(q, pg + 904);                                                                     /* 0 */
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 1;
    for (int i = 0; i < n; i++) {
        heap_round();
        map_round();
    }
    return 0;
}
