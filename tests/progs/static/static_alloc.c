/* static_alloc.c - a statically linked program (built with -static): LD_PRELOAD cannot reach it, so `traceq
 * record` must say that it wrote no trace for it. Allocates a little and prints "static ok". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
    char *volatile p = malloc(4096);
    memset(p, 1, 4096);
    free(p);
    printf("static ok\n");
    return 0;
}
