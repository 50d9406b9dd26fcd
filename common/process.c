/* process.c - spawn through a close-on-exec error pipe, fork a function, EINTR-safe waits, exit-status decoding
 * (see process.h). */
#define _GNU_SOURCE
#include "process.h"
#include "cleanup.h"
#include "alloc.h"
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

extern char **environ;

/* What the child reports through the error pipe when it cannot get to exec. */
enum child_stage { STAGE_REDIRECT = 1, STAGE_CGROUP, STAGE_PIN, STAGE_EXEC };

struct child_failure {
    int stage;
    int err;
};

/* In the child: report the failed stage and its errno, and leave. */
static void child_fail(int errpipe, enum child_stage stage)
{
    struct child_failure f = {(int)stage, errno};
    (void)!write(errpipe, &f, sizeof f);
    _exit(127);
}

/* dup2 that survives a signal; from == to leaves the descriptor as it is (dup2 would keep close-on-exec). */
static int child_dup(int from, int to)
{
    if (from == to)
        return fcntl(to, F_SETFD, 0);
    int r;
    while ((r = dup2(from, to)) < 0 && errno == EINTR)
        ;
    return r;
}

/* In the child after fork: only async-signal-safe calls until exec (the parent may have threads). */
static void child_exec(const struct tq_proc_spec *s, char *const envp[], int logfd, int errpipe, pid_t parent,
                       const sigset_t *mask)
{
    if (mask)
        sigprocmask(SIG_SETMASK, mask, NULL); /* the parent held the cleanup signals across the fork */
    /* the parent may already be gone: then nothing would reap or stop this command */
    if (s->die_with_parent && (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent))
        _exit(127);
    if (s->null_stdin) {
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull < 0 || child_dup(devnull, 0) < 0)
            child_fail(errpipe, STAGE_REDIRECT);
        if (devnull != 0)
            close(devnull); /* the program gets stdin, not a stray descriptor */
    }
    int out = s->out_fd > 0 ? s->out_fd : logfd, errfd = s->err_fd > 0 ? s->err_fd : logfd;
    if ((out >= 0 && child_dup(out, 1) < 0) || (errfd >= 0 && child_dup(errfd, 2) < 0))
        child_fail(errpipe, STAGE_REDIRECT);
    if (s->cgroup_procs) {
        /* "0" means the writing process itself in both cgroup v1 and v2. */
        int fd = open(s->cgroup_procs, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, "0", 1) != 1)
            child_fail(errpipe, STAGE_CGROUP);
        close(fd);
    }
    if (s->cpus && sched_setaffinity(0, sizeof *s->cpus, s->cpus))
        child_fail(errpipe, STAGE_PIN);
    execvpe(s->argv[0], s->argv, envp);
    child_fail(errpipe, STAGE_EXEC);
}

/* Length of the NAME= part of a "NAME=VALUE" entry (the whole entry when it has no '='). */
static size_t env_name_len(const char *e)
{
    const char *eq = strchr(e, '=');
    return eq ? (size_t)(eq - e) + 1 : strlen(e);
}

/* The child's environment: the parent's with the spec's entries added or replacing those of the same name. Built
 * before fork (setenv is not async-signal-safe). *envp is environ itself when there is nothing to add. */
static tq_status build_env(char *const *add, char ***envp, struct tq_err *err)
{
    *envp = environ;
    if (!add || !add[0])
        return TQ_OK;
    size_t nenv = 0, nadd = 0;
    while (environ && environ[nenv])
        nenv++;
    while (add[nadd])
        nadd++;
    char **e = tq_malloc((nenv + nadd + 1) * sizeof *e);
    if (!e)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory for the child's environment");
    size_t n = 0;
    for (size_t i = 0; i < nenv; i++) {
        int replaced = 0;
        for (size_t k = 0; k < nadd && !replaced; k++)
            replaced = env_name_len(add[k]) == env_name_len(environ[i]) &&
                       !strncmp(add[k], environ[i], env_name_len(add[k]));
        if (!replaced)
            e[n++] = environ[i];
    }
    for (size_t k = 0; k < nadd; k++)
        e[n++] = add[k];
    e[n] = NULL;
    *envp = e;
    return TQ_OK;
}

