/* sweep_target.c - the targeted sweep: its own shapes, a refit after each, until the target's prediction is stable
 * or the budget is spent (see sweep_target.h). */
#include "sweep_target.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/alloc.h"
#include "../common/clock.h"
#include "../common/units.h"
#include "sweep_guard.h"

#define GROWTH 1.5 /* per-axis factor of one step toward the target */
#define MIB 1048576.0

static double volume3(const size_t s[3])
{
    return (double)s[0] * (double)s[1] * (double)s[2];
}

tq_status tq_sweep_target_parse_set(const char *text, char names[3][32], size_t values[3], size_t *n,
                                    struct tq_err *err)
{
    const char *p = text;
    *n = 0;
    while (*p) {
        const char *eq = strchr(p, '='), *end = p + strcspn(p, ",");
        size_t len = eq && eq < end ? (size_t)(eq - p) : 0;
        if (!len || len >= 32 || isdigit((unsigned char)p[0]))
            return tq_fail(err, TQ_ERR_USAGE, "bad --target-set '%s' (expected NAME=VALUE,..., e.g. "
                           "rows=500000,cols=40)", text);
        if (*n == 3)
            return tq_fail(err, TQ_ERR_USAGE, "--target-set names at most 3 parameters");
        for (size_t i = 0; i < len; i++)
            if (!isalnum((unsigned char)p[i]) && p[i] != '_')
                return tq_fail(err, TQ_ERR_USAGE, "bad parameter name '%.*s' (letters, digits and _)", (int)len, p);
        memcpy(names[*n], p, len);
        names[*n][len] = 0;
        if (!strcmp(names[*n], "in") || !strcmp(names[*n], "out") || !strcmp(names[*n], "_"))
            return tq_fail(err, TQ_ERR_USAGE, "a parameter cannot be called '%s'", names[*n]);
        for (size_t k = 0; k < *n; k++)
            if (!strcmp(names[k], names[*n]))
                return tq_fail(err, TQ_ERR_USAGE, "--target-set names %s twice", names[k]);
        char *stop;
        unsigned long long v = strtoull(eq + 1, &stop, 10);
        if (stop != end || eq + 1 == end || !isdigit((unsigned char)eq[1]) || v < 1 || v > (1ull << 40))
            return tq_fail(err, TQ_ERR_USAGE, "--target-set %s: '%.*s' is not a whole number from 1 to 2^40",
                           names[*n], (int)(end - eq - 1), eq + 1);
        values[(*n)++] = (size_t)v;
        p = *end ? end + 1 : end;
        if (*end && !*p)
            return tq_fail(err, TQ_ERR_USAGE, "bad --target-set '%s' (trailing comma)", text);
    }
    if (!*n)
        return tq_fail(err, TQ_ERR_USAGE, "--target-set is empty");
    return TQ_OK;
}

tq_status tq_sweep_target_check(const struct tq_sweep_target *t, struct tq_err *err)
{
    static const char *const axis[3] = {"inlines", "xlines", "samples"};
    if (!(t->budget_s > 0))
        return tq_fail(err, TQ_ERR_USAGE, "the budget must be more than 0 seconds");
    if (t->runs < 1)
        return tq_fail(err, TQ_ERR_USAGE, "runs must be 1 or more");
    for (int a = 0; a < 3; a++)
        if (!t->target[a])
            return tq_fail(err, TQ_ERR_USAGE, "the target has a 0 on %s", axis[a]);
    if (!t->start && volume3(t->target) < 2)
        return tq_fail(err, TQ_ERR_USAGE, "a target of one voxel leaves nothing to sweep");
    for (size_t i = 0; t->start && i < t->nstart; i++)
        for (int a = 0; a < 3; a++)
            if (t->start[i][a] > t->target[a])
                return tq_fail(err, TQ_ERR_USAGE,
                               "the target %zux%zux%zu is smaller than the grid's shape %zux%zux%zu on %s (%zu < %zu): "
                               "a targeted sweep grows toward the target, so the grid must lie below it",
                               t->target[0], t->target[1], t->target[2], t->start[i][0], t->start[i][1],
                               t->start[i][2], t->job.nparams ? t->job.params[a < (int)t->job.nparams ? a : 0] :
                               axis[a], t->target[a], t->start[i][a]);
    return TQ_OK;
}

