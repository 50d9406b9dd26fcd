/* malloc_storm.c - benchmark load: N malloc/free pairs over 1024 live pointers per thread, sizes 16..4111.
 * Usage: malloc_storm [TOTAL_PAIRS (default 5000000)] [THREADS (default 1)]; pairs are split across threads. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define LIVE 1024

static long pairs_per_thread;

static void *storm(void *arg)
{
    uint64_t x = 0x9E3779B97F4A7C15u * (uint64_t)(uintptr_t)arg + 1; /* xorshift64: cheap, deterministic */
    char *live[LIVE] = {0};
    for (long i = 0; i < pairs_per_thread; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        unsigned slot = (unsigned)(x % LIVE);
        size_t size = 16 + (size_t)((x >> 20) % 4096);
        free(live[slot]);
        live[slot] = malloc(size);
        if (!live[slot])
            abort();
        live[slot][0] = (char)i; /* touch it, as a real program would */
    }
    for (unsigned i = 0; i < LIVE; i++)
        free(live[i]);
    return NULL;
}

int main(int argc, char **argv)
{
    long total = argc > 1 ? atol(argv[1]) : 5000000;
    int threads = argc > 2 ? atoi(argv[2]) : 1;
    if (total <= 0 || threads <= 0 || threads > 64) {
        fprintf(stderr, "usage: malloc_storm [TOTAL_PAIRS] [THREADS 1..64]\n");
        return 2;
    }
    pairs_per_thread = total / threads;
    pthread_t th[64];
    for (int t = 0; t < threads; t++)
        if (pthread_create(&th[t], NULL, storm, (void *)(uintptr_t)(t + 1)))
            return 1;
    for (int t = 0; t < threads; t++)
        pthread_join(th[t], NULL);
    return 0;
}
