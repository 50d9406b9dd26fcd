/* rel_util.h - what the reliability tests share: load every trace of a directory, start `traceq record` in the
 * background and kill what it runs, wait for a pid file. */
#ifndef TQ_REL_UTIL_H
#define TQ_REL_UTIL_H

#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../report/trace_summary.h"
#include "helpers.h"

/* Summarize every DIR/traceq.*.tq into a malloc'd array (caller frees with rel_free_all); every trace must be
 * readable (the test fails otherwise). Returns the count. */
static inline size_t rel_load_all(const char *dir, struct tq_trace_summary **out)
{
    char pat[4200];
    snprintf(pat, sizeof pat, "%s/traceq.*.tq", dir);
    glob_t g;
    size_t n = glob(pat, 0, NULL, &g) == 0 ? g.gl_pathc : 0;
    struct tq_trace_summary *s = calloc(n + 1, sizeof *s);
    for (size_t i = 0; i < n; i++) {
        struct tq_err err = {0};
        cr_assert_eq(tq_trace_summarize(g.gl_pathv[i], &s[i], &err), TQ_OK, "unreadable trace: %s", err.msg);
    }
    if (n)
        globfree(&g);
    *out = s;
    return n;
}

static inline void rel_free_all(struct tq_trace_summary *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        tq_trace_summary_clear(&s[i]);
    free(s);
}

/* fork + exec argv (stdout/stderr to /dev/null when quiet); returns the child's pid. */
static inline pid_t rel_spawn(char *const argv[], int quiet)
{
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        if (quiet) {
            FILE *n = freopen("/dev/null", "w", stdout);
            (void)n;
        }
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* Wait up to ms for path to hold a pid; returns it (the test fails on timeout). */
static inline pid_t rel_wait_pidfile(const char *path, int ms)
{
    for (int waited = 0; waited < ms; waited += 5) {
        FILE *f = fopen(path, "r");
        int pid = 0;
        if (f) {
            int ok = fscanf(f, "%d", &pid) == 1;
            fclose(f);
            if (ok && pid > 0)
                return pid;
        }
        usleep(5000);
    }
    cr_assert_fail("no pid in %s after %d ms", path, ms);
    return -1;
}

/* Wall-clock now in ns (the clock trace start times use). */
static inline uint64_t rel_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Exit status of a waited child the way a shell shows it (128+N for signal N). */
static inline int rel_wait_status(pid_t pid)
{
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
}

#endif