/* The automatic initial design into shapes (at most 8 of them; see sweep_target.h). */
static size_t design_auto(const struct tq_sweep_target *t, size_t shapes[][3])
{
    int used[3], nused = 0;
    for (int a = 0; a < 3; a++)
        nused += used[a] = t->target[a] > 1;
    int levels = nused == 3 ? 2 : nused == 2 ? 3 : 6;
    double q = nused == 1 ? sqrt(2.0) : 1.5, top = 4.0;
    size_t lv[3][6];
    for (int a = 0; a < 3; a++)
        for (int k = 0; k < levels; k++) {
            double v = used[a] ? (double)t->target[a] / top / pow(q, levels - 1 - k) : 1.0;
            size_t s = (size_t)llround(v);
            size_t lo = used[a] ? (t->min_value < t->target[a] ? t->min_value : t->target[a]) : 1;
            lv[a][k] = s < lo ? lo : s > t->target[a] ? t->target[a] : s;
        }
    size_t n = 0;
    for (int i = 0; i < (used[0] ? levels : 1); i++)
        for (int j = 0; j < (used[1] ? levels : 1); j++)
            for (int k = 0; k < (used[2] ? levels : 1); k++) {
                size_t s[3] = {lv[0][i], lv[1][j], lv[2][k]}, dup = 0;
                for (size_t m = 0; m < n; m++)
                    dup |= !memcmp(shapes[m], s, sizeof s);
                if (!dup)
                    memcpy(shapes[n++], s, sizeof s);
            }
    return n;
}

/* What the dataset says so far about op: the frontier (largest measured value per axis over ok rows), the largest
 * measured volume and the wall time of its slowest run. */
struct measured {
    size_t frontier[3];
    double vmax, wall_at_vmax;
    size_t ok_rows;
};

static void measured_of(const struct tq_dataset *ds, const char *op, struct measured *m)
{
    memset(m, 0, sizeof *m);
    for (size_t i = 0; ds && i < ds->n; i++) {
        const struct tq_dataset_row *r = &ds->rows[i];
        if (!r->ok || strcmp(r->op, op))
            continue;
        m->ok_rows++;
        for (int a = 0; a < 3; a++)
            m->frontier[a] = r->shape[a] > m->frontier[a] ? r->shape[a] : m->frontier[a];
        double v = volume3(r->shape);
        if (v > m->vmax || (v == m->vmax && r->wall_s > m->wall_at_vmax)) {
            m->wall_at_vmax = v > m->vmax ? r->wall_s : fmax(r->wall_s, m->wall_at_vmax);
            m->vmax = v;
        }
    }
}

/* The next shape of the path: the frontier doubled along the axes furthest from the target (factor at least the
 * square root of the largest). 0 when the frontier has reached the target on every axis. */
static int next_shape(const struct tq_sweep_target *t, const struct measured *m, size_t s[3])
{
    double r[3], rmax = 1;
    for (int a = 0; a < 3; a++) {
        r[a] = m->frontier[a] ? (double)t->target[a] / (double)m->frontier[a] : INFINITY;
        rmax = fmax(rmax, r[a]);
    }
    if (rmax <= 1)
        return 0;
    for (int a = 0; a < 3; a++) {
        s[a] = m->frontier[a] < t->target[a] ? m->frontier[a] : t->target[a];
        if (r[a] > 1 && log(r[a]) >= 0.5 * log(rmax) - 1e-12) {
            double grown = ceil((double)m->frontier[a] * fmin(GROWTH, r[a]));
            s[a] = grown >= (double)t->target[a] ? t->target[a] : (size_t)grown;
        }
    }
    return 1;
}

