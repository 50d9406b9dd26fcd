/* test_alloc_fail.c - every allocation of the file readers (trace, trace summary, heap replay, sites, sweep dataset,
 * model, plan, .npy header) made to fail in turn: each read must then fail with TQ_ERR_NOMEM (or, where a fallback
 * exists, succeed with the same result), free what it made (ASan builds check the leaks) and leave nothing
 * half-filled behind (style.md habit 8). jansson allocates through the same hook (common/jsonfile.c) except while
 * it parses (its 2.14 lexer overruns its buffer when an allocation fails mid-parse), so the model and plan readers
 * walk what our code allocates around the parse: the buffer the file is read into, and (the plan) what is built
 * from the parsed tree (a model is a fixed-size struct); the model and plan writers walk jansson's. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/alloc.h"
#include "../model/dataset.h"
#include "../model/model.h"
#include "../model/plan.h"
#include "../report/heap_replay.h"
#include "../report/sites.h"
#include "../report/trace_summary.h"
#include "../operators/volume.h"
#include "../traces/codec.h"
#include "../traces/reader.h"
#include "../traces/writer.h"
#include "helpers.h"

#ifdef __SANITIZE_ADDRESS__
size_t __sanitizer_get_current_allocated_bytes(void); /* libasan's; GCC ships no header declaring it */
#endif

/* Bytes the program holds now (ASan builds only; elsewhere 0). LeakSanitizer checks this process only when it exits,
 * after every run of the walk: this names the failing allocation's run. */
static size_t held_bytes(void)
{
#ifdef __SANITIZE_ADDRESS__
    return __sanitizer_get_current_allocated_bytes();
#else
    return 0;
#endif
}

static void hook_off(void)
{
    tq_alloc_fail_nth(-1);
}

TestSuite(alloc_fail, .fini = hook_off);

/* Run `read` with allocation n failing for n = 0, 1, ... until a run makes fewer than n + 1 allocations (the hook
 * no longer fires). Every run where it fired must return TQ_ERR_NOMEM, or TQ_OK when `ok_if_fired` allows a
 * fallback, and (in ASan builds) give back every byte it took. A clean read comes first, so lazily made library
 * state is not taken for a leak and later reads have a reference to compare with. Returns how many allocations a
 * clean read makes. */
