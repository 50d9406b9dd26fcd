/* cgroup.h - the runner's memory cgroups: common/cgroup.h (groups, limits, counters) and the re-exec of a command
 * in a delegated systemd scope (cgroup_scope.c). */
#ifndef TQ_RUNNER_CGROUP_H
#define TQ_RUNNER_CGROUP_H

#include "../common/cgroup.h"

/* For a command's main (traceq run): when no memory cgroup can be made here, systemd-run exists and a user
 * manager answers (a probe `systemd-run --user --scope -p Delegate=yes -- true` succeeds), run the same command
 * again inside `systemd-run --user --scope -p Delegate=yes --quiet -- /proc/self/exe ARGS...` (exec: same pid,
 * same exit code; args: the nargs arguments after the program's name, e.g. "run" "--op" ...), where the runner finds its own scope delegated and writable. TRACEQ_DELEGATED=1 marks the new
 * process, which never asks again. Returns (doing nothing) when not needed or not possible. (cgroup_scope.c) */
void tq_cg_reexec_in_scope(int nargs, char **args);
#endif
