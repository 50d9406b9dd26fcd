/* watchdog.h - the runner's fallback where no memory cgroup can be made: sample a worker's resident size from
 * /proc/PID/statm and SIGKILL it above the limit. Coarser than a cgroup (a spike between two samples is missed,
 * page cache is not counted), which is why the run's report names the mechanism used. */
#ifndef TQ_WATCHDOG_H
#define TQ_WATCHDOG_H

#include <stdint.h>
#include <sys/types.h>

#include "../common/status.h"

/* Sample pid once: raise *peak to its resident size, and SIGKILL it when that is above limit (limit 0: never).
 * Returns 1 when it killed the process, else 0 (also when the process is already gone). Can't fail. */
int tq_watchdog_check(pid_t pid, uint64_t limit, uint64_t *peak);

/* Like tq_watchdog_check with the resident sizes of pid and all its descendants summed, for workers that run
 * commands. The descendants are found through the parent pids in /proc/N/stat, rescanned at most every 50 ms
 * (up to 64 per root, 64 roots) and sampled at every call. The kill goes to pid only: its descendants must
 * die with it (PR_SET_PDEATHSIG, as the runner's command jobs set). Can't fail. */
int tq_watchdog_check_tree(pid_t pid, uint64_t limit, uint64_t *peak);

#endif
