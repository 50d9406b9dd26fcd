/* cmd_plan.c - `traceq plan`: cut an operator's work on a volume into chunks that fit a per-worker memory limit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../model/planner.h"
#include "../common/alloc.h"
#include "../operators/usercmd.h"
#include "../common/units.h"
#include "cli.h"

enum plan_format { FMT_TABLE, FMT_JSON, FMT_DASK };

struct plan_opts {
    const char *model, *op, *output, *halo, *trim, *split_axes;
    size_t shape[3];
    int have_shape, force, full_size;
    uint64_t memory, auto_bytes;
    double safety;
    long workers;
    enum tq_planner_kind planner;
    enum plan_format format;
};

/* --shape, --planner: checked and stored (a tq_cli_call). */
static int plan_opt_value(const struct tq_cli_command *cmd, int c, const char *arg, void *opts)
{
    struct plan_opts *o = opts;
    struct tq_err err = {0};
    tq_status st;
    switch (c) {
    case 'S': o->have_shape = 1; st = tq_parse_shape(arg, o->shape, &err); break;
    default: st = tq_planner_parse(arg, &o->planner, &err); break;
    }
    return st ? tq_cli_fail(cmd->name, &err) : -1;
}

const struct tq_cli_command cli_plan = {
    .name = "plan",
    .opts = TQ_OPTIONS(
        TQ_OPT_MODEL('m', " (needed by the traceq and seed planners)", TQ_STORE_STR(struct plan_opts, model)),
        TQ_OPT('p', "op", "NAME", "operator", "the model's", TQ_STORE_STR(struct plan_opts, op)),
        TQ_OPT('S', "shape", "IxXxS", "input volume shape (required)", NULL, TQ_STORE_CALL(plan_opt_value)),
        TQ_OPT('M', "memory", "SIZE", "memory per worker, e.g. 4GiB or 1.5GB (needed by traceq and seed)", NULL,
               TQ_STORE_BYTES(struct plan_opts, memory)),
        TQ_OPT('s', "safety", "F", "share of the memory a chunk may use, in (0, 1]", "0.8",
               TQ_STORE_POSITIVE(struct plan_opts, safety, 1)),
        TQ_OPT_WORKERS("workers running chunks at once", "1", TQ_STORE_LONG(struct plan_opts, workers, 1, 1 << 20)),
        TQ_OPT('P', "planner", "NAME",
               "traceq (ours), seed (the original's cubes), auto (dask chunks=\"auto\"), none (one block)", "traceq",
               TQ_STORE_CALL(plan_opt_value)),
        TQ_OPT('A', "auto-chunk", "SIZE", "dask array.chunk-size for --planner auto", "128MiB",
               TQ_STORE_BYTES(struct plan_opts, auto_bytes)),
        TQ_OPT_FULL_SIZE('z', TQ_STORE_FLAG(struct plan_opts, full_size)),
        TQ_OPT_CMD_CONTRACT('X', struct plan_opts),
        TQ_OPT('F', "format", "FMT", "stdout: table, json or dask (the chunks= tuple of the input)", "table",
               TQ_STORE_CHOICE(struct plan_opts, format, {"table", FMT_TABLE}, {"json", FMT_JSON}, {"dask", FMT_DASK})),
        TQ_OPT_OUTPUT("FILE", "also write the plan JSON here", NULL, TQ_STORE_STR(struct plan_opts, output)),
        TQ_OPT_FORCE('f', "the output file", TQ_STORE_FLAG(struct plan_opts, force))),
    .usage = "traceq plan --model MODEL.json --shape IxXxS --memory SIZE [options]",
    .about = "Choose chunks whose predicted peak (the model's bound on each chunk's input, halo included) stays\n"
             "under memory x safety per worker.",
    .epilog = "Exit 2 when no chunk fits (the message names the smallest --memory that would).",
};

