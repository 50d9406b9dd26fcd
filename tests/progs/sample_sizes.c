/* sample_sizes.c - known allocation totals for record --sample-bytes: each site allocates and frees a fixed number
 * of blocks of one size, and keeps one last block until exit. Usage: sample_sizes [threads]
 * Per thread: small_site 200000 x 100 B (20 MB), mid_site 20000 x 4000 B (80 MB), big_site 100 x 1 MiB (100 MiB),
 * each keeping its last block live. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static void *volatile keep[3][64];

static void run_site(int which, int tid, int n, size_t size)
{
    char *last = NULL;
    for (int i = 0; i < n; i++) {
        char *p = malloc(size);
        p[0] = (char)i;
        free(last);
        last = p;
    }
    keep[which][tid] = last;
}

static __attribute__((noinline)) void small_site(int tid) { run_site(0, tid, 200000, 100); }
static __attribute__((noinline)) void mid_site(int tid) { run_site(1, tid, 20000, 4000); }
static __attribute__((noinline)) void big_site(int tid) { run_site(2, tid, 100, 1 << 20); }

static void *work(void *arg)
{
    int tid = (int)(long)arg;
    small_site(tid);
    mid_site(tid);
    big_site(tid);
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    if (threads < 1 || threads > 64)
        return 2;
    pthread_t t[64];
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, work, (void *)(long)i);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    return 0;
}
