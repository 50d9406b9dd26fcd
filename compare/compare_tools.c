/* compare_tools.c - the external-profiler backends of `traceq compare`: valgrind massif and heaptrack. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compare_internal.h"
#include "../common/alloc.h"

/* Build "prefix... argv..." into a NULL-terminated vector (pointers borrowed). Caller frees the vector. */
static char **wrap_argv(char *const *prefix, size_t np, char *const *argv, struct tq_err *err)
{
    size_t n = 0;
    while (argv[n])
        n++;
    char **v = tq_calloc(np + n + 1, sizeof *v);
    if (!v) {
        tq_fail(err, TQ_ERR_NOMEM, "out of memory");
        return NULL;
    }
    memcpy(v, prefix, np * sizeof *v);
    memcpy(v + np, argv, n * sizeof *v);
    return v;
}

/* Run `prefix + command`, logging to WORKDIR/NAME.RUN.log. */
static tq_status run_wrapped(const struct backend_ctx *ctx, const char *name, char *const *prefix, size_t np,
                             struct backend_sample *s, struct tq_err *err)
{
    char **v = wrap_argv(prefix, np, ctx->argv, err);
    if (!v)
        return TQ_ERR_NOMEM;
    char log[4200];
    snprintf(log, sizeof log, "%s/%s.%d.log", ctx->workdir, name, ctx->run);
    struct tq_proc_spec o = {.argv = v, .log_path = log, .null_stdin = 1};
    struct tq_proc_result r;
    tq_status st = tq_proc_run(&o, 0, NULL, NULL, &r, err);
    free(v);
    s->wall_s = r.wall_s;
    s->exit_status = r.code;
    if (!st && r.code != 0 && r.code == 127)
        st = tq_fail(err, TQ_ERR_CHILD, "%s failed to start the command (see %s)", name, log);
    return st;
}

/* Read massif's snapshots: the timeline of heap + extra bytes and its largest value. massif.out is plain
 * "key=value" lines; each snapshot has time=, mem_heap_B=, mem_heap_extra_B= in that order. */
static tq_status parse_massif(const char *path, struct backend_sample *s, struct tq_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return tq_fail_errno(err, TQ_ERR_IO, "massif wrote no %s", path);
    char line[4096];
    double t = 0, heap = 0;
    bool ms = false;
    size_t snapshots = 0;
    tq_status st = TQ_OK;
    while (!st && fgets(line, sizeof line, f)) {
        unsigned long long v;
        if (!strncmp(line, "time_unit: ms", 13))
            ms = true;
        else if (sscanf(line, "time=%llu", &v) == 1)
            t = (double)v;
        else if (sscanf(line, "mem_heap_B=%llu", &v) == 1)
            heap = (double)v;
        else if (sscanf(line, "mem_heap_extra_B=%llu", &v) == 1) {
            double total = heap + (double)v;
            if (total > (double)s->peak)
                s->peak = (uint64_t)total;
            st = tq_backend_push(s, ms ? t / 1000.0 : t, total, err);
            snapshots++;
        }
    }
    fclose(f);
    if (!st && snapshots == 0)
        st = tq_fail(err, TQ_ERR_FORMAT, "%s has no snapshots", path);
    if (!ms) {
        /* Without ms times the x axis is meaningless for a plot; keep the peak only. */
        free(s->t), free(s->v);
        s->t = s->v = NULL;
        s->nt = s->cap = 0;
    }
    return st;
}

tq_status tq_backend_massif(const struct backend_ctx *ctx, struct backend_sample *s, char *note, size_t nsize,
                            struct tq_err *err)
{
    if (!tq_backend_have("valgrind")) {
        snprintf(note, nsize, "valgrind is not installed");
        return TQ_OK;
    }
    char out[4200], outopt[4300];
    snprintf(out, sizeof out, "%s/massif.%d.out", ctx->workdir, ctx->run);
    snprintf(outopt, sizeof outopt, "--massif-out-file=%s", out);
    /* Heap mode (not --pages-as-heap): massif then reports bytes asked of malloc, comparable to the shim and
     * heaptrack. Page mode would count mapped (not resident) pages, including every library's code. */
    char *prefix[] = {"valgrind", "--tool=massif", "--pages-as-heap=no", "--time-unit=ms", outopt};
    TQ_TRY(run_wrapped(ctx, "massif", prefix, sizeof prefix / sizeof prefix[0], s, err));
    return parse_massif(out, s, err);
}

/* heaptrack_print prints "peak heap memory consumption: 134.29M" with decimal K/M/G/T suffixes. */
static tq_status parse_heaptrack_peak(const char *text, uint64_t *peak, struct tq_err *err)
{
    const char *key = "peak heap memory consumption:";
    const char *p = strstr(text, key);
    double v;
    char unit = 0;
    if (!p || sscanf(p + strlen(key), " %lf%c", &v, &unit) < 1)
        return tq_fail(err, TQ_ERR_FORMAT, "heaptrack_print gave no peak heap line");
    const char *units = "KMGT";
    const char *u = unit ? strchr(units, unit) : NULL;
    *peak = (uint64_t)llround(v * (u ? pow(1000.0, (double)(u - units + 1)) : 1.0));
    return TQ_OK;
}

tq_status tq_backend_heaptrack(const struct backend_ctx *ctx, struct backend_sample *s, char *note, size_t nsize,
                               struct tq_err *err)
{
    if (!tq_backend_have("heaptrack") || !tq_backend_have("heaptrack_print")) {
        snprintf(note, nsize, "heaptrack (with heaptrack_print) is not installed");
        return TQ_OK;
    }
    char base[4200];
    snprintf(base, sizeof base, "%s/heaptrack-data.%d", ctx->workdir, ctx->run);
    char *prefix[] = {"heaptrack", "-o", base};
    TQ_TRY(run_wrapped(ctx, "heaptrack", prefix, 3, s, err));
    /* heaptrack appends .zst or .gz depending on how it was built. */
    char data[4300];
    const char *exts[] = {".zst", ".gz", ""};
    size_t e = 0;
    for (; e < 3; e++) {
        snprintf(data, sizeof data, "%s%s", base, exts[e]);
        if (access(data, R_OK) == 0)
            break;
    }
    if (e == 3)
        return tq_fail(err, TQ_ERR_IO, "heaptrack wrote no %s.zst or .gz", base);
    char report[4300];
    snprintf(report, sizeof report, "%s.txt", base);
    char *pargv[] = {"heaptrack_print", "-f", data, "--print-peaks=0", "--print-allocators=0",
                     "--print-temporary=0", "--print-leaks=0", NULL};
    /* heaptrack_print's summary lines are what we need; the detailed sections are switched off above. */
    struct tq_proc_spec o = {.argv = pargv, .log_path = report, .null_stdin = 1};
    struct tq_proc_result r;
    TQ_TRY(tq_proc_run(&o, 0, NULL, NULL, &r, err));
    /* The summary is at the end of a short report (the detailed sections are off): the last 64 KiB hold it. */
    char *text = tq_calloc(1, 65537);
    if (!text)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory reading %s", report);
    FILE *f = fopen(report, "r");
    if (!f) {
        free(text);
        return tq_fail(err, TQ_ERR_IO, "cannot read %s", report);
    }
    if (fseek(f, -65536, SEEK_END) != 0)
        rewind(f);
    (void)!fread(text, 1, 65536, f);
    fclose(f);
    tq_status st = parse_heaptrack_peak(text, &s->peak, err);
    free(text);
    return st;
}
