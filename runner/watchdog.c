/* watchdog.c - RSS polling and killing for runs without a memory cgroup (see watchdog.h). */
#include "watchdog.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../common/procfs.h"

int tq_watchdog_check(pid_t pid, uint64_t limit, uint64_t *peak)
{
    uint64_t rss;
    if (tq_proc_statm_rss(pid, &rss, NULL))
        return 0;
    if (rss > *peak)
        *peak = rss;
    if (limit && rss > limit) {
        kill(pid, SIGKILL);
        return 1;
    }
    return 0;
}