/* The message for a child that could not get to exec. */
static tq_status child_failed(const struct tq_proc_spec *s, const struct child_failure *f, struct tq_err *err)
{
    errno = f->err;
    switch (f->stage) {
    case STAGE_REDIRECT:
        return tq_fail_errno(err, TQ_ERR_CHILD, "cannot redirect the input or output of %s", s->argv[0]);
    case STAGE_CGROUP:
        return tq_fail_errno(err, TQ_ERR_CHILD, "cannot join cgroup %s", s->cgroup_procs);
    case STAGE_PIN:
        return tq_fail_errno(err, TQ_ERR_CHILD, "cannot pin %s to its CPUs", s->argv[0]);
    default:
        return tq_fail_errno(err, TQ_ERR_CHILD, "cannot run %s", s->argv[0]);
    }
}

/* Fork and exec with the error pipe; the log is open (or -1). */
static tq_status spawn_with(const struct tq_proc_spec *s, char *const envp[], int logfd, struct tq_proc *p,
                            struct tq_err *err)
{
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0)
        return tq_fail_errno(err, TQ_ERR_INTERNAL, "pipe");
    sigset_t mask;
    if (s->stop_on_signal)
        tq_cleanup_hold(&mask);
    p->t0 = tq_clock_now();
    pid_t parent = getpid(), pid = fork();
    if (pid == 0) {
        close(pipefd[0]);
        child_exec(s, envp, logfd, pipefd[1], parent, s->stop_on_signal ? &mask : NULL);
    }
    int fork_errno = errno;
    close(pipefd[1]);
    if (s->stop_on_signal) {
        if (pid > 0)
            p->cleanup = tq_cleanup_add_child(pid);
        tq_cleanup_release(&mask);
    }
    if (pid < 0) {
        close(pipefd[0]);
        errno = fork_errno;
        return tq_fail_errno(err, TQ_ERR_INTERNAL, "fork");
    }
    /* The pipe closes on a successful exec (O_CLOEXEC), so a read of 0 bytes means the command started. */
    struct child_failure f;
    ssize_t got;
    while ((got = read(pipefd[0], &f, sizeof f)) < 0 && errno == EINTR)
        ;
    close(pipefd[0]);
    p->pid = pid;
    if (got != (ssize_t)sizeof f)
        return TQ_OK;
    int status;
    tq_proc_wait(pid, &status, NULL, NULL);
    tq_cleanup_forget(p->cleanup);
    p->cleanup = 0;
    p->pid = 0;
    p->child_errno = f.err;
    return child_failed(s, &f, err);
}

