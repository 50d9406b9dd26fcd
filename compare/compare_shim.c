/* compare_shim.c - the shim backend of `traceq compare`: `traceq record` the command, then read its trace. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "compare_internal.h"
#include "../common/alloc.h"
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

/* The timeline of heap + mmap bytes the program held, and its largest sampled value. */
static tq_status shim_sample(const struct tq_rec_sample *x, void *ctx, struct tq_err *err)
{
    struct backend_sample *s = ctx;
    int64_t held = x->heap_live_req + x->mmap_live;
    double v = held > 0 ? (double)held : 0;
    if (v > (double)s->peak)
        s->peak = (uint64_t)v;
    return tq_backend_push(s, (double)x->t_ns / 1e9, v, err);
}

/* Read the trace of the profiled process: the one trace record wrote (the first, by name, for a fork tree). */
static tq_status read_trace(const char *dir, struct backend_sample *s, struct tq_err *err)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    if (n < 0)
        return tq_fail_errno(err, TQ_ERR_IO, "cannot list %s", dir);
    char path[4600] = "";
    for (int i = 0; i < n; i++) {
        size_t len = strlen(names[i]->d_name);
        if (!path[0] && len > 3 && !strcmp(names[i]->d_name + len - 3, ".tq"))
            snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        free(names[i]);
    }
    free(names);
    if (!path[0])
        return tq_fail(err, TQ_ERR_IO, "traceq record wrote no trace in %s", dir);
    struct tq_trace_summary sum;
    TQ_TRY(tq_trace_summarize(path, &sum, err));
    /* The exact heap counter peak can fall between samples; keep the larger of it and the sampled heap+mmap. */
    uint64_t exact = sum.peak_heap;
    tq_trace_summary_clear(&sum);
    TQ_TRY(tq_export_each_sample(path, shim_sample, s, NULL, err));
    if (exact > s->peak)
        s->peak = exact;
    return TQ_OK;
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
    return read_trace(dir, s, err);
}
