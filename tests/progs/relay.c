/* relay.c - THREADS threads take turns (a baton under a mutex): in its turn a thread frees the BLOCKS blocks the
 * thread before it allocated, then allocates BLOCKS of its own; TURNS turns in all, then the last ones are freed.
 * Each turn is one thread's events alone, many in a row, and its first frees are of blocks another thread allocated
 * just before: for the --stacks test of the process-wide order of events (preload/stacks.c seq_solo,
 * tests/test_stacks.c). usage: relay [THREADS (default 3)] [TURNS (default 12)] [BLOCKS (default 40000)] */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static void **blocks;
static long nblocks, turns, turn;
static int threads;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;

static void *runner(void *arg)
{
    long me = (long)(intptr_t)arg;
    for (;;) {
        pthread_mutex_lock(&lock);
        while (turn < turns && turn % threads != me)
            pthread_cond_wait(&changed, &lock);
        if (turn >= turns) {
            pthread_mutex_unlock(&lock);
            return NULL;
        }
        for (long i = 0; i < nblocks; i++) {
            free(blocks[i]);
            blocks[i] = malloc((size_t)(16 + (i * 7 + turn) % 400));
            if (!blocks[i])
                abort();
        }
        turn++;
        pthread_cond_broadcast(&changed);
        pthread_mutex_unlock(&lock);
    }
}

int main(int argc, char **argv)
{
    threads = argc > 1 ? atoi(argv[1]) : 3;
    turns = argc > 2 ? atol(argv[2]) : 12;
    nblocks = argc > 3 ? atol(argv[3]) : 40000;
    if (threads < 1 || threads > 64 || turns < 0 || nblocks < 1) {
        fprintf(stderr, "usage: relay [THREADS 1..64] [TURNS] [BLOCKS]\n");
        return 2;
    }
    if (!(blocks = calloc((size_t)nblocks, sizeof *blocks)))
        return 1;
    pthread_t th[64];
    for (int t = 0; t < threads; t++)
        if (pthread_create(&th[t], NULL, runner, (void *)(intptr_t)t))
            return 1;
    for (int t = 0; t < threads; t++)
        pthread_join(th[t], NULL);
    for (long i = 0; i < nblocks; i++)
        free(blocks[i]);
    free(blocks);
    return 0;
}
