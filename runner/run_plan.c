/* run_plan.c - operator, input shape and the checked block list of a run (see run_plan.h). */
#include "run_plan.h"
#include "../common/alloc.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/units.h"
#include "../model/model.h"
#include "../model/planner.h"

tq_status tq_run_grid_plan(const struct tq_op *op, const struct tq_op_params *params, const size_t shape[3],
                           const size_t out_shape[3], const size_t chunk[3], const char *planner,
                           struct tq_plan **out, struct tq_err *err)
{
    static const char *axis[3] = {"inlines", "xlines", "samples"};
    size_t n[3], total = 1;
    for (int a = 0; a < 3; a++) {
        if (!chunk[a])
            return tq_fail(err, TQ_ERR_USAGE, "chunk length along %s is 0", axis[a]);
        if (!(op->splittable >> a & 1u) && chunk[a] < out_shape[a])
            return tq_fail(err, TQ_ERR_USAGE, "%s cannot split %s: the chunk must cover all %zu of them", op->name,
                           axis[a], out_shape[a]);
        n[a] = (out_shape[a] + chunk[a] - 1) / chunk[a];
        total *= n[a];
    }
    struct tq_plan *p = tq_calloc(1, sizeof *p);
    if (!p || !(p->blocks = tq_calloc(total, sizeof *p->blocks))) {
        free(p);
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory for %zu blocks", total);
    }
    tq_plan_set_op(p, op, params);
    snprintf(p->planner, sizeof p->planner, "%s", planner);
    memcpy(p->shape, shape, sizeof p->shape);
    memcpy(p->out_shape, out_shape, sizeof p->out_shape);
    p->nblocks = total;
    p->workers = 1;
    size_t k = 0;
    for (size_t i = 0; i < n[0]; i++)
        for (size_t j = 0; j < n[1]; j++)
            for (size_t l = 0; l < n[2]; l++) {
                size_t idx[3] = {i, j, l};
                struct tq_box *b = &p->blocks[k++].out;
                for (int a = 0; a < 3; a++) {
                    b->lo[a] = idx[a] * chunk[a];
                    b->hi[a] = b->lo[a] + chunk[a] < out_shape[a] ? b->lo[a] + chunk[a] : out_shape[a];
                }
            }
    *out = p;
    return TQ_OK;
}

/* A plan file must be for this operator and this input. */
static tq_status run_check_plan(const struct tq_run_setup *s, const size_t shape[3], const size_t out_shape[3],
                                struct tq_err *err)
{
    const struct tq_plan *p = s->plan;
    const char *path = s->args->plan;
    if (strcmp(p->op, s->op->name))
        return tq_fail(err, TQ_ERR_FORMAT, "plan %s is for operator %s, not %s", path, p->op, s->op->name);
    if (tq_op_is_cmd(s->op) && (memcmp(p->halo, s->params.cmd_halo, sizeof p->halo) ||
                                p->trim != s->params.cmd_trim || p->split_axes != s->op->splittable)) {
        char ph[64], rh[64];
        tq_ucmd_format_halo(p->halo, ph, sizeof ph);
        tq_ucmd_format_halo(s->params.cmd_halo, rh, sizeof rh);
        return tq_fail(err, TQ_ERR_FORMAT, "plan %s was made for --halo %s --trim %zu --split-axes mask %u, but "
                       "this run has --halo %s --trim %zu --split-axes mask %u", path, ph, p->trim, p->split_axes,
                       rh, s->params.cmd_trim, s->op->splittable);
    }
    if (memcmp(p->shape, shape, sizeof p->shape))
        return tq_fail(err, TQ_ERR_FORMAT, "plan %s is for a %zux%zux%zu volume, but %s is %zux%zux%zu", path,
                       p->shape[0], p->shape[1], p->shape[2], s->args->input, shape[0], shape[1], shape[2]);
    if (memcmp(p->out_shape, out_shape, sizeof p->out_shape))
        return tq_fail(err, TQ_ERR_FORMAT, "plan %s has output shape %zux%zux%zu, but %s gives %zux%zux%zu here "
                       "(other --full-size?)", path, p->out_shape[0], p->out_shape[1], p->out_shape[2], s->op->name,
                       out_shape[0], out_shape[1], out_shape[2]);
    return tq_plan_check_tiling(p, err);
}

/* --chunks none|I,X,S */
static tq_status run_chunks_plan(struct tq_run_setup *s, const size_t shape[3], const size_t out_shape[3],
                                 struct tq_err *err)
{
    const char *c = s->args->chunks;
    if (!strcmp(c, "none"))
        return tq_run_grid_plan(s->op, &s->params, shape, out_shape, out_shape, "none", &s->plan, err);
    size_t chunk[3];
    if (tq_parse_shape(c, chunk, err))
        return tq_fail(err, TQ_ERR_USAGE, "--chunks must be none, auto or I,X,S, not '%s'", c);
    return tq_run_grid_plan(s->op, &s->params, shape, out_shape, chunk, "fixed", &s->plan, err);
}

