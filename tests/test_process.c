/* test_process.c - the process module (common/process.h): exit codes, signal deaths and their words, a command that
 * cannot start reported through the error pipe, waits interrupted by signals, redirection, environment additions,
 * timeouts, polling, forked functions, and a signal that lands while a spawn waits for the exec. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/process.h"
#include "helpers.h"

/* Run `sh -c script` to the end; returns the result (asserts it could be run). */
static struct tq_proc_result run_sh(const char *script)
{
    char *argv[] = {"sh", "-c", (char *)script, NULL};
    struct tq_proc_spec spec = {.argv = argv, .log_path = "/dev/null"};
    struct tq_proc_result res;
    struct tq_err err = {0};
    cr_assert_eq(tq_proc_run(&spec, 0, NULL, NULL, &res, &err), TQ_OK, "%s", err.msg);
    return res;
}

/* 1 when this process has no child left to reap (nothing leaked as a zombie or still running). */
static int no_children(void)
{
    return waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD;
}

Test(process, exit_code_and_words)
{
    struct tq_proc_result r = run_sh("exit 3");
    char how[128];
    cr_assert_eq(r.code, 3);
    cr_assert_eq(tq_proc_exit_code(r.status), 3);
    cr_assert_eq(tq_proc_killed_by(r.status), 0);
    cr_assert_str_eq(tq_proc_describe(r.status, how, sizeof how), "exit status 3");
    cr_assert_eq(run_sh("true").code, 0);
    cr_assert(no_children());
}

Test(process, signal_death_and_core_dump_words)
{
    struct tq_proc_result r = run_sh("kill -TERM $$");
    char how[128];
    cr_assert_eq(tq_proc_killed_by(r.status), SIGTERM);
    cr_assert_eq(r.code, 128 + SIGTERM, "the shell's convention");
    tq_proc_describe(r.status, how, sizeof how);
    cr_assert(strstr(how, "killed by signal 15 (SIGTERM, ") && !strstr(how, "core"), "%s", how);
    /* A core dump is the kernel's choice (core_pattern, limits): decode a status that says so. */
    tq_proc_describe(tq_proc_signal_status(SIGSEGV) | WCOREFLAG, how, sizeof how);
    cr_assert(strstr(how, "killed by signal 11 (SIGSEGV, ") && strstr(how, "), core dumped"), "%s", how);
    /* Exit codes 128+N that a child passed on decode to the same words. */
    cr_assert_eq(tq_proc_killed_by(tq_proc_signal_status(SIGKILL)), SIGKILL);
    char name[32];
    tq_proc_signal_name(SIGKILL, name, sizeof name);
    cr_assert_str_eq(name, "SIGKILL");
    tq_proc_signal_name(SIGRTMIN + 3, name, sizeof name);
    cr_assert(!strncmp(name, "SIG", 3), "%s", name);
}

Test(process, exec_failure_is_an_error_with_errno)
{
    char *argv[] = {"./no-such-program-here", "x", NULL};
    struct tq_proc_spec spec = {.argv = argv};
    struct tq_proc p;
    struct tq_err err = {0};
    cr_assert_eq(tq_proc_spawn(&spec, &p, &err), TQ_ERR_CHILD);
    cr_assert_str_eq(err.msg, "cannot run ./no-such-program-here: No such file or directory");
    cr_assert_eq(p.child_errno, ENOENT);
    cr_assert_eq(p.pid, 0);
    cr_assert(no_children(), "the failed child is reaped");
    /* Not executable: the errno says so. */
    char *dir = tq_tmpdir(), path[4200];
    snprintf(path, sizeof path, "%s/plain.txt", dir);
    FILE *f = fopen(path, "w");
    cr_assert(f && fputs("echo hi\n", f) >= 0 && fclose(f) == 0);
    char *argv2[] = {path, NULL};
    spec.argv = argv2;
    cr_assert_eq(tq_proc_spawn(&spec, &p, &err), TQ_ERR_CHILD);
    cr_assert_eq(p.child_errno, EACCES, "%s", err.msg);
    cr_assert(strstr(err.msg, "Permission denied"), "%s", err.msg);
    /* tq_proc_run fails the same way. */
    struct tq_proc_result res;
    spec.argv = argv;
    cr_assert_eq(tq_proc_run(&spec, 0, NULL, NULL, &res, &err), TQ_ERR_CHILD);
    cr_assert(strstr(err.msg, "cannot run ./no-such-program-here"), "%s", err.msg);
    tq_rmtree(dir);
    free(dir);
}

