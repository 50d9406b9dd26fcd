/* alloc_loop.c - allocate and touch STEP_KIB every STEP_US microseconds until MAX_MIB is held, then hold it
 * (sleeping) for HOLD_MS and free everything; writes its pid to PIDFILE first (unless "-").
 * Killed by SIGKILL or the OOM killer mid-way in the fault tests. Prints "done HELD_MIB" at the end.
 * Usage: alloc_loop PIDFILE STEP_KIB STEP_US MAX_MIB HOLD_MS */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: alloc_loop PIDFILE STEP_KIB STEP_US MAX_MIB HOLD_MS\n");
        return 2;
    }
    size_t step = strtoul(argv[2], NULL, 10) << 10;
    long step_us = strtol(argv[3], NULL, 10);
    size_t max = strtoul(argv[4], NULL, 10) << 20;
    long hold_ms = strtol(argv[5], NULL, 10);
    if (strcmp(argv[1], "-") != 0) {
        char tmp[4200];
        snprintf(tmp, sizeof tmp, "%s.tmp", argv[1]);
        FILE *f = fopen(tmp, "w");
        if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0 || rename(tmp, argv[1]) != 0)
            return 1;
    }
    size_t n = step ? max / step : 0, held = 0;
    char **blocks = calloc(n + 1, sizeof *blocks);
    for (size_t i = 0; i < n; i++) {
        blocks[i] = malloc(step);
        if (!blocks[i])
            return 1;
        memset(blocks[i], (int)i | 1, step);
        held += step;
        struct timespec ts = {step_us / 1000000, step_us % 1000000 * 1000};
        nanosleep(&ts, NULL);
    }
    struct timespec hold = {hold_ms / 1000, hold_ms % 1000 * 1000000};
    nanosleep(&hold, NULL);
    for (size_t i = 0; i < n; i++)
        free(blocks[i]);
    free(blocks);
    printf("done %zu\n", held >> 20);
    return 0;
}
