/* watchdog.c - RSS polling and killing for runs without a memory cgroup (see watchdog.h). */
#include "watchdog.h"

#include <dirent.h>
#include <string.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../common/clock.h"
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

/* The parent pid of pid from /proc/pid/stat (the field after the parenthesised name), or -1. */
static pid_t parent_of(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    long ppid;
    return p && sscanf(p + 1, " %*c %ld", &ppid) == 1 ? (pid_t)ppid : -1;
}

#define TREE_MAX 4096 /* processes considered per scan */

struct proc_link {
    pid_t pid, parent;
};

static int by_pid(const void *a, const void *b)
{
    pid_t x = ((const struct proc_link *)a)->pid, y = ((const struct proc_link *)b)->pid;
    return (x > y) - (x < y);
}

/* 1 when p descends from root: walk up its parents (binary search in the sorted table), at most 64 generations. */
static int descends(const struct proc_link *t, size_t n, pid_t p, pid_t root)
{
    for (int depth = 0; depth < 64 && p > 1; depth++) {
        struct proc_link key = {p, 0}, *e = bsearch(&key, t, n, sizeof *t, by_pid);
        if (!e)
            return 0;
        if (e->parent == root)
            return 1;
        p = e->parent;
    }
    return 0;
}

/* The descendants of a few roots, found by a /proc scan at most every RESCAN_S seconds and sampled on every
 * check in between (a command's tree changes rarely; reading every /proc/N/stat each 5 ms would cost a core). */
#define RESCAN_S 0.05
#define ROOTS 64
#define KIDS 64

struct tree_cache {
    pid_t root;
    double scanned;
    size_t n;
    pid_t kid[KIDS];
};

static void scan_tree(struct tree_cache *c)
{
    static struct proc_link t[TREE_MAX]; /* the runner's loop is single-threaded */
    size_t n = 0;
    DIR *d = opendir("/proc");
    struct dirent *de;
    while (d && n < TREE_MAX && (de = readdir(d))) {
        char *end;
        long v = strtol(de->d_name, &end, 10);
        if (*end || v <= 0)
            continue;
        t[n].pid = (pid_t)v;
        t[n++].parent = parent_of((pid_t)v);
    }
    if (d)
        closedir(d);
    qsort(t, n, sizeof *t, by_pid);
    c->n = 0;
    for (size_t i = 0; i < n && c->n < KIDS; i++)
        if (t[i].pid != c->root && descends(t, n, t[i].pid, c->root))
            c->kid[c->n++] = t[i].pid;
    c->scanned = tq_clock_now();
}

int tq_watchdog_check_tree(pid_t pid, uint64_t limit, uint64_t *peak)
{
    static struct tree_cache cache[ROOTS];
    uint64_t total, rss;
    if (tq_proc_statm_rss(pid, &rss, NULL))
        return 0;
    total = rss;
    struct tree_cache *c = &cache[0];
    for (int i = 0; i < ROOTS; i++) { /* this root's entry, else the stalest one */
        if (cache[i].root == pid) {
            c = &cache[i];
            break;
        }
        if (cache[i].scanned < c->scanned)
            c = &cache[i];
    }
    if (c->root != pid) {
        c->root = pid;
        c->scanned = 0;
    }
    if (tq_clock_now() - c->scanned >= RESCAN_S)
        scan_tree(c);
    for (size_t i = 0; i < c->n; i++)
        if (tq_proc_statm_rss(c->kid[i], &rss, NULL) == 0)
            total += rss;
    if (total > *peak)
        *peak = total;
    if (limit && total > limit) {
        kill(pid, SIGKILL);
        return 1;
    }
    return 0;
}