Test(process, cgroup_and_log_failures_are_named)
{
    char *argv[] = {"true", NULL};
    struct tq_proc_spec spec = {.argv = argv, .cgroup_procs = "/nonexistent/traceq/cgroup.procs"};
    struct tq_proc p;
    struct tq_err err = {0};
    cr_assert_eq(tq_proc_spawn(&spec, &p, &err), TQ_ERR_CHILD);
    cr_assert_str_eq(err.msg, "cannot join cgroup /nonexistent/traceq/cgroup.procs: No such file or directory");
    cr_assert_eq(p.child_errno, ENOENT);
    struct tq_proc_spec logged = {.argv = argv, .log_path = "/nonexistent/traceq/log"};
    cr_assert_eq(tq_proc_spawn(&logged, &p, &err), TQ_ERR_IO);
    cr_assert(strstr(err.msg, "cannot open /nonexistent/traceq/log"), "%s", err.msg);
    char *none[] = {NULL};
    struct tq_proc_spec empty = {.argv = none};
    cr_assert_eq(tq_proc_spawn(&empty, &p, &err), TQ_ERR_USAGE);
    cr_assert(no_children());
}

static volatile sig_atomic_t alarms, kill_at;
static volatile pid_t victim;

/* Count the alarm; once kill_at is reached, end the child (kill is async-signal-safe). */
static void on_alarm(int sig)
{
    (void)sig;
    alarms++;
    if (victim > 0 && kill_at && alarms >= kill_at)
        kill(victim, SIGTERM);
}

/* SIGALRM every millisecond, without SA_RESTART: every blocking call in the way returns EINTR. */
static void alarm_storm(int on)
{
    struct sigaction sa = {0};
    sa.sa_handler = on ? on_alarm : SIG_DFL;
    sigemptyset(&sa.sa_mask);
    cr_assert_eq(sigaction(SIGALRM, &sa, NULL), 0);
    struct itimerval it = {{0, on ? 1000 : 0}, {0, on ? 1000 : 0}};
    cr_assert_eq(setitimer(ITIMER_REAL, &it, NULL), 0);
}

