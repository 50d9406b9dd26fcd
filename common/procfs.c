/* procfs.c - memory figures from /proc/PID/status and /proc/PID/statm (see procfs.h). */
#include "procfs.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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

tq_status tq_proc_statm_rss(pid_t pid, uint64_t *rss, struct tq_err *err)
{
    char path[64], buf[128];
    snprintf(path, sizeof path, "/proc/%ld/statm", (long)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tq_fail_errno(err, TQ_ERR_IO, "cannot open %s", path);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    unsigned long long size, resident;
    if (n <= 0)
        return tq_fail(err, TQ_ERR_IO, "cannot read %s", path);
    buf[n] = 0;
    if (sscanf(buf, "%llu %llu", &size, &resident) != 2)
        return tq_fail(err, TQ_ERR_IO, "unexpected contents of %s", path);
    *rss = (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
    return TQ_OK;
}
