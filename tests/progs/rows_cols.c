/* rows_cols.c - a program that is not a volume operator, for `traceq sweep --param`: `rows_cols --rows R --cols C`
 * allocates a table of R x C doubles, fills it, holds it 30 ms (so the sampler sees it) and prints its sum. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv)
{
    long rows = 0, cols = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--rows"))
            rows = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--cols"))
            cols = atol(argv[i + 1]);
    }
    if (rows <= 0 || cols <= 0) {
        fprintf(stderr, "usage: rows_cols --rows R --cols C\n");
        return 2;
    }
    size_t n = (size_t)rows * (size_t)cols;
    double *t = malloc(n * sizeof *t), sum = 0;
    if (!t)
        return 1;
    for (size_t i = 0; i < n; i++)
        t[i] = (double)(i % 7);
    nanosleep(&(struct timespec){0, 30 * 1000000L}, NULL);
    for (size_t i = 0; i < n; i++)
        sum += t[i];
    printf("%.0f\n", sum);
    free(t);
    return 0;
}
