/* stack_paths.c - allocations along known call paths, for the --stacks tests (built -O0 -fno-inline).
 * usage: stack_paths [BIG_MIB [SMALL_CALLS [THREADS]]]
 *   hold_big (via keep_path): BIG_MIB blocks of 1 MiB held together: the biggest site at the heap peak.
 *   churn_big (via churn_path): 40 blocks of 4 MiB, each freed at once: the most bytes allocated in total.
 *   tiny_calls (via small_path): SMALL_CALLS malloc(24)/free pairs: the most calls.
 * With THREADS > 1, tiny_calls also runs in that many extra threads (same call path below the thread start). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static void *volatile sink;

__attribute__((noinline)) static void **hold_big(int mib)
{
    void **v = calloc((size_t)mib, sizeof *v);
    for (int i = 0; i < mib; i++) {
        v[i] = malloc(1 << 20);
        memset(v[i], 1, 4096);
    }
    return v;
}

__attribute__((noinline)) static void **keep_path(int mib)
{
    return hold_big(mib);
}

__attribute__((noinline)) static void churn_big(void)
{
    for (int i = 0; i < 40; i++) {
        char *p = malloc(4 << 20);
        p[0] = 1;
        sink = p;
        free(p);
    }
}

__attribute__((noinline)) static void churn_path(void)
{
    churn_big();
}

__attribute__((noinline)) static void tiny_calls(long n)
{
    for (long i = 0; i < n; i++) {
        char *p = malloc(24);
        sink = p;
        free(p);
    }
}

__attribute__((noinline)) static void small_path(long n)
{
    tiny_calls(n);
}

static void *thread_main(void *arg)
{
    small_path((long)arg);
    return NULL;
}

int main(int argc, char **argv)
{
    int mib = argc > 1 ? atoi(argv[1]) : 16;
    long calls = argc > 2 ? atol(argv[2]) : 100000;
    int threads = argc > 3 ? atoi(argv[3]) : 1;
    void **held = keep_path(mib);
    churn_path();
    small_path(calls);
    pthread_t th[16];
    int nt = threads > 1 ? (threads - 1 > 16 ? 16 : threads - 1) : 0;
    for (int i = 0; i < nt; i++)
        pthread_create(&th[i], NULL, thread_main, (void *)calls);
    for (int i = 0; i < nt; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < mib; i++)
        free(held[i]);
    free(held);
    return 0;
}
