/* cgroup.c - per-worker memory cgroups, v2 or v1 (see cgroup.h). */
#define _GNU_SOURCE /* secure_getenv */
#include "cgroup.h"
#include "../common/alloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CG_PATH_MAX 1024

/* snprintf that may truncate (paths and reasons are bounded; a cut message is still a message). */
static void cg_fmt(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void cg_fmt(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, size, fmt, ap);
    va_end(ap);
}

struct tq_cg_root {
    enum tq_cg_version version;
    char path[CG_PATH_MAX];
    char own[CG_PATH_MAX]; /* the delegated group the run's group was made in */
    int moved;             /* v2: this process moved itself into <path>/runner so <own> could delegate memory */
    int enabled_own;       /* v2: we wrote +memory into <own>/cgroup.subtree_control */
};

struct tq_cgroup {
    enum tq_cg_version version;
    char path[CG_PATH_MAX];
};

/* Write `text` to the control file dir/name. Returns 0 or -1 with errno set. */
static int cg_write(const char *dir, const char *name, const char *text)
{
    char p[CG_PATH_MAX + 64];
    cg_fmt(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t n = strlen(text);
    ssize_t w = write(fd, text, n);
    int saved = errno;
    close(fd);
    errno = saved;
    return w == (ssize_t)n ? 0 : -1;
}

/* Read control file dir/name into buf (NUL-terminated). Returns 0 or -1 with errno set. */
static int cg_read(const char *dir, const char *name, char *buf, size_t size)
{
    char p[CG_PATH_MAX + 64];
    cg_fmt(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, size - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
        if (n == size - 1)
            break;
    }
    close(fd);
    buf[n] = 0;
    return 0;
}

/* A number from a control file ("max" reads as UINT64_MAX); 0 with *ok = 0 when the file is absent. */
static uint64_t cg_read_u64(const char *dir, const char *name, int *ok)
{
    char buf[64];
    *ok = cg_read(dir, name, buf, sizeof buf) == 0;
    if (!*ok)
        return 0;
    if (!strncmp(buf, "max", 3))
        return UINT64_MAX;
    return strtoull(buf, NULL, 10);
}

/* The value of `key` in a "key value" per line file (memory.stat, memory.events, memory.oom_control); 0 when
 * missing; *ok = 0 when the file cannot be read. */
static uint64_t cg_read_key_ok(const char *dir, const char *name, const char *key, int *ok)
{
    char buf[8192];
    *ok = cg_read(dir, name, buf, sizeof buf) == 0;
    if (!*ok)
        return 0;
    size_t klen = strlen(key);
    for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (!strncmp(line, key, klen) && line[klen] == ' ')
            return strtoull(line + klen + 1, NULL, 10);
    return 0;
}

/* cg_read_key_ok without telling a missing file. */
static uint64_t cg_read_key(const char *dir, const char *name, const char *key)
{
    int ok;
    return cg_read_key_ok(dir, name, key, &ok);
}

/* Does the space-separated list in dir/name contain word? */
static int cg_list_has(const char *dir, const char *name, const char *word)
{
    char buf[1024];
    if (cg_read(dir, name, buf, sizeof buf))
        return 0;
    size_t wl = strlen(word);
    for (char *p = buf; (p = strstr(p, word)) != NULL; p += wl)
        if ((p == buf || p[-1] == ' ') && (p[wl] == 0 || p[wl] == ' ' || p[wl] == '\n'))
            return 1;
    return 0;
}

/* Call match(line, ctx) on each line of the /proc file path until it returns 0; returns 0 when a line matched,
 * -1 when none did or the file cannot be read. */
static int cg_first_line(const char *path, int (*match)(char *line, void *ctx), void *ctx)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    char line[4096];
    int found = -1;
    while (found && fgets(line, sizeof line, f))
        found = match(line, ctx);
    fclose(f);
    return found;
}

/* What the line matchers look for and where they put it. */
struct cg_want {
    int v2;            /* the v2 hierarchy, or the v1 memory controller */
    char *a, *b;       /* mount point and mount root (mountinfo), or the group path (a; /proc/self/cgroup) */
    size_t size;
};

