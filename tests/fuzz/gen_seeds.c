/* gen_seeds.c - write the fuzz seed corpus (tests/fuzz/corpus/<target>/) with the project's own writers:
 * small valid files plus truncated copies of each. Run by `make fuzz-corpus`; the output is committed. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../model/dataset.h"
#include "../../model/model.h"
#include "../../model/plan.h"
#include "../../operators/volume.h"
#include "../../runner/journal.h"
#include "../../traces/codec.h"
#include "../../traces/writer.h"
#include "fuzz_file.h"

static void die(const char *what, const struct tq_err *err)
{
    fprintf(stderr, "gen_seeds: %s: %s\n", what, err ? err->msg : strerror(errno));
    exit(1);
}

static void *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die(path, NULL);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    void *buf = malloc(*len ? *len : 1);
    if (!buf || fread(buf, 1, *len, f) != *len)
        die(path, NULL);
    fclose(f);
    return buf;
}

static void put(const char *dir, const char *name, const void *buf, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0)
        die(path, NULL);
}

/* Keep `src` as name.ok and truncated copies cut at a few fractions of its length (name.cutN). */
static void keep_with_cuts(const char *dir, const char *src, const char *name)
{
    size_t len;
    char *buf = slurp(src, &len);
    char n[256];
    snprintf(n, sizeof n, "%s.ok", name);
    put(dir, n, buf, len);
    static const unsigned cuts[] = {1, 3, 5, 7};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        snprintf(n, sizeof n, "%s.cut%u", name, cuts[i]);
        put(dir, n, buf, len * cuts[i] / 8);
    }
    free(buf);
    unlink(src);
}

