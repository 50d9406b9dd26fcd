/* test_stack_delta.c - STACK_DELTA (FORMAT.md 19, format 1.8): stacks stored as the frames they do not share with
 * the previous stack round-trip whole through the codec and the reader (no sharing, all shared, a previous stack
 * deeper or shallower, Python frames, the 1024-frame limit, ids going back); corrupt or cut records are errors,
 * never a crash or a wrong stack; the shim writes them, and `report --top` and every export of a recorded run (a C
 * program and a Python one) are byte for byte the same as those of the same records written as plain STACKs. */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../traces/codec.h"
#include "../traces/reader.h"
#include "../traces/writer.h"
#include "helpers.h"
#include "shim_util.h"

#define MAXD TQ_STACK_MAX_DEPTH

struct stk {
    uint32_t id, depth;
    uint64_t ips[MAXD];
};

/* Encode s after prev, decode it back and compare; returns the record's size. */
static size_t round_trip(const struct stk *s, const struct stk *prev)
{
    static uint8_t rec[TQ_REC_HEADER_SIZE + 32 + MAXD * 10];
    size_t n = tq_rec_put_stack_delta(rec, sizeof rec, s->id, s->ips, s->depth, prev->id, prev->ips, prev->depth);
    cr_assert_gt(n, TQ_REC_HEADER_SIZE);
    cr_assert_eq(rec[0] | rec[1] << 8, TQ_REC_STACK_DELTA);
    struct tq_rec r = {.type = TQ_REC_STACK_DELTA, .len = (uint32_t)(n - TQ_REC_HEADER_SIZE),
                       .data = rec + TQ_REC_HEADER_SIZE};
    static struct stk back;
    memset(&back, 0xAB, sizeof back);
    cr_assert_eq(tq_rec_get_stack_delta(&r, prev->id, prev->ips, prev->depth, &back.id, back.ips, &back.depth), 0);
    cr_assert_eq(back.id, s->id);
    cr_assert_eq(back.depth, s->depth);
    cr_assert_eq(memcmp(back.ips, s->ips, s->depth * sizeof s->ips[0]), 0, "frames differ (depth %u)", s->depth);
    return n;
}

static uint64_t rnd(uint64_t *x)
{
    *x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
    return *x;
}

Test(stack_delta, shared_outer_frames_of_every_shape_round_trip)
{
    static struct stk none, a, b;
    uint64_t x = 0x9E3779B97F4A7C15ull;
    /* a first stack (relative to none), then one that shares nothing */
    a.id = 1, a.depth = 40;
    for (uint32_t i = 0; i < a.depth; i++)
        a.ips[i] = 0x7f0000000000ull + rnd(&x) % 0x100000;
    round_trip(&a, &none);
    b.id = 2, b.depth = 30;
    for (uint32_t i = 0; i < b.depth; i++)
        b.ips[i] = 0x400000 + rnd(&x) % 0x10000;
    round_trip(&b, &a);
    /* all shared: the same frames again (another id), and a stack that is the previous one's outer part */
    b = a, b.id = 3;
    size_t same = round_trip(&b, &a);
    cr_assert_leq(same, TQ_REC_HEADER_SIZE + 4u, "an identical stack takes %zu bytes", same);
    b.depth = 10;
    memmove(b.ips, a.ips + 30, 10 * sizeof b.ips[0]);
    round_trip(&b, &a);
    /* a previous stack deeper, or shallower, than this one: outer frames shared, new inner ones; and the previous
     * stack's frames shifted out by some (a stack cut to its innermost frames shares them without the outermost) */
    for (int round = 0; round < 300; round++) {
        uint32_t skip = round % 3 ? 0 : (uint32_t)(rnd(&x) % (a.depth + 1));
        uint32_t keep = (uint32_t)(rnd(&x) % (a.depth - skip + 1)), fresh = (uint32_t)(rnd(&x) % 60);
        if (keep + fresh > MAXD)
            fresh = MAXD - keep;
        b.id = a.id + 1 + (uint32_t)(rnd(&x) % 3);
        b.depth = keep + fresh;
        memcpy(b.ips + fresh, a.ips + (a.depth - skip - keep), keep * sizeof b.ips[0]);
        for (uint32_t i = 0; i < fresh; i++) /* native frames, Python frames, and anything at all */
            b.ips[i] = rnd(&x) % 3 == 0 ? TQ_PYFRAME(rnd(&x) % 5000 + 1, rnd(&x) % 4000)
                       : rnd(&x) % 7 == 0 ? rnd(&x) : 0x7f0000000000ull + rnd(&x) % 0x100000;
        round_trip(&b, &a);
        a = b;
    }
    /* ids that go back, or jump to the top */
    b = a, b.id = 1;
    round_trip(&b, &a);
    b.id = UINT32_MAX;
    round_trip(&b, &a);
}