/* Returns -1 to go on, else the exit code. */
static int plan_parse(int argc, char **argv, struct plan_opts *o)
{
    memset(o, 0, sizeof *o);
    o->safety = 0.8;
    o->workers = 1;
    int rc = tq_cli_parse(&cli_plan, argc, argv, o);
    if (rc >= 0)
        return rc;
    if (optind != argc)
        return tq_cli_usage_error("plan", "unexpected argument '%s'", argv[optind]);
    if (!o->have_shape)
        return tq_cli_usage_error("plan", "--shape is required");
    if (!o->model && !o->op)
        return tq_cli_usage_error("plan", "--model (or --op for the auto and none planners) is required");
    if (o->output && !o->force && access(o->output, F_OK) == 0)
        return tq_cli_usage_error("plan", "%s exists; use --force to replace it", o->output);
    return -1;
}

/* One row of the table per distinct (output block, input box) shape. */
struct shape_row {
    size_t out[3], in[3], count;
    uint64_t pred;
    double bound;
};

#define MAX_ROWS 64

/* Distinct block shapes into rows (at most MAX_ROWS); *rest counts the blocks of the shapes left out. */
static size_t plan_rows(const struct tq_plan *p, const struct tq_plan_request *r, struct shape_row *rows,
                        size_t *rest)
{
    size_t n = 0;
    *rest = 0;
    for (size_t i = 0; i < p->nblocks; i++) {
        struct shape_row x = {{0}, {0}, 1, p->blocks[i].predicted_bytes, 0};
        struct tq_box in;
        tq_plan_block_input(p, r->op, r->params, i, &in);
        for (int a = 0; a < 3; a++) {
            x.out[a] = tq_box_len(&p->blocks[i].out, a);
            x.in[a] = tq_box_len(&in, a);
        }
        if (r->model) {
            /* the plan records the bound as each block's figure; the table shows the prediction beside it */
            struct tq_prediction pr;
            tq_model_predict(r->model, x.in, &pr);
            x.pred = pr.bytes > 0 ? (uint64_t)pr.bytes : 0;
            x.bound = pr.bound;
        }
        size_t k = 0;
        while (k < n && (memcmp(rows[k].out, x.out, sizeof x.out) || memcmp(rows[k].in, x.in, sizeof x.in)))
            k++;
        if (k < n)
            rows[k].count++;
        else if (n < MAX_ROWS)
            rows[n++] = x;
        else
            (*rest)++;
    }
    return n;
}

static void plan_print_table(const struct tq_plan *p, const struct tq_plan_request *r)
{
    char a[32], b[32], c[32];
    printf("plan: %s %zux%zux%zu -> output %zux%zux%zu, planner %s, %zu blocks\n", p->op, p->shape[0], p->shape[1],
           p->shape[2], p->out_shape[0], p->out_shape[1], p->out_shape[2], p->planner, p->nblocks);
    double limit = (double)p->memory_bytes * p->safety;
    if (p->memory_bytes)
        printf("limit: %s x %.2f = %s per worker, %d worker(s)\n", tq_format_bytes(p->memory_bytes, a, sizeof a),
               p->safety, tq_format_bytes((uint64_t)limit, b, sizeof b), p->workers);
    struct shape_row rows[MAX_ROWS];
    size_t rest = 0, n = plan_rows(p, r, rows, &rest);
    printf("%6s  %-16s %-16s %12s %14s\n", "blocks", "output block", "input box", "predicted", "traceq bound");
    for (size_t k = 0; k < n; k++) {
        char ob[32], ib[32];
        snprintf(ob, sizeof ob, "%zux%zux%zu", rows[k].out[0], rows[k].out[1], rows[k].out[2]);
        snprintf(ib, sizeof ib, "%zux%zux%zu", rows[k].in[0], rows[k].in[1], rows[k].in[2]);
        int over = p->memory_bytes && r->model && rows[k].bound > limit;
        printf("%6zu  %-16s %-16s %12s %14s%s\n", rows[k].count, ob, ib, tq_format_bytes(rows[k].pred, a, sizeof a),
               r->model ? tq_format_bytes((uint64_t)(rows[k].bound > 0 ? rows[k].bound : 0), c, sizeof c) : "-",
               over ? "  OVER THE LIMIT" : "");
    }
    if (rest)
        printf("%6zu  blocks of other shapes (not listed)\n", rest);
}

