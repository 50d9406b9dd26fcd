/* compare_touch.c - a program with a known peak for `traceq compare`: mallocs N MiB, touches every page, holds. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* usage: compare_touch [MIB=128] [HOLD_MS=300]. Exits 1 when the allocation fails. */
int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 128;
    long hold_ms = argc > 2 ? strtol(argv[2], NULL, 10) : 300;
    size_t bytes = mib << 20;
    long page = sysconf(_SC_PAGESIZE);
    volatile char *p = malloc(bytes);
    if (!p)
        return 1;
    for (size_t i = 0; i < bytes; i += (size_t)page)
        p[i] = (char)i;
    struct timespec ts = {hold_ms / 1000, (hold_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    free((void *)p);
    return 0;
}
