/* block_traces.c - run every block's worker under libtraceq.so and file its traces by block and attempt (see
 * block_traces.h). */
#define _GNU_SOURCE
#include "block_traces.h"
#include "../common/alloc.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/atomic_file.h"
#include "../record/record_check.h"
#include "../report/trace_summary.h"
#include "../traces/append.h"
#include "../traces/reader.h"

#define ENV_MARK "TRACEQ_BLOCK_TRACES" /* the staging folder, set for the exec'd runner */

#if defined(__SANITIZE_ADDRESS__)
enum { ASAN_BUILD = 1 };
#else
enum { ASAN_BUILD = 0 };
#endif

/* DIR: an existing directory (never a symbolic link) or one made now with mode 0700; then the ownership checks
 * every trace folder gets. */
static tq_status check_dir(const char *dir, char *abs, size_t cap, struct tq_err *err)
{
    struct stat sb;
    if (lstat(dir, &sb) == 0) {
        if (S_ISLNK(sb.st_mode))
            return tq_fail(err, TQ_ERR_USAGE, "--trace-blocks %s is a symbolic link; give the directory itself", dir);
        if (!S_ISDIR(sb.st_mode))
            return tq_fail(err, TQ_ERR_USAGE, "--trace-blocks %s exists and is not a directory", dir);
    } else if (errno != ENOENT || mkdir(dir, 0700)) {
        return tq_fail_errno(err, TQ_ERR_USAGE, "--trace-blocks: cannot create the directory %s", dir);
    }
    char why[PATH_MAX + 200], real[PATH_MAX];
    if (!realpath(dir, real) || strlen(real) >= cap)
        return tq_fail_errno(err, TQ_ERR_USAGE, "--trace-blocks: bad directory %s", dir);
    if (tq_record_check_outdir(real, why, sizeof why))
        return tq_fail(err, TQ_ERR_USAGE, "--trace-blocks: %s", why);
    snprintf(abs, cap, "%s", real);
    return TQ_OK;
}

/* The exec'd runner: the staging folder must be DIR/.traceq-staging.*, a directory of ours, not a link. */
static tq_status check_staging(struct tq_block_traces *bt, const char *staging, struct tq_err *err)
{
    struct stat sb;
    size_t n = strlen(bt->dir);
    const char *base = strrchr(staging, '/');
    if (strncmp(staging, bt->dir, n) || staging[n] != '/' || base != staging + n ||
        strncmp(base, "/.traceq-staging.", 17) || lstat(staging, &sb) || !S_ISDIR(sb.st_mode) ||
        sb.st_uid != geteuid() || (sb.st_mode & 077))
        return tq_fail(err, TQ_ERR_USAGE, "%s=%s does not name this run's staging folder in %s", ENV_MARK, staging,
                       bt->dir);
    snprintf(bt->staging, sizeof bt->staging, "%s", staging);
    return TQ_OK;
}