/* Warn once when the largest chunk input lies outside the model's training range. */
static void plan_warn_extrapolation(const struct tq_plan *p, const struct tq_plan_request *r)
{
    if (!r->model)
        return;
    size_t best = 0, bestv = 0;
    for (size_t i = 0; i < p->nblocks; i++) {
        struct tq_box in;
        tq_plan_block_input(p, r->op, r->params, i, &in);
        if (tq_box_voxels(&in) > bestv) {
            bestv = tq_box_voxels(&in);
            best = i;
        }
    }
    struct tq_box in;
    tq_plan_block_input(p, r->op, r->params, best, &in);
    size_t s[3] = {tq_box_len(&in, 0), tq_box_len(&in, 1), tq_box_len(&in, 2)};
    struct tq_prediction pr;
    tq_model_predict(r->model, s, &pr);
    if (pr.extrapolating)
        fprintf(stderr, "traceq plan: warning: largest chunk input %zux%zux%zu: %s\n", s[0], s[1], s[2],
                pr.warning);
}

static int plan_emit(const struct plan_opts *o, const struct tq_plan *p, const struct tq_plan_request *r)
{
    struct tq_err err = {0};
    char *text = NULL;
    plan_warn_extrapolation(p, r);
    if (o->output && tq_plan_write(p, o->output, o->force, &err))
        return tq_cli_fail("plan", &err);
    if (o->format == FMT_TABLE)
        plan_print_table(p, r);
    else if (o->format == FMT_DASK) {
        if (tq_plan_dask_chunks(p, r->op->trim(r->params), &text, &err))
            return tq_cli_fail("plan", &err);
        printf("chunks=%s\n", text);
        free(text);
    } else if (tq_plan_dump(p, stdout, &err))
        return tq_cli_fail("plan", &err);
    return TQ_EXIT_OK;
}

int cmd_plan(int argc, char **argv)
{
    struct plan_opts o;
    int rc = plan_parse(argc, argv, &o);
    if (rc >= 0)
        return rc;
    struct tq_err err = {0};
    struct tq_model model;
    if (o.model && tq_model_read(o.model, o.op, &model, &err))
        return tq_cli_fail("plan", &err);
    const char *name = o.op ? o.op : model.op;
    struct tq_op_params params;
    struct tq_op cmd_op;
    tq_op_params_default(&params);
    params.full_size = o.full_size;
    int is_cmd = !strcmp(name, "cmd");
    if (!is_cmd && (o.halo || o.trim || o.split_axes))
        return tq_cli_usage_error("plan", "--halo, --trim and --split-axes are for a user's command (a model of "
                                  "op cmd, or --op cmd), not %s", name);
    if (is_cmd && tq_ucmd_spec_parse(o.halo, o.trim, o.split_axes, &cmd_op, &params, &err))
        return tq_cli_fail("plan", &err);
    if (o.model && model.axes[0][0])
        return tq_cli_usage_error("plan", "%s models a program's parameters (%s...), not a volume operator",
                                  o.model, model.axes[0]);
    struct tq_plan_request req = {is_cmd ? &cmd_op : tq_op_find(name), &params, o.model ? &model : NULL,
                                  {o.shape[0], o.shape[1], o.shape[2]}, o.memory, o.safety, (int)o.workers,
                                  o.planner, o.auto_bytes};
    if (!req.op)
        return tq_cli_usage_error("plan", "unknown operator '%s'", name);
    struct tq_plan *plan = NULL;
    if (tq_plan_make(&req, &plan, &err))
        return tq_cli_fail("plan", &err);
    rc = plan_emit(&o, plan, &req);
    tq_plan_free(plan);
    return rc;
}
