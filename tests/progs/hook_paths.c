/* hook_paths.c - sends blocks through both paths of the shim's malloc and free (hooks_heap.c): the fast path
 * (small heap chunks) and the general one (mmapped chunks, alignment slack of 128 bytes or more), with enough small
 * blocks held at once to cross the publish bound up and down. N rounds (argv[1]); prints nothing.
 * test_shim_counters.c knows the per-round numbers: keep the two in step. */
#include <malloc.h>
#include <stdlib.h>

#define SMALL 2000 /* blocks of 64 bytes held at once: 128000 bytes, twice the publish bound */

static void *volatile sink; /* keeps the compiler from eliding malloc/free pairs */

static void round_trip(void)
{
    static char *small[SMALL];
    for (int i = 0; i < SMALL; i++)    /* fast path: live 128000 */
        sink = small[i] = malloc(64);
    char *a = malloc(100);             /* fast path: 128100 */
    char *b = malloc(1 << 20);         /* mmapped chunk, general path: 1176676 */
    char *c = memalign(4096, 100);     /* slack >= 128, general path: 1176776 */
    char *d = malloc(200);             /* 1176976: the peak */
    if (!a || !b || !c || !d)
        abort();
    b[(1 << 20) - 1] = 1;
    sink = a;
    sink = d;
    free(b);                           /* general path (mmapped) */
    free(c);                           /* general path (8-byte tag) */
    free(a);                           /* fast path */
    free(d);
    for (int i = 0; i < SMALL; i++)    /* fast path, down through the publish bound */
        free(small[i]);
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 1;
    for (int r = 0; r < rounds; r++)
        round_trip();
    return 0;
}
