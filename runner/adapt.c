/* adapt.c - the adaptive runner: correction from measured block peaks, re-cutting what is not started (adapt.h). */
#include "adapt.h"
#include "../common/alloc.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/units.h"
#include "../model/planner.h"
#include "region.h"

#define FLIGHT_MAX (4 * TQ_RUNNER_MAX_WORKERS) /* blocks handed out and not ended that we remember */

struct flight {
    struct tq_box box;
    double corrected;
};

struct tq_adapt {
    struct tq_adapt_config cfg;
    tq_region *region;
    size_t chunk[3];
    double max_ratio;   /* the largest measured / predicted of a finished block (0: none yet) */
    double oom_floor;   /* the largest limit / predicted of an OOM-killed block (0: none) */
    double corr_resumed; /* the correction the resumed journal's last cut recorded (0: none) */
    double planned_corr; /* the correction the current cut was last checked against */
    int probing;        /* the next block of the cut handed out is the probe */
    int waiting;        /* the probe (or the halves of a killed block) is out: hand out quarters only */
    int wait_any;       /* any finished block ends the waiting (at the start, after an OOM kill) */
    int has_probe;      /* probe: the block whose end ends the waiting (after a re-cut to larger blocks) */
    struct tq_box probe;
    struct tq_box quarter[4]; /* quarters of a block cut while waiting, handed out first */
    size_t nquarter;
    struct tq_box qhalf;      /* the second half of the last block quartered, when it was cut in two */
    int qhalf_split;          /* quarter[0] and quarter[1] are qhalf's two quarters */
    size_t handed;
    size_t skipped;     /* boxes the journal held at the start */
    struct tq_model model; /* the run's model (cfg.model points here) */
    struct flight flight[FLIGHT_MAX];
    size_t nflight;
    struct tq_adapt_block *blocks;
    size_t nblocks, capblocks;
    struct tq_adapt_recut *recuts;
    size_t nrecuts, caprecuts;
    tq_status failed;   /* a cut could not be journaled or made: hand out nothing more */
    struct tq_err err;
};

/* The model's prediction (and, with bound != NULL, its bound) for output box b's input box. */
static double predict_box(const tq_adapt *a, const struct tq_model *m, const struct tq_box *b, double *bound)
{
    struct tq_box in;
    tq_op_input_box(a->cfg.op, a->cfg.params, a->cfg.shape, b, &in);
    size_t s[3] = {tq_box_len(&in, 0), tq_box_len(&in, 1), tq_box_len(&in, 2)};
    struct tq_prediction p;
    tq_model_predict(m, s, &p);
    if (bound)
        *bound = p.bound;
    return p.bytes;
}

double tq_adapt_correction(const tq_adapt *a)
{
    double c = a->max_ratio > a->corr_resumed ? a->max_ratio : a->corr_resumed;
    c = c > 0 ? c : 1.0; /* nothing measured yet: the model as it is */
    return c > a->oom_floor ? c : a->oom_floor;
}

tq_status tq_adapt_new(const struct tq_adapt_config *cfg, tq_adapt **out, struct tq_err *err)
{
    *out = NULL;
    if (!cfg->limit)
        return tq_fail(err, TQ_ERR_USAGE, "--adapt needs a memory limit (--memory-per-worker or the plan's)");
    tq_adapt *a = tq_calloc(1, sizeof *a);
    if (!a)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory");
    a->cfg = *cfg;
    a->model = *cfg->model;
    a->cfg.model = &a->model;
    memcpy(a->chunk, cfg->chunk, sizeof a->chunk);
    for (int k = 0; k < 3; k++)
        if (!a->chunk[k]) {
            tq_adapt_free(a);
            return tq_fail(err, TQ_ERR_USAGE, "--adapt: the plan's first block is empty");
        }
    a->planned_corr = 1.0;
    a->probing = a->wait_any = cfg->workers > 1;
    *out = a;
    return TQ_OK;
}

