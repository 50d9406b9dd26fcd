/* cgroup.h - memory cgroups for the runner's workers and the sweep's runs: find a writable hierarchy (v2
 * memory.max, else v1 memory.limit_in_bytes), make one (limited) child group per worker slot or run, move
 * processes in, read OOM kills, peaks and the charged anonymous memory, and remove the groups again.
 *
 * Layout: <own memory cgroup>/traceq-<pid>/<slot name>. The run's parent group "traceq-<pid>" is created by
 * tq_cg_root_create; groups left behind by runners that were SIGKILLed (their pid is gone) are removed then too. */
#ifndef TQ_CGROUP_H
#define TQ_CGROUP_H

#include <stdint.h>
#include <sys/types.h>

#include "status.h"

enum tq_cg_version { TQ_CG_V1 = 1, TQ_CG_V2 = 2 };

typedef struct tq_cg_root tq_cg_root;
typedef struct tq_cgroup tq_cgroup;

/* What a group's counters say right now. */
struct tq_cg_stats {
    uint64_t limit;     /* memory.max / memory.limit_in_bytes */
    uint64_t usage;     /* memory.current / memory.usage_in_bytes (includes page cache) */
    uint64_t peak;      /* memory.peak / memory.max_usage_in_bytes; 0 when the kernel keeps none */
    uint64_t oom_kills; /* memory.events oom_kill / memory.oom_control oom_kill */
    uint64_t failcnt;   /* v1 memory.failcnt; v2 memory.events "max" (times the limit was hit) */
};

/* Find a memory cgroup hierarchy this process may create groups in (cgroup v2 with the memory controller
 * delegated first, else cgroup v1 memory) and create the run's parent group there. v2 uses the group this process
 * sits in when it is writable and has the memory controller (a delegated subtree, e.g. a
 * `systemd-run --user --scope -p Delegate=yes` scope); when this process is alone in it, it first moves itself
 * into the leaf traceq-<pid>/runner so the group may hand memory to its children (no internal processes), and
 * tq_cg_root_free gives that back. The environment variable TRACEQ_CGROUP_ROOT, when set (not in setuid
 * processes), names that group's directory instead of /proc/self/cgroup's (v2 only; tests point it at a fake
 * cgroupfs tree). Fails with TQ_ERR_LIMIT and a message saying why for each hierarchy (not root, no memory
 * controller, not writable, shared with other processes) when none is usable. Caller frees with tq_cg_root_free. */
tq_status tq_cg_root_create(tq_cg_root **out, struct tq_err *err);
/* Which hierarchy the root lives in. Can't fail. */
enum tq_cg_version tq_cg_root_version(const tq_cg_root *root);
/* Directory of the run's parent group. Can't fail. */
const char *tq_cg_root_path(const tq_cg_root *root);
/* Remove the parent group (its children must be freed first). NULL is a no-op. */
void tq_cg_root_free(tq_cg_root *root);

/* Create child group `name` of root limited to `limit` bytes (UINT64_MAX: no limit), swap included (v1 memsw / v2 swap.max = 0 where the
 * kernel has them). An existing group of that name (left by a SIGKILLed runner that had our pid) is emptied and
 * reused. Fails with TQ_ERR_IO when the group cannot be made or the limit not set. Caller frees. */
tq_status tq_cg_create(tq_cg_root *root, const char *name, uint64_t limit, tq_cgroup **out, struct tq_err *err);
/* Move process pid (0 = the caller) into the group; a freshly forked worker calls it on itself before it
 * allocates anything. Fails with TQ_ERR_IO. */
tq_status tq_cg_attach(const tq_cgroup *cg, pid_t pid, struct tq_err *err);
/* Read the group's counters. Fails with TQ_ERR_IO when a counter file cannot be read. */
tq_status tq_cg_read(const tq_cgroup *cg, struct tq_cg_stats *st, struct tq_err *err);
/* The memory charged to the group right now that the kernel cannot reclaim under its limit without swap: anonymous
 * memory plus shmem/tmpfs pages (v1 memory.stat rss + shmem, v2 anon + shmem), i.e. its usage without the page
 * cache of files. Fails with TQ_ERR_IO when memory.stat cannot be read. */
tq_status tq_cg_read_charged(const tq_cgroup *cg, uint64_t *bytes, struct tq_err *err);
/* Directory of the group. Can't fail. */
const char *tq_cg_path(const tq_cgroup *cg);
/* Start the group's peak afresh (v1: memory.max_usage_in_bytes back to the current usage), so that the next read
 * is one worker's. Returns 0, or -1 where the kernel offers no reset (v2: memory.peak stays the group's running
 * maximum). */
int tq_cg_reset_peak(const tq_cgroup *cg);
/* SIGKILL whatever is still in the group, wait for it to empty and remove it. NULL is a no-op. */
void tq_cg_free(tq_cgroup *cg);

#endif