/* A /proc/self/mountinfo line of the wanted hierarchy: its mount point and mount root. */
static int cg_match_mount(char *line, void *ctx)
{
    struct cg_want *w = ctx;
    char r[1024], m[1024], fstype[64], super[1024];
    char *dash = strstr(line, " - ");
    if (!dash || sscanf(line, "%*s %*s %*s %1023s %1023s", r, m) != 2 ||
        sscanf(dash + 3, "%63s %*s %1023s", fstype, super) != 2)
        return -1;
    int ok = w->v2 ? !strcmp(fstype, "cgroup2") : !strcmp(fstype, "cgroup") && strstr(super, "memory") != NULL;
    if (!ok || strlen(m) >= w->size || strlen(r) >= w->size)
        return -1;
    strcpy(w->a, m);
    strcpy(w->b, r);
    return 0;
}

/* A /proc/self/cgroup line of the wanted hierarchy ("0::/x" for v2, "4:memory:/x" for v1): its group path. */
static int cg_match_own(char *line, void *ctx)
{
    struct cg_want *w = ctx;
    line[strcspn(line, "\n")] = 0;
    char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c2)
        return -1;
    *c2 = 0;
    const char *ctrls = c1 + 1;
    int ok = w->v2 ? !strcmp(line, "0") && *ctrls == 0 : strstr(ctrls, "memory") != NULL;
    if (!ok || strlen(c2 + 1) >= w->size)
        return -1;
    strcpy(w->a, c2 + 1);
    return 0;
}

/* Directory of this process's own group in the chosen hierarchy, or -1 with a reason in why. */
static int cg_own_dir(int v2, char *dir, size_t size, char *why, size_t wsize)
{
    char mnt[1024], root[1024], own[1024];
    struct cg_want mount = {v2, mnt, root, sizeof mnt}, group = {v2, own, NULL, sizeof own};
    if (cg_first_line("/proc/self/mountinfo", cg_match_mount, &mount)) {
        cg_fmt(why, wsize, "no %s mounted", v2 ? "cgroup2 hierarchy" : "cgroup v1 memory controller");
        return -1;
    }
    if (cg_first_line("/proc/self/cgroup", cg_match_own, &group)) {
        cg_fmt(why, wsize, "this process is in no %s group", v2 ? "cgroup2" : "v1 memory");
        return -1;
    }
    /* A mount of a sub-tree (containers) shows paths relative to its root: strip that prefix. */
    const char *rel = own;
    size_t rl = strlen(root);
    if (strcmp(root, "/") && !strncmp(own, root, rl))
        rel = own + rl;
    cg_fmt(dir, size, "%s%s", mnt, rel);
    return 0;
}

