/* test_alloc_fail.c - every allocation of the file readers (plan, .npy header, trace) made to fail in turn: each
 * read must then fail with TQ_ERR_NOMEM (or, where a fallback exists, succeed with the same result), free what it
 * made (ASan builds check the leaks) and leave nothing half-filled behind (style.md habit 8). jansson's own
 * allocations are not hooked: jansson 2.14 aborts (assert in lex_scan_string) when one fails mid-parse, so the
 * model reader, which allocates only through jansson, has nothing of its own to test here. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../model/plan.h"
#include "../common/alloc.h"
#include "../operators/volume.h"
#include "../traces/codec.h"
#include "../traces/reader.h"
#include "../traces/writer.h"
#include "helpers.h"

static void hook_off(void)
{
    tq_alloc_fail_nth(-1);
}

TestSuite(alloc_fail, .fini = hook_off);

/* Run `read` with allocation n failing for n = 0, 1, ... until a run makes fewer than n + 1 allocations (the hook
 * no longer fires). Every run where it fired must return TQ_ERR_NOMEM, or TQ_OK when `ok_if_fired` allows a
 * fallback. Returns how many allocations a clean read makes. */
static long fail_each(tq_status (*read)(void *ctx, struct tq_err *err), void *ctx, int ok_if_fired)
{
    for (long n = 0;; n++) {
        struct tq_err err = {0};
        tq_alloc_fail_nth(n);
        tq_status st = read(ctx, &err);
        long made = tq_alloc_count();
        tq_alloc_fail_nth(-1);
        if (made <= n) {
            cr_assert_eq(st, TQ_OK, "clean read failed: %s", err.msg);
            return made;
        }
        if (st == TQ_OK && ok_if_fired)
            continue;
        cr_assert_eq(st, TQ_ERR_NOMEM, "allocation %ld of %ld failing gave status %d: %s", n, made, st, err.msg);
        cr_assert(strlen(err.msg) > 0, "no message for allocation %ld", n);
    }
}

static tq_status read_plan(void *path, struct tq_err *err)
{
    struct tq_plan *p = NULL;
    tq_status st = tq_plan_read(path, &p, err);
    if (!st) { /* a fallback (the pairwise overlap check) must still have read everything */
        cr_assert_eq(p->nblocks, 3);
        cr_assert_eq(p->blocks[2].out.hi[0], 6);
    } else {
        cr_assert_null(p);
    }
    tq_plan_free(p);
    return st;
}

Test(alloc_fail, plan_reader)
{
    char *dir = tq_tmpdir(), *path;
    cr_assert(asprintf(&path, "%s/p.json", dir) > 0);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("{\"format\": \"traceq-plan\", \"version\": 1, \"op\": \"gaussian\", \"shape\": [6, 4, 4],"
          " \"output_shape\": [6, 4, 4], \"memory_bytes\": 1000000, \"safety\": 0.8, \"workers\": 1,"
          " \"planner\": \"traceq\", \"blocks\": ["
          "{\"lo\": [0, 0, 0], \"hi\": [2, 4, 4], \"predicted_bytes\": 1},"
          "{\"lo\": [2, 0, 0], \"hi\": [4, 4, 4], \"predicted_bytes\": 1},"
          "{\"lo\": [4, 0, 0], \"hi\": [6, 4, 4], \"predicted_bytes\": 1}]}\n", f);
    cr_assert_eq(fclose(f), 0);
    cr_assert_geq(fail_each(read_plan, path, 1), 6); /* plan, blocks, 3 edge lists, the cell grid */
    tq_rmtree(dir);
    free(dir);
    free(path);
}

static tq_status read_npy(void *path, struct tq_err *err)
{
    tq_vol_reader *r = NULL;
    tq_status st = tq_vol_reader_open(path, &r, err);
    if (!st) {
        size_t shape[3];
        tq_vol_reader_shape(r, shape);
        cr_assert(shape[0] == 3 && shape[1] == 4 && shape[2] == 5);
    }
    tq_vol_reader_free(r);
    return st;
}

Test(alloc_fail, npy_header_reader)
{
    char *dir = tq_tmpdir(), *path;
    cr_assert(asprintf(&path, "%s/v.npy", dir) > 0);
    size_t shape[3] = {3, 4, 5};
    struct tq_err err = {0};
    cr_assert_eq(tq_synth_write_file(path, shape, 1, 0, &err), TQ_OK, "%s", err.msg);
    cr_assert_geq(fail_each(read_npy, path, 0), 3); /* volume reader, .npy reader, header */
    tq_rmtree(dir);
    free(dir);
    free(path);
}

static tq_status read_trace(void *path, struct tq_err *err)
{
    struct tq_trace_reader *r = NULL;
    TQ_TRY(tq_trace_open(path, &r, err));
    struct tq_rec rec;
    bool done = false;
    size_t n = 0;
    tq_status st;
    while (!(st = tq_trace_next(r, &rec, &done, err)) && !done)
        n++;
    tq_trace_close(r);
    if (!st)
        cr_assert_eq(n, 2001, "records read: %zu", n);
    return st;
}

Test(alloc_fail, trace_reader)
{
    char *dir = tq_tmpdir();
    static char path[4096];
    int fd = tq_trace_create(dir, "/bin/prog", 77, path, sizeof path);
    cr_assert_geq(fd, 0);
    struct tq_trace_writer w;
    cr_assert_eq(tq_writer_open(&w, fd), 0);
    uint8_t rec[256];
    char *argv[] = {"prog", NULL};
    struct tq_rec_process p = {.pid = 77, .ppid = 1, .interval_us = 10000, .page_size = 4096};
    size_t len = tq_rec_put_process(rec, sizeof rec, &p, "/bin/prog", 1, argv);
    cr_assert_eq(tq_writer_append(&w, rec, len), 0);
    for (int i = 0; i < 2000; i++) { /* one frame bigger than the reader's first buffer: it must grow */
        struct tq_rec_sample s = {.t_ns = 1000u * (uint64_t)(i + 1), .vm_rss = 4096u * (uint64_t)i};
        len = tq_rec_put_sample(rec, sizeof rec, &s);
        cr_assert_eq(tq_writer_append(&w, rec, len), 0);
    }
    cr_assert_eq(tq_writer_close(&w), 0);
    cr_assert_geq(fail_each(read_trace, path, 0), 3);
    tq_rmtree(dir);
    free(dir);
}
