/* compare_shim.c - the shim backend of `traceq compare`: `traceq record` the command, then read the traces of
 * every process it ran (the shim follows forks and execs) into one process-tree figure. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "compare_internal.h"
#include "../common/alloc.h"
#include "../common/printable.h"
#include "../common/units.h"
#include "../export/export.h"
#include "../report/trace_summary.h"

/* Does this traceq have a working `record` subcommand (the shim may be built without it)? */
static bool have_record(const char *traceq)
{
    char *argv[] = {(char *)traceq, "record", "--help", NULL};
    struct tq_proc_spec o = {.argv = argv, .log_path = "/dev/null", .null_stdin = 1};
    struct tq_proc_result r;
    struct tq_err err;
    return tq_proc_run(&o, 0, NULL, NULL, &r, &err) == TQ_OK && r.code == 0;
}

/* One traced process of the run: its pid, program, span and heap + mmap samples (ns since its start, bytes). */
struct proc_trace {
    uint32_t pid;
    char exe[256];
    uint64_t start_ns, end_ns, exact_peak, sampled_peak;
    struct backend_sample samples; /* t: ns since start_ns (exact in a double below 104 days) */
};

static tq_status proc_sample(const struct tq_rec_sample *x, void *ctx, struct tq_err *err)
{
    struct proc_trace *p = ctx;
    int64_t held = x->heap_live_req + x->mmap_live;
    double v = held > 0 ? (double)held : 0;
    if (v > (double)p->sampled_peak)
        p->sampled_peak = (uint64_t)v;
    return tq_backend_push(&p->samples, (double)x->t_ns, v, err);
}

static tq_status proc_load(const char *path, struct proc_trace *p, struct tq_err *err)
{
    struct tq_trace_summary sum;
    TQ_TRY(tq_trace_summarize(path, &sum, err));
    p->pid = sum.pid;
    snprintf(p->exe, sizeof p->exe, "%s", sum.exe ? sum.exe : "?");
    p->start_ns = sum.start_unix_ns;
    p->end_ns = sum.start_unix_ns + sum.duration_ns;
    p->exact_peak = sum.peak_heap; /* the exact heap counter peak can fall between samples */
    tq_trace_summary_clear(&sum);
    return tq_export_each_sample(path, proc_sample, p, NULL, err);
}

/* A change of one process's held bytes at time t (its end: back to 0). */
struct tree_event {
    uint64_t t;
    size_t proc;
    double v;
};

static int by_time(const void *a, const void *b)
{
    const struct tree_event *x = a, *y = b;
    return x->t != y->t ? (x->t < y->t ? -1 : 1) : (x->proc > y->proc) - (x->proc < y->proc);
}

/* The process tree's timeline: at every sample of any process, the sum of what every live process held last
 * (a process holds nothing after its end). Its peak is the tree's; the largest single process is kept apart. */
static tq_status tree_timeline(struct proc_trace *pr, size_t np, struct backend_sample *s, struct tq_err *err)
{
    size_t ne = np;
    for (size_t i = 0; i < np; i++)
        ne += pr[i].samples.nt;
    struct tree_event *ev = tq_malloc(ne * sizeof *ev);
    double *cur = tq_calloc(np, sizeof *cur);
    if (!ev || !cur) {
        free(ev);
        free(cur);
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory for %zu samples", ne);
    }
    size_t k = 0;
    uint64_t t0 = UINT64_MAX;
    for (size_t i = 0; i < np; i++) {
        t0 = pr[i].start_ns < t0 ? pr[i].start_ns : t0;
        for (size_t j = 0; j < pr[i].samples.nt; j++)
            ev[k++] = (struct tree_event){pr[i].start_ns + (uint64_t)pr[i].samples.t[j], i, pr[i].samples.v[j]};
        ev[k++] = (struct tree_event){pr[i].end_ns, i, 0};
    }
    qsort(ev, ne, sizeof *ev, by_time);
    double total = 0;
    tq_status st = TQ_OK;
    for (size_t e = 0; e < ne && !st; e++) {
        total += ev[e].v - cur[ev[e].proc];
        cur[ev[e].proc] = ev[e].v;
        if (total > (double)s->peak)
            s->peak = (uint64_t)total;
        st = tq_backend_push(s, (double)(ev[e].t - t0) / 1e9, total, err);
    }
    free(ev);
    free(cur);
    return st;
}

