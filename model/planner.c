/* planner.c - the four planners (traceq, seed, auto, none) and the grid plans they produce (see planner.h). */
#define _GNU_SOURCE
#include "planner.h"
#include "../common/alloc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/units.h"
#include "../operators/volume.h"

/* Balancing to a multiple of workers is "cheap" when it reads at most this much more input (halo) than the plan
 * with the fewest blocks. */
#define BALANCE_MAX_EXTRA 1.25

/* Keeping whole traces (no cut along samples) is worth up to this many times the fewest blocks: a cut along the
 * fastest axis makes every block read and write short pieces of every trace, and the pages those pieces share are
 * dirtied by two workers. Measured (results/EXPERIMENT.md, GST3D 400^3, 2 workers at 54 MiB): 398x398x34 blocks
 * took 36-53 s with 16-24 s of system time, 23x398x398 blocks 3-6 s with 0.3-0.6 s. */
#define WHOLE_TRACES_MAX_BLOCKS 4

static const char *const planner_names[] = {"traceq", "seed", "auto", "none"};

tq_status tq_planner_parse(const char *name, enum tq_planner_kind *kind, struct tq_err *err)
{
    for (int k = 0; k < 4; k++)
        if (!strcmp(name, planner_names[k])) {
            *kind = (enum tq_planner_kind)k;
            return TQ_OK;
        }
    return tq_fail(err, TQ_ERR_USAGE, "unknown planner '%s' (expected traceq, seed, auto or none)", name);
}

const char *tq_planner_name(enum tq_planner_kind kind)
{
    return (unsigned)kind < 4 ? planner_names[kind] : "?";
}

/* A regular grid over the output: block length c[a] per axis, the last one possibly shorter. */
struct grid {
    size_t c[3];
};

static size_t ceil_div(size_t a, size_t b)
{
    return (a + b - 1) / b;
}

/* The plan's input box of output box `out`. */
static void input_box(const struct tq_plan_request *req, const struct tq_box *out, struct tq_box *in)
{
    tq_op_input_box(req->op, req->params, req->shape, out, in);
}

static double box_bound(const struct tq_model *m, const struct tq_box *b)
{
    size_t s[3] = {tq_box_len(b, 0), tq_box_len(b, 1), tq_box_len(b, 2)};
    return tq_model_bound(m, s);
}

static tq_status plan_alloc(const struct tq_plan_request *req, const size_t out_shape[3], size_t nblocks,
                            struct tq_plan **out, struct tq_err *err)
{
    struct tq_plan *p = tq_calloc(1, sizeof *p);
    if (p)
        p->blocks = tq_calloc(nblocks, sizeof *p->blocks);
    if (!p || !p->blocks) {
        tq_plan_free(p);
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory for a plan of %zu blocks", nblocks);
    }
    tq_plan_set_op(p, req->op, req->params);
    snprintf(p->planner, sizeof p->planner, "%s", tq_planner_name(req->planner));
    memcpy(p->shape, req->shape, sizeof p->shape);
    memcpy(p->out_shape, out_shape, sizeof p->out_shape);
    p->memory_bytes = req->memory_bytes;
    p->safety = req->safety;
    p->workers = req->workers;
    p->nblocks = nblocks;
    *out = p;
    return TQ_OK;
}

