/* test_planner.c - the traceq, seed, auto and none planners (model/planner.c) on known models. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../model/planner.h"
#include "../common/units.h"

/* The original's GST3D model: about 240 B/voxel plus a 0.1 GB baseline (original-system.md section 3b). */
static void original_model(struct tq_model *m, const char *op)
{
    memset(m, 0, sizeof *m);
    snprintf(m->op, sizeof m->op, "%s", op);
    snprintf(m->target, sizeof m->target, "peak_rss_bytes");
    m->fit.kind = TQ_FIT_LINEAR;
    m->fit.ncoef = 2;
    m->fit.coef[0] = 0.1e9;
    m->fit.coef[1] = 240.0;
    m->bound.margin_bytes = 20e6;
    m->bound.margin_rel = 0.03;
    for (int k = 0; k < 3; k++) {
        m->lo[k] = 100;
        m->hi[k] = 400;
    }
    m->lo[3] = 1e6;
    m->hi[3] = 64e6;
}

static struct tq_op_params params;

static struct tq_plan_request request(const char *op, const struct tq_model *m, size_t side, uint64_t mem,
                                      enum tq_planner_kind planner)
{
    tq_op_params_default(&params);
    struct tq_plan_request r = {tq_op_find(op), &params, m, {side, side, side}, mem, 0.8, 1, planner, 0};
    cr_assert_not_null(r.op, "operator %s missing", op);
    return r;
}

/* Every block fits, its recorded prediction is the model's bound of its input box, and the blocks tile. */
static void check_plan(const struct tq_plan_request *r, const struct tq_plan *p)
{
    struct tq_err err = {0};
    cr_assert_eq(tq_plan_check_tiling(p, &err), TQ_OK, "%s", err.msg);
    for (size_t i = 0; i < p->nblocks; i++) {
        struct tq_box in;
        tq_plan_block_input(p, r->op, r->params, i, &in);
        size_t s[3] = {tq_box_len(&in, 0), tq_box_len(&in, 1), tq_box_len(&in, 2)};
        double bound = tq_model_bound(r->model, s);
        cr_assert(fabs((double)p->blocks[i].predicted_bytes - ceil(bound)) <= 1.0, "block %zu prediction", i);
        cr_assert(bound <= (double)r->memory_bytes * r->safety, "block %zu needs %g > limit", i, bound);
        for (int a = 0; a < 3; a++)
            if (!((r->op->splittable >> a) & 1))
                cr_assert_eq(tq_box_len(&p->blocks[i].out, a), p->out_shape[a], "axis %d was split", a);
    }
}

