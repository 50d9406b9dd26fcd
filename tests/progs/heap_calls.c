/* heap_calls.c - every heap entry point, with what the program can see of its blocks: whether malloc_usable_size
 * of blocks from malloc, calloc, memalign, posix_memalign, aligned_alloc, valloc, realloc and reallocarray is one glibc
 * gives, contents kept through realloc chains that fill every usable byte, and a malloc storm. The output depends only
 * on the C library's allocator, so it is the same bare and under an inert shim (tests/test_shim_inert.c). Prints
 * FAILED and exits 3 when a block lost its contents.
 * Usage: heap_calls ROUNDS */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failed;

static void check(int ok, const char *what, size_t n)
{
    if (!ok && failed++ < 10)
        printf("FAILED %s (%zu)\n", what, n);
}

/* Fill every usable byte of p with a pattern of seed; return the usable size. */
static size_t fill(unsigned char *p, unsigned seed)
{
    size_t u = malloc_usable_size(p);
    for (size_t i = 0; i < u; i++)
        p[i] = (unsigned char)(seed + i * 31);
    return u;
}

static int intact(const unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(seed + i * 31))
            return 0;
    return 1;
}

/* 1 when block p of n bytes has a usable size glibc could give it: at least n, a multiple of 8. (The exact size
 * depends on the heap's history, e.g. a chunk taken whole when its remainder would be too small to split; a block
 * with a size tag of the shim's in its last byte has a usable size of 8k - 1 or 8k - 9.) */
static int glibc_usable(void *p, size_t n)
{
    size_t u = malloc_usable_size(p);
    return u >= n && u % 8 == 0;
}

static void usable_sizes(void)
{
    for (size_t n = 0; n < 600; n += 3) {
        void *m = malloc(n), *c = calloc(1, n), *a = memalign(64, n), *pm = NULL, *al = aligned_alloc(32, n),
             *v = valloc(n);
        check(posix_memalign(&pm, 128, n) == 0, "posix_memalign", n);
        check(m && c && a && pm && al && v, "allocation", n);
        for (size_t i = 0; c && i < malloc_usable_size(c); i++)
            check(((unsigned char *)c)[i] == 0, "calloc zeroes", n);
        printf("%zu: %d %d %d %d %d %d\n", n, glibc_usable(m, n), glibc_usable(c, n), glibc_usable(a, n),
               glibc_usable(pm, n), glibc_usable(al, n), glibc_usable(v, n));
        fill(m, 1);
        fill(c, 2);
        fill(a, 3);
        fill(pm, 4);
        fill(al, 5);
        fill(v, 6);
        free(m);
        free(c);
        free(a);
        free(pm);
        free(al);
        free(v);
    }
}

/* Grow and shrink one block through realloc, every usable byte in use; the kept bytes must survive. */
static void realloc_chain(unsigned seed)
{
    unsigned char *p = NULL;
    size_t have = 0;
    for (size_t step = 0; step < 200; step++) {
        size_t n = (step * 7919 + seed) % (step % 10 == 9 ? 300000 : 4000);
        unsigned char *q = realloc(p, n);
        if (n && !q) {
            check(0, "realloc", n);
            break;
        }
        size_t kept = have < n ? have : n;
        check(kept == 0 || intact(q, kept, seed + (unsigned)step), "realloc keeps", n);
        p = q;
        have = n ? fill(p, seed + (unsigned)step + 1) : 0;
        if (step % 50 == 0)
            printf("chain %u step %zu: %d\n", seed, step, n ? glibc_usable(p, n) : 1);
    }
    free(p);
}

/* Many live blocks of many sizes, freed in a scrambled order: how many have a usable size glibc could give. */
static unsigned storm(unsigned round)
{
    enum { N = 20000 };
    static unsigned char *b[N];
    unsigned sum = 0;
    for (unsigned i = 0; i < N; i++) {
        size_t n = (i * 2654435761u + round) % (i % 97 == 0 ? 200000 : 512);
        b[i] = malloc(n);
        if (n && !b[i]) {
            check(0, "storm malloc", n);
            continue;
        }
        memset(b[i], (int)(i & 0xff), n);
        sum += (unsigned)glibc_usable(b[i], n);
    }
    for (unsigned k = 0; k < N; k++) {
        unsigned i = (k * 7919u) % N;
        size_t n = (i * 2654435761u + round) % (i % 97 == 0 ? 200000 : 512);
        check(!n || (b[i][0] == (i & 0xff) && b[i][n - 1] == (i & 0xff)), "storm contents", n);
        free(b[i]);
    }
    return sum;
}

int main(int argc, char **argv)
{
    unsigned rounds = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 1;
    usable_sizes();
    for (unsigned r = 0; r < rounds; r++) {
        realloc_chain(r);
        printf("storm %u: %u blocks of glibc's sizes\n", r, storm(r));
    }
    char *volatile none = NULL;
    char *x = reallocarray(none, 100, 3);
    printf("reallocarray: %d\n", x ? glibc_usable(x, 300) : 0);
    free(x);
    printf("%s\n", failed ? "FAILED" : "ok");
    return failed ? 3 : 0;
}