/* The region left to do: the output less what the journal holds, cut as its last cut says (or as configured). */
static tq_status adapt_start(tq_adapt *a, tq_journal *j, struct tq_err *err)
{
    a->cfg.journal = j;
    a->skipped = j ? tq_journal_count(j) : 0;
    if (j && tq_journal_last_cut(j, a->chunk, &a->corr_resumed))
        a->planned_corr = a->corr_resumed;
    const size_t *o = a->cfg.out_shape;
    struct tq_box whole = {{0, 0, 0}, {o[0], o[1], o[2]}};
    tq_region_free(a->region);
    a->region = NULL;
    TQ_TRY(tq_region_new(&whole, a->chunk, &a->region, err));
    for (size_t i = 0; i < a->skipped; i++)
        TQ_TRY(tq_region_subtract(a->region, tq_journal_box(j, i), err));
    return TQ_OK;
}

/* Remember a block's start (its correction) until it ends. */
static void flight_add(tq_adapt *a, const struct tq_box *b, double corrected)
{
    if (a->nflight == FLIGHT_MAX)
        memmove(a->flight, a->flight + 1, (FLIGHT_MAX - 1) * sizeof *a->flight);
    else
        a->nflight++;
    a->flight[a->nflight - 1] = (struct flight){*b, corrected};
}

/* The correction a block started under, forgetting it; -1 when it was not ours (a split half, a rerun). */
static double flight_take(tq_adapt *a, const struct tq_box *b)
{
    for (size_t i = 0; i < a->nflight; i++)
        if (!memcmp(&a->flight[i].box, b, sizeof *b)) {
            double c = a->flight[i].corrected;
            memmove(a->flight + i, a->flight + i + 1, (a->nflight - i - 1) * sizeof *a->flight);
            a->nflight--;
            return c;
        }
    return -1;
}

/* Cut b in four (each half split again, across the longest splittable axis as the runner splits): return the
 * first quarter in *b, keep the others for the next calls. A block too thin to split stays whole. */
static void quarter_block(tq_adapt *a, struct tq_box *b)
{
    struct tq_box half[2], q[2];
    unsigned axes = a->cfg.op->splittable;
    if (tq_runner_split(b, axes, half))
        return;
    a->qhalf_split = 0;
    for (int h = 1; h >= 0; h--) {
        if (tq_runner_split(&half[h], axes, q)) {
            a->quarter[a->nquarter++] = half[h];
            continue;
        }
        if (h == 1) {
            a->qhalf = half[1];
            a->qhalf_split = 1;
        }
        a->quarter[a->nquarter++] = q[1];
        a->quarter[a->nquarter++] = q[0];
    }
    *b = a->quarter[--a->nquarter];
}

static int adapt_next(void *ctx, struct tq_box *box)
{
    tq_adapt *a = ctx;
    if (a->failed)
        return -1;
    if (a->nquarter) {
        *box = a->quarter[--a->nquarter];
    } else {
        if (!tq_region_next(a->region, box))
            return -1;
        a->handed++;
        /* While the probe runs, the other workers take quarter blocks: a model 2x low still fits them. */
        if (a->waiting)
            quarter_block(a, box);
        else if (a->probing) {
            a->probing = 0;
            a->waiting = a->has_probe = 1;
            a->probe = *box;
        }
    }
    double pred = predict_box(a, a->cfg.model, box, NULL);
    flight_add(a, box, pred * tq_adapt_correction(a));
    return 1;
}

static tq_status push_block(tq_adapt *a, const struct tq_adapt_block *b)
{
    if (a->nblocks == a->capblocks) {
        size_t cap = a->capblocks ? 2 * a->capblocks : 64;
        struct tq_adapt_block *nb = tq_realloc(a->blocks, cap * sizeof *nb);
        if (!nb)
            return tq_fail(&a->err, TQ_ERR_NOMEM, "out of memory");
        a->blocks = nb;
        a->capblocks = cap;
    }
    a->blocks[a->nblocks++] = *b;
    return TQ_OK;
}

