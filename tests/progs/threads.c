/* threads.c - T threads (argv[1], default 8) each doing N malloc/free pairs (argv[2], default 1000000). */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

static long pairs;
static void *volatile sink;

static void *work(void *arg)
{
    uint32_t x = (uint32_t)(uintptr_t)arg * 2654435761u + 1;
    for (long i = 0; i < pairs; i++) {
        x = x * 1664525u + 1013904223u;
        char *p = malloc(8 + (x >> 24));
        p[0] = 1;
        sink = p;
        free(p);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int t = argc > 1 ? atoi(argv[1]) : 8;
    pairs = argc > 2 ? atol(argv[2]) : 1000000;
    pthread_t th[64];
    if (t < 0 || t > 64)
        return 2;
    for (int i = 0; i < t; i++)
        if (pthread_create(&th[i], NULL, work, (void *)(uintptr_t)(i + 1)))
            return 1;
    for (int i = 0; i < t; i++)
        pthread_join(th[i], NULL);
    return 0;
}