/* Cut the output into grid blocks; each gets `fixed` as prediction, or the model's bound when fixed < 0. */
static tq_status grid_plan(const struct tq_plan_request *req, const size_t out_shape[3], const struct grid *g,
                           double fixed, struct tq_plan **out, struct tq_err *err)
{
    size_t n[3], total;
    for (int a = 0; a < 3; a++)
        n[a] = ceil_div(out_shape[a], g->c[a]);
    if (__builtin_mul_overflow(n[0], n[1], &total) || __builtin_mul_overflow(total, n[2], &total) ||
        total > TQ_PLAN_MAX_BLOCKS)
        return tq_fail(err, TQ_ERR_LIMIT,
                       "the %s planner would cut %zux%zux%zu into %zux%zux%zu blocks, more than %d: the memory "
                       "per worker is far too small for this volume (or the shape is unreasonable)",
                       tq_planner_name(req->planner), req->shape[0], req->shape[1], req->shape[2], n[0], n[1], n[2],
                       TQ_PLAN_MAX_BLOCKS);
    TQ_TRY(plan_alloc(req, out_shape, total, out, err));
    size_t k = 0;
    for (size_t i = 0; i < n[0]; i++)
        for (size_t j = 0; j < n[1]; j++)
            for (size_t l = 0; l < n[2]; l++) {
                struct tq_plan_block *b = &(*out)->blocks[k++];
                size_t idx[3] = {i, j, l};
                for (int a = 0; a < 3; a++) {
                    b->out.lo[a] = idx[a] * g->c[a];
                    b->out.hi[a] = b->out.lo[a] + g->c[a] < out_shape[a] ? b->out.lo[a] + g->c[a] : out_shape[a];
                }
                double pred = fixed;
                if (fixed < 0) {
                    struct tq_box in;
                    input_box(req, &b->out, &in);
                    pred = req->model ? box_bound(req->model, &in) : 0;
                }
                if (!isfinite(pred) || pred > TQ_MODEL_MAX_BYTES) {
                    tq_status st = tq_fail(err, TQ_ERR_RANGE,
                                           "the model predicts %.3g B for a %zux%zux%zu block, beyond any real "
                                           "machine (more than 1 EiB): the shape or the model's coefficients are "
                                           "unreasonable", pred, tq_box_len(&b->out, 0), tq_box_len(&b->out, 1),
                                           tq_box_len(&b->out, 2));
                    tq_plan_free(*out);
                    *out = NULL;
                    return st;
                }
                b->predicted_bytes = tq_bytes_from_double(pred);
            }
    return TQ_OK;
}

/* ---- traceq: search every grid of the splittable axes ---- */

/* One candidate block length along one axis, with the input extents its blocks need. */
struct axis_cand {
    size_t c, n;          /* block length and count */
    size_t in_min, in_max; /* smallest and largest input extent of a block */
    double in_sum;        /* input voxels along the axis summed over blocks (>= the axis length: halo) */
};

struct axis_cands {
    size_t len;
    struct axis_cand *v;
};

static void axis_cand_fill(const struct tq_plan_request *req, const size_t out_shape[3], int a, size_t c,
                           struct axis_cand *ac)
{
    struct tq_box ob = {{0, 0, 0}, {out_shape[0], out_shape[1], out_shape[2]}}, ib;
    ac->c = c;
    ac->n = ceil_div(out_shape[a], c);
    ac->in_min = SIZE_MAX;
    ac->in_max = 0;
    ac->in_sum = 0;
    for (size_t j = 0; j < ac->n; j++) {
        ob.lo[a] = j * c;
        ob.hi[a] = ob.lo[a] + c < out_shape[a] ? ob.lo[a] + c : out_shape[a];
        input_box(req, &ob, &ib);
        size_t e = tq_box_len(&ib, a);
        ac->in_min = e < ac->in_min ? e : ac->in_min;
        ac->in_max = e > ac->in_max ? e : ac->in_max;
        ac->in_sum += (double)e;
    }
}

/* Distinct block lengths ceil(L / k), k = 1..L (every count of blocks), or the whole axis when it can't be cut. */
static tq_status axis_cands_build(const struct tq_plan_request *req, const size_t out_shape[3], int a,
                                  struct axis_cands *ac, struct tq_err *err)
{
    size_t L = out_shape[a], cap = (req->op->splittable >> a) & 1 ? L : 1;
    if (cap > TQ_PLAN_MAX_BLOCKS) /* no plan has more blocks along one axis than in all */
        cap = TQ_PLAN_MAX_BLOCKS;
    ac->len = 0;
    ac->v = tq_malloc(cap * sizeof *ac->v);
    if (!ac->v)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory for %zu candidate chunk lengths", cap);
    size_t prev = 0;
    for (size_t k = 1; k <= cap; k++) {
        size_t c = ceil_div(L, k);
        if (c == prev)
            continue;
        /* ceil(L/k) repeats a length only for consecutive k; a new length means a new block count */
        if (ceil_div(L, c) != k)
            continue;
        axis_cand_fill(req, out_shape, a, c, &ac->v[ac->len++]);
        prev = c;
    }
    return TQ_OK;
}

struct choice {
    int found;
    size_t count;
    size_t cuts[2];  /* blocks along samples (axis 2) and along xlines (axis 1) */
    double in_voxels, aspect;
    size_t idx[3];
};