Test(stack_delta, a_stack_cut_at_the_depth_limit_shares_the_shifted_frames)
{
    static struct stk a, b;
    a.id = 1, a.depth = 128;
    for (uint32_t i = 0; i < a.depth; i++)
        a.ips[i] = 0x7f0000000000ull + 0x1000 * (uint64_t)i * i;
    /* 5 more calls inside: the shim keeps the innermost 128, so a's outermost 5 frames fall off */
    b.id = 2, b.depth = 128;
    for (uint32_t i = 0; i < 5; i++)
        b.ips[i] = 0x400000 + 0x40 * (uint64_t)i;
    memcpy(b.ips + 5, a.ips, 123 * sizeof a.ips[0]);
    size_t n = round_trip(&b, &a);
    cr_assert_lt(n, TQ_REC_HEADER_SIZE + 4u + 5 * 4, "%zu bytes for 5 new frames", n);
}

Test(stack_delta, the_1024_frame_limit)
{
    static struct stk a, b, none;
    a.id = 7, a.depth = MAXD;
    for (uint32_t i = 0; i < MAXD; i++)
        a.ips[i] = 0x500000 + 16 * (uint64_t)i;
    round_trip(&a, &none);
    b = a, b.id = 8, b.ips[0] = 1;  /* 1023 shared, 1 new */
    round_trip(&b, &a);
    uint8_t rec[64];
    cr_assert_eq(tq_rec_put_stack_delta(rec, sizeof rec, 9, a.ips, MAXD + 1, 0, NULL, 0), 0, "1025 frames");
    cr_assert_eq(tq_rec_put_stack_delta(rec, sizeof rec, 0, a.ips, 3, 0, NULL, 0), 0, "id 0 is never written");
    cr_assert_eq(tq_rec_put_stack_delta(rec, 8, 9, a.ips, 3, 0, NULL, 0), 0, "too small a buffer");
}

/* Decode a hand-made payload after prev (depth 3); returns the decoder's result. */
static int decode(const uint8_t *p, uint32_t len)
{
    static const uint64_t prev[3] = {0x4010, 0x4020, 0x4030};
    static uint64_t out[MAXD];
    uint32_t id, depth;
    struct tq_rec r = {.type = TQ_REC_STACK_DELTA, .len = len, .data = p};
    return tq_rec_get_stack_delta(&r, 5, prev, 3, &id, out, &depth);
}

