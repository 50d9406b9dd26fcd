/* realloc_race.c - reallocs that move their blocks while other threads malloc blocks of the old size, so that a
 * block a realloc released is handed to another thread at once: for the --stacks test of the order of a realloc's
 * release against the other threads' allocations (tests/test_realloc_order.c).
 * One heap arena (M_ARENA_MAX 1) and blocks past the per-thread cache (2 KiB) make the released chunk the next one
 * any thread gets for that size. Each of MOVERS threads, ROUNDS times: allocates a block and a guard after it, names
 * the block as the target, reallocs it to twice its size (it moves: the guard is in the way) and frees both. Each of
 * CATCHERS threads allocates and frees blocks of the target's size (up to 40 times for each target) until the movers
 * are done, and keeps (leaks) the ones that come back at the address of the target being moved. Blocks of 2039 bytes (the shim asks for 2040: the
 * chunk's last byte) leave no room for a stack id in the tag, so the shim names them by their address.
 * Then two reallocs of a 1 MiB block fail (fail_grow): the block stays, leaked.
 * Prints "caught N": N blocks of 2039 bytes are leaked, by catch_block, and the 1 MiB block; nothing else is.
 * usage: realloc_race [MOVERS (default 2)] [CATCHERS (default 2)] [ROUNDS (default 2000)] */
#include <malloc.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIZE 2039

static _Atomic(void *) target;
static atomic_int movers_left;
static atomic_long caught;
static long rounds;

__attribute__((noinline)) static char *make_block(void)
{
    char *p = malloc(SIZE);
    memset(p, 1, 64);
    return p;
}

__attribute__((noinline)) static char *grow_block(char *p)
{
    return realloc(p, 2 * SIZE + 9);
}

__attribute__((noinline)) static void *catch_block(void)
{
    return malloc(SIZE);
}

__attribute__((noinline)) static char *keep_big(void)
{
    char *p = malloc(1 << 20); /* an mmapped chunk: its slack leaves no room for a stack id either */
    memset(p, 3, 64);
    return p;
}

/* A realloc that fails (no address space for 2^47 bytes, and a request past PTRDIFF_MAX): the block stays. */
__attribute__((noinline)) static int fail_grow(char *p)
{
    return realloc(p, (size_t)1 << 47) == NULL && realloc(p, PTRDIFF_MAX) == NULL;
}

static void *mover(void *arg)
{
    (void)arg;
    for (long i = 0; i < rounds; i++) {
        char *p = make_block(), *guard = malloc(SIZE);
        atomic_store(&target, p);
        char *q = grow_block(p);
        atomic_store(&target, NULL);
        if (!q)
            abort();
        q[0] = 2;
        free(q);
        free(guard);
    }
    atomic_fetch_sub(&movers_left, 1);
    return NULL;
}

static void *catcher(void *arg)
{
    (void)arg;
    void *seen = NULL;
    int tries = 0;
    while (atomic_load(&movers_left) > 0) {
        void *t = atomic_load(&target);
        if (!t || (t == seen && tries >= 40)) /* a few tries per block being moved: the trace stays small */
            continue;
        tries = t == seen ? tries + 1 : 1;
        seen = t;
        void *p = catch_block();
        if (p && p == atomic_load(&target)) {
            atomic_fetch_add(&caught, 1); /* kept: a leak the report must find at catch_block */
            continue;
        }
        free(p);
        for (volatile int spin = 0; spin < 2000; spin++) /* about a microsecond before the next try */
            ;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int movers = argc > 1 ? atoi(argv[1]) : 2, catchers = argc > 2 ? atoi(argv[2]) : 2;
    rounds = argc > 3 ? atol(argv[3]) : 2000;
    if (movers < 1 || catchers < 1 || movers + catchers > 64 || rounds < 1) {
        fprintf(stderr, "usage: realloc_race [MOVERS] [CATCHERS] [ROUNDS]\n");
        return 2;
    }
    mallopt(M_ARENA_MAX, 1);
    atomic_store(&movers_left, movers);
    pthread_t t[64];
    for (int i = 0; i < movers + catchers; i++)
        if (pthread_create(&t[i], NULL, i < movers ? mover : catcher, NULL))
            return 1;
    for (int i = 0; i < movers + catchers; i++)
        pthread_join(t[i], NULL);
    char *big = keep_big();
    if (!fail_grow(big))
        return 1;
    printf("caught %ld\n", atomic_load(&caught));
    return 0;
}