/* SIGKILL the processes listed in dir/cgroup.procs until it is empty, for up to ~2 s. */
static void cg_kill_members(const char *dir)
{
    for (int tries = 0; tries < 200; tries++) {
        char buf[4096];
        if (cg_read(dir, "cgroup.procs", buf, sizeof buf))
            break;
        if (!buf[0])
            break;
        for (char *p = buf; *p;) {
            char *end;
            long pid = strtol(p, &end, 10);
            if (end == p)
                break;
            if (pid > 0)
                kill((pid_t)pid, SIGKILL);
            p = end + (*end == '\n');
        }
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
}

/* Remove a group: kill its processes, wait for them to go, then rmdir. */
static void cg_remove(const char *dir)
{
    cg_kill_members(dir);
    for (int tries = 0; tries < 100 && rmdir(dir) && errno == EBUSY; tries++)
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
}

/* Remove parent groups "traceq-<pid>" of runners that no longer exist, with their children. */
static void cg_sweep_stale(const char *base)
{
    DIR *d = opendir(base);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        if (strncmp(e->d_name, "traceq-", 7))
            continue;
        long pid = strtol(e->d_name + 7, &end, 10);
        if (*end || pid <= 0 || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        char dir[CG_PATH_MAX];
        cg_fmt(dir, sizeof dir, "%s/%s", base, e->d_name);
        DIR *sub = opendir(dir);
        struct dirent *c;
        while (sub && (c = readdir(sub)) != NULL) {
            char child[CG_PATH_MAX + 300];
            struct stat st;
            cg_fmt(child, sizeof child, "%s/%s", dir, c->d_name);
            if (c->d_name[0] != '.' && !stat(child, &st) && S_ISDIR(st.st_mode))
                cg_remove(child);
        }
        if (sub)
            closedir(sub);
        cg_remove(dir);
    }
    closedir(d);
}

/* Give back what cg_v2_delegate changed: the controller it enabled in <own> and this process's move into the
 * leaf (moving back needs <own> without controllers for its children again). Best effort: what fails stays for
 * the next runner's sweep (the run group of a dead pid, leaf included). */
static void cg_root_undo(struct tq_cg_root *r)
{
    if (r->moved) {
        char leaf[CG_PATH_MAX + 16], pid[32];
        cg_fmt(leaf, sizeof leaf, "%s/runner", r->path);
        cg_fmt(pid, sizeof pid, "%ld", (long)getpid());
        cg_write(r->path, "cgroup.subtree_control", "-memory");
        if (r->enabled_own)
            cg_write(r->own, "cgroup.subtree_control", "-memory");
        if (cg_write(r->own, "cgroup.procs", pid) == 0)
            rmdir(leaf);
    } else if (r->enabled_own) {
        cg_write(r->own, "cgroup.subtree_control", "-memory");
    }
    r->moved = r->enabled_own = 0;
}

/* The group TRACEQ_CGROUP_ROOT names (a cgroup v2 directory standing for this process's own, delegated group:
 * tests point it at a fake cgroupfs tree), or NULL when unset. Ignored in setuid processes. */
static const char *cg_injected_root(void)
{
    const char *p = secure_getenv("TRACEQ_CGROUP_ROOT");
    return p && *p ? p : NULL;
}

/* Is our pid the only process listed in dir/cgroup.procs? -1 when it cannot be read. */
static int cg_only_us(const char *dir)
{
    char buf[4096];
    if (cg_read(dir, "cgroup.procs", buf, sizeof buf))
        return -1;
    long me = (long)getpid();
    int others = 0;
    for (char *p = buf; *p;) {
        char *end;
        long pid = strtol(p, &end, 10);
        if (end == p)
            break;
        others += pid != me;
        p = end + (*end == '\n');
    }
    return !others;
}

/* v2: make <own> hand the memory controller to its children. A group that holds processes cannot (no internal
 * processes), so when this process is the only one in it, it first moves itself into the leaf <run>/runner
 * (the run group r->path is created here for that). Fills why on failure. */
static int cg_v2_delegate(struct tq_cg_root *r, const char *own, char *why, size_t wsize)
{
    if (!cg_list_has(own, "cgroup.controllers", "memory")) {
        cg_fmt(why, wsize, "cgroup2 group %s has no memory controller (not delegated to it)", own);
        return -1;
    }
    if (access(own, W_OK) != 0) {
        cg_fmt(why, wsize, "cgroup2 group %s is not writable by this user (no delegated subtree; one can be had "
               "with systemd-run --user --scope -p Delegate=yes traceq run ...)", own);
        return -1;
    }
    if (cg_list_has(own, "cgroup.subtree_control", "memory"))
        return 0;
    char buf[64];
    int holds = cg_read(own, "cgroup.procs", buf, sizeof buf) == 0 && buf[0];
    if (holds) {
        if (cg_only_us(own) != 1) {
            cg_fmt(why, wsize, "cgroup2 group %s holds other processes, so it cannot delegate its memory "
                   "controller (run under systemd-run --user --scope -p Delegate=yes)", own);
            return -1;
        }
        char leaf[CG_PATH_MAX + 16], pid[32];
        cg_fmt(leaf, sizeof leaf, "%s/runner", r->path);
        cg_fmt(pid, sizeof pid, "%ld", (long)getpid());
        if ((mkdir(r->path, 0755) && errno != EEXIST) || (mkdir(leaf, 0755) && errno != EEXIST) ||
            cg_write(leaf, "cgroup.procs", pid)) {
            cg_fmt(why, wsize, "cannot move this process into the leaf %s (%s)", leaf, strerror(errno));
            rmdir(leaf);
            rmdir(r->path);
            return -1;
        }
        r->moved = 1;
    }
    if (cg_write(own, "cgroup.subtree_control", "+memory")) {
        cg_fmt(why, wsize, "cgroup2 group %s does not delegate the memory controller (%s)", own, strerror(errno));
        return -1;
    }
    r->enabled_own = 1;
    return 0;
}

/* Try to make the run's parent group in hierarchy v2 or v1; fills why on failure. */
static int cg_root_try(int v2, struct tq_cg_root *r, char *why, size_t wsize)
{
    char own[CG_PATH_MAX - 32];
    const char *inj = cg_injected_root();
    if (inj && !v2) {
        cg_fmt(why, wsize, "v1 not tried: TRACEQ_CGROUP_ROOT names the cgroup2 group to use");
        return -1;
    }
    if (inj && strlen(inj) >= sizeof own) {
        cg_fmt(why, wsize, "TRACEQ_CGROUP_ROOT is too long");
        return -1;
    }
    if (inj)
        cg_fmt(own, sizeof own, "%s", inj);
    else if (cg_own_dir(v2, own, sizeof own, why, wsize))
        return -1;
    cg_fmt(r->own, sizeof r->own, "%s", own);
    cg_fmt(r->path, sizeof r->path, "%s/traceq-%ld", own, (long)getpid());
    if (v2 && cg_v2_delegate(r, own, why, wsize))
        return -1;
    cg_sweep_stale(own);
    if (mkdir(r->path, 0755) && errno != EEXIST) {
        cg_fmt(why, wsize, "cannot create %s (%s)", r->path, strerror(errno));
        return -1;
    }
    if (v2 && cg_write(r->path, "cgroup.subtree_control", "+memory")) {
        cg_fmt(why, wsize, "cannot enable memory in %s (%s)", r->path, strerror(errno));
        rmdir(r->path);
        return -1;
    }
    r->version = v2 ? TQ_CG_V2 : TQ_CG_V1;
    return 0;
}

tq_status tq_cg_root_create(tq_cg_root **out, struct tq_err *err)
{
    *out = NULL;
    struct tq_cg_root *r = tq_calloc(1, sizeof *r);
    if (!r)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory");
    char why2[512], why1[512];
    if (cg_root_try(1, r, why2, sizeof why2)) {
        cg_root_undo(r);
        if (cg_root_try(0, r, why1, sizeof why1)) {
            free(r);
            return tq_fail(err, TQ_ERR_LIMIT, "no memory cgroup can be made: %s; %s", why2, why1);
        }
    }
    *out = r;
    return TQ_OK;
}

enum tq_cg_version tq_cg_root_version(const tq_cg_root *root)
{
    return root->version;
}

const char *tq_cg_root_path(const tq_cg_root *root)
{
    return root->path;
}

void tq_cg_root_free(tq_cg_root *root)
{
    if (!root)
        return;
    cg_root_undo(root);
    cg_remove(root->path);
    free(root);
}

/* Set the limit (and the swap limit) of a fresh group. */
static int cg_set_limit(struct tq_cgroup *cg, uint64_t limit)
{
    char num[32];
    if (limit == UINT64_MAX) /* no limit: what a fresh group has already (v1 reads it back as a huge number) */
        return 0;
    cg_fmt(num, sizeof num, "%llu", (unsigned long long)limit);
    if (cg->version == TQ_CG_V2) {
        if (cg_write(cg->path, "memory.max", num))
            return -1;
        /* No swap: a worker over its limit must be killed, not pushed to disk. Absent without swap accounting. */
        if (cg_write(cg->path, "memory.swap.max", "0") && errno != ENOENT)
            return -1;
        return 0;
    }
    /* v1 requires memsw >= mem at all times, so mem goes first (both start unlimited). */
    if (cg_write(cg->path, "memory.limit_in_bytes", num))
        return -1;
    if (cg_write(cg->path, "memory.memsw.limit_in_bytes", num) && errno != ENOENT)
        return -1;
    return 0;
}

tq_status tq_cg_create(tq_cg_root *root, const char *name, uint64_t limit, tq_cgroup **out, struct tq_err *err)
{
    *out = NULL;
    struct tq_cgroup *cg = tq_calloc(1, sizeof *cg);
    if (!cg)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory");
    cg->version = root->version;
    cg_fmt(cg->path, sizeof cg->path, "%s/%s", root->path, name);
    /* An existing group of that name is reused, emptied first: a runner SIGKILLed with our pid left it (the sweep
     * spares groups of live pids), or a test made it ahead (a fake cgroupfs tree has no kernel to make files). */
    int made = mkdir(cg->path, 0755) == 0;
    if (!made && errno != EEXIST) {
        tq_fail_errno(err, TQ_ERR_IO, "cannot create cgroup %s", cg->path);
        free(cg);
        return TQ_ERR_IO;
    }
    if (!made)
        cg_kill_members(cg->path);
    if (cg_set_limit(cg, limit)) {
        tq_fail_errno(err, TQ_ERR_IO, "cannot set the memory limit of cgroup %s", cg->path);
        rmdir(cg->path);
        free(cg);
        return TQ_ERR_IO;
    }
    *out = cg;
    return TQ_OK;
}

tq_status tq_cg_attach(const tq_cgroup *cg, pid_t pid, struct tq_err *err)
{
    char num[32];
    cg_fmt(num, sizeof num, "%ld", (long)(pid ? pid : getpid()));
    if (cg_write(cg->path, "cgroup.procs", num))
        return tq_fail_errno(err, TQ_ERR_IO, "cannot move process %s into cgroup %s", num, cg->path);
    return TQ_OK;
}

tq_status tq_cg_read(const tq_cgroup *cg, struct tq_cg_stats *st, struct tq_err *err)
{
    int ok, ok2, ok3;
    memset(st, 0, sizeof *st);
    if (cg->version == TQ_CG_V2) {
        st->limit = cg_read_u64(cg->path, "memory.max", &ok);
        st->usage = cg_read_u64(cg->path, "memory.current", &ok2);
        st->peak = cg_read_u64(cg->path, "memory.peak", &ok3);
        st->oom_kills = cg_read_key(cg->path, "memory.events", "oom_kill");
        st->failcnt = cg_read_key(cg->path, "memory.events", "max");
    } else {
        st->limit = cg_read_u64(cg->path, "memory.limit_in_bytes", &ok);
        st->usage = cg_read_u64(cg->path, "memory.usage_in_bytes", &ok2);
        st->peak = cg_read_u64(cg->path, "memory.max_usage_in_bytes", &ok3);
        st->oom_kills = cg_read_key(cg->path, "memory.oom_control", "oom_kill");
        st->failcnt = cg_read_u64(cg->path, "memory.failcnt", &ok3);
    }
    if (!ok || !ok2)
        return tq_fail(err, TQ_ERR_IO, "cannot read the counters of cgroup %s", cg->path);
    return TQ_OK;
}

int tq_cg_reset_peak(const tq_cgroup *cg)
{
    return cg->version == TQ_CG_V1 ? cg_write(cg->path, "memory.max_usage_in_bytes", "0") : -1;
}

tq_status tq_cg_read_charged(const tq_cgroup *cg, uint64_t *bytes, struct tq_err *err)
{
    int ok, ok2;
    uint64_t anon = cg_read_key_ok(cg->path, "memory.stat", cg->version == TQ_CG_V2 ? "anon" : "rss", &ok);
    uint64_t shmem = cg_read_key_ok(cg->path, "memory.stat", "shmem", &ok2);
    *bytes = anon + shmem;
    if (!ok || !ok2)
        return tq_fail(err, TQ_ERR_IO, "cannot read memory.stat of cgroup %s", cg->path);
    return TQ_OK;
}

const char *tq_cg_path(const tq_cgroup *cg)
{
    return cg->path;
}

void tq_cg_free(tq_cgroup *cg)
{
    if (!cg)
        return;
    cg_remove(cg->path);
    free(cg);
}