/* The block shape the planner chooses for the whole volume with the model scaled by c; 0 when none fits. */
static int plan_chunk(const tq_adapt *a, double c, size_t chunk[3])
{
    struct tq_model m = *a->cfg.model;
    tq_model_scale(&m, c);
    struct tq_plan_request req = {.op = a->cfg.op, .params = a->cfg.params, .model = &m,
                                  .memory_bytes = a->cfg.limit, .safety = a->cfg.safety,
                                  .workers = a->cfg.workers, .planner = TQ_PLANNER_TRACEQ};
    memcpy(req.shape, a->cfg.shape, sizeof req.shape);
    struct tq_plan *p = NULL;
    if (tq_plan_make(&req, &p, NULL) != TQ_OK)
        return 0;
    for (int k = 0; k < 3; k++)
        chunk[k] = tq_box_len(&p->blocks[0].out, k);
    tq_plan_free(p);
    return 1;
}

/* After a block ended: re-cut what is not started when the correction puts the current cut's block above the
 * safety share of the limit, or below half the limit. */
static void adapt_check(tq_adapt *a)
{
    double c = tq_adapt_correction(a);
    if (c == a->planned_corr || !tq_region_left(a->region))
        return;
    a->planned_corr = c;
    struct tq_box b = {{0, 0, 0}, {a->chunk[0], a->chunk[1], a->chunk[2]}};
    for (int k = 0; k < 3; k++)
        b.hi[k] = b.hi[k] < a->cfg.out_shape[k] ? b.hi[k] : a->cfg.out_shape[k];
    double bound;
    predict_box(a, a->cfg.model, &b, &bound);
    double need = c * bound, limit = (double)a->cfg.limit;
    int smaller = need > a->cfg.safety * limit, larger = need < 0.5 * limit;
    size_t to[3];
    if (!(smaller || larger) || !plan_chunk(a, c, to))
        return;
    double v0 = (double)a->chunk[0] * a->chunk[1] * a->chunk[2], v1 = (double)to[0] * to[1] * to[2];
    if ((smaller && !(v1 < v0)) || (larger && !(v1 > v0)))
        return;
    if (a->nrecuts == a->caprecuts) {
        size_t cap = a->caprecuts ? 2 * a->caprecuts : 8;
        struct tq_adapt_recut *nr = tq_realloc(a->recuts, cap * sizeof *nr);
        if (!nr) {
            a->failed = tq_fail(&a->err, TQ_ERR_NOMEM, "out of memory");
            return;
        }
        a->recuts = nr;
        a->caprecuts = cap;
    }
    /* journaled first: a resumed run must cut what is left the same way */
    tq_status st = a->cfg.journal ? tq_journal_append_cut(a->cfg.journal, to, c, &a->err) : TQ_OK;
    if (st == TQ_OK)
        st = tq_region_recut(a->region, to, &a->err);
    if (st) {
        a->failed = st;
        return;
    }
    struct tq_adapt_recut *r = &a->recuts[a->nrecuts++];
    *r = (struct tq_adapt_recut){.after = a->nblocks, .correction = c, .blocks_left = tq_region_left(a->region)};
    memcpy(r->from, a->chunk, sizeof r->from);
    memcpy(r->to, to, sizeof r->to);
    memcpy(a->chunk, to, sizeof a->chunk);
    if (larger) { /* never measured at this size: one block of it probes, the others take quarters */
        a->probing = a->cfg.workers > 1;
        a->wait_any = 0;
    }
}

/* The waiting ended while quarters of a block are still to hand out: when the correction says the second half of
 * that block fits (its corrected bound within the safety share of the limit), its two quarters go out as one. */
static void merge_quarters(tq_adapt *a)
{
    if (a->waiting || !a->qhalf_split || a->nquarter < 2)
        return;
    double bound;
    predict_box(a, a->cfg.model, &a->qhalf, &bound);
    if (tq_adapt_correction(a) * bound > a->cfg.safety * (double)a->cfg.limit)
        return;
    a->quarter[0] = a->qhalf;
    if (a->nquarter == 3)
        a->quarter[1] = a->quarter[2];
    a->nquarter--;
    a->qhalf_split = 0;
}