/* "IxXxS", or "rows=R,cols=C" for a parameter command. Returns buf. */
static const char *shape_text(const struct tq_sweep_target *t, const size_t s[3], char *buf, size_t cap)
{
    if (!t->job.nparams) {
        snprintf(buf, cap, "%zux%zux%zu", s[0], s[1], s[2]);
        return buf;
    }
    buf[0] = 0;
    for (size_t i = 0; i < t->job.nparams && i < 3; i++)
        snprintf(buf + strlen(buf), cap - strlen(buf), "%s%s=%zu", i ? "," : "", t->job.params[i], s[i]);
    return buf;
}

static double elapsed(double t0)
{
    return tq_clock_now() - t0;
}

/* Estimated wall time of one run of shape s: the largest measured run's time scaled by the volume. */
static double estimate_wall(const struct measured *m, const size_t s[3])
{
    return m->vmax > 0 ? m->wall_at_vmax * volume3(s) / m->vmax : 0;
}

struct target_state {
    const struct tq_sweep_target *t;
    struct tq_sweep_target_result *res;
    struct tq_sweep_guard guard;
    double t0;
    int have_model;
    struct tq_model model;
    int fits;
    int refits;              /* refits tried (successful or not) */
};

/* Run the runs of shape s not yet in the dataset. *all_failed = 1 when s has no successful row afterwards (its
 * last reason in why). */
static tq_status run_shape(struct target_state *st, const struct tq_dataset *have, const size_t s[3],
                           int *all_failed, char *why, size_t whycap, struct tq_err *err)
{
    const struct tq_sweep_target *t = st->t;
    int ok = 0;
    why[0] = 0;
    for (size_t i = 0; have && i < have->n; i++) {
        const struct tq_dataset_row *r = &have->rows[i];
        if (!strcmp(r->op, t->job.op) && !memcmp(r->shape, s, sizeof r->shape)) {
            ok |= r->ok;
            if (!r->ok)
                snprintf(why, whycap, "%s", r->reason);
        }
    }
    for (int run = 1; run <= t->runs; run++) {
        if (tq_dataset_has(have, t->job.op, s, run))
            continue;
        struct tq_sweep_job job = t->job;
        struct tq_dataset_row row;
        struct tq_err e = {0};
        memcpy(job.shape, s, sizeof job.shape);
        job.run = run;
        if (tq_sweep_run(&job, &row, &e)) {
            row.ok = 0;
            snprintf(row.reason, sizeof row.reason, "%.250s", e.msg);
        }
        st->res->runs_done++;
        st->res->runs_failed += !row.ok;
        ok |= row.ok;
        if (!row.ok)
            snprintf(why, whycap, "%s", row.reason);
        char text[128];
        fprintf(t->out, "  run %s #%d: %s", shape_text(t, s, text, sizeof text), run, row.ok ? "" : "failed: ");
        if (row.ok && row.charged_peak_bytes)
            fprintf(t->out, "VmHWM %.1f MiB, charged %.1f MiB (heap %.1f, mmap %.1f), %.1f s\n",
                    row.vmhwm_bytes / MIB, row.charged_peak_bytes / MIB, row.peak_heap_bytes / MIB,
                    row.peak_mmap_bytes / MIB, row.wall_s);
        else if (row.ok)
            fprintf(t->out, "VmHWM %.1f MiB (heap %.1f, mmap %.1f), %.1f s\n", row.vmhwm_bytes / MIB,
                    row.peak_heap_bytes / MIB, row.peak_mmap_bytes / MIB, row.wall_s);
        else
            fprintf(t->out, "%s\n", row.reason);
        fflush(t->out);
        TQ_TRY(tq_sweep_guard_add(&st->guard, &row, err));
    }
    *all_failed = !ok;
    return TQ_OK;
}

/* ds without the rows of the shape of its last successful row of op (the shape measured most recently), into
 * *out (rows borrowed: free out->rows only); 0 when there is no such row. */
