/* stress_mix.c - THREADS threads each doing OPS mixed malloc/calloc/realloc/posix_memalign/mmap calls whose blocks
 * are swapped through a shared table, so most frees and munmaps happen on another thread than the allocation.
 * Everything is released before exit. Prints how many calls of each kind it made (the shim must count exactly
 * these on top of a run with OPS = 0). Usage: stress_mix THREADS OPS */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define SLOTS 4096
#define MAX_THREADS 64

enum { K_MALLOC, K_CALLOC, K_REALLOC, K_MEMALIGN, K_FREE, K_MMAP, K_MUNMAP, K_COUNT };
static const char *const kind_name[K_COUNT] = {"malloc", "calloc", "realloc", "posix_memalign",
                                               "free", "mmap", "munmap"};

/* Every block starts with this header so whoever releases it knows how. */
struct blk {
    uint32_t is_map;
    uint32_t pad;
    size_t size;
};

static _Atomic(struct blk *) table[SLOTS];
static size_t ops_per_thread;
static long page;

struct worker {
    pthread_t tid;
    unsigned seed;
    unsigned long count[K_COUNT];
};

static unsigned next_rand(unsigned *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static void release(struct blk *b, unsigned long *count)
{
    if (b->is_map) {
        if (munmap(b, b->size) != 0)
            abort();
        count[K_MUNMAP]++;
    } else {
        free(b);
        count[K_FREE]++;
    }
}

static struct blk *make(struct worker *w)
{
    unsigned r = next_rand(&w->seed);
    size_t size = sizeof(struct blk) + r % 4096;
    struct blk *b = NULL;
    switch (r >> 24 & 7) {
    case 0: case 1:
        b = malloc(size);
        w->count[K_MALLOC]++;
        break;
    case 2:
        b = calloc(1, size);
        w->count[K_CALLOC]++;
        break;
    case 3: case 4: /* grow a fresh block: one malloc and one realloc */
        b = malloc(sizeof(struct blk));
        w->count[K_MALLOC]++;
        b = realloc(b, size);
        w->count[K_REALLOC]++;
        break;
    case 5: {
        void *p = NULL;
        if (posix_memalign(&p, (r & 1) ? 64 : 4096, size) != 0)
            abort();
        b = p;
        w->count[K_MEMALIGN]++;
        break;
    }
    default: {
        size = (size_t)page * (1 + r % 4);
        void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            abort();
        b = p;
        w->count[K_MMAP]++;
        b->is_map = 1;
        b->size = size;
        return b;
    }
    }
    if (!b)
        abort();
    b->is_map = 0;
    b->size = size;
    return b;
}

static void *work(void *arg)
{
    struct worker *w = arg;
    for (size_t i = 0; i < ops_per_thread; i++) {
        struct blk *b = make(w);
        struct blk *old = atomic_exchange(&table[next_rand(&w->seed) % SLOTS], b);
        if (old)
            release(old, w->count);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: stress_mix THREADS OPS\n");
        return 2;
    }
    int n = atoi(argv[1]);
    ops_per_thread = strtoul(argv[2], NULL, 10);
    if (n < 1 || n > MAX_THREADS)
        return 2;
    page = sysconf(_SC_PAGESIZE);
    static struct worker w[MAX_THREADS];
    for (int i = 0; i < n; i++) {
        w[i].seed = 2463534242u + 7919u * (unsigned)i;
        if (pthread_create(&w[i].tid, NULL, work, &w[i]) != 0)
            return 1;
    }
    unsigned long total[K_COUNT] = {0};
    for (int i = 0; i < n; i++) {
        pthread_join(w[i].tid, NULL);
        for (int k = 0; k < K_COUNT; k++)
            total[k] += w[i].count[k];
    }
    for (int s = 0; s < SLOTS; s++) {
        struct blk *b = atomic_exchange(&table[s], NULL);
        if (b)
            release(b, total);
    }
    for (int k = 0; k < K_COUNT; k++)
        printf("%s %lu\n", kind_name[k], total[k]);
    return 0;
}