/* Largest bound over the block input shapes of a grid: the model is multilinear in the extents (or monotone in
 * the volume, checked at fit time), so the corners of [in_min, in_max]^3 hold the maximum. */
static double grid_max_bound(const struct tq_model *m, const struct axis_cand *c[3])
{
    double worst = 0;
    for (int k = 0; k < 8; k++) {
        size_t s[3];
        for (int a = 0; a < 3; a++)
            s[a] = (k >> a) & 1 ? c[a]->in_max : c[a]->in_min;
        worst = fmax(worst, tq_model_bound(m, s));
    }
    return worst;
}

/* Is `cand` better than the current choice, among grids with the same block count? Contiguous blocks first:
 * fewer cuts along samples, then along xlines (a volume is C order, samples fastest, so a cut along samples turns
 * each trace into pieces and a cut along xlines each inline plane; measured in results/EXPERIMENT.md, GST3D 400^3
 * at 86 MiB: 398x199x80 blocks took 11.6 s where 40x398x398 took 4.7 s). Then fewer input voxels (halo), then
 * the most cube-like block. */
static int better(const struct choice *cur, const struct choice *cand)
{
    if (!cur->found)
        return 1;
    for (int i = 0; i < 2; i++)
        if (cand->cuts[i] != cur->cuts[i])
            return cand->cuts[i] < cur->cuts[i];
    if (cand->in_voxels != cur->in_voxels)
        return cand->in_voxels < cur->in_voxels;
    return cand->aspect < cur->aspect;
}

/* Which grids a search considers and how it ranks them. */
enum search_mode {
    FEWEST,  /* the fewest blocks, then better() */
    EXACTLY, /* exactly `count` blocks, ranked by better() */
    UP_TO,   /* at most `count` blocks: fewest cuts along samples, then the fewest blocks, then better() */
};

/* Is cand preferred to cur in this mode? */
static int preferred(enum search_mode mode, const struct choice *cur, const struct choice *cand)
{
    if (!cur->found)
        return 1;
    if (mode == UP_TO && cand->cuts[0] != cur->cuts[0])
        return cand->cuts[0] < cur->cuts[0];
    if (mode != EXACTLY && cand->count != cur->count)
        return cand->count < cur->count;
    return better(cur, cand);
}

/* Best feasible grid in this mode. min_need gets the smallest worst-block bound over all grids considered. */
static void search(const struct tq_plan_request *req, const struct axis_cands ac[3], double limit,
                   enum search_mode mode, size_t count, struct choice *best, double *min_need)
{
    memset(best, 0, sizeof *best);
    *min_need = INFINITY;
    /* Candidates come in increasing block counts: stop an axis once the plan would exceed TQ_PLAN_MAX_BLOCKS. */
    for (size_t i = 0; i < ac[0].len; i++)
        for (size_t j = 0; j < ac[1].len && ac[0].v[i].n * ac[1].v[j].n <= TQ_PLAN_MAX_BLOCKS; j++)
            for (size_t k = 0; k < ac[2].len; k++) {
                const struct axis_cand *c[3] = {&ac[0].v[i], &ac[1].v[j], &ac[2].v[k]};
                size_t n = c[0]->n * c[1]->n * c[2]->n;
                if (n > TQ_PLAN_MAX_BLOCKS)
                    break;
                if ((mode == EXACTLY && n != count) || (mode == UP_TO && n > count))
                    continue;
                if (mode == FEWEST && best->found && n > best->count)
                    continue;
                double need = grid_max_bound(req->model, c);
                *min_need = fmin(*min_need, need);
                if (need > limit)
                    continue;
                double vox = c[0]->in_sum * c[1]->in_sum * c[2]->in_sum;
                double lo = fmin(fmin(c[0]->c, c[1]->c), c[2]->c), hi = fmax(fmax(c[0]->c, c[1]->c), c[2]->c);
                struct choice cand = {1, n, {c[2]->n, c[1]->n}, vox, hi / lo, {i, j, k}};
                if (preferred(mode, best, &cand))
                    *best = cand;
            }
}