tq_status tq_proc_spawn(const struct tq_proc_spec *s, struct tq_proc *p, struct tq_err *err)
{
    memset(p, 0, sizeof *p);
    if (!s->argv || !s->argv[0])
        return tq_fail(err, TQ_ERR_USAGE, "no command to run");
    int logfd = -1;
    if (s->log_path && (s->out_fd <= 0 || s->err_fd <= 0)) {
        logfd = open(s->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (logfd < 0)
            return tq_fail_errno(err, TQ_ERR_IO, "cannot open %s", s->log_path);
    }
    char **envp;
    tq_status st = build_env(s->env, &envp, err);
    if (st == TQ_OK)
        st = spawn_with(s, envp, logfd, p, err);
    if (envp != environ)
        free(envp);
    if (logfd >= 0)
        close(logfd);
    return st;
}

tq_status tq_proc_fork(int (*fn)(void *ctx), void *ctx, struct tq_proc *p, struct tq_err *err)
{
    memset(p, 0, sizeof *p);
    p->t0 = tq_clock_now();
    pid_t pid = fork();
    if (pid < 0)
        return tq_fail_errno(err, TQ_ERR_CHILD, "cannot fork");
    if (pid == 0)
        _exit(fn(ctx));
    p->pid = pid;
    return TQ_OK;
}

tq_status tq_proc_exec(const char *path, char *const argv[], char *const *env, struct tq_err *err)
{
    char **envp;
    TQ_TRY(build_env(env, &envp, err));
    if (path)
        execve(path, argv, envp);
    else
        execvpe(argv[0], argv, envp);
    int saved = errno;
    if (envp != environ)
        free(envp);
    errno = saved;
    tq_fail_errno(err, TQ_ERR_CHILD, "cannot run %s", path ? path : argv[0]);
    errno = saved;
    return TQ_ERR_CHILD;
}

/* One wait4, retried on EINTR: 1 = reaped, 0 = still running (WNOHANG), -1 = failed (errno set). */
static int wait_once(pid_t pid, int flags, int *status, struct rusage *ru)
{
    struct rusage spare;
    for (;;) {
        pid_t r = wait4(pid, status, flags, ru ? ru : &spare);
        if (r == pid)
            return 1;
        if (r == 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

tq_status tq_proc_wait(pid_t pid, int *status, struct rusage *ru, struct tq_err *err)
{
    if (wait_once(pid, 0, status, ru) < 0)
        return tq_fail_errno(err, TQ_ERR_INTERNAL, "cannot wait for process %d", (int)pid);
    return TQ_OK;
}

/* Sleep for s seconds (less when a signal arrives). */
static void nap(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

tq_status tq_proc_wait_for(pid_t pid, double timeout_s, int *done, int *status, struct rusage *ru,
                           struct tq_err *err)
{
    double end = tq_clock_now() + timeout_s, step = 0.0005;
    for (;;) {
        int r = wait_once(pid, WNOHANG, status, ru);
        if (r < 0)
            return tq_fail_errno(err, TQ_ERR_INTERNAL, "cannot wait for process %d", (int)pid);
        *done = r;
        double left = end - tq_clock_now();
        if (r || left <= 0)
            return TQ_OK;
        /* Short naps first (most children the callers wait for end quickly), then at most 10 ms late. */
        nap(step < left ? step : left);
        step = step * 2 < 0.01 ? step * 2 : 0.01;
    }
}

void tq_proc_stop(pid_t pid, double timeout_s)
{
    int done = 0, status;
    kill(pid, SIGTERM);
    if (tq_proc_wait_for(pid, timeout_s, &done, &status, NULL, NULL) != TQ_OK || done)
        return;
    kill(pid, SIGKILL);
    wait_once(pid, 0, &status, NULL);
}

int tq_proc_ended(pid_t pid)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    return pid > 0 && waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid;
}

tq_status tq_proc_run(const struct tq_proc_spec *s, double poll_s, tq_proc_poll_fn poll, void *ctx,
                      struct tq_proc_result *res, struct tq_err *err)
{
    memset(res, 0, sizeof *res);
    /* a SIGINT/SIGTERM/SIGHUP that ends this program stops the child first (common/cleanup.h) */
    struct tq_proc_spec held = *s;
    held.stop_on_signal = 1;
    struct tq_proc p;
    TQ_TRY(tq_proc_spawn(&held, &p, err));
    tq_status st = TQ_OK;
    if (poll && poll_s > 0) {
        int done = 0;
        for (;;) {
            if ((st = tq_proc_wait_for(p.pid, 0, &done, &res->status, &res->ru, err)) || done)
                break;
            poll(p.pid, tq_clock_now() - p.t0, ctx);
            if ((st = tq_proc_wait_for(p.pid, poll_s, &done, &res->status, &res->ru, err)) || done)
                break;
        }
    } else {
        st = tq_proc_wait(p.pid, &res->status, &res->ru, err);
    }
    tq_cleanup_forget(p.cleanup);
    TQ_TRY(st);
    res->wall_s = tq_clock_now() - p.t0;
    res->code = tq_proc_exit_code(res->status);
    return TQ_OK;
}

int tq_proc_exit_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return 1; /* stopped or continued: not an end, callers never pass these */
}

int tq_proc_killed_by(int status)
{
    return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

void tq_proc_signal_name(int sig, char *buf, size_t size)
{
    const char *abbrev = sigabbrev_np(sig);
    if (abbrev)
        snprintf(buf, size, "SIG%s", abbrev);
    else
        snprintf(buf, size, "SIG%d", sig);
}

int tq_proc_signal_status(int sig)
{
    return sig & 0x7f; /* Linux: the low 7 bits are the terminating signal, bits 8.. the exit status */
}

char *tq_proc_describe(int status, char *buf, size_t size)
{
    if (WIFSIGNALED(status)) {
        char name[32];
        int sig = WTERMSIG(status);
        tq_proc_signal_name(sig, name, sizeof name);
        const char *text = strsignal(sig);
        snprintf(buf, size, "killed by signal %d (%s, %s)%s", sig, name, text ? text : "unknown signal",
                 WCOREDUMP(status) ? ", core dumped" : "");
    } else {
        snprintf(buf, size, "exit status %d", tq_proc_exit_code(status));
    }
    return buf;
}