static void adapt_ended(void *ctx, const struct tq_runner_block_end *e)
{
    tq_adapt *a = ctx;
    double started = flight_take(a, &e->box);
    if (e->outcome == TQ_RUNNER_RERUN) { /* not the block's memory: it runs again, whole */
        if (started >= 0)
            flight_add(a, &e->box, started);
        return;
    }
    double pred = predict_box(a, a->cfg.model, &e->box, NULL);
    struct tq_adapt_block b = {.box = e->box, .predicted = pred,
                               .corrected = started >= 0 ? started : pred * tq_adapt_correction(a),
                               .rss_peak = e->rss_peak, .cg_peak = e->cg_peak, .seconds = e->seconds,
                               .oom = e->outcome == TQ_RUNNER_OOM};
    if (push_block(a, &b)) {
        a->failed = TQ_ERR_NOMEM;
        return;
    }
    if (pred > 0 && b.oom) {
        /* it needed more than the limit: a lower bound for this shape, so never plan it (or larger) again */
        double floor = (double)a->cfg.limit / pred;
        a->oom_floor = floor > a->oom_floor ? floor : a->oom_floor;
        /* its halves run first; the others take quarters until a block finishes */
        a->waiting = a->wait_any = a->cfg.workers > 1;
        a->probing = a->has_probe = 0;
    } else if (pred > 0 && e->rss_peak) {
        double ratio = (double)e->rss_peak / pred;
        a->max_ratio = ratio > a->max_ratio ? ratio : a->max_ratio;
        int is_probe = a->has_probe && !memcmp(&a->probe, &e->box, sizeof e->box);
        if (a->wait_any || is_probe)
            a->waiting = a->wait_any = a->has_probe = 0;
    }
    adapt_check(a);
    merge_quarters(a);
}

tq_status tq_adapt_run(tq_adapt *a, const struct tq_runner_task *task, const struct tq_runner_opts *opts,
                       struct tq_runner_report *rep, struct tq_err *err)
{
    struct tq_runner_source src = {.next = adapt_next, .ended = adapt_ended, .ctx = a};
    memset(rep, 0, sizeof *rep);
    TQ_TRY(adapt_start(a, opts->journal, err));
    tq_status st = tq_runner_run_fed(task, &src, opts, rep, err);
    rep->blocks_skipped = a->skipped;
    if (st == TQ_OK && a->failed) {
        *err = a->err;
        st = a->failed;
    }
    return st;
}

size_t tq_adapt_blocks(const tq_adapt *a)
{
    return a->handed;
}

const struct tq_adapt_block *tq_adapt_block(const tq_adapt *a, size_t i, size_t *n)
{
    *n = a->nblocks;
    return i < a->nblocks ? &a->blocks[i] : NULL;
}

const struct tq_adapt_recut *tq_adapt_recut(const tq_adapt *a, size_t i, size_t *n)
{
    *n = a->nrecuts;
    return i < a->nrecuts ? &a->recuts[i] : NULL;
}

tq_status tq_adapt_learn_check(const char *path, int overwrite, struct tq_err *err)
{
    if (!overwrite && access(path, F_OK) == 0)
        return tq_fail(err, TQ_ERR_USAGE, "--learn %s exists (add --force to replace it)", path);
    char copy[PATH_MAX];
    if (snprintf(copy, sizeof copy, "%s", path) >= (int)sizeof copy)
        return tq_fail(err, TQ_ERR_USAGE, "--learn: path too long");
    const char *dir = dirname(copy);
    if (access(dir, W_OK | X_OK))
        return tq_fail_errno(err, TQ_ERR_USAGE, "--learn %s: cannot write in %s", path, dir);
    return TQ_OK;
}

tq_status tq_adapt_learn(const tq_adapt *a, const char *path, int overwrite, struct tq_err *err)
{
    struct tq_model m = *a->cfg.model;
    tq_model_scale(&m, tq_adapt_correction(a));
    return tq_model_write(&m, path, overwrite, err);
}

