/* process.h - the one way traceq starts and reaps child processes: spawn a command (argv, environment additions,
 * redirection, cgroup, CPU pinning) through a close-on-exec error pipe so that a command that cannot start is an
 * error value with its errno; fork a function (the runner's workers); wait with EINTR handling (blocking, with a
 * timeout, or polling a callback); and decode a wait status. Nothing else outside the shim (preload/) forks, execs
 * or waits. */
#ifndef TQ_PROCESS_H
#define TQ_PROCESS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* cpu_set_t (include this header first, or define it yourself) */
#endif
#include <sched.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "status.h"

/* What to start. Zero-initialise and set what you need: {.argv = argv} inherits stdin, stdout and stderr. */
struct tq_proc_spec {
    char *const *argv;        /* the command; argv[0] is looked up in PATH unless it holds a '/' */
    char *const *env;         /* NULL-terminated "NAME=VALUE" entries added to (or replacing in) the child's
                               * environment; NULL: the parent's environment as it is */
    const char *log_path;     /* the child's stdout and stderr go to this file, created or truncated (NULL: none) */
    int out_fd, err_fd;       /* > 0: this descriptor becomes the child's stdout / stderr (beats log_path);
                               * 0: log_path, or the parent's when there is no log */
    int null_stdin;           /* 1: stdin is /dev/null; 0: the parent's */
    const char *cgroup_procs; /* a cgroup.procs file the child joins before exec (NULL: none) */
    const cpu_set_t *cpus;    /* CPUs the child is pinned to before exec (NULL: not pinned) */
    int die_with_parent;      /* 1: the child gets SIGKILL when the spawning process dies (PR_SET_PDEATHSIG) */
    int stop_on_signal;       /* 1: registered with common/cleanup.h from the fork on (the cleanup signals are held
                               * across fork and registration), so a signal that ends this program stops the child
                               * even while tq_proc_spawn waits for its exec; forget tq_proc.cleanup once reaped */
};

/* A started child. */
struct tq_proc {
    pid_t pid;
    double t0;       /* tq_clock_now() when it was forked */
    int child_errno; /* after a failed tq_proc_spawn: errno of the step that failed in the child (0: none) */
    int cleanup;     /* with stop_on_signal: the common/cleanup.h handle to tq_cleanup_forget once reaped */
};

/* Start s->argv. Returns once the command runs (exec succeeded). Fails with TQ_ERR_CHILD when it cannot start:
 * "cannot run ARGV0: No such file or directory" (or cannot join the cgroup / pin the CPUs / redirect), the child
 * already reaped and p->child_errno set; TQ_ERR_IO when the log cannot be opened; TQ_ERR_NOMEM; TQ_ERR_INTERNAL
 * when pipe or fork fail. Safe in a multi-threaded parent (the child only makes async-signal-safe calls). */
tq_status tq_proc_spawn(const struct tq_proc_spec *s, struct tq_proc *p, struct tq_err *err);

/* Fork a child that runs fn(ctx) and leaves with _exit(its return value) (no atexit handlers, no stdio flush).
 * Fails with TQ_ERR_CHILD when fork fails. */
tq_status tq_proc_fork(int (*fn)(void *ctx), void *ctx, struct tq_proc *p, struct tq_err *err);

/* Replace this process with the program `path` (NULL: argv[0], looked up in PATH unless it holds a '/') run with
 * argv, env added to (or replacing in) the environment as in tq_proc_spec.env (NULL: as it is). Returns only when
 * it cannot: TQ_ERR_CHILD "cannot run PROGRAM: ..." (errno kept; this process goes on unchanged), TQ_ERR_NOMEM. */
tq_status tq_proc_exec(const char *path, char *const argv[], char *const *env, struct tq_err *err);

/* Stop child pid: SIGTERM, wait up to timeout_s seconds for it to end, then SIGKILL; it is reaped either way (an
 * already reaped or foreign pid is left alone). Async-signal-safe (the cleanup handler calls it). Can't fail. */
void tq_proc_stop(pid_t pid, double timeout_s);

/* Wait for pid to end, retrying when a signal interrupts: *status gets the wait status, ru (may be NULL) the
 * child's rusage (ru_maxrss in KiB). Fails with TQ_ERR_INTERNAL when wait4 fails otherwise (ECHILD). */
tq_status tq_proc_wait(pid_t pid, int *status, struct rusage *ru, struct tq_err *err);

/* Like tq_proc_wait but gives up after timeout_s seconds (0: only look): *done is 1 when pid ended and was reaped
 * (status and ru filled), 0 when it still runs. Signals do not cut the wait short. */
tq_status tq_proc_wait_for(pid_t pid, double timeout_s, int *done, int *status, struct rusage *ru,
                           struct tq_err *err);

/* 1 when pid has ended (a zombie waiting to be reaped), without reaping it; 0 otherwise. Can't fail. */
int tq_proc_ended(pid_t pid);

/* Called every poll_s seconds while tq_proc_run's child runs, with its pid and the seconds since it started. */
typedef void (*tq_proc_poll_fn)(pid_t pid, double t, void *ctx);

struct tq_proc_result {
    int status;       /* the wait status (tq_proc_describe) */
    int code;         /* tq_proc_exit_code(status): the exit code, or 128+N when killed by signal N */
    double wall_s;    /* from fork to reaping */
    struct rusage ru; /* the child's own rusage (ru_maxrss in KiB; covers the descendants it waited for) */
};

/* Spawn s and wait for it to end, calling poll (when not NULL and poll_s > 0) every poll_s seconds meanwhile.
 * Fails like tq_proc_spawn and tq_proc_wait; a non-zero exit or a signal is NOT a failure: see res. */
tq_status tq_proc_run(const struct tq_proc_spec *s, double poll_s, tq_proc_poll_fn poll, void *ctx,
                      struct tq_proc_result *res, struct tq_err *err);

/* The code a shell would give for a wait status: the exit status, or 128+N when killed by signal N. Can't fail. */
int tq_proc_exit_code(int status);

/* The signal that killed the process, 0 when it exited. Can't fail. */
int tq_proc_killed_by(int status);

/* How a process ended, in words, into buf (returned): "exit status 3", "killed by signal 9 (SIGKILL, Killed)",
 * "killed by signal 11 (SIGSEGV, Segmentation fault), core dumped". Can't fail (truncates to size). */
char *tq_proc_describe(int status, char *buf, size_t size);

/* The wait status of a process killed by signal sig (for exit codes 128+N that a child passed on). */
int tq_proc_signal_status(int sig);

/* "SIGKILL" for 9, "SIG42" for a signal without a name. Can't fail. */
void tq_proc_signal_name(int sig, char *buf, size_t size);

#endif
