/* plan.c - chunk plan files: JSON writing, strict reading and the exact-tiling check (see plan.h). */
#include "plan.h"
#include "../common/alloc.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../common/jsonfile.h"
#include "../operators/usercmd.h"

#define PLAN_FORMAT "traceq-plan"
#define PLAN_VERSION 1

void tq_plan_free(struct tq_plan *plan)
{
    if (!plan)
        return;
    free(plan->blocks);
    free(plan);
}

static int box_cmp(const void *a, const void *b)
{
    const struct tq_plan_block *x = a, *y = b;
    for (int k = 0; k < 3; k++)
        if (x->out.lo[k] != y->out.lo[k])
            return x->out.lo[k] < y->out.lo[k] ? -1 : 1;
    return 0;
}

static int boxes_overlap(const struct tq_box *a, const struct tq_box *b)
{
    for (int k = 0; k < 3; k++)
        if (a->hi[k] <= b->lo[k] || b->hi[k] <= a->lo[k])
            return 0;
    return 1;
}

static int size_cmp(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorted distinct block edges (lo and hi) along axis a into cuts (room for 2 * nblocks); returns their count. */
static size_t axis_edges(const struct tq_plan *plan, int a, size_t *cuts)
{
    size_t n = 0, m = 0;
    for (size_t i = 0; i < plan->nblocks; i++) {
        cuts[n++] = plan->blocks[i].out.lo[a];
        cuts[n++] = plan->blocks[i].out.hi[a];
    }
    qsort(cuts, n, sizeof *cuts, size_cmp);
    for (size_t i = 0; i < n; i++)
        if (!m || cuts[i] != cuts[m - 1])
            cuts[m++] = cuts[i];
    return m;
}

static size_t edge_index(const size_t *cuts, size_t n, size_t v)
{
    return (size_t)((const size_t *)bsearch(&v, cuts, n, sizeof *cuts, size_cmp) - cuts);
}

/* Overlap check on the grid of all block edges: every block marks the cells it covers; a cell marked twice is an
 * overlap. Linear in cells + blocks; *done = 0 (nothing checked) when that grid would be too large. */
static tq_status check_cells(const struct tq_plan *plan, int *done, struct tq_err *err)
{
    size_t *cuts[3] = {NULL, NULL, NULL}, nc[3], cells = 1;
    unsigned char *occ = NULL;
    tq_status st = TQ_OK;
    *done = 0;
    for (int a = 0; a < 3; a++) {
        if (!(cuts[a] = tq_malloc(2 * plan->nblocks * sizeof(size_t))))
            goto out;
        nc[a] = axis_edges(plan, a, cuts[a]);
        cells *= nc[a] - 1;
    }
    if (cells > ((size_t)1 << 26) || !(occ = tq_calloc(cells, 1)))
        goto out;
    *done = 1;
    for (size_t i = 0; i < plan->nblocks && !st; i++) {
        const struct tq_box *b = &plan->blocks[i].out;
        size_t lo[3], hi[3];
        for (int a = 0; a < 3; a++) {
            lo[a] = edge_index(cuts[a], nc[a], b->lo[a]);
            hi[a] = edge_index(cuts[a], nc[a], b->hi[a]);
        }
        for (size_t x = lo[0]; x < hi[0] && !st; x++)
            for (size_t y = lo[1]; y < hi[1] && !st; y++)
                for (size_t z = lo[2]; z < hi[2] && !st; z++) {
                    unsigned char *c = &occ[(x * (nc[1] - 1) + y) * (nc[2] - 1) + z];
                    if (*c)
                        st = tq_fail(err, TQ_ERR_FORMAT, "block %zu at [%zu,%zu,%zu] overlaps another block", i,
                                     b->lo[0], b->lo[1], b->lo[2]);
                    *c = 1;
                }
    }
out:
    for (int a = 0; a < 3; a++)
        free(cuts[a]);
    free(occ);
    return st;
}

/* No two blocks overlap. Fast path: the edge grid (check_cells); else pairwise, sorted by lo along axis 0 so that
 * block i only meets the blocks that start before it ends. Blocks are already known to be non-empty and inside. */
static tq_status check_overlaps(const struct tq_plan *plan, struct tq_err *err)
{
    int done;
    TQ_TRY(check_cells(plan, &done, err));
    if (done)
        return TQ_OK;
    struct tq_plan_block *s = tq_malloc(plan->nblocks * sizeof *s);
    if (!s)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory checking %zu blocks", plan->nblocks);
    memcpy(s, plan->blocks, plan->nblocks * sizeof *s);
    qsort(s, plan->nblocks, sizeof *s, box_cmp);
    tq_status st = TQ_OK;
    for (size_t i = 0; i < plan->nblocks && !st; i++)
        for (size_t j = i + 1; j < plan->nblocks && s[j].out.lo[0] < s[i].out.hi[0]; j++)
            if (boxes_overlap(&s[i].out, &s[j].out)) {
                const size_t *a = s[i].out.lo, *b = s[j].out.lo;
                st = tq_fail(err, TQ_ERR_FORMAT, "blocks at [%zu,%zu,%zu] and [%zu,%zu,%zu] overlap", a[0], a[1],
                             a[2], b[0], b[1], b[2]);
                break;
            }
    free(s);
    return st;
}

tq_status tq_plan_check_tiling(const struct tq_plan *plan, struct tq_err *err)
{
    size_t total = 1, covered = 0;
    for (int k = 0; k < 3; k++)
        total *= plan->out_shape[k];
    if (!total)
        return tq_fail(err, TQ_ERR_FORMAT, "the plan's output shape is empty");
    for (size_t i = 0; i < plan->nblocks; i++) {
        const struct tq_box *b = &plan->blocks[i].out;
        for (int k = 0; k < 3; k++)
            if (b->lo[k] >= b->hi[k] || b->hi[k] > plan->out_shape[k])
                return tq_fail(err, TQ_ERR_FORMAT,
                               "block %zu [%zu,%zu) on axis %d is empty or outside the output (size %zu)", i,
                               b->lo[k], b->hi[k], k, plan->out_shape[k]);
        covered += tq_box_voxels(b);
    }
    TQ_TRY(check_overlaps(plan, err));
    /* Disjoint blocks inside the volume tile it exactly when their voxels add up to the whole. */
    if (covered != total)
        return tq_fail(err, TQ_ERR_FORMAT, "the blocks cover %zu of %zu output voxels (a gap)", covered, total);
    return TQ_OK;
}

void tq_plan_set_op(struct tq_plan *plan, const struct tq_op *op, const struct tq_op_params *p)
{
    snprintf(plan->op, sizeof plan->op, "%s", op->name);
    if (!tq_op_is_cmd(op))
        return;
    memcpy(plan->halo, p->cmd_halo, sizeof plan->halo);
    plan->trim = p->cmd_trim;
    plan->split_axes = op->splittable;
}

int tq_plan_needs_cgroup(const struct tq_plan *plan)
{
    return !strcmp(plan->model_target, "charged_peak_bytes");
}

static json_t *size3(const size_t v[3])
{
    return json_pack("[I,I,I]", (json_int_t)v[0], (json_int_t)v[1], (json_int_t)v[2]);
}

static json_t *plan_to_json(const void *obj)
{
    const struct tq_plan *plan = obj;
    json_t *blocks = json_array();
    for (size_t i = 0; blocks && i < plan->nblocks; i++) {
        const struct tq_plan_block *b = &plan->blocks[i];
        if (json_array_append_new(blocks, json_pack("{s:o,s:o,s:I}", "lo", size3(b->out.lo), "hi",
                                                    size3(b->out.hi), "predicted_bytes",
                                                    (json_int_t)b->predicted_bytes))) {
            json_decref(blocks);
            return NULL;
        }
    }
    json_t *root = json_pack("{s:s,s:i,s:s,s:o,s:o,s:I,s:f,s:i,s:s,s:o}", "format", PLAN_FORMAT, "version",
                             PLAN_VERSION, "op", plan->op, "shape", size3(plan->shape), "output_shape",
                             size3(plan->out_shape), "memory_bytes", (json_int_t)plan->memory_bytes, "safety",
                             plan->safety, "workers", plan->workers, "planner", plan->planner, "blocks", blocks);
    if (root && plan->model_target[0] &&
        json_object_set_new(root, "model_target", json_string(plan->model_target))) {
        json_decref(root);
        return NULL;
    }
    if (root && !strcmp(plan->op, "cmd")) {
        char halo[64];
        json_t *axes = json_array();
        tq_ucmd_format_halo(plan->halo, halo, sizeof halo);
        for (int a = 0; axes && a < 3; a++)
            if (plan->split_axes >> a & 1u)
                json_array_append_new(axes, json_integer(a));
        if (json_object_set_new(root, "halo", json_string(halo)) ||
            json_object_set_new(root, "trim", json_integer((json_int_t)plan->trim)) ||
            json_object_set_new(root, "split_axes", axes)) {
            json_decref(root);
            return NULL;
        }
    }
    return root;
}

tq_status tq_plan_write(const struct tq_plan *plan, const char *path, int overwrite, struct tq_err *err)
{
    return tq_json_write_file(plan_to_json, plan, path, overwrite, "plan JSON (out of memory)", err);
}

tq_status tq_plan_dump(const struct tq_plan *plan, FILE *f, struct tq_err *err)
{
    json_t *root = plan_to_json(plan);
    if (!root)
        return tq_fail(err, TQ_ERR_NOMEM, "cannot build the plan JSON (out of memory)");
    int bad = json_dumpf(root, f, JSON_INDENT(2) | JSON_REAL_PRECISION(17)) || fputc('\n', f) == EOF;
    json_decref(root);
    return bad ? tq_fail_errno(err, TQ_ERR_IO, "cannot print the plan") : TQ_OK;
}

static tq_status read_block(json_t *jb, size_t i, const char *path, struct tq_plan_block *b, struct tq_err *err)
{
    if (!json_is_object(jb))
        return tq_fail(err, TQ_ERR_FORMAT, "%s: block %zu is not an object", path, i);
    double pred;
    TQ_TRY(tq_json_get_sizes(jb, "lo", path, b->out.lo, 3, err));
    TQ_TRY(tq_json_get_sizes(jb, "hi", path, b->out.hi, 3, err));
    TQ_TRY(tq_json_get_number(jb, "predicted_bytes", path, &pred, err));
    if (!(pred >= 0 && pred < 0x1p64)) /* converting an out-of-range double is undefined (fuzz_plan) */
        return tq_fail(err, TQ_ERR_FORMAT, "%s: block %zu has a negative or huge prediction", path, i);
    b->predicted_bytes = (uint64_t)pred;
    return TQ_OK;
}

/* halo, trim and split_axes of a command's plan. */
static tq_status read_cmd_keys(json_t *root, const char *path, struct tq_plan *p, struct tq_err *err)
{
    char halo[64];
    double trim;
    struct tq_err herr = {0};
    TQ_TRY(tq_json_get_string(root, "halo", path, halo, sizeof halo, err));
    if (tq_ucmd_parse_halo(halo, p->halo, &herr))
        return tq_fail(err, TQ_ERR_FORMAT, "%s: %s", path, herr.msg);
    TQ_TRY(tq_json_get_number(root, "trim", path, &trim, err));
    if (!(trim >= 0 && trim < 1e7 && trim == (double)(size_t)trim))
        return tq_fail(err, TQ_ERR_FORMAT, "%s: \"trim\" must be a whole number of voxels", path);
    p->trim = (size_t)trim;
    json_t *axes = json_object_get(root, "split_axes");
    if (!json_is_array(axes) || json_array_size(axes) > 3)
        return tq_fail(err, TQ_ERR_FORMAT, "%s: %s \"split_axes\" (an array of axes 0..2)", path,
                       axes ? "bad" : "missing key");
    p->split_axes = 0;
    for (size_t i = 0; i < json_array_size(axes); i++) {
        json_t *v = json_array_get(axes, i);
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 2)
            return tq_fail(err, TQ_ERR_FORMAT, "%s: \"split_axes\" holds something other than 0, 1 or 2", path);
        p->split_axes |= 1u << json_integer_value(v);
    }
    return TQ_OK;
}