tq_status tq_block_traces_start(const char *dir, int stacks, int nargs, char **args, struct tq_block_traces *bt,
                                struct tq_err *err)
{
    memset(bt, 0, sizeof *bt);
    TQ_TRY(check_dir(dir, bt->dir, sizeof bt->dir, err));
    if (ASAN_BUILD)
        return tq_fail(err, TQ_ERR_USAGE, "--trace-blocks does not work in an AddressSanitizer build of traceq (ASan "
                       "and libtraceq.so cannot both replace malloc in the runner)");
    const char *staging = getenv(ENV_MARK);
    if (staging)
        return check_staging(bt, staging, err);
    char shim[PATH_MAX];
    if (tq_record_find_shim(shim, sizeof shim))
        return tq_fail(err, TQ_ERR_USAGE, "--trace-blocks: cannot find libtraceq.so (looked for '%s'; set TRACEQ_LIB)",
                       shim);
    if (snprintf(bt->staging, sizeof bt->staging, "%s/.traceq-staging.XXXXXX", bt->dir) >= (int)sizeof bt->staging ||
        !mkdtemp(bt->staging))
        return tq_fail_errno(err, TQ_ERR_IO, "--trace-blocks: cannot make a folder in %s", bt->dir);
    const char *old = getenv("LD_PRELOAD");
    char preload[2 * PATH_MAX + 2];
    snprintf(preload, sizeof preload, "%s%s%s", shim, old && *old ? ":" : "", old && *old ? old : "");
    unsetenv("TRACEQ_MANIFEST");
    unsetenv("TRACEQ_SAMPLE_BYTES");
    if (setenv("LD_PRELOAD", preload, 1) || setenv("TRACEQ_ENABLED", "1", 1) ||
        setenv("TRACEQ_OUTPUT_DIR", bt->staging, 1) || setenv("TRACEQ_FOLLOW_FORK", "1", 1) ||
        setenv("TRACEQ_STACKS", stacks ? "1" : "0", 1) || setenv("TRACEQ_AGGREGATE", "0", 1) ||
        setenv(ENV_MARK, bt->staging, 1)) {
        rmdir(bt->staging);
        return tq_fail_errno(err, TQ_ERR_IO, "--trace-blocks: cannot set the environment");
    }
    char **argv = tq_calloc((size_t)nargs + 2, sizeof *argv);
    if (argv) {
        argv[0] = (char *)"traceq";
        memcpy(argv + 1, args, (size_t)nargs * sizeof *argv);
        fflush(NULL);
        execv("/proc/self/exe", argv);
        free(argv);
    }
    tq_status st = tq_fail_errno(err, TQ_ERR_IO, "--trace-blocks: cannot run traceq again under libtraceq.so");
    rmdir(bt->staging);
    unsetenv(ENV_MARK);
    return st;
}

/* A trace in the staging folder. */
struct staged {
    char name[256];
    uint32_t pid, ppid, flags;
    int mine; /* belongs to the reaped worker's tree */
};

/* pid, ppid and flags from a trace's PROCESS record; -1 when it cannot be read. */
static int read_ids(const char *path, uint32_t *pid, uint32_t *ppid, uint32_t *flags)
{
    struct tq_trace_reader *r;
    if (tq_trace_open(path, &r, NULL))
        return -1;
    struct tq_rec rec;
    struct tq_rec_process p;
    bool done = false;
    int rc = -1;
    if (!tq_trace_next(r, &rec, &done, NULL) && !done && rec.type == TQ_REC_PROCESS && !tq_rec_get_process(&rec, &p)) {
        *pid = p.pid;
        *ppid = p.ppid;
        *flags = p.flags;
        rc = 0;
    }
    tq_trace_close(r);
    return rc;
}

/* The traces in the staging folder (regular files named traceq.*.tq), into a new array; *n their count. */
static struct staged *list_staged(const struct tq_block_traces *bt, size_t *n)
{
    *n = 0;
    DIR *d = opendir(bt->staging);
    if (!d)
        return NULL;
    struct staged *v = NULL;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, "traceq.", 7) || len < 10 || len >= sizeof v->name || strcmp(e->d_name + len - 3, ".tq"))
            continue;
        char path[PATH_MAX + 300];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", bt->staging, e->d_name);
        if (lstat(path, &sb) || !S_ISREG(sb.st_mode))
            continue;
        if (*n == cap) {
            size_t nc = cap ? 2 * cap : 16;
            struct staged *nv = tq_realloc(v, nc * sizeof *nv);
            if (!nv)
                break;
            v = nv;
            cap = nc;
        }
        struct staged *s = &v[*n];
        memset(s, 0, sizeof *s);
        snprintf(s->name, sizeof s->name, "%s", e->d_name);
        if (read_ids(path, &s->pid, &s->ppid, &s->flags) == 0)
            (*n)++;
    }
    closedir(d);
    return v;
}

/* Move staging/name to DIR/want (or want with ~1..~99 before .tqt when taken); the final path into out. */
static int publish(struct tq_block_traces *bt, const char *name, const char *want, char *out, size_t cap)
{
    char src[PATH_MAX + 300], stem[PATH_MAX];
    snprintf(src, sizeof src, "%s/%s", bt->staging, name);
    snprintf(stem, sizeof stem, "%.4000s", want);
    char *dot = strrchr(stem, '.');
    if (dot)
        *dot = 0;
    for (int k = 0; k < 100; k++) {
        char dst[2 * PATH_MAX + 16];
        if (k)
            snprintf(dst, sizeof dst, "%.4000s/%.4000s~%d.tqt", bt->dir, stem, k);
        else
            snprintf(dst, sizeof dst, "%.4000s/%.4000s.tqt", bt->dir, stem);
        if (tq_atomic_file_publish(src, dst, false) == 0) {
            snprintf(out, cap, "%s", dst);
            bt->written++;
            return 0;
        }
        if (errno != EEXIST)
            return -1;
    }
    return -1;
}

