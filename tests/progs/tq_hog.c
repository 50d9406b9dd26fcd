/* tq_hog.c - test program: allocate and touch N MiB (argv[1]), hold it for M ms (argv[2], default 0), exit 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: tq_hog MIB [HOLD_MS]\n");
        return 2;
    }
    size_t mib = strtoull(argv[1], NULL, 10);
    long hold = argc > 2 ? strtol(argv[2], NULL, 10) : 0;
    char *p = malloc(mib << 20);
    if (!p) {
        fprintf(stderr, "tq_hog: malloc of %zu MiB failed\n", mib);
        return 1;
    }
    /* Touch every page so the memory is really resident (and charged to the cgroup). */
    for (size_t i = 0; i < (mib << 20); i += 4096)
        p[i] = (char)i;
    struct timespec ts = {hold / 1000, (hold % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    printf("survived %zu MiB\n", mib);
    free(p);
    return 0;
}
