/* leak_libc.c - a leak benchmark shaped like heaptrack's tests/manual/libc_leaks.c (our own code): the program
 * itself frees everything it allocates, but glibc's time zone code (tzset through localtime_r and strftime) keeps
 * blocks it never frees. Both profilers should report the same libc sites and bytes.
 * Usage: leak_libc */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(void)
{
    time_t now = 86400 * 365;
    struct tm parts;
    char text[64];
    localtime_r(&now, &parts);
    strftime(text, sizeof text, "%Y-%m-%d %Z", &parts);
    char *copy = malloc(64);
    snprintf(copy, 64, "%s", text);
    free(copy);
    return text[0] == 0;
}
