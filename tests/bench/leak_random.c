/* leak_random.c - a leak benchmark shaped like heaptrack's tests/manual/test.c (our own code): one small block is
 * freed at the end, and a loop leaks 10000 blocks of pseudo-random sizes 0..999 from one site (a fixed seed, so
 * every run leaks the same bytes; main prints the total it leaked so the bench can check both profilers).
 * Usage: leak_random [BLOCKS]   (default 10000) */
#include <stdio.h>
#include <stdlib.h>

static void *volatile sink;

__attribute__((noinline)) static void *leak_one(size_t size)
{
    void *p = malloc(size);
    sink = p; /* the only copy, overwritten by the next block */
    return p;
}

int main(int argc, char **argv)
{
    long blocks = argc > 1 ? atol(argv[1]) : 10000;
    unsigned long long leaked = 0;
    unsigned state = 12345;
    char *kept = malloc(1);
    for (long i = 0; i < blocks; i++) {
        state = state * 1103515245u + 12345u; /* our own LCG: the sizes do not depend on libc's rand */
        size_t size = (state >> 16) % 1000;
        if (leak_one(size) && size) /* malloc(0) may return a unique pointer; count only bytes asked for */
            leaked += size;
    }
    free(kept);
    printf("leaked %llu bytes in %ld blocks\n", leaked, blocks);
    return 0;
}
