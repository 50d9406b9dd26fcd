/* sweep_grid.c - a whole sweep: the grid checked, each run not in the dataset yet, the rows (see sweep_grid.h). */
#include "sweep_grid.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/clock.h"
#include "../common/units.h"
#include "../operators/operator.h"
#include "sweep_guard.h"

#define DEFAULT_GRID "100:400:100"

/* A command with a grid of shapes ({in} {out}) or with parameter ranges (their names as placeholders). */
static tq_status sweep_parse_cmd(struct tq_sweep_grid *g, struct tq_err *err)
{
    static const char *const volume_names[] = {"in", "out"};
    const struct tq_sweep_spec *s = g->spec;
    g->op = "cmd";
    if (!s->use_record)
        return tq_fail(err, TQ_ERR_USAGE, "--cmd is profiled under `traceq record` only (--backend record)");
    TQ_TRY(tq_ucmd_parse(s->cmd, &g->ucmd, err));
    if (!s->nparams)
        return tq_ucmd_check_names(&g->ucmd, volume_names, 2, 1, err);
    if (s->grid[1] || s->grid[2] || s->grid[3] || (s->grid[0] && strcmp(s->grid[0], DEFAULT_GRID)))
        return tq_fail(err, TQ_ERR_USAGE, "--grid goes with --op or a volume command, not with --param");
    for (size_t i = 0; i < 3; i++) {
        g->vals[i][0] = 1;
        g->nvals[i] = 1;
    }
    for (size_t i = 0; i < s->nparams; i++) {
        TQ_TRY(tq_sweep_parse_param(s->param[i], g->pnames[i], g->vals[i], TQ_SWEEP_MAX_AXIS, &g->nvals[i], err));
        for (size_t k = 0; k < i; k++)
            if (!strcmp(g->pnames[k], g->pnames[i]))
                return tq_fail(err, TQ_ERR_USAGE, "--param %s is given twice", g->pnames[i]);
        g->pname_ptr[i] = g->pnames[i];
    }
    return tq_ucmd_check_names(&g->ucmd, g->pname_ptr, s->nparams, 1, err);
}