/* Whether the trace at path ends with EXEC (its process became another image). */
static int stub_ends_in_exec(const char *path)
{
    struct tq_trace_summary s;
    if (tq_trace_summarize(path, &s, NULL))
        return 0;
    int exec = s.ending == TQ_ENDED_EXEC;
    tq_trace_summary_clear(&s);
    return exec;
}

/* Append KILLED to a trace that ends without exit. */
static void mark_killed(const char *path, const struct tq_rec_killed *k, const char *where)
{
    struct tq_trace_summary s;
    if (tq_trace_summarize(path, &s, NULL))
        return;
    int cut = s.ending == TQ_ENDED_UNKNOWN;
    tq_trace_summary_clear(&s);
    uint8_t rec[PATH_MAX + 128];
    size_t n = cut ? tq_rec_put_killed(rec, sizeof rec, k, where) : 0;
    if (n)
        tq_trace_append_record(path, rec, n, NULL);
}

void tq_block_traces_collect(struct tq_block_traces *bt, pid_t worker, const char *id, int attempt,
                             const struct tq_rec_killed *killed, const char *killed_where, char *main, size_t cap)
{
    main[0] = 0;
    size_t n;
    struct staged *v = list_staged(bt, &n);
    /* The worker's tree: its own traces (an exec keeps the pid), then its children's, theirs... */
    for (int grew = 1; grew;) {
        grew = 0;
        for (size_t i = 0; i < n; i++) {
            if (v[i].mine)
                continue;
            int in = v[i].pid == (uint32_t)worker;
            for (size_t j = 0; j < n && !in; j++)
                in = v[j].mine && (v[i].pid == v[j].pid || v[i].ppid == v[j].pid);
            if (in)
                grew = v[i].mine = 1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (!v[i].mine)
            continue;
        char src[PATH_MAX + 300], want[512], path[2 * PATH_MAX];
        snprintf(src, sizeof src, "%s/%s", bt->staging, v[i].name);
        /* A fork child's trace (FORKED) beside a trace of the same pid that is not: the child exec'd */
        int exec_stub = 0;
        for (size_t j = 0; j < n && v[i].pid != (uint32_t)worker && (v[i].flags & TQ_PROC_FORKED); j++)
            exec_stub |= j != i && v[j].mine && v[j].pid == v[i].pid && !(v[j].flags & TQ_PROC_FORKED);
        if (exec_stub && stub_ends_in_exec(src)) { /* a fork child that only exec'd the command: the command's own trace follows */
            unlink(src);
            continue;
        }
        if (v[i].pid == (uint32_t)worker)
            snprintf(want, sizeof want, "block-%s-a%d.tqt", id, attempt);
        else
            snprintf(want, sizeof want, "block-%s-a%d.%u.tqt", id, attempt, v[i].pid);
        if (publish(bt, v[i].name, want, path, sizeof path))
            continue;
        if (killed)
            mark_killed(path, killed, killed_where);
        if (v[i].pid != (uint32_t)worker || !main[0]) /* a command's trace says more than its worker's */
            snprintf(main, cap, "%s", path);
    }
    if (killed && main[0]) {
        if (bt->killed < TQ_BLOCK_TRACES_KEEP)
            snprintf(bt->killed_trace[bt->killed], sizeof bt->killed_trace[0], "%s", main);
        bt->killed++;
    }
    free(v);
}

void tq_block_traces_finish(struct tq_block_traces *bt)
{
    if (!bt->staging[0])
        return;
    size_t n;
    struct staged *v = list_staged(bt, &n);
    for (size_t i = 0; i < n; i++) {
        char src[PATH_MAX + 300], path[2 * PATH_MAX + 16];
        snprintf(src, sizeof src, "%s/%s", bt->staging, v[i].name);
        if (v[i].pid == (uint32_t)getpid()) /* the runner's own: not a block's */
            unlink(src);
        else
            publish(bt, v[i].name, v[i].name, path, sizeof path);
    }
    free(v);
    rmdir(bt->staging);
}
