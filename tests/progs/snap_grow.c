/* snap_grow.c - test program for record --snapshot-at: hold_small() keeps 16 MiB, grow_big() adds 8 MiB every
 * 10 ms up to TOTAL MiB (argv[1], default 600), all of it is freed, later_site() allocates and frees 64 MiB, and
 * the program exits 0. Run under an RLIMIT_AS above TOTAL (e.g. `ulimit -v`), a snapshot at a share of it below
 * TOTAL must find grow_big holding most of the heap and later_site nothing. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *big[1000];

__attribute__((noinline)) static char *hold_small(void)
{
    char *p = malloc(16 << 20);
    if (p)
        memset(p, 1, 16 << 20);
    return p;
}

__attribute__((noinline)) static char *grow_big(void)
{
    char *p = malloc(8 << 20);
    if (p)
        memset(p, 2, 8 << 20);
    return p;
}

__attribute__((noinline)) static void later_site(void)
{
    char *p = malloc(64 << 20);
    if (p)
        memset(p, 3, 64 << 20);
    free(p);
}

int main(int argc, char **argv)
{
    size_t total = argc > 1 ? strtoul(argv[1], NULL, 10) : 600, n = total / 8;
    char *small = hold_small();
    for (size_t i = 0; i < n && i < sizeof big / sizeof *big; i++) {
        big[i] = grow_big();
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    for (size_t i = 0; i < n && i < sizeof big / sizeof *big; i++)
        free(big[i]);
    later_site();
    free(small);
    return 0;
}
