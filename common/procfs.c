/* procfs.c - memory figures from /proc/PID/status (see procfs.h). */
#include "procfs.h"

#include <stdio.h>
#include <string.h>

uint64_t tq_proc_status_bytes(pid_t pid, const char *name)
{
    char path[64], line[256];
    if (pid)
        snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    else
        snprintf(path, sizeof path, "/proc/self/status");
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    size_t len = strlen(name);
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, name, len) && line[len] == ':') {
            if (sscanf(line + len + 1, " %llu kB", &kb) != 1)
                kb = 0;
            break;
        }
    fclose(f);
    return (uint64_t)kb * 1024;
}