static int without_last(const struct tq_dataset *ds, const char *op, struct tq_dataset *out, size_t last[3])
{
    size_t i = ds->n;
    while (i > 0 && (!ds->rows[i - 1].ok || strcmp(ds->rows[i - 1].op, op)))
        i--;
    if (!i || !(out->rows = tq_malloc(ds->n * sizeof *out->rows)))
        return 0;
    memcpy(last, ds->rows[i - 1].shape, 3 * sizeof *last);
    memcpy(out->axes, ds->axes, sizeof out->axes);
    out->has_command = ds->has_command;
    out->n = 0;
    for (size_t k = 0; k < ds->n; k++)
        if (memcmp(ds->rows[k].shape, last, 3 * sizeof *last) || strcmp(ds->rows[k].op, op))
            out->rows[out->n++] = ds->rows[k];
    return 1;
}

/* 1 when s is a shape of the initial design. */
static int in_design(const size_t (*start)[3], size_t nstart, const size_t s[3])
{
    for (size_t i = 0; i < nstart; i++)
        if (!memcmp(start[i], s, 3 * sizeof *s))
            return 1;
    return 0;
}

/* Refit on the dataset and print the target's prediction, and compare it with the fit without the most recently
 * measured shape: the "change" of the step. That comparison only uses the file, so a rerun judges a finished sweep
 * exactly as the run that made it. res->converged is set when the change is within TQ_TARGET_STABLE and the bound
 * within TQ_TARGET_TIGHT, unless the most recent shape is one of the initial design. */
static tq_status refit(struct target_state *st, const size_t (*start)[3], size_t nstart, struct tq_err *err)
{
    const struct tq_sweep_target *t = st->t;
    struct tq_dataset *ds = NULL, prev = {0};
    struct tq_err e = {0}, e2 = {0};
    st->refits++;
    if (access(t->dataset, F_OK) == 0)
        TQ_TRY(tq_dataset_read(t->dataset, &ds, err));
    struct measured m;
    measured_of(ds, t->job.op, &m);
    tq_status s = ds ? tq_fit_dataset(ds, t->job.op, &t->fit, &st->model, &e) : TQ_ERR_RANGE;
    size_t last[3] = {0};
    struct tq_model pm;
    int have_prev = !s && without_last(ds, t->job.op, &prev, last) &&
                    !tq_fit_dataset(&prev, t->job.op, &t->fit, &pm, &e2);
    free(prev.rows);
    tq_dataset_free(ds);
    st->res->volume_factor = m.vmax > 0 ? fmax(1.0, volume3(t->target) / m.vmax) : INFINITY;
    if (s == TQ_ERR_NOMEM || s == TQ_ERR_USAGE)
        return tq_fail(err, s, "%s", e.msg);
    st->have_model = !s;
    if (s) {
        fprintf(t->out, "  no model yet (%s)\n", ds ? e.msg : "no measured shape");
        return TQ_OK;
    }
    struct tq_prediction p, pp;
    tq_model_predict(&st->model, t->target, &p);
    if (have_prev)
        tq_model_predict(&pm, t->target, &pp);
    double change = have_prev && pp.bytes > 0 ? (p.bytes - pp.bytes) / pp.bytes : NAN;
    double width = p.bytes > 0 ? (p.bound - p.bytes) / p.bytes : INFINITY;
    char text[128];
    fprintf(t->out, "  fit %d (%zu shapes): target %s: prediction %.1f MiB, bound %.1f MiB (+%.1f%%)", ++st->fits,
            (size_t)st->model.cv.n, shape_text(t, t->target, text, sizeof text), p.bytes / MIB, p.bound / MIB,
            100 * width);
    if (isfinite(change))
        fprintf(t->out, ", change %+.1f%%", 100 * change);
    fprintf(t->out, "; target %.3gx the largest measured volume\n", st->res->volume_factor);
    fflush(t->out);
    st->res->fitted = 1;
    st->res->pred = p.bytes;
    st->res->bound = p.bound;
    st->res->shapes = st->model.cv.n;
    if (!in_design(start, nstart, last) && isfinite(change) && fabs(change) <= TQ_TARGET_STABLE &&
        width <= TQ_TARGET_TIGHT) {
        st->res->converged = 1;
        snprintf(st->res->stopped, sizeof st->res->stopped,
                 "converged: the last two fits agree within %.1f%% and the bound is %.1f%% above the prediction",
                 100 * fabs(change), 100 * width);
    }
    return TQ_OK;
}

