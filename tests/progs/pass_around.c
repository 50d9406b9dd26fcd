/* pass_around.c - THREADS threads each allocate ROUNDS blocks that go through one shared queue and are freed by
 * whichever thread takes them next (mostly another), plus ROUNDS local malloc/free pairs; everything is freed before
 * exit. For the --stacks test of per-thread buffers flushed while their threads write (tests/test_stacks.c).
 * usage: pass_around [THREADS (default 8)] [ROUNDS (default 20000)] */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define QUEUE 256

static void *queue[QUEUE];
static long q_head, q_tail, rounds;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static void *volatile sink;

__attribute__((noinline)) static void *produce(long i)
{
    char *p = malloc((size_t)(i % 100 + 1) * 8);
    p[0] = (char)i;
    return p;
}

__attribute__((noinline)) static void local_pair(long i)
{
    char *p = malloc((size_t)(i % 50 + 1) * 16);
    sink = p;
    free(p);
}

static void *worker(void *arg)
{
    (void)arg;
    for (long i = 0; i < rounds; i++) {
        void *mine = produce(i), *taken = NULL;
        pthread_mutex_lock(&lock);
        if (q_head - q_tail == QUEUE) /* full: take the oldest first */
            taken = queue[q_tail++ % QUEUE];
        queue[q_head++ % QUEUE] = mine;
        if (!taken && q_head - q_tail > QUEUE / 2)
            taken = queue[q_tail++ % QUEUE];
        pthread_mutex_unlock(&lock);
        free(taken);
        local_pair(i);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 8;
    rounds = argc > 2 ? atol(argv[2]) : 20000;
    if (threads < 1 || threads > 64 || rounds < 1)
        return 2;
    pthread_t th[64];
    for (int t = 0; t < threads; t++)
        if (pthread_create(&th[t], NULL, worker, NULL))
            return 1;
    for (int t = 0; t < threads; t++)
        pthread_join(th[t], NULL);
    while (q_tail < q_head)
        free(queue[q_tail++ % QUEUE]);
    return 0;
}