Test(stack_delta, corrupt_records_are_refused)
{
    const uint8_t ok[] = {2, 0, 3, 1, 4};            /* id 6, the 3 frames shared, one new 2 above 0x4010 */
    cr_assert_eq(decode(ok, sizeof ok), 0);
    const uint8_t more_shared[] = {2, 0, 4, 0};      /* shares 4 frames of a 3-frame stack (an unknown base) */
    cr_assert_eq(decode(more_shared, sizeof more_shared), -1);
    const uint8_t skipped[] = {2, 1, 2, 0};          /* the 2 frames inside prev's outermost: fine */
    cr_assert_eq(decode(skipped, sizeof skipped), 0);
    const uint8_t skip_past[] = {2, 2, 2, 0};        /* leaves 2 out and shares 2 of 3 frames */
    cr_assert_eq(decode(skip_past, sizeof skip_past), -1);
    const uint8_t skip_more[] = {2, 4, 0, 1, 2};     /* leaves out more frames than prev has */
    cr_assert_eq(decode(skip_more, sizeof skip_more), -1);
    const uint8_t too_deep[] = {2, 0, 0, 0x81, 0x08}; /* 1025 new frames */
    cr_assert_eq(decode(too_deep, sizeof too_deep), -1);
    const uint8_t deep_total[] = {2, 0, 3, 0xFE, 0x07}; /* 3 shared + 1022 new */
    cr_assert_eq(decode(deep_total, sizeof deep_total), -1);
    const uint8_t id_zero[] = {9, 0, 0, 0};          /* 5 - 5 = 0 */
    cr_assert_eq(decode(id_zero, sizeof id_zero), -1);
    const uint8_t id_huge[] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0, 0, 0};
    cr_assert_eq(decode(id_huge, sizeof id_huge), -1);
    const uint8_t id_past[] = {0xF6, 0xFF, 0xFF, 0xFF, 0x1F, 0, 0, 0}; /* 5 + 2^32 - 5 = 2^32 */
    cr_assert_eq(decode(id_past, sizeof id_past), -1);
    const uint8_t cut_frames[] = {2, 0, 0, 3, 8, 8}; /* 3 new frames, 2 stored */
    cr_assert_eq(decode(cut_frames, sizeof cut_frames), -1);
    const uint8_t cut_varint[] = {2, 0, 0, 1, 0x80};
    cr_assert_eq(decode(cut_varint, sizeof cut_varint), -1);
    for (uint32_t len = 0; len < 4; len++)
        cr_assert_eq(decode(ok, len), -1, "cut to %u bytes", len);
    const uint8_t longer[] = {2, 0, 3, 1, 4, 0x55, 0x66}; /* bytes after the frames: ignored (FORMAT.md [F5]) */
    cr_assert_eq(decode(longer, sizeof longer), 0);
}

/* A trace of PROCESS, a STACK, two STACK_DELTAs, a STACK, a STACK_DELTA (then optionally a bad one): the reader
 * returns every stack as the whole STACK record it stands for, and counts them as STACKs. */
static void write_mixed(const char *path, const uint8_t *bad, uint32_t bad_len)
{
    struct tq_trace_writer w;
    tq_fixture_trace_open(path, &w);
    static uint8_t rec[TQ_REC_HEADER_SIZE + 32 + MAXD * 10];
    struct tq_rec_process p = {.pid = 1, .flags = TQ_PROC_STACKS};
    tq_fixture_put(&w, rec, tq_rec_put_process(rec, sizeof rec, &p, "/bin/s", 0, NULL));
    static const uint64_t s1[] = {0x4001, 0x4002, 0x4003}, s2[] = {0x5001, 0x4002, 0x4003},
                          s3[] = {TQ_PYFRAME(3, 10), 0x5001, 0x4002, 0x4003}, s4[] = {0x6000}, s5[] = {0x6001, 0x6000};
    tq_fixture_put(&w, rec, tq_rec_put_stack(rec, sizeof rec, 1, s1, 3));
    tq_fixture_put(&w, rec, tq_rec_put_stack_delta(rec, sizeof rec, 2, s2, 3, 1, s1, 3));
    tq_fixture_put(&w, rec, tq_rec_put_stack_delta(rec, sizeof rec, 3, s3, 4, 2, s2, 3));
    tq_fixture_put(&w, rec, tq_rec_put_stack(rec, sizeof rec, 4, s4, 1));
    tq_fixture_put(&w, rec, tq_rec_put_stack_delta(rec, sizeof rec, 5, s5, 2, 4, s4, 1));
    if (bad) {
        rec[0] = TQ_REC_STACK_DELTA, rec[1] = rec[2] = rec[3] = 0;
        rec[4] = (uint8_t)bad_len, rec[5] = rec[6] = rec[7] = 0;
        memcpy(rec + TQ_REC_HEADER_SIZE, bad, bad_len);
        tq_fixture_put(&w, rec, TQ_REC_HEADER_SIZE + bad_len);
    }
    cr_assert_eq(tq_writer_close(&w), 0);
}