/* A trace holding one record of every type, in two flushed frames. */
static void seed_trace(const char *dir, const char *tmpdir)
{
    char path[4096];
    int fd = tq_trace_create(tmpdir, "seed", 4242, path, sizeof path);
    struct tq_trace_writer w;
    if (fd < 0 || tq_writer_open(&w, fd) != 0 || tq_writer_group_events(&w) != 0)
        die("trace create", NULL);
    uint8_t rec[4096];
    struct tq_rec_process p = {.pid = 4242, .ppid = 1, .start_unix_ns = 1, .interval_us = 10000, .page_size = 4096};
    char *argv[] = {"seed", "--flag", NULL};
    tq_writer_append(&w, rec, tq_rec_put_process(rec, sizeof rec, &p, "/bin/seed", 2, argv));
    for (int i = 1; i <= 3; i++) {
        struct tq_rec_sample s = {.t_ns = i * 10000000ull, .vm_size = 1u << 20, .vm_rss = i * 4096ull,
                                  .heap_live_req = i * 100, .heap_peak_req = i * 100, .mmap_live = 8192,
                                  .mmap_peak = 8192, .calls_total = i};
        tq_writer_append(&w, rec, tq_rec_put_sample(rec, sizeof rec, &s));
    }
    struct tq_rec_sample prev = {.t_ns = 30000000ull, .vm_size = 1u << 20, .vm_rss = 12288, .heap_live_req = 300,
                                 .heap_peak_req = 300, .mmap_live = 8192, .mmap_peak = 8192, .calls_total = 3},
                         next = prev;
    next.t_ns += 10000000;
    next.heap_live_req -= 200;
    tq_writer_append(&w, rec, tq_rec_put_sample_delta(rec, sizeof rec, &next, &prev)); /* format 1.7 */
    tq_writer_flush(&w);
    uint64_t counts[TQ_CALL_COUNT] = {0};
    counts[0] = 3;
    tq_writer_append(&w, rec, tq_rec_put_calls(rec, sizeof rec, counts));
    struct tq_event ev[2] = {{.kind = 0, .t_ns = 5, .addr = 0x1000, .size = 64, .stack_id = 1},
                             {.kind = 1, .t_ns = 9, .addr = 0x1000}};
    tq_writer_append(&w, rec, tq_rec_put_events(rec, sizeof rec, 4242, ev, 2));
    ev[0].seq = 1, ev[1].seq = 2;
    tq_writer_append_events(&w, rec, tq_rec_put_packed_events(rec, sizeof rec, 4242, ev, 2)); /* a PACKED_GROUP */
    uint64_t ips[3] = {0x401000, 0x402000, 0x403000};
    tq_writer_append(&w, rec, tq_rec_put_stack(rec, sizeof rec, 1, ips, 3));
    uint64_t inner[4] = {TQ_PYFRAME(1, 12), 0x401800, 0x402000, 0x403000}, other[2] = {0x404000, 0x403000};
    tq_writer_append(&w, rec, tq_rec_put_stack_delta(rec, sizeof rec, 2, inner, 4, 1, ips, 3)); /* format 1.8 */
    tq_writer_append(&w, rec, tq_rec_put_stack_delta(rec, sizeof rec, 3, other, 2, 2, inner, 4));
    struct tq_rec_module m = {.generation = 1, .perms = 5, .start = 0x400000, .end = 0x500000};
    tq_writer_append(&w, rec, tq_rec_put_module(rec, sizeof rec, &m, "/bin/seed"));
    /* format 1.8: two CTX_EVENTS records of one context (a fresh one, one that goes on), grouped at the GAP */
    static struct tq_pack_ctx ctx;
    tq_pack_ctx_init(&ctx);
    struct tq_event more[4] = {{.kind = 0, .t_ns = 5, .addr = 0x1000, .size = 64, .stack_id = 1, .seq = 3},
                               {.kind = 0, .t_ns = 6, .addr = 0x1050, .size = 24, .stack_id = 1, .seq = 4},
                               {.kind = 2, .t_ns = 7, .addr = 0x2000, .old_addr = 0x1000, .size = 99, .seq = 6},
                               {.kind = 4, .t_ns = 9, .addr = 0x1050, .seq = 7}};
    tq_writer_append_events(&w, rec, tq_rec_put_ctx_events(rec, sizeof rec, 0, 4242, more, 2, &ctx, 1));
    tq_writer_append_events(&w, rec, tq_rec_put_ctx_events(rec, sizeof rec, 0, 4242, more + 2, 2, &ctx, 0));
    struct tq_rec_gap g = {.t_ns = 30000000, .cause = TQ_GAP_CLOSED, .fd = 1000, .since_ns = 20000000};
    tq_writer_append(&w, rec, tq_rec_put_gap(rec, sizeof rec, &g));
    tq_writer_append(&w, rec, tq_rec_put_exec(rec, sizeof rec, 40000000, "/bin/true"));
    struct tq_rec_end e = {.t_ns = 50000000, .reason = TQ_END_EXIT, .vm_hwm = 12288, .rss_peak = 12288};
    tq_writer_append(&w, rec, tq_rec_put_end(rec, sizeof rec, &e));
    if (tq_writer_close(&w) != 0)
        die("trace write", NULL);
    keep_with_cuts(dir, path, "trace");
}

static void seed_model(const char *dir, const char *tmpdir)
{
    struct tq_model m = {.op = "gst3d", .target = "peak_rss_bytes", .folds = 5, .seed = 42};
    m.fit.kind = TQ_FIT_LINEAR;
    m.fit.ncoef = tq_fit_ncoef(TQ_FIT_LINEAR);
    for (size_t i = 0; i < m.fit.ncoef; i++)
        m.fit.coef[i] = 1000.0 * (double)(i + 1);
    m.bound.margin_bytes = 1e6;
    m.bound.margin_rel = 0.1;
    m.cv.n = 8;
    m.cv.r2 = 0.99;
    m.cv.accuracy = 1;
    for (int a = 0; a < 4; a++)
        m.lo[a] = 10, m.hi[a] = a < 3 ? 100 : 1e6;
    char path[4096];
    snprintf(path, sizeof path, "%s/model.json", tmpdir);
    struct tq_err err = {0};
    if (tq_model_write(&m, path, 1, &err))
        die("model", &err);
    keep_with_cuts(dir, path, "model");
}

static void seed_plan(const char *dir, const char *tmpdir)
{
    struct tq_plan_block blocks[2] = {{.out = {{0, 0, 0}, {4, 8, 8}}, .predicted_bytes = 1000},
                                      {.out = {{4, 0, 0}, {8, 8, 8}}, .predicted_bytes = 1000}};
    struct tq_plan p = {.op = "envelope", .shape = {8, 8, 8}, .out_shape = {8, 8, 8}, .memory_bytes = 1 << 20,
                        .safety = 1.2, .workers = 2, .planner = "traceq", .nblocks = 2, .blocks = blocks};
    char path[4096];
    snprintf(path, sizeof path, "%s/plan.json", tmpdir);
    struct tq_err err = {0};
    if (tq_plan_write(&p, path, 1, &err))
        die("plan", &err);
    keep_with_cuts(dir, path, "plan");
}