static tq_status limit_error(const struct tq_plan_request *req, double min_need, struct tq_err *err)
{
    char need[32], mem[32], smallest[32];
    tq_format_bytes(tq_bytes_from_double(min_need / req->safety), need, sizeof need);
    tq_format_bytes(req->memory_bytes, mem, sizeof mem);
    tq_format_bytes(tq_bytes_from_double(min_need), smallest, sizeof smallest);
    if (!isfinite(min_need) || min_need > TQ_MODEL_MAX_BYTES)
        return tq_fail(err, TQ_ERR_RANGE,
                       "%s on %zux%zux%zu: the model predicts %.3g B for the smallest chunk of a plan of at most %d "
                       "blocks, beyond any real machine: the shape or the model's coefficients are unreasonable",
                       req->op->name, req->shape[0], req->shape[1], req->shape[2], min_need, TQ_PLAN_MAX_BLOCKS);
    return tq_fail(err, TQ_ERR_LIMIT,
                   "%s on %zux%zux%zu cannot fit %s per worker at safety %.2f: even the smallest allowed chunk "
                   "needs %s; use --memory of at least %s",
                   req->op->name, req->shape[0], req->shape[1], req->shape[2], mem, req->safety, smallest, need);
}

static tq_status plan_traceq(const struct tq_plan_request *req, const size_t out_shape[3], struct tq_plan **out,
                             struct tq_err *err)
{
    struct axis_cands ac[3] = {{0, NULL}, {0, NULL}, {0, NULL}};
    tq_status st = TQ_OK;
    for (int a = 0; a < 3 && !st; a++)
        st = axis_cands_build(req, out_shape, a, &ac[a], err);
    double limit = (double)req->memory_bytes * req->safety, min_need;
    struct choice fewest, whole, balanced;
    if (!st) {
        search(req, ac, limit, FEWEST, 0, &fewest, &min_need);
        if (!fewest.found)
            st = limit_error(req, min_need, err);
    }
    if (!st) {
        /* Keep traces whole when that costs at most WHOLE_TRACES_MAX_BLOCKS times the fewest blocks; then balance
         * the count to a multiple of the workers when that reads little more input and cuts no more traces. */
        struct choice *pick = &fewest;
        if (fewest.cuts[0] > 1) {
            search(req, ac, limit, UP_TO, WHOLE_TRACES_MAX_BLOCKS * fewest.count, &whole, &min_need);
            if (whole.found && whole.cuts[0] < fewest.cuts[0])
                pick = &whole;
        }
        /* One block is never split for balance: the runner gives a lone block every core as threads, and two
         * processes each fault in and zero their own slab buffers (GST3D, Gaussian and Envelope at 400^3 with
         * 3 GB, results/EXPERIMENT.md: 2 blocks took up to 2x the system time of 1 block with 2 threads). */
        size_t w = (size_t)req->workers, target = ceil_div(pick->count, w) * w;
        if (target != pick->count && pick->count > 1) {
            search(req, ac, limit, EXACTLY, target, &balanced, &min_need);
            if (balanced.found && balanced.cuts[0] <= pick->cuts[0] &&
                balanced.in_voxels <= BALANCE_MAX_EXTRA * pick->in_voxels)
                pick = &balanced;
        }
        struct grid g;
        for (int a = 0; a < 3; a++)
            g.c[a] = ac[a].v[pick->idx[a]].c;
        st = grid_plan(req, out_shape, &g, -1, out, err);
    }
    for (int a = 0; a < 3; a++)
        free(ac[a].v);
    return st;
}

/* The largest divisor of g in [lo, hi] that also passes ok(f, arg), or 0. Divisors come in pairs (f, g / f), so
 * this takes sqrt(g) steps however large the axis is. */
static size_t largest_divisor(size_t g, double lo, double hi, int (*ok)(size_t, const void *), const void *arg)
{
    size_t best = 0;
    for (size_t f = 1; f <= g / f; f++) {
        if (g % f)
            continue;
        size_t pair[2] = {f, g / f};
        for (int i = 0; i < 2; i++)
            if ((double)pair[i] >= lo && (double)pair[i] <= hi && pair[i] > best && (!ok || ok(pair[i], arg)))
                best = pair[i];
    }
    return best;
}