/* --chunks auto, or --planner traceq|seed --model M: the analyzer's planners (planner.h). */
static tq_status run_planner_plan(struct tq_run_setup *s, const size_t shape[3], struct tq_err *err)
{
    const struct tq_run_args *a = s->args;
    struct tq_model model;
    struct tq_plan_request req = {.op = s->op, .params = &s->params, .safety = a->safety, .workers = a->workers,
                                  .memory_bytes = a->memory, .planner = TQ_PLANNER_AUTO};
    memcpy(req.shape, shape, sizeof req.shape);
    if (a->planner) {
        TQ_TRY(tq_planner_parse(a->planner, &req.planner, err));
        if (req.planner != TQ_PLANNER_TRACEQ && req.planner != TQ_PLANNER_SEED)
            return tq_fail(err, TQ_ERR_USAGE, "--planner must be traceq or seed (use --chunks %s)", a->planner);
        if (!a->memory_given || !a->memory)
            return tq_fail(err, TQ_ERR_USAGE, "--planner %s needs --memory-per-worker", a->planner);
    }
    if (a->model) {
        TQ_TRY(tq_model_read(a->model, s->op->name, &model, err));
        req.model = &model;
    }
    return tq_plan_make(&req, &s->plan, err);
}

/* Make or read the plan (see tq_run_prepare). */
static tq_status run_make_plan(struct tq_run_setup *s, struct tq_err *err);

tq_status tq_run_prepare(struct tq_run_setup *s, struct tq_err *err)
{
    TQ_TRY(run_make_plan(s, err));
    /* Workers share the cores: by default each block computes with cores / (blocks at once) threads, so a
     * plan of fewer blocks than workers still uses every core. */
    const struct tq_run_args *a = s->args;
    long cores = sysconf(_SC_NPROCESSORS_ONLN), busy = a->workers;
    if ((size_t)busy > s->plan->nblocks)
        busy = (long)s->plan->nblocks;
    s->params.threads = a->threads ? a->threads : (int)(cores / busy > 1 ? cores / busy : 1);
    return TQ_OK;
}

tq_status tq_run_setup_cmd(struct tq_run_setup *s, struct tq_err *err)
{
    static const char *const names[] = {"in", "out"};
    const struct tq_run_args *a = s->args;
    TQ_TRY(tq_ucmd_parse(a->cmd, &s->ucmd, err));
    TQ_TRY(tq_ucmd_check_names(&s->ucmd, names, 2, 1, err));
    TQ_TRY(tq_ucmd_spec_parse(a->halo, a->trim, a->split_axes, &s->cmd_op, &s->params, err));
    s->op = &s->cmd_op;
    return TQ_OK;
}

/* The shape checks of a command: its trim must leave something of every axis. */
static tq_status run_check_cmd_shape(const struct tq_run_setup *s, const size_t shape[3], struct tq_err *err)
{
    for (int a = 0; a < 3; a++)
        if (2 * s->params.cmd_trim >= shape[a])
            return tq_fail(err, TQ_ERR_USAGE, "--trim %zu is at least half of axis %d (%zu voxels) of %s: nothing "
                           "would be left", s->params.cmd_trim, a, shape[a], s->args->input);
    return TQ_OK;
}

static tq_status run_make_plan(struct tq_run_setup *s, struct tq_err *err)
{
    const struct tq_run_args *a = s->args;
    if (a->cmd) {
        TQ_TRY(tq_run_setup_cmd(s, err));
    } else {
        if (!(s->op = tq_op_find(a->op)))
            return tq_fail(err, TQ_ERR_USAGE, "unknown operator '%s' (envelope, gaussian, gst3d)", a->op);
        tq_op_params_default(&s->params);
        for (int i = 0; i < 3; i++)
            s->params.sigma[i] = a->sigma;
        s->params.full_size = a->full_size;
        TQ_TRY(tq_op_params_check(s->op, &s->params, err));
    }
    tq_vol_reader *r = NULL;
    TQ_TRY(tq_vol_reader_open(a->input, &r, err));
    size_t shape[3], out_shape[3];
    tq_vol_reader_shape(r, shape);
    tq_vol_reader_free(r);
    if (a->cmd)
        TQ_TRY(run_check_cmd_shape(s, shape, err));
    TQ_TRY(tq_op_output_shape(s->op, &s->params, shape, out_shape, err));
    if (a->plan) {
        TQ_TRY(tq_plan_read(a->plan, &s->plan, err));
        return run_check_plan(s, shape, out_shape, err);
    }
    if (a->chunks && strcmp(a->chunks, "auto"))
        return run_chunks_plan(s, shape, out_shape, err);
    return run_planner_plan(s, shape, err);
}