static void seed_volume(const char *dir, const char *tmpdir, const char *ext, const size_t shape[3])
{
    char path[4096];
    snprintf(path, sizeof path, "%s/vol.%s", tmpdir, ext);
    struct tq_err err = {0};
    if (tq_synth_write_file(path, shape, 7, 1, &err))
        die("volume", &err);
    char name[64];
    snprintf(name, sizeof name, "vol_%zux%zux%zu.%s", shape[0], shape[1], shape[2], ext);
    keep_with_cuts(dir, path, name);
}

/* A journal as `traceq run` leaves it after two finished blocks (data line, input identity, sealed lines). */
static void seed_journal(const char *dir, const char *tmpdir)
{
    char path[4096], input[4096], data[4200];
    snprintf(path, sizeof path, "%s/out.npy.journal", tmpdir);
    snprintf(input, sizeof input, "%s/in.bin", tmpdir);
    snprintf(data, sizeof data, "%s/.out.npy.tmp.Ab12Cd", tmpdir);
    put(tmpdir, "in.bin", "0123456789", 10);
    struct tq_err err = {0};
    tq_journal *j = NULL;
    struct tq_box a = {{0, 0, 0}, {4, 8, 8}}, b = {{4, 0, 0}, {8, 8, 8}};
    if (tq_journal_open(path, FUZZ_JOURNAL_KEY, data, input, 0, &j, &err) || tq_journal_append(j, &a, &err) ||
        tq_journal_append(j, &b, &err))
        die("journal", &err);
    tq_journal_free(j);
    keep_with_cuts(dir, path, "journal");
    unlink(input);
}

/* A sweep CSV with ok and failed rows of two operators (the writer's own output). */
static void seed_dataset(const char *dir, const char *tmpdir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/sweep.csv", tmpdir);
    unlink(path);
    struct tq_err err = {0};
    for (int i = 0; i < 4; i++) {
        struct tq_dataset_row r = {.shape = {16u << (i & 1), 32, 64}, .run = 1 + i / 2, .ok = i != 3,
                                   .peak_rss_bytes = 1000000u + 4096u * (unsigned)i, .vmhwm_bytes = 1100000,
                                   .peak_heap_bytes = 500000, .peak_mmap_bytes = 8192, .wall_s = 0.125 * i};
        snprintf(r.op, sizeof r.op, "%s", i < 2 ? "gst3d" : "envelope");
        if (!r.ok)
            snprintf(r.reason, sizeof r.reason, "killed by signal 9");
        snprintf(r.trace, sizeof r.trace, "/tmp/sweep/trace%d.tq", i);
        if (tq_dataset_append(path, &r, &err))
            die("dataset", &err);
    }
    keep_with_cuts(dir, path, "sweep");
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: gen_seeds CORPUS_DIR TMPDIR\n");
        return 2;
    }
    const char *root = argv[1], *tmp = argv[2];
    static const char *targets[] = {"trace", "model", "plan", "npy", "segy", "journal", "dataset"};
    char dir[7][4096];
    for (int i = 0; i < 7; i++) {
        snprintf(dir[i], sizeof dir[i], "%s/%s", root, targets[i]);
        mkdir(root, 0755);
        if (mkdir(dir[i], 0755) != 0 && errno != EEXIST)
            die(dir[i], NULL);
    }
    seed_trace(dir[0], tmp);
    seed_model(dir[1], tmp);
    seed_plan(dir[2], tmp);
    static const size_t small[3] = {2, 3, 4}, one[3] = {1, 1, 5};
    seed_volume(dir[3], tmp, "npy", small);
    seed_volume(dir[3], tmp, "npy", one);
    seed_volume(dir[4], tmp, "sgy", small);
    seed_volume(dir[4], tmp, "sgy", one);
    seed_journal(dir[5], tmp);
    seed_dataset(dir[6], tmp);
    return 0;
}
