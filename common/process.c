/* spawn.c - fork/exec with a close-on-exec error pipe, log redirection, cgroup joining and polling (spawn.h). */
#define _GNU_SOURCE
#include "process.h"
#include "clock.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* What the child reports through the error pipe when it cannot get to exec. */
struct child_failure {
    int stage; /* 1 = joining the cgroup, 2 = exec */
    int err;
};

/* In the child after fork: only async-signal-safe calls until exec (the parent may have threads). */
static void child_exec(const struct tq_spawn_opts *o, int logfd, int errpipe, pid_t parent)
{
    struct child_failure f = {0, 0};
    if (o->die_with_parent && (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent))
        _exit(127); /* the parent is already gone: nothing would reap or stop this command */
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0 && devnull != 0) {
        dup2(devnull, 0);
        close(devnull); /* the program gets stdin, not a stray descriptor */
    }
    dup2(logfd, 1);
    dup2(logfd, 2);
    if (o->cgroup_procs) {
        /* "0" means the writing process itself in both cgroup v1 and v2. */
        int fd = open(o->cgroup_procs, O_WRONLY);
        if (fd < 0 || write(fd, "0", 1) != 1) {
            f = (struct child_failure){1, errno};
            (void)!write(errpipe, &f, sizeof f);
            _exit(127);
        }
        close(fd);
    }
    execvp(o->argv[0], o->argv);
    f = (struct child_failure){2, errno};
    (void)!write(errpipe, &f, sizeof f);
    _exit(127);
}

static int decode_status(int ws)
{
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : WIFSIGNALED(ws) ? 128 + WTERMSIG(ws) : 1;
}

/* Reap the child, polling when asked; fills status, rusage and wall time. */
static tq_status wait_child(const struct tq_spawn_opts *o, pid_t pid, double t0, struct tq_spawn_result *res,
                            struct tq_err *err)
{
    int ws;
    for (;;) {
        pid_t r = wait4(pid, &ws, o->poll ? WNOHANG : 0, &res->ru);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR)
            return tq_fail_errno(err, TQ_ERR_INTERNAL, "wait4");
        if (r == 0) {
            o->poll(pid, tq_clock_now() - t0, o->ctx);
            struct timespec ts = {(time_t)o->poll_s, (long)((o->poll_s - (time_t)o->poll_s) * 1e9)};
            nanosleep(&ts, NULL);
        }
    }
    res->wall_s = tq_clock_now() - t0;
    res->status = decode_status(ws);
    return TQ_OK;
}

tq_status tq_spawn_run(const struct tq_spawn_opts *o, struct tq_spawn_result *res, struct tq_err *err)
{
    memset(res, 0, sizeof *res);
    const char *log = o->log_path ? o->log_path : "/dev/null";
    int logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (logfd < 0)
        return tq_fail_errno(err, TQ_ERR_IO, "cannot open %s", log);
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        close(logfd);
        return tq_fail_errno(err, TQ_ERR_INTERNAL, "pipe");
    }
    double t0 = tq_clock_now();
    pid_t parent = getpid(), pid = fork();
    if (pid == 0) {
        close(pipefd[0]);
        child_exec(o, logfd, pipefd[1], parent);
    }
    close(logfd);
    close(pipefd[1]);
    if (pid < 0) {
        close(pipefd[0]);
        return tq_fail_errno(err, TQ_ERR_INTERNAL, "fork");
    }
    /* The pipe closes on a successful exec (O_CLOEXEC), so a read of 0 bytes means the command started. */
    struct child_failure f;
    ssize_t got;
    while ((got = read(pipefd[0], &f, sizeof f)) < 0 && errno == EINTR)
        ;
    close(pipefd[0]);
    tq_status st = wait_child(o, pid, t0, res, err);
    if (st || got != (ssize_t)sizeof f)
        return st;
    errno = f.err;
    if (f.stage == 1)
        return tq_fail_errno(err, TQ_ERR_CHILD, "cannot join cgroup %s", o->cgroup_procs);
    return tq_fail_errno(err, TQ_ERR_CHILD, "cannot run %s", o->argv[0]);
}