static size_t gcd(size_t a, size_t b)
{
    while (b) {
        size_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* ---- seed: the original's cube search (exp-03 notebook) ---- */

struct seed_fit {
    double cost, max_mem;
};

static int seed_fits(size_t t, const void *arg)
{
    const struct seed_fit *f = arg;
    return (double)t * t * t * f->cost <= f->max_mem;
}

static tq_status plan_seed(const struct tq_plan_request *req, const size_t out_shape[3], struct tq_plan **out,
                           struct tq_err *err)
{
    double s3[3] = {(double)req->shape[0], (double)req->shape[1], (double)req->shape[2]};
    double voxels = s3[0] * s3[1] * s3[2];
    struct seed_fit fit = {tq_model_eval(req->model, s3) / voxels, /* whole prediction spread over voxels */
                           (double)req->memory_bytes * req->safety};
    size_t dmin = req->shape[0] < req->shape[1] ? req->shape[0] : req->shape[1];
    dmin = dmin < req->shape[2] ? dmin : req->shape[2];
    double side_d = fit.cost > 0 ? cbrt(fit.max_mem / fit.cost) : (double)dmin;
    /* the largest side <= side_d dividing every axis whose cube fits (else 1) */
    size_t s = largest_divisor(gcd(gcd(req->shape[0], req->shape[1]), req->shape[2]), 1,
                               side_d < (double)dmin ? side_d : (double)dmin, seed_fits, &fit);
    s = s ? s : 1;
    struct grid g = {{s, s, s}};
    return grid_plan(req, out_shape, &g, (double)s * s * s * fit.cost, out, err);
}

/* ---- auto: dask.array's auto_chunks for float32, unsplittable axes fixed whole ---- */

/* Dask's round_to: the largest divisor of s in [c/2, c], else c itself (an uneven last chunk). */
static size_t dask_round_to(double c, size_t s)
{
    if (c > (double)s)
        return (size_t)(c / (double)s) * s;
    size_t f = largest_divisor(s, c / 2, c, NULL, NULL);
    return f ? f : c >= 1 ? (size_t)c : 1;
}

static void auto_chunks(const struct tq_plan_request *req, size_t c[3])
{
    double limit = (double)(req->auto_bytes ? req->auto_bytes : TQ_PLAN_AUTO_BYTES) / sizeof(float);
    double fixed = 1;
    int autos[3], na = 0;
    for (int a = 0; a < 3; a++) {
        c[a] = req->shape[a];
        if ((req->op->splittable >> a) & 1)
            autos[na++] = a;
        else
            fixed *= (double)req->shape[a];
    }
    /* Axes shorter than the ideal cube side are kept whole and the side recomputed, as dask recurses. */
    for (int again = 1; again && na;) {
        double size = pow(limit / fixed, 1.0 / na);
        again = 0;
        for (int i = 0; i < na; i++)
            if ((double)req->shape[autos[i]] < size) {
                fixed *= (double)req->shape[autos[i]];
                autos[i--] = autos[--na];
                again = 1;
            }
        if (!again)
            for (int i = 0; i < na; i++)
                c[autos[i]] = dask_round_to(size, req->shape[autos[i]]);
    }
}

static tq_status plan_auto(const struct tq_plan_request *req, const size_t out_shape[3], struct tq_plan **out,
                           struct tq_err *err)
{
    struct grid g;
    auto_chunks(req, g.c);
    return grid_plan(req, out_shape, &g, -1, out, err);
}

/* ---- entry point ---- */

static tq_status request_check(const struct tq_plan_request *req, struct tq_err *err)
{
    if (!req->op || !req->params)
        return tq_fail(err, TQ_ERR_USAGE, "no operator given");
    TQ_TRY(tq_vol_check_shape(req->shape, err)); /* no axis 0, a voxel count that fits */
    if (!(req->safety > 0 && req->safety <= 1))
        return tq_fail(err, TQ_ERR_USAGE, "safety must be in (0, 1], got %g", req->safety);
    if (req->workers < 1)
        return tq_fail(err, TQ_ERR_USAGE, "workers must be at least 1, got %d", req->workers);
    if (req->model && strcmp(req->model->op, req->op->name))
        return tq_fail(err, TQ_ERR_USAGE, "the model is for operator '%s', not '%s'", req->model->op,
                       req->op->name);
    size_t tl = req->model ? strlen(req->model->target) : 6;
    if (req->model && (tl < 6 || strcmp(req->model->target + tl - 6, "_bytes")))
        return tq_fail(err, TQ_ERR_USAGE, "the model predicts %s, not memory; fit one with --target peak_rss_bytes",
                       req->model->target);
    int needs = req->planner == TQ_PLANNER_TRACEQ || req->planner == TQ_PLANNER_SEED;
    if (needs && !req->model)
        return tq_fail(err, TQ_ERR_USAGE, "the %s planner needs a model", tq_planner_name(req->planner));
    if (needs && !req->memory_bytes)
        return tq_fail(err, TQ_ERR_USAGE, "the %s planner needs a memory limit", tq_planner_name(req->planner));
    return TQ_OK;
}

tq_status tq_plan_make(const struct tq_plan_request *req, struct tq_plan **out, struct tq_err *err)
{
    size_t out_shape[3];
    TQ_TRY(request_check(req, err));
    TQ_TRY(tq_op_output_shape(req->op, req->params, req->shape, out_shape, err));
    struct grid whole = {{out_shape[0], out_shape[1], out_shape[2]}};
    tq_status st;
    switch (req->planner) {
    case TQ_PLANNER_TRACEQ:
        st = plan_traceq(req, out_shape, out, err);
        break;
    case TQ_PLANNER_SEED:
        st = plan_seed(req, out_shape, out, err);
        break;
    case TQ_PLANNER_AUTO:
        st = plan_auto(req, out_shape, out, err);
        break;
    default:
        st = grid_plan(req, out_shape, &whole, -1, out, err);
    }
    if (!st && req->model) /* the figure the blocks were sized in, so `traceq run` can check its enforcement */
        snprintf((*out)->model_target, sizeof (*out)->model_target, "%s", req->model->target);
    return st;
}

void tq_plan_block_input(const struct tq_plan *plan, const struct tq_op *op, const struct tq_op_params *p,
                         size_t i, struct tq_box *in)
{
    tq_op_input_box(op, p, plan->shape, &plan->blocks[i].out, in);
}

/* ---- dask chunks= ---- */

static int size_cmp(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorted distinct block starts along axis a into cuts (n of them). */
static size_t axis_cuts(const struct tq_plan *plan, int a, size_t *cuts)
{
    for (size_t i = 0; i < plan->nblocks; i++)
        cuts[i] = plan->blocks[i].out.lo[a];
    qsort(cuts, plan->nblocks, sizeof *cuts, size_cmp);
    size_t n = 0;
    for (size_t i = 0; i < plan->nblocks; i++)
        if (!n || cuts[i] != cuts[n - 1])
            cuts[n++] = cuts[i];
    return n;
}

tq_status tq_plan_dask_chunks(const struct tq_plan *plan, size_t trim, char **out, struct tq_err *err)
{
    /* each axis has at most nblocks chunks of at most 20 digits and ", "; brackets and commas need a few more */
    size_t cap = 3 * plan->nblocks * 22 + 32, len = 0, total = 1;
    size_t *cuts = tq_malloc((plan->nblocks + 1) * sizeof *cuts);
    char *buf = cuts ? tq_malloc(cap) : NULL;
    if (!buf) {
        free(cuts);
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory formatting dask chunks");
    }
    len += (size_t)snprintf(buf + len, cap - len, "(");
    for (int a = 0; a < 3; a++) {
        size_t n = axis_cuts(plan, a, cuts);
        total *= n;
        cuts[n] = plan->out_shape[a];
        len += (size_t)snprintf(buf + len, cap - len, "(");
        for (size_t i = 0; i < n; i++) {
            size_t c = cuts[i + 1] - cuts[i] + (i == 0 ? trim : 0) + (i == n - 1 ? trim : 0);
            len += (size_t)snprintf(buf + len, cap - len, "%s%zu", i ? ", " : "", c);
        }
        len += (size_t)snprintf(buf + len, cap - len, "%s)%s", n == 1 ? "," : "", a < 2 ? ", " : ")");
    }
    free(cuts);
    if (total != plan->nblocks) {
        free(buf);
        return tq_fail(err, TQ_ERR_FORMAT, "the plan's %zu blocks are not a regular grid; dask needs one",
                       plan->nblocks);
    }
    *out = buf;
    return TQ_OK;
}
