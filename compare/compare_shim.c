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
#include "../report/trace_summary.h"
#include "../report/tree_peak.h"

/* Does this traceq have a working `record` subcommand (the shim may be built without it)? */
static bool have_record(const char *traceq)
{
    char *argv[] = {(char *)traceq, "record", "--help", NULL};
    struct tq_proc_spec o = {.argv = argv, .log_path = "/dev/null", .null_stdin = 1};
    struct tq_proc_result r;
    struct tq_err err;
    return tq_proc_run(&o, 0, NULL, NULL, &r, &err) == TQ_OK && r.code == 0;
}

/* One traced process of the run: its pid, program and peaks (exact heap counter; sampled heap + mmap). */
struct proc_trace {
    uint32_t pid;
    char exe[256];
    uint64_t exact_peak, sampled_peak;
};

/* The trace at path into *sum (with its samples, for the tree's timeline: the trace is read once) and *p. */
static tq_status proc_load(const char *path, struct tq_trace_summary *sum, struct proc_trace *p, struct tq_err *err)
{
    TQ_TRY(tq_trace_summarize_samples(path, sum, err));
    p->pid = sum->pid;
    snprintf(p->exe, sizeof p->exe, "%s", sum->exe ? sum->exe : "?");
    p->exact_peak = sum->peak_heap; /* the exact heap counter peak can fall between samples */
    return TQ_OK;
}

/* One point of the tree's timeline into the backend's samples (seconds since the first start). */
static tq_status tree_step(uint64_t t_ns, uint64_t total, void *ctx, struct tq_err *err)
{
    return tq_backend_push(ctx, (double)t_ns / 1e9, (double)total, err);
}

/* Read every trace of the run (the shim follows forks and execs): the figure is the process tree's peak of
 * concurrent heap + mmap, and s->remark says which processes it covers and which one held the most alone. */
static tq_status read_traces(const char *dir, struct backend_sample *s, struct tq_err *err)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    if (n < 0)
        return tq_fail_errno(err, TQ_ERR_IO, "cannot list %s", dir);
    size_t cap = (size_t)(n > 0 ? n : 1), np = 0;
    struct proc_trace *pr = tq_calloc(cap, sizeof *pr);
    struct tq_trace_summary *sums = tq_calloc(cap, sizeof *sums);
    uint64_t *sampled = tq_calloc(cap, sizeof *sampled);
    tq_status st = pr && sums && sampled ? TQ_OK : tq_fail(err, TQ_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        size_t len = strlen(names[i]->d_name);
        if (!st && len > 3 && !strcmp(names[i]->d_name + len - 3, ".tq")) {
            char *path = tq_malloc(strlen(dir) + len + 2);
            if (!path)
                st = tq_fail(err, TQ_ERR_NOMEM, "out of memory");
            else {
                sprintf(path, "%s/%s", dir, names[i]->d_name);
                if (!(st = proc_load(path, &sums[np], &pr[np], err)))
                    np++;
                free(path);
            }
        }
        free(names[i]);
    }
    free(names);
    if (!st && !np)
        st = tq_fail(err, TQ_ERR_IO, "traceq record wrote no trace in %s", dir);
    struct tq_tree_peak tree;
    if (!st)
        st = tq_tree_timeline(sums, np, TQ_TREE_HEAP_MMAP, tree_step, s, &tree, sampled, err);
    if (!st) {
        s->peak = tree.peak;
        for (size_t i = 0; i < np; i++)
            pr[i].sampled_peak = sampled[i];
    }
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
    for (size_t i = 0; sums && i < np; i++)
        tq_trace_summary_clear(&sums[i]);
    free(sums);
    free(sampled);
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
