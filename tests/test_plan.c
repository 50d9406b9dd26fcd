/* test_plan.c - plan files: JSON round trip, strict reading, exact tiling (model/plan.c). */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../model/plan.h"
#include "helpers.h"

/* A 2x2x1 grid over a 10x10x4 output. */
static struct tq_plan *grid_plan(void)
{
    struct tq_plan *p = calloc(1, sizeof *p);
    snprintf(p->op, sizeof p->op, "gst3d");
    snprintf(p->planner, sizeof p->planner, "traceq");
    size_t in[3] = {12, 12, 6}, out[3] = {10, 10, 4};
    memcpy(p->shape, in, sizeof in);
    memcpy(p->out_shape, out, sizeof out);
    p->memory_bytes = 1ull << 30;
    p->safety = 0.8;
    p->workers = 2;
    p->nblocks = 4;
    p->blocks = calloc(4, sizeof *p->blocks);
    for (size_t i = 0; i < 4; i++) {
        struct tq_box *b = &p->blocks[i].out;
        b->lo[0] = (i / 2) * 6;
        b->hi[0] = i / 2 ? 10 : 6;
        b->lo[1] = (i % 2) * 5;
        b->hi[1] = b->lo[1] + 5;
        b->lo[2] = 0;
        b->hi[2] = 4;
        p->blocks[i].predicted_bytes = 1000 + i;
    }
    return p;
}

Test(plan, tiling_check_finds_gaps_overlaps_and_outside_blocks)
{
    struct tq_plan *p = grid_plan();
    struct tq_err err = {0};
    cr_assert_eq(tq_plan_check_tiling(p, &err), TQ_OK, "%s", err.msg);
    p->blocks[3].out.hi[0] = 9; /* gap */
    cr_assert_eq(tq_plan_check_tiling(p, &err), TQ_ERR_FORMAT);
    cr_assert(strstr(err.msg, "gap"), "%s", err.msg);
    p->blocks[3].out.hi[0] = 10;
    p->blocks[3].out.lo[1] = 4; /* overlaps block 2 */
    cr_assert_eq(tq_plan_check_tiling(p, &err), TQ_ERR_FORMAT);
    cr_assert(strstr(err.msg, "overlap"), "%s", err.msg);
    p->blocks[3].out.lo[1] = 5;
    p->blocks[3].out.hi[2] = 5; /* outside */
    cr_assert_eq(tq_plan_check_tiling(p, &err), TQ_ERR_FORMAT);
    cr_assert(strstr(err.msg, "outside"), "%s", err.msg);
    tq_plan_free(p);
    tq_plan_free(NULL);
}

