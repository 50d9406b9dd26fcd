/* compare.c - runs the command bare and under each backend, keeps medians, and derives errors and overheads. */
#define _GNU_SOURCE
#include "compare.h"
#include "../common/alloc.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compare_internal.h"

struct backend_info {
    const char *name;
    const char *measures;
    const char *covers;
    enum tq_measure kind;
    backend_fn fn;
};

static const struct backend_info infos[TQ_BACKEND_COUNT] = {
    [TQ_BACKEND_SHIM] = {"shim", "heap + mmap bytes (traceq LD_PRELOAD counters)",
                         "every process (forks, execs): the tree's concurrent sum", TQ_MEASURE_HEAP,
                         tq_backend_shim},
    [TQ_BACKEND_STATM] = {"statm", "resident pages, /proc/PID/statm sampled",
                          "the started process only (children not followed)", TQ_MEASURE_RSS, tq_backend_statm},
    [TQ_BACKEND_HWM] = {"hwm", "resident high-water mark, wait4 ru_maxrss",
                        "the largest single process: the started one or a descendant it waited for",
                        TQ_MEASURE_RSS, tq_backend_hwm},
    [TQ_BACKEND_CGROUP] = {"cgroup", "cgroup memory peak (ground truth for RSS)",
                           "every process in the cgroup: the whole tree together", TQ_MEASURE_RSS,
                           tq_backend_cgroup},
    [TQ_BACKEND_MASSIF] = {"massif", "heap bytes + allocator extra (valgrind)",
                           "the started process only (valgrind without --trace-children)", TQ_MEASURE_HEAP,
                           tq_backend_massif},
    [TQ_BACKEND_HEAPTRACK] = {"heaptrack", "peak heap bytes (heaptrack_print)",
                              "the started process only (heaptrack does not follow children)", TQ_MEASURE_HEAP,
                              tq_backend_heaptrack},
};

const char *tq_compare_backend_name(enum tq_backend b)
{
    return (unsigned)b < TQ_BACKEND_COUNT ? infos[b].name : "?";
}

tq_status tq_compare_parse_backends(const char *list, unsigned *mask, struct tq_err *err)
{
    *mask = 0;
    const char *p = list;
    while (p && *p) {
        size_t n = strcspn(p, ",");
        int found = -1;
        for (int b = 0; b < TQ_BACKEND_COUNT; b++)
            if (strlen(infos[b].name) == n && !strncmp(p, infos[b].name, n))
                found = b;
        if (found < 0)
            return tq_fail(err, TQ_ERR_USAGE, "unknown backend '%.*s' (known: shim, statm, hwm, cgroup, massif, "
                                              "heaptrack)", (int)n, p);
        *mask |= 1u << found;
        p += n + (p[n] == ',');
    }
    if (!*mask)
        return tq_fail(err, TQ_ERR_USAGE, "no backend named in '%s'", list ? list : "");
    return TQ_OK;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of n values (sorts them in place). */
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static tq_status run_bare(const struct tq_compare_opts *o, char *const argv[], const char *workdir,
                          struct tq_compare *c, struct tq_err *err)
{
    double walls[64];
    char log[4200];
    for (int i = 0; i < o->runs; i++) {
        snprintf(log, sizeof log, "%s/bare.%d.log", workdir, i);
        struct tq_proc_spec so = {.argv = argv, .log_path = log, .null_stdin = 1};
        struct tq_proc_result r;
        TQ_TRY(tq_proc_run(&so, 0, NULL, NULL, &r, err));
        walls[i] = r.wall_s;
        c->bare_exit_status = r.code;
    }
    c->bare_wall_s = median(walls, o->runs);
    return TQ_OK;
}

/* Run one backend `runs` times into its row; its own failures land in the row's note, not in the result. */
static tq_status run_backend(const struct tq_compare_opts *o, char *const argv[], const char *workdir,
                             enum tq_backend b, struct tq_compare_row *row)
{
    double peaks[64], walls[64];
    char remark[sizeof ((struct backend_sample *)0)->remark] = "";
    for (int i = 0; i < o->runs; i++) {
        struct backend_ctx ctx = {argv, workdir, o->traceq, o->interval_s, i};
        struct backend_sample s = {0};
        struct tq_err err = {0};
        char note[sizeof row->note] = "";
        tq_status st = infos[b].fn(&ctx, &s, note, sizeof note, &err);
        if (st || note[0]) {
            free(s.t), free(s.v);
            row->skipped = true;
            snprintf(row->note, sizeof row->note, "%s", st ? err.msg : note);
            return st == TQ_ERR_NOMEM ? st : TQ_OK;
        }
        peaks[i] = (double)s.peak;
        walls[i] = s.wall_s;
        row->peak_min = i == 0 || s.peak < row->peak_min ? s.peak : row->peak_min;
        row->peak_max = s.peak > row->peak_max ? s.peak : row->peak_max;
        row->exit_status = s.exit_status;
        memcpy(remark, s.remark, sizeof remark); /* the last run's, like the timeline */
        free(row->t), free(row->v);
        row->t = s.t, row->v = s.v, row->nt = s.nt;
    }
    row->peak_bytes = (uint64_t)median(peaks, o->runs);
    row->wall_s = median(walls, o->runs);
    if (row->exit_status)
        snprintf(row->note, sizeof row->note, "command exited with status %d%s%s", row->exit_status,
                 remark[0] ? "; " : "", remark);
    else
        snprintf(row->note, sizeof row->note, "%s", remark);
    return TQ_OK;
}

static int remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb, (void)type, (void)ftw;
    remove(path);
    return 0;
}