tq_status tq_sweep_grid_parse(const struct tq_sweep_spec *s, struct tq_sweep_grid *g, struct tq_err *err)
{
    memset(g, 0, sizeof *g);
    g->spec = s;
    g->op = s->op;
    if (!!s->op + !!s->cmd != 1 || !s->output)
        return tq_fail(err, TQ_ERR_USAGE, "one of --op or --cmd, and -o, are required");
    if (s->op && !tq_op_find(s->op)) {
        char names[128] = "";
        for (const struct tq_op *op = tq_ops; op->name; op++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", names[0] ? ", " : "", op->name);
        return tq_fail(err, TQ_ERR_USAGE, "unknown operator '%s' (one of: %s)", s->op, names);
    }
    if (s->nparams && !s->cmd)
        return tq_fail(err, TQ_ERR_USAGE, "--param goes with --cmd");
    for (int a = 0; a < 3 && !s->nparams; a++) {
        const char *range = s->grid[a + 1] ? s->grid[a + 1] : s->grid[0] ? s->grid[0] : DEFAULT_GRID;
        TQ_TRY(tq_parse_range(range, g->vals[a], TQ_SWEEP_MAX_AXIS, &g->nvals[a], err));
    }
    return s->cmd ? sweep_parse_cmd(g, err) : TQ_OK;
}

void tq_sweep_grid_free(struct tq_sweep_grid *g)
{
    tq_ucmd_free(&g->ucmd);
}

static void fmt_secs(double s, char *buf, size_t cap)
{
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, cap, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else
        snprintf(buf, cap, "%ldm%02lds", t / 60, t % 60);
}

struct sweep_progress {
    int tty;
    size_t shapes, runs_todo, runs_done;
    double t0; /* tq_clock_now() at the start */
};

static void progress_show(const struct sweep_progress *p, size_t shape_idx, const char *op, const size_t shape[3],
                          int run)
{
    if (!p->tty)
        return;
    char el[32], eta[32] = "?";
    double e = tq_clock_now() - p->t0;
    fmt_secs(e, el, sizeof el);
    if (p->runs_done)
        fmt_secs(e / (double)p->runs_done * (double)(p->runs_todo - p->runs_done), eta, sizeof eta);
    fprintf(stderr, "\r\033[K[shape %zu/%zu] %s %zux%zux%zu run %d | elapsed %s | ETA %s", shape_idx + 1, p->shapes,
            op, shape[0], shape[1], shape[2], run, el, eta);
    fflush(stderr);
}

/* One run into a row, through the guard. */
static tq_status sweep_one(const struct tq_sweep_grid *g, const char *traces, const size_t shape[3], int run,
                           size_t *failed, struct tq_sweep_guard *guard, struct tq_err *err)
{
    const struct tq_sweep_spec *s = g->spec;
    struct tq_sweep_job job = {s->exe,       g->op,          {shape[0], shape[1], shape[2]},
                               run,          (int)s->interval_ms, &s->cpus, traces, s->use_record,
                               s->cmd ? &g->ucmd : NULL, g->pname_ptr, s->nparams, s->charged};
    struct tq_dataset_row row;
    struct tq_err rerr = {0};
    if (tq_sweep_run(&job, &row, &rerr)) {
        row.ok = 0;
        snprintf(row.reason, sizeof row.reason, "%.250s", rerr.msg);
    }
    *failed += !row.ok;
    return tq_sweep_guard_add(guard, &row, err);
}

/* Every run of the grid not in `have`. */
static tq_status sweep_loop(const struct tq_sweep_grid *g, const struct tq_dataset *have, const char *traces,
                            FILE *report, struct tq_err *err)
{
    const struct tq_sweep_spec *s = g->spec;
    struct sweep_progress p = {isatty(2), g->nvals[0] * g->nvals[1] * g->nvals[2], 0, 0, 0};
    p.t0 = tq_clock_now();
    size_t idx = 0, failed = 0, skipped = 0;
    struct tq_sweep_guard guard;
    tq_sweep_guard_init(&guard, s->output);
    for (int pass = 0; pass < 2; pass++) /* pass 0 counts what is left to do, pass 1 does it */
        for (size_t i = 0; i < g->nvals[0]; i++)
            for (size_t j = 0; j < g->nvals[1]; j++)
                for (size_t k = 0; k < g->nvals[2]; k++, idx++)
                    for (int run = 1; run <= s->runs; run++) {
                        size_t shape[3] = {g->vals[0][i], g->vals[1][j], g->vals[2][k]};
                        if (tq_dataset_has(have, g->op, shape, run)) {
                            skipped += pass;
                            continue;
                        }
                        if (!pass) {
                            p.runs_todo++;
                            continue;
                        }
                        progress_show(&p, idx % p.shapes, g->op, shape, run);
                        if (sweep_one(g, traces, shape, run, &failed, &guard, err)) {
                            if (p.tty)
                                fprintf(stderr, "\n");
                            return err->status;
                        }
                        p.runs_done++;
                    }
    if (p.tty)
        fprintf(stderr, "\n");
    fprintf(report, "%s: %zu runs done (%zu failed), %zu already in %s\n", g->op, p.runs_done, failed, skipped,
            s->output);
    return tq_sweep_guard_finish(&guard, err);
}

tq_status tq_sweep_grid_files(const struct tq_sweep_grid *g, char *traces, size_t cap, struct tq_dataset **have,
                               struct tq_err *err)
{
    const struct tq_sweep_spec *s = g->spec;
    *have = NULL;
    if (access(s->exe, X_OK))
        return tq_fail(err, TQ_ERR_USAGE, "cannot run %s", s->exe);
    if (snprintf(traces, cap, "%s%s", s->traces ? s->traces : s->output, s->traces ? "" : ".traces") >= (int)cap)
        return tq_fail(err, TQ_ERR_USAGE, "path too long");
    const char *axes[3] = {g->pnames[0][0] ? g->pnames[0] : "_", g->pnames[1][0] ? g->pnames[1] : "_",
                           g->pnames[2][0] ? g->pnames[2] : "_"};
    if (access(s->output, F_OK) == 0)
        TQ_TRY(tq_dataset_read(s->output, have, err));
    tq_status st = tq_dataset_check_kind(*have, s->cmd ? s->cmd : "", g->pnames[0][0] ? axes : NULL, err);
    if (st == TQ_OK && mkdir(traces, 0755) && errno != EEXIST)
        st = tq_fail(err, TQ_ERR_USAGE, "cannot create %s: %s", traces, strerror(errno));
    if (st) {
        tq_dataset_free(*have);
        *have = NULL;
    }
    return st;
}

tq_status tq_sweep_grid_run(const struct tq_sweep_grid *g, FILE *report, struct tq_err *err)
{
    char traces[PATH_MAX];
    struct tq_dataset *have;
    tq_status st = tq_sweep_grid_files(g, traces, sizeof traces, &have, err);
    if (st == TQ_OK)
        st = sweep_loop(g, have, traces, report, err);
    tq_dataset_free(have);
    return st;
}
