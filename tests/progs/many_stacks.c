/* many_stacks.c - 2^DEPTH distinct call stacks, each allocating one 64-byte block that stays live until the end: the
 * path to each allocation is a chain of DEPTH calls of left() or right(), chosen by the bits of its number (built
 * -O0 -fno-inline: every call keeps its frame). For the --aggregate memory test (per-stack tables grow with stacks).
 * Usage: many_stacks DEPTH (1..20) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void **blocks;
static unsigned long next;

static void left(unsigned bits, int depth);
static void right(unsigned bits, int depth);

static void step(unsigned bits, int depth)
{
    if (depth == 0) {
        blocks[next] = malloc(64);
        memset(blocks[next], 1, 64);
        next++;
        return;
    }
    if (bits & 1)
        right(bits >> 1, depth - 1);
    else
        left(bits >> 1, depth - 1);
}

static void left(unsigned bits, int depth)
{
    step(bits, depth);
}

static void right(unsigned bits, int depth)
{
    step(bits, depth);
}

int main(int argc, char **argv)
{
    int depth = argc > 1 ? atoi(argv[1]) : 0;
    if (argc != 2 || depth < 1 || depth > 20) {
        fprintf(stderr, "usage: many_stacks DEPTH (1..20)\n");
        return 2;
    }
    unsigned long n = 1ul << depth;
    blocks = calloc(n, sizeof *blocks);
    if (!blocks)
        return 1;
    for (unsigned long i = 0; i < n; i++)
        step((unsigned)i, depth);
    /* the blocks stay live to the end: freeing them would trim the heap, and the peak RSS seen would depend on
     * whether a sample came before */
    printf("%lu stacks\n", n);
    return 0;
}