Test(plan, json_round_trip)
{
    char *dir = tq_tmpdir(), *path;
    cr_assert(asprintf(&path, "%s/p.json", dir) > 0);
    struct tq_plan *p = grid_plan(), *q = NULL;
    struct tq_err err = {0};
    cr_assert_eq(tq_plan_write(p, path, 0, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(tq_plan_write(p, path, 0, &err), TQ_ERR_IO);
    cr_assert_eq(tq_plan_read(path, &q, &err), TQ_OK, "%s", err.msg);
    cr_assert_str_eq(q->op, "gst3d");
    cr_assert_str_eq(q->planner, "traceq");
    cr_assert_eq(q->nblocks, 4);
    cr_assert_eq(q->workers, 2);
    cr_assert_float_eq(q->safety, 0.8, 1e-15);
    cr_assert_eq(q->memory_bytes, 1ull << 30);
    cr_assert(memcmp(q->shape, p->shape, sizeof p->shape) == 0);
    cr_assert(memcmp(q->out_shape, p->out_shape, sizeof p->shape) == 0);
    for (size_t i = 0; i < 4; i++) {
        cr_assert(memcmp(&q->blocks[i].out, &p->blocks[i].out, sizeof(struct tq_box)) == 0);
        cr_assert_eq(q->blocks[i].predicted_bytes, 1000 + i);
    }
    tq_plan_free(p);
    tq_plan_free(q);
    tq_rmtree(dir);
    free(dir);
    free(path);
}

static void expect_plan_reject(const char *blocks, const char *extra, const char *needle)
{
    char *dir = tq_tmpdir(), *path;
    cr_assert(asprintf(&path, "%s/bad.json", dir) > 0);
    FILE *f = fopen(path, "w");
    fprintf(f,
            "{\"format\":\"traceq-plan\",\"version\":1,\"op\":\"gst3d\",\"shape\":[6,6,6],\"output_shape\":[4,4,4],"
            "%s\"safety\":0.8,\"workers\":1,\"planner\":\"traceq\",\"blocks\":[%s]}",
            extra, blocks);
    fclose(f);
    struct tq_plan *p = NULL;
    struct tq_err err = {0};
    cr_assert_eq(tq_plan_read(path, &p, &err), TQ_ERR_FORMAT, "accepted blocks %s", blocks);
    cr_assert_null(p);
    cr_assert(strstr(err.msg, needle), "message '%s' lacks '%s'", err.msg, needle);
    tq_rmtree(dir);
    free(dir);
    free(path);
}

#define B(lo, hi) "{\"lo\":" lo ",\"hi\":" hi ",\"predicted_bytes\":5}"

Test(plan, reader_rejects_bad_plans)
{
    const char *mem = "\"memory_bytes\":1000,";
    expect_plan_reject(B("[0,0,0]", "[4,4,2]") "," B("[0,0,1]", "[4,4,4]"), mem, "overlap");
    expect_plan_reject(B("[0,0,0]", "[4,4,2]") "," B("[0,0,2]", "[4,4,5]"), mem, "outside");
    expect_plan_reject(B("[0,0,0]", "[4,4,2]"), mem, "gap");
    expect_plan_reject(B("[0,0,0]", "[4,4,4]"), "", "missing key \"memory_bytes\"");
    expect_plan_reject("{\"lo\":[0,0,0],\"hi\":[4,4,4]}", mem, "missing key \"predicted_bytes\"");
    expect_plan_reject(B("[0,0]", "[4,4,4]"), mem, "\"lo\" must be an array of 3");
    expect_plan_reject("", mem, "blocks");
}

Test(plan, tiling_check_scales_and_falls_back)
{
    /* a 64^3 grid of 2^3 blocks: 262144 blocks checked on the edge grid */
    struct tq_plan p = {.out_shape = {128, 128, 128}, .nblocks = 64 * 64 * 64};
    p.blocks = calloc(p.nblocks, sizeof *p.blocks);
    for (size_t i = 0; i < p.nblocks; i++) {
        size_t c[3] = {i / 4096, i / 64 % 64, i % 64};
        for (int a = 0; a < 3; a++) {
            p.blocks[i].out.lo[a] = 2 * c[a];
            p.blocks[i].out.hi[a] = 2 * c[a] + 2;
        }
    }
    struct tq_err err = {0};
    cr_assert_eq(tq_plan_check_tiling(&p, &err), TQ_OK, "%s", err.msg);
    p.blocks[5].out.hi[2] += 1; /* now overlaps block 6 */
    cr_assert_eq(tq_plan_check_tiling(&p, &err), TQ_ERR_FORMAT);
    cr_assert(strstr(err.msg, "overlap"), "%s", err.msg);
    free(p.blocks);

    /* 450 staggered unit blocks: the edge grid would have 450^3 cells, so the pairwise check runs */
    struct tq_plan q = {.out_shape = {460, 460, 460}, .nblocks = 451};
    q.blocks = calloc(q.nblocks, sizeof *q.blocks);
    for (size_t i = 0; i < 450; i++)
        for (int a = 0; a < 3; a++) {
            q.blocks[i].out.lo[a] = i;
            q.blocks[i].out.hi[a] = i + 1;
        }
    for (int a = 0; a < 3; a++) {
        q.blocks[450].out.lo[a] = 9;
        q.blocks[450].out.hi[a] = 11;
    }
    cr_assert_eq(tq_plan_check_tiling(&q, &err), TQ_ERR_FORMAT);
    cr_assert(strstr(err.msg, "overlap"), "%s", err.msg);
    q.nblocks = 450;
    cr_assert_eq(tq_plan_check_tiling(&q, &err), TQ_ERR_FORMAT);
    cr_assert(strstr(err.msg, "gap"), "%s", err.msg);
    free(q.blocks);
}
