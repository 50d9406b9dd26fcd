/* linked_probe.c - linked against libtraceq.so itself (not preloaded), so the shim is really loaded even when the
 * program runs setuid, where the dynamic loader ignores LD_PRELOAD: the shim's own AT_SECURE check must keep it
 * inert then. Allocates a little and prints "probe ok" with its real and effective uid. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
    char *volatile p = malloc(1 << 16);
    memset(p, 1, 1 << 16);
    free(p);
    printf("probe ok uid %d euid %d\n", (int)getuid(), (int)geteuid());
    return 0;
}