/* 1 (with res->stopped set) when shape s may not run: the time budget would be spent by it, or the model's
 * bound for it is above --max-memory. */
static int over_budget(struct target_state *st, const struct measured *m, const size_t s[3])
{
    const struct tq_sweep_target *t = st->t;
    double now = elapsed(st->t0), est = estimate_wall(m, s) * t->runs;
    if (now >= t->budget_s || now + est > t->budget_s) {
        char text[128];
        snprintf(st->res->stopped, sizeof st->res->stopped,
                 "time budget spent: %.0f s of %.0f s used, the next shape %s would take about %.0f s more", now,
                 t->budget_s, shape_text(t, s, text, sizeof text), est);
        return 1;
    }
    if (t->max_memory && st->have_model) {
        double b = tq_model_bound(&st->model, s);
        if (b > (double)t->max_memory) {
            char text[128];
            snprintf(st->res->stopped, sizeof st->res->stopped,
                     "memory budget spent: the next shape %s may need %.1f MiB (bound), above --max-memory %.1f MiB",
                     shape_text(t, s, text, sizeof text), b / MIB, t->max_memory / MIB);
            return 1;
        }
    }
    return 0;
}

/* One shape of the sweep: the budget check, its runs, the refit. *stop = 1 when the sweep ends here. */
static tq_status step(struct target_state *st, const size_t (*start)[3], size_t nstart, const size_t s[3],
                      int on_path, int *stop, struct tq_err *err)
{
    const struct tq_sweep_target *t = st->t;
    struct tq_dataset *have = NULL;
    if (access(t->dataset, F_OK) == 0)
        TQ_TRY(tq_dataset_read(t->dataset, &have, err));
    struct measured m;
    measured_of(have, t->job.op, &m);
    int measured_all = 1;
    for (int run = 1; run <= t->runs; run++)
        measured_all &= tq_dataset_has(have, t->job.op, s, run);
    if (!measured_all && over_budget(st, &m, s)) {
        tq_dataset_free(have);
        *stop = 1;
        return TQ_OK;
    }
    int failed = 0;
    char why[256];
    size_t before = st->res->runs_done;
    tq_status r = run_shape(st, have, s, &failed, why, sizeof why, err);
    tq_dataset_free(have);
    TQ_TRY(r);
    if (st->res->runs_done == before) /* all in the dataset already (a rerun): nothing new to fit */
        return TQ_OK;
    if (failed && on_path) {
        char text[128];
        snprintf(st->res->stopped, sizeof st->res->stopped, "the run of %s failed: %.200s",
                 shape_text(t, s, text, sizeof text), why);
        *stop = 1;
        return TQ_OK;
    }
    TQ_TRY(refit(st, start, nstart, err));
    *stop = st->res->converged;
    return TQ_OK;
}

