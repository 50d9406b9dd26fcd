/* leaks_temps.c - allocations with known leaks and temporaries, for `traceq report --leaks/--temporary`.
 * Usage: leaks_temps [kill]   (kill: wait 0.4 s, then SIGKILL itself instead of exiting)
 * Known answers: leak_small leaks 10 blocks of 1000 B; leak_big leaks 1 block of 1 MiB; temp_site makes 100
 * temporary allocations of 64 B; interleaved makes 50 pairs none of which is temporary; freed_later frees all. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *volatile sink[16];

static void leak_small(void)
{
    for (int i = 0; i < 10; i++) {
        char *p = malloc(1000);
        memset(p, 1, 1000);
        sink[i % 16] = p; /* overwritten: the block is lost */
    }
}

static void leak_big(void)
{
    char *p = malloc(1 << 20);
    memset(p, 2, 1 << 20);
    sink[15] = p;
}

static void temp_site(void)
{
    for (int i = 0; i < 100; i++) {
        char *volatile p = malloc(64);
        p[0] = (char)i;
        free(p);
    }
}

static void interleaved(void)
{
    for (int i = 0; i < 50; i++) {
        char *volatile a = malloc(32);
        char *volatile b = malloc(32);
        a[0] = b[0] = 1;
        free(a);
        free(b);
    }
}

static void freed_later(void)
{
    char *v[20];
    for (int i = 0; i < 20; i++)
        v[i] = malloc(4096);
    for (int i = 0; i < 20; i++)
        free(v[i]);
}

int main(int argc, char **argv)
{
    leak_small();
    leak_big();
    temp_site();
    interleaved();
    freed_later();
    if (argc > 1 && !strcmp(argv[1], "kill")) {
        usleep(400 * 1000); /* past the shim's flush interval: the events are in the trace before the kill */
        raise(SIGKILL);
    }
    return 0;
}
