/* handoff.c - blocks allocated in one thread and freed in another (a producer/consumer queue), for the --stacks
 * test of cross-thread frees. usage: handoff [BLOCKS (default 50000)]; 1 KiB blocks, at most 64 in the queue. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define QUEUE 64

static void *queue[QUEUE];
static long head, tail, total;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;

__attribute__((noinline)) static void *produce_one(void)
{
    void *p = malloc(1024);
    memset(p, 7, 64);
    return p;
}

static void *producer(void *arg)
{
    (void)arg;
    for (long i = 0; i < total; i++) {
        void *p = produce_one();
        pthread_mutex_lock(&lock);
        while (head - tail == QUEUE)
            pthread_cond_wait(&changed, &lock);
        queue[head++ % QUEUE] = p;
        pthread_cond_broadcast(&changed);
        pthread_mutex_unlock(&lock);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    total = argc > 1 ? atol(argv[1]) : 50000;
    pthread_t th;
    pthread_create(&th, NULL, producer, NULL);
    for (long i = 0; i < total; i++) {
        pthread_mutex_lock(&lock);
        while (head == tail)
            pthread_cond_wait(&changed, &lock);
        void *p = queue[tail++ % QUEUE];
        pthread_cond_broadcast(&changed);
        pthread_mutex_unlock(&lock);
        free(p);
    }
    pthread_join(th, NULL);
    return 0;
}