Test(process, waits_survive_signals_without_sa_restart)
{
    char *argv[] = {"sleep", "60", NULL};
    struct tq_proc_spec spec = {.argv = argv};
    struct tq_proc p;
    struct tq_err err = {0};
    alarms = kill_at = 0;
    victim = 0;
    alarm_storm(1);
    /* The spawn's read of the error pipe is interrupted too. */
    cr_assert_eq(tq_proc_spawn(&spec, &p, &err), TQ_OK, "%s", err.msg);
    int done = 0, status = -1;
    while (alarms < 5) /* waits cut short by signals report "still running", they do not fail */
        cr_assert_eq(tq_proc_wait_for(p.pid, 0.01, &done, &status, NULL, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(done, 0);
    /* The child ends only after 20 more alarms, from the handler: the blocking wait sees them come and goes on. */
    victim = p.pid;
    kill_at = alarms + 20;
    cr_assert_eq(tq_proc_wait(p.pid, &status, NULL, &err), TQ_OK, "%s", err.msg);
    alarm_storm(0);
    cr_assert_eq(tq_proc_killed_by(status), SIGTERM);
    cr_assert_geq(alarms, kill_at);
    cr_assert(no_children());
}

Test(process, stdout_and_stderr_to_a_log_or_descriptors)
{
    char *dir = tq_tmpdir(), log[4200], out[4200], errp[4200];
    snprintf(log, sizeof log, "%s/both.log", dir);
    snprintf(out, sizeof out, "%s/out.txt", dir);
    snprintf(errp, sizeof errp, "%s/err.txt", dir);
    char *argv[] = {"sh", "-c", "echo to-out; echo to-err >&2; cat; echo cat-done", NULL};
    struct tq_proc_spec spec = {.argv = argv, .log_path = log, .null_stdin = 1};
    struct tq_proc_result res;
    struct tq_err err = {0};
    cr_assert_eq(tq_proc_run(&spec, 0, NULL, NULL, &res, &err), TQ_OK, "%s", err.msg);
    char *text = tq_slurp(log, NULL);
    cr_assert(text && !strcmp(text, "to-out\nto-err\ncat-done\n"), "stdin is /dev/null, both outputs logged: %s",
              text);
    free(text);
    /* Separate descriptors beat the log; the log is truncated when reused. */
    int ofd = open(out, O_WRONLY | O_CREAT | O_CLOEXEC, 0644), efd = open(errp, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    cr_assert(ofd > 2 && efd > 2);
    struct tq_proc_spec split = {.argv = argv, .out_fd = ofd, .err_fd = efd, .null_stdin = 1};
    cr_assert_eq(tq_proc_run(&split, 0, NULL, NULL, &res, &err), TQ_OK, "%s", err.msg);
    close(ofd);
    close(efd);
    char *o = tq_slurp(out, NULL), *e = tq_slurp(errp, NULL);
    cr_assert(o && e && !strcmp(o, "to-out\ncat-done\n") && !strcmp(e, "to-err\n"), "%s|%s", o, e);
    free(o);
    free(e);
    /* Only stderr into the log, stdout elsewhere. */
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    struct tq_proc_spec errlog = {.argv = argv, .log_path = log, .out_fd = devnull, .null_stdin = 1};
    cr_assert_eq(tq_proc_run(&errlog, 0, NULL, NULL, &res, &err), TQ_OK, "%s", err.msg);
    close(devnull);
    text = tq_slurp(log, NULL);
    cr_assert(text && !strcmp(text, "to-err\n"), "%s", text);
    free(text);
    tq_rmtree(dir);
    free(dir);
}

Test(process, environment_additions_replace_and_add)
{
    char *dir = tq_tmpdir(), log[4200];
    snprintf(log, sizeof log, "%s/env.log", dir);
    cr_assert_eq(setenv("TQ_PROC_KEPT", "kept", 1), 0);
    cr_assert_eq(setenv("TQ_PROC_REPLACED", "old", 1), 0);
    char *argv[] = {"sh", "-c",
                    "echo \"$TQ_PROC_KEPT $TQ_PROC_REPLACED $TQ_PROC_NEW\"; env | grep -c '^TQ_PROC_REPLACED='", NULL};
    char *env[] = {"TQ_PROC_REPLACED=new", "TQ_PROC_NEW=a=b", NULL};
    struct tq_proc_spec spec = {.argv = argv, .env = env, .log_path = log};
    struct tq_proc_result res;
    struct tq_err err = {0};
    cr_assert_eq(tq_proc_run(&spec, 0, NULL, NULL, &res, &err), TQ_OK, "%s", err.msg);
    char *text = tq_slurp(log, NULL);
    cr_assert(text && !strcmp(text, "kept new a=b\n1\n"), "%s", text);
    cr_assert_str_eq(getenv("TQ_PROC_REPLACED"), "old", "the parent's environment is untouched");
    free(text);
    tq_rmtree(dir);
    free(dir);
}

Test(process, wait_with_a_timeout)
{
    char *argv[] = {"sleep", "30", NULL};
    struct tq_proc_spec spec = {.argv = argv};
    struct tq_proc p;
    struct tq_err err = {0};
    cr_assert_eq(tq_proc_spawn(&spec, &p, &err), TQ_OK, "%s", err.msg);
    int done = 1, status;
    cr_assert_eq(tq_proc_wait_for(p.pid, 0, &done, &status, NULL, &err), TQ_OK);
    cr_assert_eq(done, 0, "a look does not wait");
    cr_assert_eq(tq_proc_wait_for(p.pid, 0.05, &done, &status, NULL, &err), TQ_OK);
    cr_assert_eq(done, 0, "sleep 30 outlives a 50 ms timeout");
    cr_assert(!tq_proc_ended(p.pid));
    cr_assert_eq(kill(p.pid, SIGKILL), 0);
    while (!tq_proc_ended(p.pid))
        usleep(1000);
    cr_assert(tq_proc_ended(p.pid), "ended does not reap");
    struct rusage ru;
    cr_assert_eq(tq_proc_wait_for(p.pid, 60, &done, &status, &ru, &err), TQ_OK);
    cr_assert_eq(done, 1);
    cr_assert_eq(tq_proc_killed_by(status), SIGKILL);
    cr_assert_eq(tq_proc_wait(p.pid, &status, NULL, &err), TQ_ERR_INTERNAL, "already reaped");
    cr_assert(strstr(err.msg, "No child processes"), "%s", err.msg);
}

/* tq_proc_run's poll: count the calls and let the child finish from the second one on. */
struct poll_ctx {
    int calls;
    const char *flag;
};

static void poll_count(pid_t pid, double t, void *ctx)
{
    struct poll_ctx *c = ctx;
    cr_assert_gt(pid, 0);
    cr_assert_geq(t, 0);
    if (++c->calls == 2) {
        FILE *f = fopen(c->flag, "w");
        cr_assert(f && fclose(f) == 0);
    }
}

Test(process, run_polls_while_the_child_runs)
{
    char *dir = tq_tmpdir(), flag[4200], script[4400];
    snprintf(flag, sizeof flag, "%s/go", dir);
    snprintf(script, sizeof script, "while [ ! -e %s ]; do sleep 0.01; done; exit 4", flag);
    char *argv[] = {"sh", "-c", script, NULL};
    struct tq_proc_spec spec = {.argv = argv};
    struct poll_ctx c = {0, flag};
    struct tq_proc_result res;
    struct tq_err err = {0};
    cr_assert_eq(tq_proc_run(&spec, 0.005, poll_count, &c, &res, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(res.code, 4);
    cr_assert_geq(c.calls, 2);
    cr_assert_geq(res.wall_s, 0);
    tq_rmtree(dir);
    free(dir);
}

static int child_fn(void *ctx)
{
    return *(int *)ctx;
}

Test(process, fork_runs_a_function_and_exits_with_its_value)
{
    int value = 42;
    struct tq_proc p;
    struct tq_err err = {0};
    cr_assert_eq(tq_proc_fork(child_fn, &value, &p, &err), TQ_OK, "%s", err.msg);
    cr_assert_gt(p.pid, 0);
    int status;
    cr_assert_eq(tq_proc_wait(p.pid, &status, NULL, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(tq_proc_exit_code(status), 42);
    cr_assert(no_children());
}

/* A forked child that replaces itself with `sh`, TQ_EXEC_TEST=1 added to its environment. */
static int exec_sh_checks_env(void *ctx)
{
    (void)ctx;
    char *argv[] = {"sh", "-c", "test \"$TQ_EXEC_TEST\" = 1 && exit 7; exit 1", NULL};
    char *env[] = {"TQ_EXEC_TEST=1", NULL};
    tq_proc_exec(NULL, argv, env, NULL);
    return 99; /* exec failed */
}

Test(process, exec_replaces_the_process_or_says_why_not)
{
    struct tq_proc p;
    struct tq_err err = {0};
    int status;
    cr_assert_eq(tq_proc_fork(exec_sh_checks_env, NULL, &p, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(tq_proc_wait(p.pid, &status, NULL, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(tq_proc_exit_code(status), 7, "the command did not run with the added environment");
    /* a command that cannot run: this process goes on, with the reason */
    char *argv[] = {"/nonexistent/traceq-no-such-program", NULL};
    cr_assert_eq(tq_proc_exec(NULL, argv, NULL, &err), TQ_ERR_CHILD);
    cr_assert(strstr(err.msg, "cannot run /nonexistent/traceq-no-such-program") && strstr(err.msg, "No such file"),
              "%s", err.msg);
    cr_assert(no_children());
}

/* tq_proc_stop: SIGTERM ends a child at once; one that ignores SIGTERM is killed after the timeout; both reaped. */
Test(process, stop_terminates_then_kills_and_reaps)
{
    const char *scripts[] = {"exec sleep 30", "trap '' TERM; while :; do sleep 0.05; done"};
    for (int i = 0; i < 2; i++) {
        char *argv[] = {"sh", "-c", (char *)scripts[i], NULL};
        struct tq_proc_spec spec = {.argv = argv, .log_path = "/dev/null"};
        struct tq_proc p;
        struct tq_err err = {0};
        cr_assert_eq(tq_proc_spawn(&spec, &p, &err), TQ_OK, "%s", err.msg);
        usleep(100 * 1000); /* let sh install its trap */
        tq_proc_stop(p.pid, 0.5);
        cr_assert(no_children(), "child %d (%s) left behind", i, scripts[i]);
    }
}

/* The middle process of the test below: it runs a command whose start blocks (the child opens a FIFO as its
 * cgroup.procs file, and nobody reads the FIFO), so tq_proc_run is still waiting for the exec when SIGTERM lands. */
static int run_blocked_command(void *ctx)
{
    tq_cleanup_on_signals();
    char *argv[] = {"sleep", "30", NULL};
    struct tq_proc_spec spec = {.argv = argv, .log_path = "/dev/null", .cgroup_procs = ctx};
    struct tq_proc_result res;
    struct tq_err err = {0};
    tq_proc_run(&spec, 0, NULL, NULL, &res, &err);
    return 3;
}

/* The first child of pid `parent` found in /proc (0: none yet). */
static pid_t child_of(pid_t parent)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)parent, (int)parent);
    FILE *f = fopen(path, "r");
    int pid = 0;
    if (f) {
        if (fscanf(f, "%d", &pid) != 1)
            pid = 0;
        fclose(f);
    }
    return pid;
}

/* A signal that ends the program while tq_proc_spawn still waits for the child's exec stops that child too: it is
 * registered with the cleanup from the fork on, not only once spawn returns. */
Test(process, a_signal_during_the_exec_wait_stops_the_child)
{
    char dir[] = "/tmp/tq-proc-XXXXXX", fifo[64];
    cr_assert(mkdtemp(dir));
    snprintf(fifo, sizeof fifo, "%s/procs", dir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0); /* an orphaned grandchild comes back to us */
    struct tq_proc mid;
    struct tq_err err = {0};
    cr_assert_eq(tq_proc_fork(run_blocked_command, fifo, &mid, &err), TQ_OK, "%s", err.msg);
    pid_t blocked = 0;
    for (int i = 0; i < 400 && !(blocked = child_of(mid.pid)); i++)
        usleep(10 * 1000);
    cr_assert_gt(blocked, 0, "the command was not forked");
    usleep(100 * 1000); /* it is now inside open() of the FIFO, its parent inside the exec wait */
    kill(mid.pid, SIGTERM);
    int status;
    cr_assert_eq(tq_proc_wait(mid.pid, &status, NULL, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(tq_proc_killed_by(status), SIGTERM);
    int left = kill(blocked, 0) == 0;
    if (left) { /* let it go: open the FIFO so it can start, then stop it */
        int fd = open(fifo, O_RDONLY | O_NONBLOCK);
        tq_proc_stop(blocked, 1);
        if (fd >= 0)
            close(fd);
    }
    prctl(PR_SET_CHILD_SUBREAPER, 0);
    unlink(fifo);
    rmdir(dir);
    cr_assert_not(left, "the command forked before the signal was left running");
    cr_assert(no_children());
}
