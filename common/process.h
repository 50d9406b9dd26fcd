/* spawn.h - run a command as a child for `traceq compare`: output to a log, optional cgroup, polling, timing. */
#ifndef TQ_SPAWN_H
#define TQ_SPAWN_H

#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "status.h"

/* Called every `poll_s` seconds while the child runs, with its pid and seconds since it started. */
typedef void (*tq_spawn_poll_fn)(pid_t pid, double t, void *ctx);

struct tq_spawn_opts {
    char *const *argv;       /* the command; argv[0] is looked up in PATH */
    const char *log_path;    /* stdout and stderr of the child go here (NULL: /dev/null) */
    const char *cgroup_procs;/* a cgroup.procs file the child joins before exec (NULL: none) */
    double poll_s;           /* > 0 with `poll`: call poll at this interval */
    tq_spawn_poll_fn poll;
    void *ctx;
    int die_with_parent;     /* 1: the child gets SIGKILL when the calling process dies (PR_SET_PDEATHSIG) */
};

struct tq_spawn_result {
    int status;        /* exit code, or 128+N when killed by signal N */
    double wall_s;     /* from fork to reaping */
    struct rusage ru;  /* the child's own rusage from wait4 (ru_maxrss in KiB) */
};

/* Run the command to completion. stdin is /dev/null.
 * Fails with TQ_ERR_CHILD when it cannot be started (not found, cannot join the cgroup: the message says which),
 * TQ_ERR_IO when the log cannot be opened, TQ_ERR_INTERNAL when fork/wait fail. A non-zero exit is NOT a failure
 * here: it is returned in res->status. */
tq_status tq_spawn_run(const struct tq_spawn_opts *o, struct tq_spawn_result *res, struct tq_err *err);

#endif