/* Read every trace of the run (the shim follows forks and execs): the figure is the process tree's peak of
 * concurrent heap + mmap, and s->remark says which processes it covers and which one held the most alone. */
static tq_status read_traces(const char *dir, struct backend_sample *s, struct tq_err *err)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    if (n < 0)
        return tq_fail_errno(err, TQ_ERR_IO, "cannot list %s", dir);
    struct proc_trace *pr = tq_calloc((size_t)(n > 0 ? n : 1), sizeof *pr);
    size_t np = 0;
    tq_status st = pr ? TQ_OK : tq_fail(err, TQ_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        size_t len = strlen(names[i]->d_name);
        if (!st && len > 3 && !strcmp(names[i]->d_name + len - 3, ".tq")) {
            char path[4600];
            snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
            st = proc_load(path, &pr[np++], err);
        }
        free(names[i]);
    }
    free(names);
    if (!st && !np)
        st = tq_fail(err, TQ_ERR_IO, "traceq record wrote no trace in %s", dir);
    if (!st)
        st = tree_timeline(pr, np, s, err);
    if (!st) {
        size_t big = 0;
        uint64_t big_peak = 0;
        for (size_t i = 0; i < np; i++) {
            uint64_t peak = pr[i].exact_peak > pr[i].sampled_peak ? pr[i].exact_peak : pr[i].sampled_peak;
            if (peak > big_peak || i == 0)
                big = i, big_peak = peak;
        }
        if (big_peak > s->peak) /* a single process's exact peak between samples */
            s->peak = big_peak;
        char exe[240], b[32];
        tq_printable(pr[big].exe, exe, sizeof exe);
        if (np == 1)
            snprintf(s->remark, sizeof s->remark, "1 process: pid %u %s", pr[big].pid, exe);
        else
            snprintf(s->remark, sizeof s->remark,
                     "%zu process images (a tree): the figure is their concurrent sum; the largest alone was pid %u "
                     "%s with %s", np, pr[big].pid, exe, tq_format_bytes(big_peak, b, sizeof b));
    }
    for (size_t i = 0; pr && i < np; i++)
        free(pr[i].samples.t), free(pr[i].samples.v);
    free(pr);
    return st;
}

tq_status tq_backend_shim(const struct backend_ctx *ctx, struct backend_sample *s, char *note, size_t nsize,
                          struct tq_err *err)
{
    if (!ctx->traceq || !have_record(ctx->traceq)) {
        snprintf(note, nsize, "this traceq has no working 'record' command (the LD_PRELOAD shim)");
        return TQ_OK;
    }
    char dir[4200], log[4200];
    snprintf(dir, sizeof dir, "%s/shim.%d", ctx->workdir, ctx->run);
    snprintf(log, sizeof log, "%s/shim.%d.log", ctx->workdir, ctx->run);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return tq_fail_errno(err, TQ_ERR_IO, "cannot create %s", dir);
    size_t n = 0;
    while (ctx->argv[n])
        n++;
    char **v = tq_calloc(n + 6, sizeof *v);
    if (!v)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory");
    v[0] = (char *)ctx->traceq, v[1] = "record", v[2] = "-o", v[3] = dir, v[4] = "--";
    memcpy(v + 5, ctx->argv, n * sizeof *v);
    struct tq_proc_spec o = {.argv = v, .log_path = log, .null_stdin = 1};
    struct tq_proc_result r;
    tq_status st = tq_proc_run(&o, 0, NULL, NULL, &r, err);
    free(v);
    TQ_TRY(st);
    s->wall_s = r.wall_s;
    s->exit_status = r.code;
    return read_traces(dir, s, err);
}
