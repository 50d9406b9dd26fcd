/* sample_frees.c - frees of sampled and unsampled blocks under record --sample-bytes, with known answers:
 * freed_site allocates 400000 blocks of 500 B and frees them all (half of them from another thread than the one
 * that allocated them), grown_site grows 20000 blocks from 100 B to 4000 B with realloc and frees them, leak_site
 * allocates 2000 blocks of 5000 B and never frees them (10000000 B leaked). Usage: sample_frees */
#include <pthread.h>
#include <stdlib.h>

#define FREED_N 400000
#define HALF (FREED_N / 2)

static char *handed[HALF];
static void *volatile keep[2000];

static __attribute__((noinline)) char *freed_site(void)
{
    return malloc(500);
}

static __attribute__((noinline)) char *grown_site(void)
{
    return malloc(100);
}

static __attribute__((noinline)) void leak_site(int i)
{
    keep[i] = malloc(5000);
}

static void *allocate_half(void *arg)
{
    (void)arg;
    for (int i = 0; i < HALF; i++) {
        handed[i] = freed_site();
        handed[i][0] = 1;
    }
    return NULL;
}

int main(void)
{
    pthread_t t;
    if (pthread_create(&t, NULL, allocate_half, NULL))
        return 1;
    for (int i = 0; i < HALF; i++) {
        char *p = freed_site();
        p[0] = 1;
        free(p);
    }
    pthread_join(t, NULL);
    for (int i = 0; i < HALF; i++) /* blocks of the other thread */
        free(handed[i]);
    for (int i = 0; i < 20000; i++) {
        char *p = grown_site(), *q = realloc(p, 4000);
        if (!q)
            return 1;
        q[3999] = 1;
        free(q);
    }
    for (int i = 0; i < 2000; i++)
        leak_site(i);
    return 0;
}