static void join_command(char *const argv[], char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = 0;
    for (size_t i = 0; argv[i] && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? " " : "", argv[i]);
}

static tq_status compare_in(const struct tq_compare_opts *o, char *const argv[], const char *workdir,
                            struct tq_compare *c, struct tq_err *err)
{
    TQ_TRY(run_bare(o, argv, workdir, c, err));
    unsigned mask = o->backends ? o->backends : (1u << TQ_BACKEND_COUNT) - 1;
    for (int b = 0; b < TQ_BACKEND_COUNT; b++) {
        struct tq_compare_row *row = &c->rows[b];
        row->id = (enum tq_backend)b;
        row->backend = infos[b].name;
        row->measures = infos[b].measures;
        row->covers = infos[b].covers;
        row->kind = infos[b].kind;
        if (!(mask & (1u << b))) {
            row->skipped = true;
            snprintf(row->note, sizeof row->note, "not requested");
            continue;
        }
        TQ_TRY(run_backend(o, argv, workdir, (enum tq_backend)b, row));
    }
    if (!c->rows[TQ_BACKEND_CGROUP].skipped) {
        c->has_truth = true;
        c->truth_bytes = c->rows[TQ_BACKEND_CGROUP].peak_bytes;
    }
    return TQ_OK;
}

tq_status tq_compare_run(const struct tq_compare_opts *opts, char *const argv[], struct tq_compare **out,
                         struct tq_err *err)
{
    struct tq_compare_opts o = *opts;
    if (!argv || !argv[0])
        return tq_fail(err, TQ_ERR_USAGE, "no command to compare");
    if (o.runs < 1 || o.runs > 64)
        return tq_fail(err, TQ_ERR_USAGE, "runs must be in 1..64, not %d", o.runs);
    if (o.interval_s <= 0)
        o.interval_s = 0.01;
    struct tq_compare *c = tq_calloc(1, sizeof *c);
    if (!c)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory");
    c->runs = o.runs;
    join_command(argv, c->command, sizeof c->command);
    char tmp[4096];
    const char *tmpdir = getenv("TMPDIR");
    snprintf(tmp, sizeof tmp, "%s/traceq-compare.XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    const char *workdir = o.workdir;
    if (!workdir && !(workdir = mkdtemp(tmp))) {
        tq_compare_free(c);
        return tq_fail_errno(err, TQ_ERR_IO, "cannot create a work folder %s", tmp);
    }
    tq_status st = compare_in(&o, argv, workdir, c, err);
    if (!o.workdir)
        nftw(tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (st) {
        tq_compare_free(c);
        return st;
    }
    *out = c;
    return TQ_OK;
}

bool tq_compare_error(const struct tq_compare *c, const struct tq_compare_row *row, double *rel)
{
    if (!c->has_truth || row->skipped || c->truth_bytes == 0)
        return false;
    *rel = ((double)row->peak_bytes - (double)c->truth_bytes) / (double)c->truth_bytes;
    return true;
}

bool tq_compare_overhead(const struct tq_compare *c, const struct tq_compare_row *row, double *ratio)
{
    if (row->skipped || c->bare_wall_s <= 0)
        return false;
    *ratio = row->wall_s / c->bare_wall_s;
    return true;
}

void tq_compare_free(struct tq_compare *c)
{
    if (!c)
        return;
    for (int b = 0; b < TQ_BACKEND_COUNT; b++)
        free(c->rows[b].t), free(c->rows[b].v);
    free(c);
}
