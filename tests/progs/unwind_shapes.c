/* unwind_shapes.c - allocations from frames of many shapes, for the test of record --stacks' own stack walker
 * (tests/test_stacks.c, TRACEQ_UNWIND_CHECK=1): recursion deeper than the 128 frames kept, a variable-length array
 * (a frame addressed through rbp), an over-aligned local (a realigned stack), a signal handler (a signal frame),
 * qsort's comparison function (C library frames in between), calloc/realloc/posix_memalign, and threads.
 * usage: unwind_shapes [ROUNDS (default 20)] */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void *volatile sink;
static volatile uintptr_t sink_addr; /* a local's address, kept from the optimizer */

__attribute__((noinline)) static void take(size_t n)
{
    char *p = malloc(n);
    sink = p;
    free(p);
}

__attribute__((noinline)) static int recurse(int depth)
{
    if (depth == 0) {
        take(24);
        return 0;
    }
    volatile int here = depth; /* a local whose address escapes: every level keeps its frame */
    sink_addr = (uintptr_t)&here;
    return recurse(depth - 1) + here;
}

__attribute__((noinline)) static void with_vla(int n)
{
    char buf[n];
    memset(buf, 1, (size_t)n);
    sink_addr = (uintptr_t)buf;
    take((size_t)n);
    sink_addr = (uintptr_t)(buf + 1);
}

__attribute__((noinline)) static void realigned(void)
{
    char big[64] __attribute__((aligned(64)));
    memset(big, 2, sizeof big);
    sink_addr = (uintptr_t)big;
    take(40);
    sink_addr = (uintptr_t)(big + 1);
}

static void on_signal(int sig)
{
    (void)sig;
    take(56); /* raise() runs the handler here, synchronously: no allocation is interrupted */
}

static int compare(const void *a, const void *b)
{
    take(8);
    return *(const int *)a - *(const int *)b;
}

__attribute__((noinline)) static void other_calls(int r)
{
    int v[16];
    for (int i = 0; i < 16; i++)
        v[i] = (i * 7 + r) % 16;
    qsort(v, 16, sizeof *v, compare);
    char *p = calloc(10, 10 + (size_t)r);
    p = realloc(p, 5000);
    void *q = NULL;
    if (posix_memalign(&q, 64, 128))
        abort();
    sink = p;
    sink = q;
    free(p);
    free(q);
}

static void *rounds(void *arg)
{
    long n = (long)(intptr_t)arg;
    for (long r = 0; r < n; r++) {
        recurse((int)(r % 40));
        recurse(200);
        with_vla(100 + (int)r);
        realigned();
        raise(SIGUSR1);
        other_calls((int)r);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 20;
    signal(SIGUSR1, on_signal);
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        if (pthread_create(&th[i], NULL, rounds, (void *)(intptr_t)n))
            return 1;
    rounds((void *)(intptr_t)n);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    return 0;
}