/* Read path: returns the reader's final status; *stacks gets the stacks read (their frames, 0-terminated). */
static tq_status read_stacks(const char *path, uint64_t frames[][5], uint32_t *n, char *msg)
{
    struct tq_trace_reader *r;
    struct tq_err err = {0};
    cr_assert_eq(tq_trace_open(path, &r, &err), TQ_OK, "%s", err.msg);
    struct tq_rec rec;
    bool done = false;
    tq_status st;
    *n = 0;
    while (!(st = tq_trace_next(r, &rec, &done, &err)) && !done) {
        cr_assert_neq(rec.type, TQ_REC_STACK_DELTA, "the reader hides them");
        if (rec.type != TQ_REC_STACK)
            continue;
        struct tq_rec_stack s;
        cr_assert_eq(tq_rec_get_stack(&rec, &s), 0);
        cr_assert_eq(s.id, *n + 1);
        cr_assert_leq(s.depth, 4);
        for (uint32_t i = 0; i < 5; i++)
            frames[*n][i] = i < s.depth ? tq_rec_stack_ip(&s, i) : 0;
        (*n)++;
    }
    if (st == TQ_OK)
        cr_assert_eq(tq_trace_count(r, TQ_REC_STACK), *n);
    strcpy(msg, err.msg);
    tq_trace_close(r);
    return st;
}

Test(stack_delta, the_reader_returns_whole_stacks_and_refuses_bad_ones)
{
    char *d = tq_tmpdir(), path[4200], msg[sizeof((struct tq_err *)0)->msg];
    snprintf(path, sizeof path, "%s/mixed.tq", d);
    write_mixed(path, NULL, 0);
    uint64_t f[8][5];
    uint32_t n;
    cr_assert_eq(read_stacks(path, f, &n, msg), TQ_OK, "%s", msg);
    const uint64_t want[5][5] = {{0x4001, 0x4002, 0x4003}, {0x5001, 0x4002, 0x4003},
                                 {TQ_PYFRAME(3, 10), 0x5001, 0x4002, 0x4003}, {0x6000}, {0x6001, 0x6000}};
    cr_assert_eq(n, 5);
    cr_assert_eq(memcmp(f, want, sizeof want), 0);
    /* after the 2-frame stack 5: sharing 3 frames; 1025 frames; a cut frame; an id of 0 */
    const uint8_t unknown_base[] = {2, 0, 3, 0}, too_deep[] = {2, 0, 2, 0xFF, 0x07}, cut[] = {2, 0, 0, 2, 4},
                  zero[] = {9, 0, 0, 1, 2};
    const uint8_t *bad[] = {unknown_base, too_deep, cut, zero};
    uint32_t len[] = {sizeof unknown_base, sizeof too_deep, sizeof cut, sizeof zero};
    for (int i = 0; i < 4; i++) {
        unlink(path);
        write_mixed(path, bad[i], len[i]);
        cr_assert_eq(read_stacks(path, f, &n, msg), TQ_ERR_FORMAT, "bad record %d", i);
        cr_assert(strstr(msg, "STACK_DELTA"), "%s", msg);
        cr_assert_eq(n, 5, "the good stacks before it were read");
    }
    tq_rmtree(d);
    free(d);
}

/* out with every occurrence of `path` replaced by "TRACE" (reports name their trace). */
static void unname(char *out, const char *path)
{
    size_t n = strlen(path);
    for (char *at; (at = strstr(out, path));) {
        memcpy(at, "TRACE", 5);
        memmove(at + 5, at + n, strlen(at + n) + 1);
    }
}

