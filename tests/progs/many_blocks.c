/* many_blocks.c - hold N live heap blocks of SIZE bytes (each written), then free them: a program whose heap is
 * many small blocks, as perl's or a compiler's is (the --stacks memory tests). Usage: many_blocks N SIZE */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 0, size = argc > 2 ? atol(argv[2]) : 0;
    if (argc != 3 || n <= 0 || size <= 0) {
        fprintf(stderr, "usage: many_blocks N SIZE\n");
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
    for (long i = 0; i < n; i++)
        free(v[i]);
    free(v);
    return 0;
}
