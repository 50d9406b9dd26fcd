/* site_storm.c - benchmark load for `record --sample-bytes`: twelve allocation sites with block sizes from about
 * 1 KB to 256 KB, each allocating about MB megabytes in all (blocks of size/2 .. 3*size/2, freed at once), split
 * over THREADS threads. Totals per site are fixed, so a sampled run's per-site estimates can be checked against an
 * exact run's. Usage: site_storm [MB (default 1000)] [THREADS (default 1)] */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static long scale = 1000; /* megabytes per site */
static int threads = 1;

/* One function per site, so that each has its own stack; noinline keeps them apart. */
#define SITE(k, size)                                                                                  \
    __attribute__((noinline)) static void site_##k(uint64_t *x)                                                       \
    {                                                                                                                  \
        long n = scale * 1000000 / (size) / threads;                                                                   \
        for (long i = 0; i < n; i++) {                                                                                 \
            *x ^= *x << 13;                                                                                            \
            *x ^= *x >> 7;                                                                                             \
            *x ^= *x << 17;                                                                                            \
            size_t s = (size) / 2 + (size_t)(*x % (size)); /* mean 1.0 x size */                                       \
            char *p = malloc(s);                                                                                       \
            if (!p)                                                                                                    \
                abort();                                                                                               \
            p[0] = (char)i;                                                                                            \
            free(p);                                                                                                   \
        }                                                                                                              \
    }
SITE(0, 1000)
SITE(1, 1500)
SITE(2, 2000)
SITE(3, 3000)
SITE(4, 4000)
SITE(5, 6000)
SITE(6, 8000)
SITE(7, 12000)
SITE(8, 16000)
SITE(9, 32000)
SITE(10, 64000)
SITE(11, 256000)

static void *run(void *arg)
{
    uint64_t x = 0x9E3779B97F4A7C15u * (uint64_t)(uintptr_t)arg + 1;
    site_0(&x), site_1(&x), site_2(&x), site_3(&x), site_4(&x), site_5(&x);
    site_6(&x), site_7(&x), site_8(&x), site_9(&x), site_10(&x), site_11(&x);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        scale = atol(argv[1]);
    if (argc > 2)
        threads = atoi(argv[2]);
    if (scale < 1 || threads < 1 || threads > 64) {
        fprintf(stderr, "usage: site_storm [MB >= 1] [THREADS 1..64]\n");
        return 2;
    }
    pthread_t t[64];
    for (int i = 0; i < threads; i++)
        if (pthread_create(&t[i], NULL, run, (void *)(uintptr_t)(i + 1)))
            abort();
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    return 0;
}
