/* info_mix.c - a single-threaded heap whose blocks the shim names by (size, stack) where their slack has room and by
 * address where it has not (traces/FORMAT.md 20), for tests/test_info_events.c: requests of every size 1..600 (so
 * every slack 1..16 of glibc's chunks), from two sites, freed in a scrambled order; realloc chains growing and
 * shrinking (old and new blocks each with or without room); calloc and aligned blocks; temporaries; leaks; blocks
 * written up to their malloc_usable_size (which leaves the shim's tag alone). The same
 * run under TRACEQ_FREE_BY_ADDR=1 (every block named by address) must report the same.
 * Usage: info_mix [rounds] (default 20) */
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LIVE 2000

static void *volatile sink;
static uint64_t rng = 88172645463325252ull;

static unsigned next(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (unsigned)(rng >> 16);
}

static __attribute__((noinline)) void *site_a(size_t n)
{
    char *p = malloc(n);
    memset(p, 1, malloc_usable_size(p)); /* every byte it may use: the shim's tag lies beyond */
    return p;
}

static __attribute__((noinline)) void *site_b(size_t n)
{
    return calloc(1, n);
}

static __attribute__((noinline)) void *grow(void *p, size_t n)
{
    char *q = realloc(p, n);
    q[n - 1] = 2;
    return q;
}

static __attribute__((noinline)) void temporaries(void)
{
    for (int i = 0; i < 300; i++) {
        char *volatile p = malloc(1 + (size_t)i % 200);
        p[0] = 1;
        free(p);
    }
}

static __attribute__((noinline)) void leak(size_t n)
{
    sink = site_a(n);
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 20;
    static void *live[LIVE];
    for (int r = 0; r < rounds; r++) {
        for (size_t n = 1; n <= 600; n++) {
            unsigned k = next() % LIVE;
            free(live[k]); /* a scrambled order of frees */
            live[k] = n % 3 ? site_a(n) : site_b(n);
        }
        void *c = NULL; /* a chain: every size from 1 up and back down */
        for (size_t n = 1; n <= 300; n += 1 + next() % 7)
            c = grow(c, n);
        for (size_t n = 300; n > 5; n -= 1 + next() % 5)
            c = grow(c, n);
        free(c);
        void *al = aligned_alloc(64, 64 * (1 + (size_t)r % 4));
        sink = al;
        free(al);
        temporaries();
        if (r % 5 == 0)
            leak(100 + (size_t)r);
    }
    for (unsigned k = 0; k < LIVE; k += 2) /* half of the rest stays live at exit */
        free(live[k]);
    return 0;
}
