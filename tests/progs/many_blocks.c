/* many_blocks.c - hold N live heap blocks of SIZE bytes (each written) for HOLD_MS milliseconds (default 0), then
 * free them: a program whose heap is many small blocks, as perl's or a compiler's is (the --stacks memory tests).
 * Holding the peak for a few sampling intervals lets the sampled peak RSS see it. Usage: many_blocks N SIZE [HOLD_MS] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 0, size = argc > 2 ? atol(argv[2]) : 0, hold = argc > 3 ? atol(argv[3]) : 0;
    if (argc < 3 || argc > 4 || n <= 0 || size <= 0 || hold < 0) {
        fprintf(stderr, "usage: many_blocks N SIZE [HOLD_MS]\n");
        return 2;
    }
    char **v = malloc((size_t)n * sizeof *v);
    if (!v)
        return 1;
    for (long i = 0; i < n; i++) {
        if (!(v[i] = malloc((size_t)size)))
            return 1;
        memset(v[i], (int)i, (size_t)size);
    }
    struct timespec ts = {hold / 1000, (hold % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    for (long i = 0; i < n; i++)
        free(v[i]);
    free(v);
    return 0;
}