static tq_status plan_from_json(json_t *root, const char *path, struct tq_plan *p, struct tq_err *err)
{
    double mem, workers;
    TQ_TRY(tq_json_check_header(root, PLAN_FORMAT, PLAN_VERSION, path, err));
    TQ_TRY(tq_json_get_string(root, "op", path, p->op, sizeof p->op, err));
    TQ_TRY(tq_json_get_string(root, "planner", path, p->planner, sizeof p->planner, err));
    TQ_TRY(tq_json_get_sizes(root, "shape", path, p->shape, 3, err));
    TQ_TRY(tq_json_get_sizes(root, "output_shape", path, p->out_shape, 3, err));
    TQ_TRY(tq_json_get_number(root, "memory_bytes", path, &mem, err));
    TQ_TRY(tq_json_get_number(root, "safety", path, &p->safety, err));
    TQ_TRY(tq_json_get_number(root, "workers", path, &workers, err));
    /* Range-check before converting: a double outside the integer type is undefined behaviour (found by fuzz_plan). */
    if (!(mem >= 0 && mem < 0x1p64) || !(workers >= 1 && workers <= INT_MAX) || p->safety <= 0 || p->safety > 1)
        return tq_fail(err, TQ_ERR_FORMAT, "%s: memory_bytes, workers (>= 1) or safety (0..1] out of range", path);
    p->memory_bytes = (uint64_t)mem;
    p->workers = (int)workers;
    if (!strcmp(p->op, "cmd"))
        TQ_TRY(read_cmd_keys(root, path, p, err));
    if (json_object_get(root, "model_target")) /* optional: plans written before it have none */
        TQ_TRY(tq_json_get_string(root, "model_target", path, p->model_target, sizeof p->model_target, err));
    json_t *blocks = json_object_get(root, "blocks");
    if (!json_is_array(blocks) || !json_array_size(blocks))
        return tq_fail(err, TQ_ERR_FORMAT, "%s: %s \"blocks\" (a non-empty array)", path,
                       blocks ? "bad" : "missing key");
    p->nblocks = json_array_size(blocks);
    p->blocks = tq_calloc(p->nblocks, sizeof *p->blocks);
    if (!p->blocks)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory for %zu blocks", p->nblocks);
    for (size_t i = 0; i < p->nblocks; i++)
        TQ_TRY(read_block(json_array_get(blocks, i), i, path, &p->blocks[i], err));
    return TQ_OK;
}

tq_status tq_plan_read(const char *path, struct tq_plan **out, struct tq_err *err)
{
    json_t *root;
    TQ_TRY(tq_json_read_file(path, "plan", &root, err));
    struct tq_plan *p = tq_calloc(1, sizeof *p);
    tq_status st = p ? plan_from_json(root, path, p, err) : tq_fail(err, TQ_ERR_NOMEM, "out of memory");
    json_decref(root);
    if (!st) {
        struct tq_err terr = {0};
        if ((st = tq_plan_check_tiling(p, &terr)))
            tq_fail(err, st, "%s: %s", path, terr.msg);
    }
    if (st) {
        tq_plan_free(p);
        return st;
    }
    *out = p;
    return TQ_OK;
}
