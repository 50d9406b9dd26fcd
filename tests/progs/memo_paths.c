/* memo_paths.c - one allocation site reached by two call paths that differ two frames up, taken in turn (a a b a a
 * b ...) from frames of the same shape: the stack walker's memo (preload/unwind.c) sees the same return address and
 * stack pointer at each malloc, must reuse its walk for the second a and must still tell a from b. Built -O2 (frames without frame pointers, where
 * rbp holds whatever the compiler keeps in it).
 * usage: memo_paths ROUNDS: each round, outer_a twice (100-byte blocks) and outer_b once (1000-byte blocks); every
 * block is freed at once. */
#include <stdlib.h>

static void *volatile sink;
static volatile int after; /* a store after each call: no tail calls, every frame stays on the stack */

__attribute__((noinline)) static void shared_alloc(size_t n)
{
    sink = malloc(n);
    after = 1;
    free(sink);
    after = 2;
}

__attribute__((noinline)) static void mid(size_t n)
{
    shared_alloc(n);
    after = 3;
}

__attribute__((noinline)) static void outer_a(size_t n)
{
    mid(n);
    after = 4;
}

__attribute__((noinline)) static void outer_b(size_t n)
{
    mid(n);
    after = 5;
}

static volatile int twice = 2; /* not unrolled: outer_a is called from one place, its stack repeats */

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? atol(argv[1]) : 1000;
    for (long i = 0; i < rounds; i++) {
        for (int j = 0; j < twice; j++)
            outer_a(100);
        outer_b(1000);
    }
    return 0;
}