Test(planner, seed_reproduces_the_originals_choices)
{
    struct tq_model m;
    original_model(&m, "gst3d");
    struct tq_plan *p = NULL;
    struct tq_err err = {0};
    /* exp-03: 200^3 at 1.5 GB -> (100,100,100) */
    struct tq_plan_request r = request("gst3d", &m, 200, 1500000000ull, TQ_PLANNER_SEED);
    cr_assert_eq(tq_plan_make(&r, &p, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(tq_box_len(&p->blocks[0].out, 0), 100);
    cr_assert_eq(tq_box_len(&p->blocks[0].out, 2), 100);
    cr_assert_eq(p->nblocks, 8);
    cr_assert_str_eq(p->planner, "seed");
    char *chunks = NULL;
    cr_assert_eq(tq_plan_dask_chunks(p, 1, &chunks, &err), TQ_OK, "%s", err.msg);
    cr_assert_str_eq(chunks, "((101, 99), (101, 99), (101, 99))");
    free(chunks);
    tq_plan_free(p);
    /* and 400^3 at 3 GB -> (200,200,200), the case that ran out of memory */
    r = request("gst3d", &m, 400, 3000000000ull, TQ_PLANNER_SEED);
    cr_assert_eq(tq_plan_make(&r, &p, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(tq_box_len(&p->blocks[0].out, 1), 200);
    tq_plan_free(p);
}

/* `traceq fit` writes component models (baseline + heap/mmap/rest); seed must spread their whole prediction over
 * the voxels too, not the empty top-level fit (which made every seed plan one block). */
Test(planner, seed_uses_a_component_models_prediction)
{
    struct tq_model m;
    original_model(&m, "gst3d");
    struct tq_fit_model whole = m.fit;
    memset(&m.fit, 0, sizeof m.fit);
    m.ncomp = 1;
    snprintf(m.comp[0].name, sizeof m.comp[0].name, "heap");
    m.comp[0].fit = whole;
    struct tq_plan *p = NULL;
    struct tq_err err = {0};
    struct tq_plan_request r = request("gst3d", &m, 200, 1500000000ull, TQ_PLANNER_SEED);
    cr_assert_eq(tq_plan_make(&r, &p, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(p->nblocks, 8, "a 1.5 GB seed plan of 200^3 GST3D has 100^3 chunks, got %zu blocks",
                 (size_t)p->nblocks);
    tq_plan_free(p);
}

Test(planner, traceq_blocks_fit_and_tile)
{
    struct tq_model m;
    const char *ops[] = {"gst3d", "gaussian", "envelope"};
    uint64_t mems[] = {600000000ull, 1500000000ull, 3000000000ull};
    for (int o = 0; o < 3; o++)
        for (int k = 0; k < 3; k++)
            for (int w = 1; w <= 3; w++) {
                original_model(&m, ops[o]);
                struct tq_plan_request r = request(ops[o], &m, 300, mems[k], TQ_PLANNER_TRACEQ);
                r.shape[1] = 250;
                r.workers = w;
                struct tq_plan *p = NULL;
                struct tq_err err = {0};
                cr_assert_eq(tq_plan_make(&r, &p, &err), TQ_OK, "%s %d: %s", ops[o], k, err.msg);
                check_plan(&r, p);
                tq_plan_free(p);
            }
}

Test(planner, traceq_prefers_one_block_and_balances_counts_above_one)
{
    struct tq_model m;
    original_model(&m, "gst3d");
    struct tq_plan_request r = request("gst3d", &m, 200, 64ull << 30, TQ_PLANNER_TRACEQ);
    struct tq_plan *p = NULL;
    struct tq_err err = {0};
    cr_assert_eq(tq_plan_make(&r, &p, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(p->nblocks, 1);
    tq_plan_free(p);
    /* One block stays one block with two workers: the runner gives it both cores as threads. */
    r.workers = 2;
    cr_assert_eq(tq_plan_make(&r, &p, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(p->nblocks, 1, "a lone block is not split for balance");
    tq_plan_free(p);
    /* 1.1 GB: three blocks at the fewest (~0.81 GB each with halo and margin; two halves need ~1.14 GB), balanced
     * to four for two workers (the halo costs little at 200^3). */
    r.memory_bytes = 1100000000ull;
    struct tq_plan *one = NULL;
    r.workers = 1;
    cr_assert_eq(tq_plan_make(&r, &one, &err), TQ_OK, "%s", err.msg);
    r.workers = 2;
    cr_assert_eq(tq_plan_make(&r, &p, &err), TQ_OK, "%s", err.msg);
    check_plan(&r, p);
    cr_assert_eq(one->nblocks, 3);
    cr_assert_eq(p->nblocks, 4, "%zu blocks with 1 worker, %zu with 2", one->nblocks, p->nblocks);
    tq_plan_free(one);
    tq_plan_free(p);
    /* 200^3 at 1.5 GB: the whole volume (2.0 GB) does not fit; two halves (about 1.1 GB with halo) do */
    r = request("gst3d", &m, 200, 1500000000ull, TQ_PLANNER_TRACEQ);
    cr_assert_eq(tq_plan_make(&r, &p, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(p->nblocks, 2);
    check_plan(&r, p);
    tq_plan_free(p);
}

Test(planner, impossible_limit_names_the_minimum)
{
    struct tq_model m;
    original_model(&m, "envelope");
    m.fit.coef[0] = 2e9; /* a 2 GB baseline: nothing fits 1 GiB */
    struct tq_plan_request r = request("envelope", &m, 200, 1ull << 30, TQ_PLANNER_TRACEQ);
    struct tq_plan *p = NULL;
    struct tq_err err = {0};
    cr_assert_eq(tq_plan_make(&r, &p, &err), TQ_ERR_LIMIT);
    const char *at = strstr(err.msg, "at least ");
    cr_assert_not_null(at, "%s", err.msg);
    uint64_t need;
    cr_assert_eq(tq_parse_bytes(at + 9, &need, NULL), TQ_OK, "%s", at);
    r.memory_bytes = (uint64_t)(need * 1.01);
    cr_assert_eq(tq_plan_make(&r, &p, &err), TQ_OK, "the stated minimum must work: %s", err.msg);
    check_plan(&r, p);
    tq_plan_free(p);
    r.memory_bytes = (uint64_t)(need * 0.99);
    cr_assert_eq(tq_plan_make(&r, &p, &err), TQ_ERR_LIMIT, "below the stated minimum must fail");
}

Test(planner, auto_follows_dask)
{
    struct tq_model m;
    original_model(&m, "gst3d");
    struct tq_plan *p = NULL;
    struct tq_err err = {0};
    /* 200^3 float32 is 30.5 MiB < 128 MiB: one chunk, as in exp-03 */
    struct tq_plan_request r = request("gst3d", &m, 200, 0, TQ_PLANNER_AUTO);
    cr_assert_eq(tq_plan_make(&r, &p, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(p->nblocks, 1);
    tq_plan_free(p);
    /* 400^3: ideal side 322.5, the largest divisor of 400 in [161, 322] is 200 */
    r = request("gst3d", &m, 400, 0, TQ_PLANNER_AUTO);
    cr_assert_eq(tq_plan_make(&r, &p, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(tq_box_len(&p->blocks[0].out, 0), 200);
    cr_assert_eq(tq_box_len(&p->blocks[0].out, 2), 200);
    tq_plan_free(p);
    /* envelope keeps samples whole: sqrt(2^25 / 400) = 289.6 -> 200 */
    original_model(&m, "envelope");
    r = request("envelope", &m, 400, 0, TQ_PLANNER_AUTO);
    cr_assert_eq(tq_plan_make(&r, &p, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(tq_box_len(&p->blocks[0].out, 0), 200);
    cr_assert_eq(tq_box_len(&p->blocks[0].out, 2), 400);
    tq_plan_free(p);
}

Test(planner, none_and_bad_requests)
{
    struct tq_model m;
    original_model(&m, "gst3d");
    struct tq_plan *p = NULL;
    struct tq_err err = {0};
    struct tq_plan_request r = request("gst3d", &m, 100, 0, TQ_PLANNER_NONE);
    cr_assert_eq(tq_plan_make(&r, &p, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(p->nblocks, 1);
    cr_assert_eq(p->out_shape[0], 98);
    tq_plan_free(p);
    r.planner = TQ_PLANNER_TRACEQ;
    cr_assert_eq(tq_plan_make(&r, &p, &err), TQ_ERR_USAGE, "traceq needs a memory limit");
    r = request("envelope", &m, 100, 1ull << 30, TQ_PLANNER_TRACEQ);
    cr_assert_eq(tq_plan_make(&r, &p, &err), TQ_ERR_USAGE);
    cr_assert(strstr(err.msg, "'gst3d', not 'envelope'"), "%s", err.msg);
    original_model(&m, "gst3d");
    snprintf(m.target, sizeof m.target, "wall_s");
    r = request("gst3d", &m, 100, 1ull << 30, TQ_PLANNER_TRACEQ);
    cr_assert_eq(tq_plan_make(&r, &p, &err), TQ_ERR_USAGE);
    cr_assert(strstr(err.msg, "predicts wall_s"), "%s", err.msg);
    enum tq_planner_kind k;
    cr_assert_eq(tq_planner_parse("seed", &k, NULL), TQ_OK);
    cr_assert_eq(k, TQ_PLANNER_SEED);
    cr_assert_eq(tq_planner_parse("magic", &k, &err), TQ_ERR_USAGE);
}

/* With a volume-linear model every grid of the same count costs the same memory: the planner must then keep
 * blocks contiguous, cutting inlines rather than xlines, and xlines rather than samples. */
Test(planner, traceq_cuts_inlines_before_xlines_before_samples)
{
    struct tq_model m;
    original_model(&m, "gaussian");
    struct tq_plan *p = NULL;
    struct tq_err err = {0};
    /* 200^3 gaussian whole: ~0.1 GB + 240 B x (224^3 with halo) ~ 2.8 GB; 1.9 GB x 0.8 forces 2+ blocks */
    struct tq_plan_request r = request("gaussian", &m, 200, 1900000000ull, TQ_PLANNER_TRACEQ);
    cr_assert_eq(tq_plan_make(&r, &p, &err), TQ_OK, "%s", err.msg);
    check_plan(&r, p);
    cr_assert_gt(p->nblocks, 1);
    for (size_t i = 0; i < p->nblocks; i++) {
        cr_assert_eq(tq_box_len(&p->blocks[i].out, 2), 200, "block %zu cuts samples", i);
        cr_assert_eq(tq_box_len(&p->blocks[i].out, 1), 200, "block %zu cuts xlines", i);
    }
    tq_plan_free(p);
}

/* Worst bound over the blocks of the grid with k[a] blocks per axis (lengths ceil(L/k)), or -1 when k[a] does not
 * give a distinct grid. Brute force over the blocks, independent of the planner's own search. */
static double brute_grid_need(const struct tq_plan_request *r, const size_t out[3], const size_t k[3])
{
    size_t c[3];
    for (int a = 0; a < 3; a++) {
        c[a] = (out[a] + k[a] - 1) / k[a];
        if ((out[a] + c[a] - 1) / c[a] != k[a])
            return -1;
    }
    double worst = 0;
    for (size_t i = 0; i < k[0]; i++)
        for (size_t j = 0; j < k[1]; j++)
            for (size_t l = 0; l < k[2]; l++) {
                size_t idx[3] = {i, j, l};
                struct tq_box ob, ib;
                for (int a = 0; a < 3; a++) {
                    ob.lo[a] = idx[a] * c[a];
                    ob.hi[a] = ob.lo[a] + c[a] < out[a] ? ob.lo[a] + c[a] : out[a];
                }
                tq_op_input_box(r->op, r->params, r->shape, &ob, &ib);
                size_t s[3] = {tq_box_len(&ib, 0), tq_box_len(&ib, 1), tq_box_len(&ib, 2)};
                worst = fmax(worst, tq_model_bound(r->model, s));
            }
    return worst;
}

/* When the fewest blocks would cut the traces (samples), the planner takes a few more blocks that keep them
 * whole: 100x100x400 GST3D at 765 MB fits two halves along samples but not along inlines. */
Test(planner, traceq_keeps_traces_whole_for_a_few_more_blocks)
{
    struct tq_model m;
    original_model(&m, "gst3d");
    struct tq_plan_request r = request("gst3d", &m, 100, 765000000ull, TQ_PLANNER_TRACEQ);
    r.shape[2] = 400;
    size_t out[3];
    struct tq_err err = {0};
    cr_assert_eq(tq_op_output_shape(r.op, r.params, r.shape, out, &err), TQ_OK, "%s", err.msg);
    /* The fewest blocks that fit, and the fewest that fit without a cut along samples (up to 6 per axis). */
    size_t fewest = SIZE_MAX, fewest_whole = SIZE_MAX, k[3];
    double limit = (double)r.memory_bytes * r.safety;
    for (k[0] = 1; k[0] <= 6; k[0]++)
        for (k[1] = 1; k[1] <= 6; k[1]++)
            for (k[2] = 1; k[2] <= 6; k[2]++) {
                double need = brute_grid_need(&r, out, k);
                size_t n = k[0] * k[1] * k[2];
                if (need < 0 || need > limit)
                    continue;
                fewest = n < fewest ? n : fewest;
                if (k[2] == 1)
                    fewest_whole = n < fewest_whole ? n : fewest_whole;
            }
    cr_assert_lt(fewest, fewest_whole, "the case must need a samples cut for its fewest blocks");
    cr_assert_leq(fewest_whole, 4 * fewest);
    struct tq_plan *p = NULL;
    cr_assert_eq(tq_plan_make(&r, &p, &err), TQ_OK, "%s", err.msg);
    check_plan(&r, p);
    cr_assert_eq(p->nblocks, fewest_whole);
    for (size_t i = 0; i < p->nblocks; i++)
        cr_assert_eq(tq_box_len(&p->blocks[i].out, 2), out[2], "block %zu cuts samples", i);
    tq_plan_free(p);
    /* With room for only a much finer grid of whole traces, samples may be cut: the plan still fits. */
    r.memory_bytes = 400000000ull;
    cr_assert_eq(tq_plan_make(&r, &p, &err), TQ_OK, "%s", err.msg);
    check_plan(&r, p);
    tq_plan_free(p);
}

/* Huge shapes and absurd coefficients: refused with a message (no out-of-range conversion, no plan of millions of
 * blocks, no multi-GB allocation, no search that never ends). */
Test(planner, unreasonable_shapes_and_models_are_refused, .timeout = 120)
{
    struct tq_model m;
    original_model(&m, "gst3d");
    struct tq_err err = {0};
    struct tq_plan *p = NULL;
    static const enum tq_planner_kind kinds[] = {TQ_PLANNER_TRACEQ, TQ_PLANNER_SEED, TQ_PLANNER_AUTO};
    for (size_t k = 0; k < 3; k++) {
        struct tq_plan_request r = request("gst3d", &m, 100000, 4ull << 30, kinds[k]);
        tq_status st = tq_plan_make(&r, &p, &err);
        cr_expect(st == TQ_ERR_LIMIT || st == TQ_ERR_RANGE, "planner %s: status %d", tq_planner_name(kinds[k]), st);
        cr_expect(strstr(err.msg, "10000") || strstr(err.msg, "1 EiB") || strstr(err.msg, "--memory of at least"),
                  "planner %s: %s", tq_planner_name(kinds[k]), err.msg);
        cr_expect_null(p);
    }
    /* one block of 100000^3 is 2.4e17 B by this model: a figure, not an overflow */
    struct tq_plan_request one = request("gst3d", &m, 100000, 4ull << 30, TQ_PLANNER_NONE);
    cr_assert_eq(tq_plan_make(&one, &p, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(p->nblocks, 1);
    cr_assert(fabs((double)p->blocks[0].predicted_bytes - 2.4e17) < 0.04 * 2.4e17, "%llu",
              (unsigned long long)p->blocks[0].predicted_bytes);
    tq_plan_free(p);
    p = NULL;
    /* an axis of 2^40 (what the shape parser allows) on every axis: the voxel count does not fit */
    struct tq_plan_request r = request("gst3d", &m, (size_t)1 << 40, 4ull << 30, TQ_PLANNER_TRACEQ);
    cr_assert_eq(tq_plan_make(&r, &p, &err), TQ_ERR_RANGE);
    cr_assert(strstr(err.msg, "too large"), "%s", err.msg);
    /* a coefficient of 1e30 per voxel: every block beyond 1 EiB */
    m.fit.coef[1] = 1e30;
    r = request("gst3d", &m, 200, 4ull << 30, TQ_PLANNER_NONE);
    cr_assert_eq(tq_plan_make(&r, &p, &err), TQ_ERR_RANGE);
    cr_assert(strstr(err.msg, "beyond any real machine"), "%s", err.msg);
    r = request("gst3d", &m, 200, 4ull << 30, TQ_PLANNER_TRACEQ);
    cr_assert_eq(tq_plan_make(&r, &p, &err), TQ_ERR_RANGE);
    cr_assert(strstr(err.msg, "beyond any real machine"), "%s", err.msg);
    /* NaN coefficients too */
    m.fit.coef[1] = NAN;
    r = request("gst3d", &m, 200, 4ull << 30, TQ_PLANNER_AUTO);
    cr_assert_eq(tq_plan_make(&r, &p, &err), TQ_ERR_RANGE, "%s", err.msg);
}

Test(planner, bytes_from_double_saturates)
{
    cr_assert_eq(tq_bytes_from_double(NAN), 0);
    cr_assert_eq(tq_bytes_from_double(-1e300), 0);
    cr_assert_eq(tq_bytes_from_double(0.2), 1);
    cr_assert_eq(tq_bytes_from_double(4096), 4096);
    cr_assert_eq(tq_bytes_from_double(1.5e20), UINT64_MAX);
    cr_assert_eq(tq_bytes_from_double(INFINITY), UINT64_MAX);
}
