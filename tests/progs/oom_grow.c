/* oom_grow.c - test program for OOM forensics: grow_heap() allocates and touches STEP MiB (argv[1], default 8)
 * every 20 ms, without end, until the process is killed (an OOM kill under `traceq run`); the trace's last flush
 * must then name grow_heap as what held the memory. Extra arguments (a --cmd's {in} {out}) are ignored. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *blocks[100000];

__attribute__((noinline)) static char *grow_heap(size_t bytes)
{
    char *p = malloc(bytes);
    if (p)
        memset(p, 1, bytes);
    return p;
}

int main(int argc, char **argv)
{
    size_t step = (argc > 1 ? strtoul(argv[1], NULL, 10) : 8) << 20;
    for (size_t i = 0; i < sizeof blocks / sizeof *blocks; i++) {
        blocks[i] = grow_heap(step ? step : 1 << 20);
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return 1;
}
