/* watchdog.c - RSS polling and killing for runs without a memory cgroup (see watchdog.h). */
#include "watchdog.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

tq_status tq_watchdog_rss(pid_t pid, uint64_t *rss, struct tq_err *err)
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

int tq_watchdog_check(pid_t pid, uint64_t limit, uint64_t *peak)
{
    uint64_t rss;
    if (tq_watchdog_rss(pid, &rss, NULL))
        return 0;
    if (rss > *peak)
        *peak = rss;
    if (limit && rss > limit) {
        kill(pid, SIGKILL);
        return 1;
    }
    return 0;
}