static long fail_each(tq_status (*read)(void *ctx, struct tq_err *err), void *ctx, int ok_if_fired)
{
    struct tq_err first = {0};
    cr_assert_eq(read(ctx, &first), TQ_OK, "clean read failed: %s", first.msg);
    size_t held = held_bytes();
    for (long n = 0;; n++) {
        struct tq_err err = {0};
        tq_alloc_fail_nth(n);
        tq_status st = read(ctx, &err);
        long made = tq_alloc_count();
        tq_alloc_fail_nth(-1);
        cr_assert_eq(held_bytes(), held, "allocation %ld failing leaked %zd bytes", n,
                     (ssize_t)(held_bytes() - held));
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
    cr_assert_geq(fail_each(read_plan, path, 1), 7); /* the file's text, plan, blocks, 3 edge lists, the cell grid */
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

/* A --stacks trace: two modules (files that do not exist, so no debug info is read), NSTACKS stacks of depth 3 and
 * NBLOCKS allocations (enough live at once to make the live-block map grow), half of them freed again. */
enum { NSTACKS = 40, NBLOCKS = 1500 };

static void write_stacks_fixture(const char *path)
{
    struct tq_trace_writer w;
    tq_fixture_trace_open(path, &w);
    static uint8_t buf[1 << 16];
    char *argv[] = {"fixture", NULL};
    struct tq_rec_process p = {.pid = 99, .ppid = 1, .interval_us = 10000, .page_size = 4096,
                               .flags = TQ_PROC_STACKS};
    tq_fixture_put(&w, buf, tq_rec_put_process(buf, sizeof buf, &p, "/nonexistent/fixture", 1, argv));
    struct tq_rec_module lib = {.perms = 5, .start = 0x10000, .end = 0x20000};
    struct tq_rec_module exe = {.perms = 5, .start = 0x400000, .end = 0x500000};
    tq_fixture_put(&w, buf, tq_rec_put_module(buf, sizeof buf, &lib, "/nonexistent/libfix.so"));
    tq_fixture_put(&w, buf, tq_rec_put_module(buf, sizeof buf, &exe, "/nonexistent/fixture"));
    for (uint32_t id = 1; id <= NSTACKS; id++) {
        uint64_t ips[3] = {0x10000 + 0x100 * id, 0x400000 + 0x40 * (id % 7), 0x400800};
        tq_fixture_put(&w, buf, tq_rec_put_stack(buf, sizeof buf, id, ips, 3));
    }
    struct tq_event ev[250];
    size_t n = 0;
    uint64_t t = 0;
    for (int pass = 0; pass < 2; pass++)
        for (uint64_t i = 0; i < NBLOCKS; i++) {
            if (pass == 1 && i % 2) /* then every other block is freed */
                continue;
            uint32_t id = (uint32_t)(1 + i % NSTACKS);
            ev[n++] = pass == 0 ? (struct tq_event){.kind = TQ_CALL_MALLOC, .t_ns = t += 1000, .addr = 0x1000000 + 64 * i,
                                                    .size = 16 + i % 50, .stack_id = id}
                                : (struct tq_event){.kind = TQ_CALL_FREE, .t_ns = t += 1000, .addr = 0x1000000 + 64 * i,
                                                    .stack_id = id};
            if (n == 250) {
                tq_fixture_put(&w, buf, tq_rec_put_events(buf, sizeof buf, 99, ev, n));
                n = 0;
            }
        }
    if (n)
        tq_fixture_put(&w, buf, tq_rec_put_events(buf, sizeof buf, 99, ev, n));
    struct tq_rec_end e = {.t_ns = t + 1000, .reason = TQ_END_EXIT};
    tq_fixture_put(&w, buf, tq_rec_put_end(buf, sizeof buf, &e));
    cr_assert_eq(tq_writer_close(&w), 0);
}

/* The file read by a walk and what a clean read of it gives (filled by the first, clean, read). */
struct walk {
    char *path;
    bool have_ref;
    uint64_t ref[4];
    char ref_text[4096];
};

static void walk_init(struct walk *wk, char *dir, const char *name)
{
    memset(wk, 0, sizeof *wk);
    cr_assert(asprintf(&wk->path, "%s/%s", dir, name) > 0);
}

/* First call: remember the figures; later calls: they must be the same. */
static void walk_same(struct walk *wk, const uint64_t v[4], const char *text)
{
    if (!wk->have_ref) {
        memcpy(wk->ref, v, sizeof wk->ref);
        snprintf(wk->ref_text, sizeof wk->ref_text, "%s", text);
        wk->have_ref = true;
        return;
    }
    for (int k = 0; k < 4; k++)
        cr_assert_eq(v[k], wk->ref[k], "figure %d: %" PRIu64 " after a fallback, %" PRIu64 " clean", k, v[k],
                     wk->ref[k]);
    cr_assert_str_eq(text, wk->ref_text);
}

static tq_status read_summary(void *ctx, struct tq_err *err)
{
    struct walk *wk = ctx;
    struct tq_trace_summary s;
    memset(&s, 0xa5, sizeof s);
    tq_status st = tq_trace_summarize(wk->path, &s, err);
    if (st) { /* nothing half-filled: cleared, so a caller's tq_trace_summary_clear is harmless */
        cr_assert_null(s.path);
        cr_assert_null(s.exe);
        cr_assert_null(s.argv);
        return st;
    }
    cr_assert_eq(s.argc, 1);
    cr_assert_str_eq(s.argv[0], "fixture");
    uint64_t v[4] = {s.events, s.stacks, s.modules, s.pid};
    walk_same(wk, v, s.exe);
    tq_trace_summary_clear(&s);
    return st;
}

Test(alloc_fail, trace_summary)
{
    char *dir = tq_tmpdir();
    struct walk wk;
    walk_init(&wk, dir, "s.tq");
    write_stacks_fixture(wk.path);
    cr_assert_geq(fail_each(read_summary, &wk, 0), 5); /* path, exe, argv, argv[0], reader */
    cr_assert_eq(wk.ref[1], NSTACKS);
    tq_rmtree(dir);
    free(dir);
    free(wk.path);
}

/* A trace of 600 samples (the summary's kept samples grow twice). */
static void write_samples_fixture(const char *path)
{
    struct tq_trace_writer w;
    tq_fixture_trace_open(path, &w);
    static uint8_t buf[1 << 12];
    char *argv[] = {"fixture", NULL};
    struct tq_rec_process p = {.pid = 98, .ppid = 1, .interval_us = 10000, .page_size = 4096};
    tq_fixture_put(&w, buf, tq_rec_put_process(buf, sizeof buf, &p, "/nonexistent/fixture", 1, argv));
    for (uint64_t i = 1; i <= 600; i++) {
        struct tq_rec_sample x = {.t_ns = i * 10000000, .vm_rss = 4096 * i, .heap_live_req = (int64_t)(100 * i),
                                  .mmap_live = (int64_t)(i % 3) - 1};
        tq_fixture_put(&w, buf, tq_rec_put_sample(buf, sizeof buf, &x));
    }
    struct tq_rec_end e = {.t_ns = 6020000000, .reason = TQ_END_EXIT};
    tq_fixture_put(&w, buf, tq_rec_put_end(buf, sizeof buf, &e));
    cr_assert_eq(tq_writer_close(&w), 0);
}

static tq_status read_summary_samples(void *ctx, struct tq_err *err)
{
    struct walk *wk = ctx;
    struct tq_trace_summary s;
    memset(&s, 0xa5, sizeof s);
    tq_status st = tq_trace_summarize_samples(wk->path, &s, err);
    if (st) {
        cr_assert_null(s.points);
        cr_assert_null(s.path);
        return st;
    }
    uint64_t v[4] = {s.samples, 0, 0, s.points[s.samples - 1].t_ns};
    for (uint64_t i = 0; i < s.samples; i++) {
        v[1] += s.points[i].rss;
        v[2] += s.points[i].held;
    }
    walk_same(wk, v, s.exe);
    tq_trace_summary_clear(&s);
    return st;
}

/* The summary that keeps every sample's figures (for report/tree_peak.h): all of them, or TQ_ERR_NOMEM. */
Test(alloc_fail, trace_summary_with_samples)
{
    char *dir = tq_tmpdir();
    struct walk wk;
    walk_init(&wk, dir, "x.tq");
    write_samples_fixture(wk.path);
    cr_assert_geq(fail_each(read_summary_samples, &wk, 0), 8); /* path, exe, argv, argv[0], reader, 3 x samples */
    cr_assert_eq(wk.ref[0], 600);
    cr_assert_eq(wk.ref[1], 4096 * 600 * 601 / 2);
    cr_assert_eq(wk.ref[2], 100 * 600 * 601 / 2); /* mmap_live 0, 1, -1 in turn */
    tq_rmtree(dir);
    free(dir);
    free(wk.path);
}

/* The sites and the summary in one pass (report --top): both, or TQ_ERR_NOMEM with nothing left to free. */
static tq_status read_sites_summarized(void *ctx, struct tq_err *err)
{
    struct walk *wk = ctx;
    struct tq_sites s;
    struct tq_trace_summary sum;
    memset(&s, 0xa5, sizeof s);
    memset(&sum, 0xa5, sizeof sum);
    tq_status st = tq_sites_load_summarized(wk->path, false, &sum, true, &s, err);
    if (st) {
        cr_assert_null(s.v);
        cr_assert_null(sum.path);
        cr_assert_null(sum.exe);
        cr_assert_null(sum.argv);
        return st;
    }
    uint64_t v[4] = {s.peak, s.calls, sum.events, sum.stacks};
    walk_same(wk, v, sum.exe);
    tq_sites_clear(&s);
    tq_trace_summary_clear(&sum);
    return st;
}

Test(alloc_fail, sites_and_summary_in_one_pass)
{
    char *dir = tq_tmpdir();
    struct walk wk;
    walk_init(&wk, dir, "x.tq");
    write_stacks_fixture(wk.path);
    cr_assert_geq(fail_each(read_sites_summarized, &wk, 1), 2 * 3 + 1 + 4);
    struct tq_trace_summary alone;
    struct tq_err err = {0};
    cr_assert_eq(tq_trace_summarize(wk.path, &alone, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(wk.ref[2], alone.events);
    cr_assert_eq(wk.ref[3], alone.stacks);
    cr_assert_eq(wk.ref[3], NSTACKS);
    tq_trace_summary_clear(&alone);
    tq_rmtree(dir);
    free(dir);
    free(wk.path);
}

static tq_status read_replay(void *ctx, struct tq_err *err)
{
    struct walk *wk = ctx;
    struct tq_heap_replay *r = NULL;
    tq_status st = tq_heap_replay_run(wk->path, &r, err);
    if (st) {
        cr_assert_null(r);
        return st;
    }
    uint64_t held = 0, calls = 0;
    for (size_t i = 0; i < tq_heap_replay_count(r); i++) {
        held += tq_heap_replay_site(r, i)->peak_bytes;
        calls += tq_heap_replay_site(r, i)->calls;
    }
    char frame[256];
    tq_heap_replay_frame(r, tq_heap_replay_site(r, 1), 0, 1, frame, sizeof frame);
    uint64_t v[4] = {tq_heap_replay_peak(r), held, calls, tq_heap_replay_count(r)};
    walk_same(wk, v, frame);
    tq_heap_replay_free(r);
    return st;
}

Test(alloc_fail, heap_replay)
{
    char *dir = tq_tmpdir();
    struct walk wk;
    walk_init(&wk, dir, "h.tq");
    write_stacks_fixture(wk.path);
    /* two passes (2 readers), the replay, the live blocks' table and growth, NSTACKS stacks, 2 module names, 2 files */
    /* The symbolizer's address index and cache fall back to a plain lookup without memory: the same names. */
    cr_assert_geq(fail_each(read_replay, &wk, 1), 2 * 3 + 1 + 2 + NSTACKS + 2 + 2);
    cr_assert_eq(wk.ref[2], NBLOCKS, "calls: %" PRIu64, wk.ref[2]);
    cr_assert_eq(wk.ref[0], wk.ref[1], "the peak is what the sites hold then");
    cr_assert_str_eq(wk.ref_text, "libfix.so+0x100");
    tq_rmtree(dir);
    free(dir);
    free(wk.path);
}

static tq_status read_sites(void *ctx, struct tq_err *err)
{
    struct walk *wk = ctx;
    struct tq_sites s;
    memset(&s, 0xa5, sizeof s);
    tq_status st = tq_sites_load(wk->path, &s, err);
    if (st) {
        cr_assert_null(s.v);
        cr_assert_eq(s.n, 0);
        return st;
    }
    tq_sites_sort(&s, TQ_SITES_BY_KEY);
    char text[4096] = "";
    size_t len = 0;
    for (size_t i = 0; i < s.n && len < sizeof text; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "%s|%s|%s;", s.v[i].key, s.v[i].module,
                                s.v[i].callers);
    uint64_t v[4] = {s.peak, s.allocated, s.calls, s.n};
    walk_same(wk, v, text);
    tq_sites_clear(&s);
    return st;
}

Test(alloc_fail, sites)
{
    char *dir = tq_tmpdir();
    struct walk wk;
    walk_init(&wk, dir, "x.tq");
    write_stacks_fixture(wk.path);
    /* the replay's, then per site its key, module and callers, then the merge */
    cr_assert_geq(fail_each(read_sites, &wk, 1), 2 * 3 + 1 + 2 + NSTACKS + 2 + 2 + 2 + 3 * NSTACKS + 2);
    cr_assert_eq(wk.ref[3], NSTACKS, "one site per innermost frame: %" PRIu64, wk.ref[3]);
    cr_assert_eq(wk.ref[2], NBLOCKS);
    cr_assert(strstr(wk.ref_text, "libfix.so+0x100|libfix.so|fixture+0x40 < fixture+0x800;"), "%s", wk.ref_text);
    tq_rmtree(dir);
    free(dir);
    free(wk.path);
}

enum { NROWS = 150 }; /* more than the reader's first 64 rows: its array must grow twice */

static tq_status read_dataset(void *ctx, struct tq_err *err)
{
    struct walk *wk = ctx;
    struct tq_dataset *ds = NULL;
    tq_status st = tq_dataset_read(wk->path, &ds, err);
    if (st) {
        cr_assert_null(ds);
        return st;
    }
    struct tq_fit_point *pts = NULL;
    size_t n = 0;
    st = tq_dataset_points(ds, "gaussian", "peak_rss_bytes", TQ_AGG_MAX, &pts, &n, err);
    if (st) {
        cr_assert_null(pts);
    } else {
        uint64_t v[4] = {ds->n, n, (uint64_t)pts[n - 1].y, (uint64_t)pts[0].shape[0]};
        walk_same(wk, v, ds->rows[NROWS - 1].trace);
    }
    free(pts);
    tq_dataset_free(ds);
    return st;
}

Test(alloc_fail, dataset_reader)
{
    char *dir = tq_tmpdir();
    struct walk wk;
    walk_init(&wk, dir, "d.csv");
    struct tq_err err = {0};
    for (int i = 0; i < NROWS; i++) {
        struct tq_dataset_row r = {.op = "gaussian", .shape = {(size_t)(10 + i / 3), 20, 30}, .run = 1 + i % 3,
                                   .ok = 1, .peak_rss_bytes = 1000u * (uint64_t)(i + 1), .wall_s = 0.5};
        snprintf(r.trace, sizeof r.trace, "t%d.tq", i);
        cr_assert_eq(tq_dataset_append(wk.path, &r, &err), TQ_OK, "%s", err.msg);
    }
    cr_assert_geq(fail_each(read_dataset, &wk, 0), 5); /* the dataset, 3 row arrays, points, runs */
    cr_assert_eq(wk.ref[0], NROWS);
    cr_assert_eq(wk.ref[1], NROWS / 3);
    cr_assert_eq(wk.ref[2], 1000u * NROWS);
    tq_rmtree(dir);
    free(dir);
    free(wk.path);
}

static tq_status read_model(void *ctx, struct tq_err *err)
{
    struct walk *wk = ctx;
    struct tq_model m;
    tq_status st = tq_model_read(wk->path, "gaussian", &m, err);
    if (!st) {
        uint64_t v[4] = {(uint64_t)m.fit.coef[1], m.cv.n, (uint64_t)m.hi[3], (uint64_t)m.folds};
        walk_same(wk, v, m.target);
    }
    return st;
}

Test(alloc_fail, model_reader)
{
    char *dir = tq_tmpdir();
    struct walk wk;
    walk_init(&wk, dir, "m.json");
    struct tq_model m = {.op = "gaussian", .target = "peak_rss_bytes", .fit = {TQ_FIT_LINEAR, 2, {1e6, 12}},
                         .bound = {1e5, 0.1}, .cv = {.n = 20, .rmse = 1}, .folds = 5, .seed = 42,
                         .lo = {1, 1, 1, 1}, .hi = {10, 10, 10, 1000}};
    struct tq_err err = {0};
    cr_assert_eq(tq_model_write(&m, wk.path, 0, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(fail_each(read_model, &wk, 0), 1); /* the file's text; the rest is jansson's parser's (see above) */
    cr_assert_eq(wk.ref[0], 12);
    cr_assert_eq(wk.ref[1], 20);
    tq_rmtree(dir);
    free(dir);
    free(wk.path);
}

/* Write a model or a plan with allocation n failing for n = 0, 1, ... (jansson's, building and dumping the JSON):
 * each must fail with TQ_ERR_NOMEM and leave the file that was there untouched (never an incomplete one). Returns
 * how many allocations a clean write makes. */
static long fail_each_write(tq_status (*write)(const void *obj, const char *path, struct tq_err *err), const void *obj,
                            const char *path)
{
    struct tq_err err = {0};
    cr_assert_eq(write(obj, path, &err), TQ_OK, "clean write failed: %s", err.msg);
    size_t len = 0;
    char *clean = tq_slurp(path, &len);
    cr_assert_not_null(clean);
    size_t held = held_bytes();
    for (long n = 0;; n++) {
        tq_alloc_fail_nth(n);
        tq_status st = write(obj, path, &err);
        long made = tq_alloc_count();
        tq_alloc_fail_nth(-1);
        cr_assert_eq(held_bytes(), held, "allocation %ld failing leaked %zd bytes", n, (ssize_t)(held_bytes() - held));
        size_t now_len = 0;
        char *now = tq_slurp(path, &now_len);
        cr_assert(now && now_len == len && !memcmp(now, clean, len), "allocation %ld failing changed %s", n, path);
        free(now);
        if (made <= n) {
            cr_assert_eq(st, TQ_OK, "clean write failed: %s", err.msg);
            free(clean);
            return made;
        }
        cr_assert_eq(st, TQ_ERR_NOMEM, "allocation %ld of %ld failing gave status %d: %s", n, made, st, err.msg);
    }
}

static tq_status write_model(const void *m, const char *path, struct tq_err *err)
{
    return tq_model_write(m, path, 1, err);
}

static tq_status write_plan(const void *p, const char *path, struct tq_err *err)
{
    return tq_plan_write(p, path, 1, err);
}

Test(alloc_fail, model_and_plan_writers)
{
    char *dir = tq_tmpdir(), *mpath, *ppath;
    cr_assert(asprintf(&mpath, "%s/m.json", dir) > 0 && asprintf(&ppath, "%s/p.json", dir) > 0);
    struct tq_model m = {.op = "gaussian", .target = "peak_rss_bytes", .fit = {TQ_FIT_LINEAR, 2, {1e6, 12}},
                         .bound = {1e5, 0.1}, .cv = {.n = 20, .rmse = 1}, .folds = 5, .seed = 42,
                         .lo = {1, 1, 1, 1}, .hi = {10, 10, 10, 1000}};
    cr_assert_gt(fail_each_write(write_model, &m, mpath), 10); /* every object, array, string and number */
    struct tq_plan_block blocks[2] = {{.out = {{0, 0, 0}, {3, 4, 4}}, .predicted_bytes = 1},
                                      {.out = {{3, 0, 0}, {6, 4, 4}}, .predicted_bytes = 1}};
    struct tq_plan p = {.op = "gaussian", .shape = {6, 4, 4}, .out_shape = {6, 4, 4}, .memory_bytes = 1000000,
                        .safety = 0.8, .workers = 1, .planner = "traceq", .nblocks = 2, .blocks = blocks};
    cr_assert_gt(fail_each_write(write_plan, &p, ppath), 10);
    tq_rmtree(dir);
    free(dir);
    free(mpath);
    free(ppath);
}

/* tq_getline (the journal's line reader): lines with and without a final newline, one longer than its first
 * buffer, then 0 at the end; -1 with errno ENOMEM when the buffer cannot grow. */
static tq_status read_lines(void *ctx, struct tq_err *err)
{
    struct walk *wk = ctx;
    FILE *f = fopen(wk->path, "r");
    cr_assert_not_null(f);
    char *line = NULL, text[1024] = "";
    size_t cap = 0, len = 0;
    ssize_t n;
    uint64_t lines = 0;
    while ((n = tq_getline(&line, &cap, f)) > 0) {
        cr_assert_eq((size_t)n, strlen(line));
        len += (size_t)snprintf(text + len, sizeof text - len, "%zd:%c%c;", n, line[0], line[n - 1]);
        lines++;
    }
    int e = errno;
    free(line);
    fclose(f);
    if (n < 0) {
        cr_assert_eq(e, ENOMEM);
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory reading %s", wk->path);
    }
    uint64_t v[4] = {lines, cap >= 128, 0, 0};
    walk_same(wk, v, text);
    return TQ_OK;
}

Test(alloc_fail, getline)
{
    char *dir = tq_tmpdir();
    struct walk wk;
    walk_init(&wk, dir, "lines.txt");
    FILE *f = fopen(wk.path, "w");
    cr_assert_not_null(f);
    fputs("a\n\nbc\n", f);
    for (int i = 0; i < 300; i++) /* a last line of 300 characters, no newline */
        fputc(i == 299 ? 'z' : 'y', f);
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(fail_each(read_lines, &wk, 0), 3); /* 128, 256 and 512 bytes */
    cr_assert_str_eq(wk.ref_text, "2:a\n;1:\n\n;3:b\n;300:yz;");
    cr_assert_eq(wk.ref[0], 4);
    tq_rmtree(dir);
    free(dir);
    free(wk.path);
}