tq_status tq_sweep_target_run(const struct tq_sweep_target *t, struct tq_sweep_target_result *res,
                              struct tq_err *err)
{
    struct target_state st = {.t = t, .res = res, .t0 = tq_clock_now()};
    memset(res, 0, sizeof *res);
    res->volume_factor = INFINITY;
    tq_sweep_guard_init(&st.guard, t->dataset);
    size_t autos[6 * 6 * 6][3];
    const size_t (*start)[3] = t->start;
    size_t nstart = t->nstart;
    if (!start) {
        nstart = design_auto(t, autos);
        start = (const size_t (*)[3])autos;
    }
    char text[128];
    fprintf(t->out, "%s: target %s, %zu initial shapes, budget %.0f s\n", t->job.op,
            shape_text(t, t->target, text, sizeof text), nstart, t->budget_s);
    int stop = 0;
    for (size_t i = 0; i < nstart && !stop; i++)
        TQ_TRY(step(&st, start, nstart, start[i], 0, &stop, err));
    if (!st.refits) { /* a rerun: judge what the dataset holds before measuring more */
        TQ_TRY(refit(&st, start, nstart, err));
        stop = res->converged;
    }
    while (!stop) {
        struct tq_dataset *have = NULL;
        if (access(t->dataset, F_OK) == 0)
            TQ_TRY(tq_dataset_read(t->dataset, &have, err));
        struct measured m;
        measured_of(have, t->job.op, &m);
        tq_dataset_free(have);
        size_t s[3];
        if (!m.ok_rows) {
            snprintf(res->stopped, sizeof res->stopped, "no run succeeded");
            break;
        }
        if (!next_shape(t, &m, s)) {
            snprintf(res->stopped, sizeof res->stopped, "the target itself was measured");
            res->target_measured = 1;
            break;
        }
        TQ_TRY(step(&st, start, nstart, s, 1, &stop, err));
    }
    return tq_sweep_guard_finish(&st.guard, err);
}

int tq_sweep_target_asked(const struct tq_sweep_target_opts *o)
{
    return o->target || o->target_set || o->budget_s >= 0 || o->max_memory || o->components;
}

/* The options against the sweep's spec, into g (the operator or the parsed command, the --grid) and t. */
static tq_status target_setup(const struct tq_sweep_spec *spec, const struct tq_sweep_target_opts *o,
                              struct tq_sweep_grid *g, struct tq_sweep_target *t, struct tq_err *err)
{
    if (!o->target && !o->target_set)
        return tq_fail(err, TQ_ERR_USAGE, "--budget, --max-memory and --components go with --target");
    if (o->target && o->target_set)
        return tq_fail(err, TQ_ERR_USAGE, "--target or --target-set, not both");
    if (o->target_set && !spec->cmd)
        return tq_fail(err, TQ_ERR_USAGE, "--target-set goes with --cmd (parameters); --target IxXxS otherwise");
    if (o->target && spec->nparams)
        return tq_fail(err, TQ_ERR_USAGE, "a command with --param aims at --target-set NAME=V,.., not --target");
    if (!spec->use_record)
        return tq_fail(err, TQ_ERR_USAGE, "a targeted sweep fits heap and mmap from traces: --backend record");
    int grid_given = spec->grid[0] || spec->grid[1] || spec->grid[2] || spec->grid[3];
    if (o->target_set) {
        if (spec->nparams || grid_given)
            return tq_fail(err, TQ_ERR_USAGE, "--target-set chooses its own values: no --param or --grid with it");
        memset(g, 0, sizeof *g);
        g->spec = spec;
        g->op = "cmd";
        size_t n = 0;
        TQ_TRY(tq_sweep_target_parse_set(o->target_set, g->pnames, t->target, &n, err));
        TQ_TRY(tq_ucmd_parse(spec->cmd, &g->ucmd, err));
        for (size_t i = 0; i < 3; i++) {
            g->pname_ptr[i] = g->pnames[i];
            t->target[i] = i < n ? t->target[i] : 1;
        }
        t->job.nparams = n;
        TQ_TRY(tq_ucmd_check_names(&g->ucmd, g->pname_ptr, n, 1, err));
    } else {
        TQ_TRY(tq_sweep_grid_parse(spec, g, err));
        TQ_TRY(tq_parse_shape(o->target, t->target, err));
    }
    t->job.exe = spec->exe;
    t->job.op = g->op;
    t->job.interval_ms = (int)spec->interval_ms;
    t->job.cpus = &spec->cpus;
    t->job.use_record = 1;
    t->job.charged = spec->charged;
    t->job.cmd = spec->cmd ? &g->ucmd : NULL;
    t->job.params = g->pname_ptr;
    t->dataset = spec->output;
    t->min_value = t->job.nparams ? 1 : 8;
    t->runs = o->runs_given ? (int)spec->runs : 1;
    t->budget_s = o->budget_s >= 0 ? o->budget_s : 120;
    t->max_memory = o->max_memory;
    tq_fit_dataset_defaults(&t->fit);
    /* Convergence is judged on VmHWM, the kernel's own high-water mark of the run's RSS, which every run has. The
     * sampled RSS peak can miss a short run's peak by a sampling interval (a CI run measured the 64^3 target 6% below
     * its fit that way), and the charged figure of the small first shapes (2-5 MiB, sampled from memory.stat) is too
     * noisy to tell convergence by; `traceq fit` then models the charged figure of the same rows
     * (tq_fit_default_target). */
    t->fit.target = "vmhwm_bytes";
    if (o->components)
        TQ_TRY(tq_components_parse_list(o->components, t->fit.use, err));
    t->fit.components_asked = o->components && strcmp(o->components, "none");
    return TQ_OK;
}