/* The output of `traceq ARGS TRACE`, trace path unnamed; the caller frees. */
static char *run_on(const char *args, const char *trace)
{
    char cmd[9000], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s %s %s", tq_build_path("traceq"), args, trace);
    cr_assert_eq(tq_run(cmd, &out, NULL), 0, "%s", cmd);
    unname(out, trace);
    return out;
}

/* Record ARGS with --stacks; check the trace holds STACK_DELTA records and no STACK; write the same records with
 * plain STACKs (through the reader) and compare what report --top and the exports say of both. */
static void same_reports_as_plain(const char *name, const char *args, const char *const *cmds, size_t ncmds)
{
    char *d = tq_tmpdir(), plain[4300];
    cr_assert_eq(shim_record_opts(d, "--stacks", args, NULL), 0, "%s", args);
    char *path = shim_one_trace(d, name, 0);
    uint64_t n[32];
    shim_disk_types(path, n);
    cr_assert(n[TQ_REC_STACK_DELTA] > 3 && n[TQ_REC_STACK] == 0, "%llu STACK_DELTA, %llu STACK",
              (unsigned long long)n[TQ_REC_STACK_DELTA], (unsigned long long)n[TQ_REC_STACK]);
    uint64_t deltas = n[TQ_REC_STACK_DELTA];

    snprintf(plain, sizeof plain, "%s/plain.tq", d);
    struct tq_trace_writer w;
    tq_fixture_trace_open(plain, &w);
    struct tq_trace_reader *r;
    struct tq_err err = {0};
    cr_assert_eq(tq_trace_open(path, &r, &err), TQ_OK, "%s", err.msg);
    struct tq_rec rec;
    bool done = false;
    static uint8_t buf[TQ_WRITER_BUF];
    while (tq_trace_next(r, &rec, &done, &err) == TQ_OK && !done) {
        memcpy(buf, rec.data - TQ_REC_HEADER_SIZE, TQ_REC_HEADER_SIZE + rec.len);
        tq_fixture_put(&w, buf, TQ_REC_HEADER_SIZE + rec.len);
    }
    cr_assert(done, "%s", err.msg);
    tq_trace_close(r);
    cr_assert_eq(tq_writer_close(&w), 0);
    shim_disk_types(plain, n);
    cr_assert(n[TQ_REC_STACK_DELTA] == 0 && n[TQ_REC_STACK] == deltas);

    for (size_t i = 0; i < ncmds; i++) {
        char *a = run_on(cmds[i], path), *b = run_on(cmds[i], plain);
        cr_assert(strlen(a) > 100, "%s: %s", cmds[i], a);
        cr_assert_str_eq(a, b, "%s differs", cmds[i]);
        free(a);
        free(b);
    }
    free(path);
    tq_rmtree(d);
    free(d);
}

static const char *const report_cmds[] = {"report --top 5", "report --json --top 5", "export --format folded",
                                          "export --format folded --by allocated", "export --format massif",
                                          "export --format chrome", "export --format csv"};

Test(stack_delta, a_c_program_reports_the_same_as_with_plain_stacks, .timeout = 120)
{
    char args[4200];
    snprintf(args, sizeof args, "%s 8 3000 2", tq_build_path("progs/stack_paths"));
    same_reports_as_plain("stack_paths", args, report_cmds, sizeof report_cmds / sizeof report_cmds[0]);
}

Test(stack_delta, a_python_program_reports_the_same_as_with_plain_stacks, .timeout = 120)
{
    char args[4200];
    snprintf(args, sizeof args, "%s %s", tq_python(), tq_src_path("tests/bench/numpy_work.py 2000"));
    const char *cmds[] = {"report --top 5", "export --format folded", "export --format folded --python-only"};
    same_reports_as_plain("python3*", args, cmds, sizeof cmds / sizeof cmds[0]);
}
