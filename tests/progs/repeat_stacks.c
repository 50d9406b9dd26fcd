/* repeat_stacks.c - 800 distinct allocation stacks: each of 8 leaf functions allocates at call depths 0..99 of one
 * recursive function, so the stacks differ in their depth and their leaf. ROUNDS (argv[1]) times over: repeated
 * rounds give no new stack. For the --stacks tests of the stack table's growth (preload/stacks.c). */
#include <stdlib.h>

#define DEPTHS 100

static void *volatile sink;

#define LEAF(k)                                                                                                        \
    __attribute__((noinline)) static void leaf##k(void)                                                                \
    {                                                                                                                  \
        sink = malloc(16 + (k));                                                                                       \
        free(sink);                                                                                                    \
    }
LEAF(0)
LEAF(1)
LEAF(2)
LEAF(3)
LEAF(4)
LEAF(5)
LEAF(6)
LEAF(7)

static void (*const leaves[8])(void) = {leaf0, leaf1, leaf2, leaf3, leaf4, leaf5, leaf6, leaf7};

__attribute__((noinline)) static void descend(int depth, int k)
{
    if (depth > 0)
        descend(depth - 1, k);
    else
        leaves[k]();
    sink = (void *)0; /* keeps the recursive call from being a tail call */
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 1;
    for (int r = 0; r < rounds; r++)
        for (int d = 0; d < DEPTHS; d++)
            for (int k = 0; k < 8; k++)
                descend(d, k);
    return 0;
}