void tq_adapt_print(const tq_adapt *a, FILE *f)
{
    char p[32], c[32], r[32], g[32];
    fprintf(f, "  adaptive: %zu blocks cut, correction %.3f (the largest measured / predicted; OOM floor %.3f), "
            "%zu re-cut(s)\n", a->handed, tq_adapt_correction(a), a->oom_floor, a->nrecuts);
    for (size_t i = 0; i < a->nrecuts; i++) {
        const struct tq_adapt_recut *x = &a->recuts[i];
        fprintf(f, "  re-cut after %zu block(s) at correction %.3f: %zux%zux%zu -> %zux%zux%zu, %zu blocks left\n",
                x->after, x->correction, x->from[0], x->from[1], x->from[2], x->to[0], x->to[1], x->to[2],
                x->blocks_left);
    }
    fprintf(f, "  %-34s %12s %12s %12s %12s %7s\n", "block", "predicted", "corrected", "RSS (VmHWM)", "cgroup",
            "ratio");
    for (size_t i = 0; i < a->nblocks; i++) {
        const struct tq_adapt_block *b = &a->blocks[i];
        char box[64];
        snprintf(box, sizeof box, "[%zu:%zu, %zu:%zu, %zu:%zu]", b->box.lo[0], b->box.hi[0], b->box.lo[1],
                 b->box.hi[1], b->box.lo[2], b->box.hi[2]);
        tq_format_bytes((uint64_t)b->predicted, p, sizeof p);
        tq_format_bytes((uint64_t)b->corrected, c, sizeof c);
        tq_format_bytes(b->rss_peak, r, sizeof r);
        tq_format_bytes(b->cg_peak, g, sizeof g);
        if (b->oom)
            fprintf(f, "  %-34s %12s %12s %12s %12s %7s\n", box, p, c, "OOM kill", b->cg_peak ? g : "-", "-");
        else
            fprintf(f, "  %-34s %12s %12s %12s %12s %7.3f\n", box, p, c, r, b->cg_peak ? g : "-",
                    b->predicted > 0 ? (double)b->rss_peak / b->predicted : 0);
    }
}

json_t *tq_adapt_json(const tq_adapt *a)
{
    json_t *blocks = json_array(), *recuts = json_array();
    for (size_t i = 0; blocks && i < a->nblocks; i++) {
        const struct tq_adapt_block *b = &a->blocks[i];
        json_array_append_new(
            blocks, json_pack("{s:[I,I,I], s:[I,I,I], s:f, s:f, s:I, s:I, s:f, s:b}", "lo", (json_int_t)b->box.lo[0],
                              (json_int_t)b->box.lo[1], (json_int_t)b->box.lo[2], "hi", (json_int_t)b->box.hi[0],
                              (json_int_t)b->box.hi[1], (json_int_t)b->box.hi[2], "predicted_bytes", b->predicted,
                              "corrected_bytes", b->corrected, "rss_peak_bytes", (json_int_t)b->rss_peak,
                              "cgroup_peak_bytes", (json_int_t)b->cg_peak, "seconds", b->seconds, "oom_kill",
                              b->oom));
    }
    for (size_t i = 0; recuts && i < a->nrecuts; i++) {
        const struct tq_adapt_recut *x = &a->recuts[i];
        json_array_append_new(recuts, json_pack("{s:I, s:f, s:[I,I,I], s:[I,I,I], s:I}", "after_blocks",
                                                (json_int_t)x->after, "correction", x->correction, "from",
                                                (json_int_t)x->from[0], (json_int_t)x->from[1],
                                                (json_int_t)x->from[2], "to", (json_int_t)x->to[0],
                                                (json_int_t)x->to[1], (json_int_t)x->to[2], "blocks_left",
                                                (json_int_t)x->blocks_left));
    }
    if (!blocks || !recuts) {
        json_decref(blocks);
        json_decref(recuts);
        return NULL;
    }
    return json_pack("{s:I, s:f, s:f, s:[I,I,I], s:o, s:o}", "blocks_cut", (json_int_t)a->handed, "correction",
                     tq_adapt_correction(a), "oom_floor", a->oom_floor, "last_cut",
                     (json_int_t)a->chunk[0], (json_int_t)a->chunk[1], (json_int_t)a->chunk[2], "blocks", blocks,
                     "recuts", recuts);
}

void tq_adapt_free(tq_adapt *a)
{
    if (!a)
        return;
    tq_region_free(a->region);
    free(a->blocks);
    free(a->recuts);
    free(a);
}
