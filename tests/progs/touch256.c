/* touch256.c - allocates and touches 256 MiB, holds it 300 ms, frees it, prints its VmHWM in KiB. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *volatile sink; /* the memory escapes: the compiler must not drop the memset */

int main(void)
{
    size_t n = (size_t)256 << 20;
    char *p = malloc(n);
    if (!p)
        return 1;
    memset(p, 1, n);
    sink = p;
    struct timespec ts = {0, 300 * 1000000L};
    nanosleep(&ts, NULL);
    free(p);
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6))
            printf("%s", line + 6);
    if (f)
        fclose(f);
    return 0;
}