tq_status tq_sweep_target_cli(const struct tq_sweep_spec *spec, const struct tq_sweep_target_opts *o, FILE *report,
                              struct tq_err *err)
{
    struct tq_sweep_grid g;
    struct tq_sweep_target t = {.out = report};
    char traces[PATH_MAX];
    size_t (*grid)[3] = NULL, n = 0;
    memset(&g, 0, sizeof g);
    tq_status st = target_setup(spec, o, &g, &t, err);
    int grid_given = spec->grid[0] || spec->grid[1] || spec->grid[2] || spec->grid[3];
    if (!st && grid_given && (n = g.nvals[0] * g.nvals[1] * g.nvals[2]) > TQ_TARGET_MAX_START)
        st = tq_fail(err, TQ_ERR_USAGE, "a targeted sweep's --grid has at most %d shapes", TQ_TARGET_MAX_START);
    if (!st && grid_given && !(grid = tq_calloc(n, sizeof *grid)))
        st = tq_fail(err, TQ_ERR_NOMEM, "out of memory for %zu shapes", n);
    for (size_t i = 0, k = 0; grid && i < g.nvals[0]; i++)
        for (size_t j = 0; j < g.nvals[1]; j++)
            for (size_t l = 0; l < g.nvals[2]; l++, k++) {
                grid[k][0] = g.vals[0][i];
                grid[k][1] = g.vals[1][j];
                grid[k][2] = g.vals[2][l];
            }
    t.start = (const size_t (*)[3])grid;
    t.nstart = grid ? n : 0;
    t.job.trace_root = traces;
    if (!st)
        st = tq_sweep_target_check(&t, err);
    if (!st) {
        struct tq_dataset *have; /* checked here, read again by the runs */
        st = tq_sweep_grid_files(&g, traces, sizeof traces, &have, err);
        tq_dataset_free(have);
    }
    struct tq_sweep_target_result res;
    if (!st)
        st = tq_sweep_target_run(&t, &res, err);
    if (!st) {
        char text[128];
        fprintf(report, "%s: %zu runs done (%zu failed); %s\n", g.op, res.runs_done, res.runs_failed, res.stopped);
        if (res.fitted)
            fprintf(report, "%s: target %s: prediction %.1f MiB, bound %.1f MiB%s\n", g.op,
                    shape_text(&t, t.target, text, sizeof text), res.pred / MIB, res.bound / MIB,
                    res.converged ? "; converged" : "");
        if (!res.converged && res.target_measured)
            fprintf(report, "not converged: the sweep reached the target itself before its fits settled; the "
                    "target's own runs are in the dataset\n");
        else if (!res.converged)
            fprintf(report, "not converged: the target lies %.3gx (volume) beyond the largest measured shape\n",
                    res.volume_factor);
    }
    free(grid);
    tq_sweep_grid_free(&g);
    return st;
}
