/* compare_proc.c - the /proc and rusage backends of `traceq compare`: statm sampling and the RSS high-water mark. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compare_internal.h"
#include "../common/alloc.h"
#include "../common/procfs.h"

tq_status tq_backend_push(struct backend_sample *s, double t, double v, struct tq_err *err)
{
    if (s->nt == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        double *nt = tq_realloc(s->t, cap * sizeof *nt);
        if (nt)
            s->t = nt;
        double *nv = nt ? tq_realloc(s->v, cap * sizeof *nv) : NULL;
        if (!nv)
            return tq_fail(err, TQ_ERR_NOMEM, "out of memory for a timeline");
        s->v = nv;
        s->cap = cap;
    }
    s->t[s->nt] = t;
    s->v[s->nt] = v;
    s->nt++;
    return TQ_OK;
}

bool tq_backend_have(const char *prog)
{
    const char *path = getenv("PATH");
    if (!path)
        return false;
    char dir[4096], full[4200];
    for (const char *p = path; *p;) {
        size_t n = strcspn(p, ":");
        snprintf(dir, sizeof dir, "%.*s", (int)n, p);
        snprintf(full, sizeof full, "%s/%s", n ? dir : ".", prog);
        if (access(full, X_OK) == 0)
            return true;
        p += n + (p[n] == ':');
    }
    return false;
}

/* Sampler state: the running peak and the timeline of resident bytes. */
struct statm_ctx {
    struct backend_sample *s;
    tq_status st;
    struct tq_err *err;
};

/* Sample the resident bytes of /proc/PID/statm, like the original's kernel/psutil backends. */
static void statm_poll(pid_t pid, double t, void *vctx)
{
    struct statm_ctx *c = vctx;
    uint64_t bytes;
    if (tq_proc_statm_rss(pid, &bytes, NULL) != TQ_OK)
        return;
    if (bytes > c->s->peak)
        c->s->peak = bytes;
    if (!c->st)
        c->st = tq_backend_push(c->s, t, (double)bytes, c->err);
}

tq_status tq_backend_statm(const struct backend_ctx *ctx, struct backend_sample *s, char *note, size_t nsize,
                           struct tq_err *err)
{
    (void)note;
    (void)nsize;
    char log[4200];
    snprintf(log, sizeof log, "%s/statm.%d.log", ctx->workdir, ctx->run);
    struct statm_ctx c = {s, TQ_OK, err};
    struct tq_proc_spec o = {.argv = ctx->argv, .log_path = log, .null_stdin = 1};
    struct tq_proc_result r;
    TQ_TRY(tq_proc_run(&o, ctx->interval_s, statm_poll, &c, &r, err));
    s->wall_s = r.wall_s;
    s->exit_status = r.code;
    return c.st;
}

tq_status tq_backend_hwm(const struct backend_ctx *ctx, struct backend_sample *s, char *note, size_t nsize,
                         struct tq_err *err)
{
    (void)note;
    (void)nsize;
    char log[4200];
    snprintf(log, sizeof log, "%s/hwm.%d.log", ctx->workdir, ctx->run);
    struct tq_proc_spec o = {.argv = ctx->argv, .log_path = log, .null_stdin = 1};
    struct tq_proc_result r;
    TQ_TRY(tq_proc_run(&o, 0, NULL, NULL, &r, err));
    /* ru_maxrss is the child's VmHWM in KiB, kept by the kernel after the process is gone. */
    s->peak = (uint64_t)r.ru.ru_maxrss * 1024u;
    s->wall_s = r.wall_s;
    s->exit_status = r.code;
    return TQ_OK;
}
