/* test_addr_events.c - record --stacks without an in-process block table (FORMAT.md 14 ADDR_EVENTS): the records
 * round-trip, the analyzer matches frees to allocations across threads' out-of-order records as the shim used to,
 * traces of format 1.3 (EVENTS with block ids) still replay the same, and the shim's own memory stays small.
 * PACKED_EVENTS (FORMAT.md 15, format 1.6) holds the same events compactly: they round-trip and replay the same;
 * PACKED_GROUP (FORMAT.md 16, format 1.7) stores a frame's PACKED_EVENTS records stream by stream: the reader gives
 * back the very same records, in their place among the others. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "../report/event_match.h"
#include "../report/heap_replay.h"
#include "../report/trace_summary.h"
#include "../traces/block_match.h"
#include "../traces/reader.h"
#include "../traces/writer.h"
#include "shim_util.h"

/* The record in buf[0..n) (its type from its header) holds exactly ev[0..count) of thread tid, every field. */
static void expect_events(const uint8_t *buf, size_t n, uint32_t tid, const struct tq_event *ev, size_t count)
{
    struct tq_rec rec = {.type = (uint16_t)(buf[0] | buf[1] << 8), .len = (uint32_t)(n - TQ_REC_HEADER_SIZE),
                         .data = buf + TQ_REC_HEADER_SIZE};
    struct tq_rec_events e;
    struct tq_events_iter it;
    cr_assert_eq(tq_rec_get_events(&rec, &e, &it), 0);
    cr_assert(e.tid == tid && e.count == count && e.seq0 == ev[0].seq && e.t0_ns == ev[0].t_ns,
              "header of %zu events", count);
    for (size_t i = 0; i < count; i++) {
        struct tq_event got;
        cr_assert_eq(tq_events_next(&it, &got), 1, "event %zu of %zu", i, count);
        cr_assert(got.kind == ev[i].kind && got.t_ns == ev[i].t_ns && got.addr == ev[i].addr &&
                      got.size == ev[i].size && got.old_addr == ev[i].old_addr && got.stack_id == ev[i].stack_id &&
                      got.seq == ev[i].seq,
                  "event %zu of %zu differs", i, count);
    }
    struct tq_event last;
    cr_assert_eq(tq_events_next(&it, &last), 0, "more than %zu events", count);
}

Test(addr_events, codec_round_trip)
{
    struct tq_event ev[4] = {
        {.kind = TQ_CALL_MALLOC, .t_ns = 10, .addr = 0x7f0000001000, .size = 40, .stack_id = 3, .seq = 100},
        {.kind = TQ_CALL_REALLOC, .t_ns = 10, .addr = 0x7f0000002000, .size = 90, .old_addr = 0x7f0000001000,
         .stack_id = 4, .seq = 101},
        {.kind = TQ_CALL_FREE, .t_ns = 4000010, .addr = 0x7f0000002000, .seq = 9000},
        {.kind = TQ_CALL_MMAP, .t_ns = 4000011, .addr = 0x7e0000000000, .size = 1 << 20, .stack_id = 5, .seq = 9001},
    };
    uint8_t buf[1024];
    size_t n = tq_rec_put_addr_events(buf, sizeof buf, 77, ev, 4);
    cr_assert_gt(n, TQ_REC_HEADER_SIZE);
    cr_assert_eq(buf[0] | buf[1] << 8, TQ_REC_ADDR_EVENTS);
    expect_events(buf, n, 77, ev, 4);
    /* order numbers must grow within a record: the writer refuses otherwise */
    ev[2].seq = 101;
    cr_assert_eq(tq_rec_put_addr_events(buf, sizeof buf, 77, ev, 4), 0);
    /* a cut record is an error, not a wrong event */
    ev[2].seq = 9000;
    n = tq_rec_put_addr_events(buf, sizeof buf, 77, ev, 4);
    struct tq_rec rec = {.type = TQ_REC_ADDR_EVENTS, .len = (uint32_t)(n - TQ_REC_HEADER_SIZE - 3),
                         .data = buf + TQ_REC_HEADER_SIZE};
    struct tq_rec_events e;
    struct tq_events_iter it;
    struct tq_event last;
    cr_assert_eq(tq_rec_get_events(&rec, &e, &it), 0);
    int got = 1;
    for (int i = 0; i < 5 && got == 1; i++)
        got = tq_events_next(&it, &last);
    cr_assert_eq(got, -1);
}

/* n events like a thread's: blocks reused soon (the address cache's hits), fresh ones (aligned and odd), reallocs,
 * mmaps, gaps in the order numbers and times, stacks 0 and large; the last ones with extreme values. */
static void packed_fixture(struct tq_event *ev, size_t n)
{
    uint64_t x = 88172645463325252ull, t = 1000, seq = 5, fresh = 0x55550000a000ull;
    static const uint8_t kinds[] = {TQ_CALL_MALLOC, TQ_CALL_FREE, TQ_CALL_CALLOC, TQ_CALL_REALLOC, TQ_CALL_FREE,
                                    TQ_CALL_MMAP, TQ_CALL_MUNMAP, TQ_CALL_MREMAP, TQ_CALL_POSIX_MEMALIGN};
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        struct tq_event *e = &ev[i];
        memset(e, 0, sizeof *e);
        e->kind = kinds[x % sizeof kinds];
        t += x % 5 == 0 ? (x >> 20) % 4000000 : 0;
        seq += 1 + (x % 7 == 0 ? (x >> 8) % 1000 : 0);
        e->t_ns = t;
        e->seq = seq;
        if (i > 0 && x % 3 == 0) {
            e->addr = ev[i - 1 - (x >> 30) % (i < 20 ? i : 20)].addr; /* reused: found in the cache or just after */
        } else {
            fresh += x % 11 == 0 ? (x >> 40) % 977 : 16 * ((x >> 40) % 64 + 1);
            e->addr = x % 13 == 0 ? fresh - 0x100000 : fresh;
        }
        if (e->kind != TQ_CALL_FREE) {
            e->size = (x >> 16) % 100000;
            e->stack_id = x % 17 == 0 ? 0 : (uint32_t)((x >> 24) % 3000 + 1);
        }
        if (e->kind == TQ_CALL_REALLOC || e->kind == TQ_CALL_MREMAP)
            e->old_addr = x % 4 == 0 ? 0 : e->addr - ((x >> 12) % 70000);
    }
    ev[n - 2].addr = UINT64_MAX - 7;
    ev[n - 2].size = UINT64_MAX;
    ev[n - 2].stack_id = UINT32_MAX;
    ev[n - 1].addr = 0;
    ev[n - 1].seq = UINT64_MAX;
    ev[n - 1].t_ns = UINT64_MAX;
}

Test(addr_events, packed_round_trip_and_refusals)
{
    enum { N = 3000 };
    static struct tq_event ev[N];
    static uint8_t buf[N * 64 + 256], old[N * 64 + 256];
    packed_fixture(ev, N);
    size_t n = tq_rec_put_packed_events(buf, sizeof buf, 9, ev, N);
    cr_assert_gt(n, TQ_REC_HEADER_SIZE);
    cr_assert_eq(buf[0] | buf[1] << 8, TQ_REC_PACKED_EVENTS);
    size_t n_old = tq_rec_put_addr_events(old, sizeof old, 9, ev, N);
    cr_assert_lt(n, n_old, "packed %zu bytes, ADDR_EVENTS %zu", n, n_old);
    expect_events(buf, n, 9, ev, N);
    /* a record cut anywhere is an error, never wrong events */
    struct tq_rec rec = {.type = TQ_REC_PACKED_EVENTS, .data = buf + TQ_REC_HEADER_SIZE};
    struct tq_rec_events e;
    struct tq_events_iter it;
    struct tq_event last;
    for (uint32_t cut = 1; cut < 200; cut++) {
        rec.len = (uint32_t)(n - TQ_REC_HEADER_SIZE - cut);
        int got = tq_rec_get_events(&rec, &e, &it) < 0 ? -1 : 1;
        for (int i = 0; i <= N && got == 1; i++)
            got = tq_events_next(&it, &last);
        cr_assert_eq(got, -1, "cut by %u", cut);
    }
    /* the writer refuses what it cannot store: kinds past 15, order numbers that do not grow, times going back */
    ev[5].kind = 16;
    cr_assert_eq(tq_rec_put_packed_events(buf, sizeof buf, 9, ev, N), 0);
    packed_fixture(ev, N);
    ev[6].seq = ev[5].seq;
    cr_assert_eq(tq_rec_put_packed_events(buf, sizeof buf, 9, ev, N), 0);
    packed_fixture(ev, N);
    ev[6].t_ns = ev[5].t_ns - 1;
    cr_assert_eq(tq_rec_put_packed_events(buf, sizeof buf, 9, ev, N), 0);
    /* the one-pass encoder needs room for the worst case, and then writes the same record */
    packed_fixture(ev, N);
    size_t bound = tq_rec_packed_events_bound(N);
    cr_assert(bound <= sizeof buf && bound > n, "bound %zu, record %zu", bound, n);
    cr_assert_eq(tq_rec_put_packed_events(buf, bound - 1, 9, ev, N), 0);
    cr_assert_eq(tq_rec_put_packed_events(buf, bound, 9, ev, N), n);
    for (size_t k = 1; k <= 64; k++) { /* short records too: each reads back as written */
        size_t a = tq_rec_put_packed_events(buf, tq_rec_packed_events_bound(k), 9, ev + 2000, k);
        cr_assert_gt(a, 0, "%zu events", k);
        expect_events(buf, a, 9, ev + 2000, k);
    }
}

/* Addresses from a few values (0 among them, which the address cache starts full of): found at every depth of the
 * cache, missed, found again after they left it. Each record reads back as written (the reader keeps its own copy
 * of the cache, so an encoder that steps it wrongly is caught). */
Test(addr_events, packed_address_cache_at_every_depth)
{
    enum { N = 1500 };
    static struct tq_event ev[N];
    static uint8_t fast[N * 64 + 256];
    uint64_t x = 0x2545F4914F6CDD1Dull;
    for (size_t i = 0; i < N; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        unsigned values = i < 300 ? 6 : i < 900 ? 20 : 40; /* mostly found, then found deep, then often missed */
        ev[i] = (struct tq_event){.kind = x % 2 ? TQ_CALL_MALLOC : TQ_CALL_FREE, .t_ns = i, .seq = i + 1,
                                  .addr = 16 * ((x >> 8) % values) + ((x >> 20) % 5 == 0 ? 8 : 0)};
        if (ev[i].kind == TQ_CALL_MALLOC)
            ev[i].size = 1 + (x >> 30) % 100, ev[i].stack_id = 1 + (uint32_t)((x >> 40) % 7);
    }
    for (size_t from = 0; from < N; from += 250) {
        size_t k = tq_rec_put_packed_events(fast, sizeof fast, 3, ev + from, N - from);
        cr_assert_gt(k, 0);
        expect_events(fast, k, 3, ev + from, N - from);
    }
}

/* Three PACKED_EVENTS records of different threads and lengths, one after the other, into buf; returns their bytes. */
static size_t three_packed(uint8_t *buf, size_t cap, struct tq_event *ev)
{
    static const size_t counts[3] = {2048, 1, 700};
    size_t len = 0, from = 0;
    for (int r = 0; r < 3; r++) {
        size_t k = tq_rec_put_packed_events(buf + len, cap - len, 100 + (uint32_t)r, ev + from, counts[r]);
        cr_assert_gt(k, 0);
        len += k;
        from += counts[r];
    }
    return len;
}

Test(addr_events, packed_group_round_trip_and_refusals)
{
    enum { N = 2749 };
    static struct tq_event ev[N];
    static uint8_t recs[N * 64 + 256], grp[N * 64 + 512], back[2 * (N * 64 + 512)];
    packed_fixture(ev, N);
    size_t len = three_packed(recs, sizeof recs, ev);
    size_t g = tq_rec_put_packed_group(grp, sizeof grp, recs, len);
    cr_assert_gt(g, 0);
    cr_assert_eq(grp[0] | grp[1] << 8, TQ_REC_PACKED_GROUP);
    cr_assert_leq(g, len + TQ_GROUP_OVERHEAD);
    struct tq_rec rec = {.type = TQ_REC_PACKED_GROUP, .len = (uint32_t)(g - TQ_REC_HEADER_SIZE),
                         .data = grp + TQ_REC_HEADER_SIZE};
    size_t need = 0;
    uint32_t n = 0;
    /* too small an output: nothing written, the size needed told */
    cr_assert_eq(tq_rec_get_packed_group(&rec, back, 10, &need, &n), 0);
    cr_assert(need == len && n == 3, "need %zu of %zu, %u records", need, len, n);
    cr_assert_eq(tq_rec_get_packed_group(&rec, back, sizeof back, &need, &n), 0);
    cr_assert_eq(memcmp(back, recs, len), 0, "the records come back byte for byte");
    /* a group cut anywhere, an empty one, or one whose stream lengths lie is refused, never misread */
    for (uint32_t cut = 1; cut < 300; cut++) {
        struct tq_rec short_rec = rec;
        short_rec.len = rec.len - cut;
        cr_assert_eq(tq_rec_get_packed_group(&short_rec, back, sizeof back, &need, &n), -1, "cut by %u", cut);
    }
    uint8_t empty[4] = {0};
    struct tq_rec none = {.type = TQ_REC_PACKED_GROUP, .len = 4, .data = empty};
    cr_assert_eq(tq_rec_get_packed_group(&none, back, sizeof back, &need, &n), -1);
    grp[TQ_REC_HEADER_SIZE + 4 + 24] ^= 1; /* record 0's KIND length */
    cr_assert_eq(tq_rec_get_packed_group(&rec, back, sizeof back, &need, &n), -1);
    /* the writer's side refuses what is not a sequence of PACKED_EVENTS records, and a buffer too small */
    cr_assert_eq(tq_rec_put_packed_group(grp, sizeof grp, recs, len - 1), 0);
    cr_assert_eq(tq_rec_put_packed_group(grp, g - 1, recs, len), 0);
    uint8_t sample[256];
    struct tq_rec_sample smp = {.t_ns = 1};
    size_t k = tq_rec_put_sample(sample, sizeof sample, &smp);
    cr_assert_eq(tq_rec_put_packed_group(grp, sizeof grp, sample, k), 0);
}

/* Through the writer with grouping on: event records wait for the end of the frame, SAMPLE goes before them, MODULE
 * and END keep their place after them; the reader returns the grouped records as PACKED_EVENTS, where they were. */
Test(addr_events, grouped_events_keep_their_place_among_records)
{
    enum { N = 2749 };
    static struct tq_event ev[N];
    static uint8_t recs[N * 64 + 256], rec[4096];
    packed_fixture(ev, N);
    size_t len = three_packed(recs, sizeof recs, ev);
    size_t first = (size_t)(recs[4] | recs[5] << 8 | recs[6] << 16) + TQ_REC_HEADER_SIZE;
    size_t second = (size_t)(recs[first + 4] | recs[first + 5] << 8 | recs[first + 6] << 16) + TQ_REC_HEADER_SIZE;
    char *d = tq_tmpdir(), path[4200];
    snprintf(path, sizeof path, "%s/grouped.tq", d);
    struct tq_trace_writer w;
    tq_fixture_trace_open(path, &w);
    cr_assert_eq(tq_writer_group_events(&w), 0);
    struct tq_rec_process p = {.pid = 7, .flags = TQ_PROC_STACKS};
    tq_fixture_put(&w, rec, tq_rec_put_process(rec, sizeof rec, &p, "/bin/g", 0, NULL));
    cr_assert_eq(tq_writer_append_events(&w, recs, first), 0);
    struct tq_rec_sample smp = {.t_ns = 5};
    tq_fixture_put(&w, rec, tq_rec_put_sample(rec, sizeof rec, &smp));
    cr_assert_eq(tq_writer_append_events(&w, recs + first, second), 0);
    struct tq_rec_module m = {.start = 0x1000, .end = 0x2000};
    tq_fixture_put(&w, rec, tq_rec_put_module(rec, sizeof rec, &m, "/lib/x.so"));
    cr_assert_eq(tq_writer_append_events(&w, recs + first + second, len - first - second), 0);
    struct tq_rec_end e = {.t_ns = 8, .reason = TQ_END_EXIT};
    tq_fixture_put(&w, rec, tq_rec_put_end(rec, sizeof rec, &e));
    cr_assert_eq(tq_writer_close(&w), 0);

    static const uint16_t order[] = {TQ_REC_PROCESS, TQ_REC_SAMPLE, TQ_REC_PACKED_EVENTS, TQ_REC_PACKED_EVENTS,
                                     TQ_REC_MODULE, TQ_REC_PACKED_EVENTS, TQ_REC_END};
    const size_t at[] = {0, 0, 0, first, 0, first + second, 0};
    struct tq_trace_reader *r;
    struct tq_err err = {0};
    cr_assert_eq(tq_trace_open(path, &r, &err), TQ_OK, "%s", err.msg);
    struct tq_rec got;
    bool done = false;
    size_t i = 0;
    while (tq_trace_next(r, &got, &done, &err) == TQ_OK && !done) {
        cr_assert_lt(i, sizeof order / sizeof order[0], "more records than written");
        cr_assert_eq(got.type, order[i], "record %zu is of type %u", i, got.type);
        if (got.type == TQ_REC_PACKED_EVENTS)
            cr_assert(memcmp(got.data - TQ_REC_HEADER_SIZE, recs + at[i], got.len + TQ_REC_HEADER_SIZE) == 0,
                      "record %zu differs", i);
        i++;
    }
    cr_assert(done && i == sizeof order / sizeof order[0] && !tq_trace_truncated(r), "%zu records: %s", i, err.msg);
    cr_assert_eq(tq_trace_count(r, TQ_REC_PACKED_EVENTS), 3);
    tq_trace_close(r);
    tq_rmtree(d);
    free(d);
}

/* Two threads, in process order (seq): A mallocs 0xA000 (1000 B, stack 1) and 0xB000 (300 B, stack 2); B frees
 * 0xA000, mallocs 0xA000 again (2000 B, stack 2) and frees 0xB000; A mallocs 0xC000 (50 B, stack 1). B's buffer
 * reaches the trace first. Left live at the end: 2000 B of stack 2 and 50 B of stack 1. */
static const struct tq_event thread_a[] = {
    {.kind = TQ_CALL_MALLOC, .t_ns = 1, .addr = 0xA000, .size = 1000, .stack_id = 1, .seq = 1},
    {.kind = TQ_CALL_MALLOC, .t_ns = 2, .addr = 0xB000, .size = 300, .stack_id = 2, .seq = 2},
    {.kind = TQ_CALL_MALLOC, .t_ns = 7, .addr = 0xC000, .size = 50, .stack_id = 1, .seq = 7},
};
static const struct tq_event thread_b[] = {
    {.kind = TQ_CALL_FREE, .t_ns = 3, .addr = 0xA000, .seq = 3},
    {.kind = TQ_CALL_MALLOC, .t_ns = 4, .addr = 0xA000, .size = 2000, .stack_id = 2, .seq = 4},
    {.kind = TQ_CALL_FREE, .t_ns = 5, .addr = 0xB000, .seq = 5},
};
/* The same run as the 1.3 shim wrote it: block ids, each free after its allocation. */
static const struct tq_event as_block_ids_b[] = {
    {.kind = TQ_CALL_FREE, .t_ns = 3, .addr = 0},
    {.kind = TQ_CALL_MALLOC, .t_ns = 4, .addr = 1, .size = 2000, .stack_id = 2},
    {.kind = TQ_CALL_FREE, .t_ns = 5, .addr = 0},
};
static const struct tq_event as_block_ids_a[] = {
    {.kind = TQ_CALL_MALLOC, .t_ns = 1, .addr = 2, .size = 1000, .stack_id = 1},
    {.kind = TQ_CALL_FREE, .t_ns = 1, .addr = 2},
    {.kind = TQ_CALL_MALLOC, .t_ns = 2, .addr = 2, .size = 300, .stack_id = 2},
    {.kind = TQ_CALL_FREE, .t_ns = 2, .addr = 2},
    {.kind = TQ_CALL_MALLOC, .t_ns = 7, .addr = 2, .size = 50, .stack_id = 1},
};

/* format: 3 = 1.3 (EVENTS with block ids), 5 = 1.5 (ADDR_EVENTS), 6 = 1.6 (PACKED_EVENTS), 7 = 1.7 (grouped) */
static void write_two_threads(const char *path, int format)
{
    struct tq_trace_writer w;
    tq_fixture_trace_open(path, &w);
    if (format >= 7)
        cr_assert_eq(tq_writer_group_events(&w), 0);
    static uint8_t rec[4096];
    struct tq_rec_process p = {.pid = 4242, .ppid = 1, .interval_us = 10000, .page_size = 4096,
                               .flags = TQ_PROC_STACKS};
    char *argv[] = {"two"};
    tq_fixture_put(&w, rec, tq_rec_put_process(rec, sizeof rec, &p, "/bin/two", 1, argv));
    for (uint32_t id = 1; id <= 2; id++) {
        uint64_t ips[2] = {0x401000 + id * 16, 0x402000};
        tq_fixture_put(&w, rec, tq_rec_put_stack(rec, sizeof rec, id, ips, 2));
    }
    if (format == 3) {
        tq_fixture_put(&w, rec, tq_rec_put_events(rec, sizeof rec, 2, as_block_ids_b, 3));
        tq_fixture_put(&w, rec, tq_rec_put_events(rec, sizeof rec, 1, as_block_ids_a, 5));
    } else if (format == 6) {
        tq_fixture_put(&w, rec, tq_rec_put_packed_events(rec, sizeof rec, 2, thread_b, 3));
        tq_fixture_put(&w, rec, tq_rec_put_packed_events(rec, sizeof rec, 1, thread_a, 3));
    } else if (format == 7) {
        cr_assert_eq(tq_writer_append_events(&w, rec, tq_rec_put_packed_events(rec, sizeof rec, 2, thread_b, 3)), 0);
        cr_assert_eq(tq_writer_append_events(&w, rec, tq_rec_put_packed_events(rec, sizeof rec, 1, thread_a, 3)), 0);
    } else if (format == 8) { /* each thread's events in its own context; one group */
        static struct tq_pack_ctx ca, cb;
        tq_pack_ctx_init(&ca);
        tq_pack_ctx_init(&cb);
        cr_assert_eq(tq_writer_append_events(&w, rec, tq_rec_put_ctx_events(rec, sizeof rec, 1, 2, thread_b, 3, &cb, 1)),
                     0);
        cr_assert_eq(tq_writer_append_events(&w, rec, tq_rec_put_ctx_events(rec, sizeof rec, 0, 1, thread_a, 3, &ca, 1)),
                     0);
    } else {
        tq_fixture_put(&w, rec, tq_rec_put_addr_events(rec, sizeof rec, 2, thread_b, 3));
        tq_fixture_put(&w, rec, tq_rec_put_addr_events(rec, sizeof rec, 1, thread_a, 3));
    }
    struct tq_rec_end e = {.t_ns = 8, .reason = TQ_END_EXIT};
    tq_fixture_put(&w, rec, tq_rec_put_end(rec, sizeof rec, &e));
    cr_assert_eq(tq_writer_close(&w), 0);
}

/* leaked and allocated bytes and calls of stacks 1 and 2 */
static void replay_two_threads(const char *path, uint64_t out[2][3])
{
    struct tq_heap_replay *r;
    struct tq_err err = {0};
    cr_assert_eq(tq_heap_replay_run(path, &r, &err), TQ_OK, "%s", err.msg);
    memset(out, 0, 2 * sizeof out[0]);
    for (size_t i = 0; i < tq_heap_replay_count(r); i++) {
        const struct tq_heap_site *s = tq_heap_replay_site(r, i);
        if (s->stack_id == 1 || s->stack_id == 2) {
            out[s->stack_id - 1][0] = s->leaked_bytes;
            out[s->stack_id - 1][1] = s->allocated_bytes;
            out[s->stack_id - 1][2] = s->calls;
        }
    }
    tq_heap_replay_free(r);
}

Test(addr_events, cross_thread_records_out_of_order_are_matched_offline)
{
    char *d = tq_tmpdir(), path[4200];
    snprintf(path, sizeof path, "%s/two.tq", d);
    for (int format = 5; format <= 8; format++) {
        write_two_threads(path, format);
        uint64_t got[2][3];
        replay_two_threads(path, got);
        cr_expect_eq(got[0][0], 50, "1.%d: stack 1 leaked %llu", format, (unsigned long long)got[0][0]);
        cr_expect_eq(got[1][0], 2000, "1.%d: stack 2 leaked %llu", format, (unsigned long long)got[1][0]);
        cr_expect(got[0][1] == 1050 && got[0][2] == 2 && got[1][1] == 2300 && got[1][2] == 2, "1.%d: allocated",
                  format);
        unlink(path);
    }
    tq_rmtree(d);
    free(d);
}

Test(addr_events, format_1_3_block_ids_replay_the_same)
{
    char *d = tq_tmpdir(), old_path[4200], new_path[4200];
    snprintf(old_path, sizeof old_path, "%s/old.tq", d);
    snprintf(new_path, sizeof new_path, "%s/new.tq", d);
    write_two_threads(old_path, 3);
    uint64_t a[2][3], b[2][3];
    replay_two_threads(old_path, a);
    for (int format = 6; format <= 8; format++) {
        unlink(new_path);
        write_two_threads(new_path, format);
        replay_two_threads(new_path, b);
        cr_assert_eq(memcmp(a, b, sizeof a), 0, "old leaked %llu/%llu, 1.%d %llu/%llu", (unsigned long long)a[0][0],
                     (unsigned long long)a[1][0], format, (unsigned long long)b[0][0], (unsigned long long)b[1][0]);
    }
    tq_rmtree(d);
    free(d);
}

/* VmHWM of `many_blocks N SIZE` recorded with opts. */
static uint64_t hwm_of(const char *opts, long n, long size)
{
    char *d = tq_tmpdir(), args[4200];
    snprintf(args, sizeof args, "%s %ld %ld", tq_build_path("progs/many_blocks"), n, size);
    char *out = NULL;
    int st = shim_record_opts(d, opts, args, &out);
    cr_assert_eq(st, 0, "record %s %s: status %d: %s", opts, args, st, out ? out : "");
    free(out);
    struct tq_trace_summary s;
    shim_summary(d, "many_blocks", 0, &s);
    uint64_t hwm = s.vm_hwm;
    tq_trace_summary_clear(&s);
    cr_assert_gt(hwm, 0);
    tq_rmtree(d);
    free(d);
    return hwm;
}

/* 600,000 live blocks: a table of live blocks in the shim (~28-48 B each) would add 16-28 MiB to the program's
 * VmHWM; the event buffers, stack table and writer that --stacks does hold stay within a few MiB. */
Test(addr_events, stacks_add_little_to_a_program_of_many_small_blocks)
{
    long n = 600000, size = 40;
    uint64_t counting = hwm_of("", n, size), stacks = hwm_of("--stacks", n, size);
    cr_expect_lt(stacks, counting + (6u << 20), "VmHWM %llu KiB with --stacks, %llu KiB without",
                 (unsigned long long)stacks >> 10, (unsigned long long)counting >> 10);
}

/* The summary of `many_blocks N SIZE 200` (its peak held 200 ms, 20 sampling intervals, so that the sampled peak is
 * the plateau and not wherever the last sample of its growth fell) recorded with opts. */
static void summary_of(const char *opts, long n, long size, struct tq_trace_summary *s)
{
    char *d = tq_tmpdir(), args[4200];
    snprintf(args, sizeof args, "%s %ld %ld 200", tq_build_path("progs/many_blocks"), n, size);
    char *out = NULL;
    int st = shim_record_opts(d, opts, args, &out);
    cr_assert_eq(st, 0, "record %s %s: status %d: %s", opts, args, st, out ? out : "");
    free(out);
    shim_summary(d, "many_blocks", 0, s);
    tq_rmtree(d);
    free(d);
}

/* The report's peak RSS names the profiler's own memory (format 1.6 SAMPLE): what --stacks holds besides the
 * program (event buffers, stack table, writer) is counted as the profiler's, so the program's figure stays that of
 * the program recorded without stacks (600,000 blocks of 40 B: ~30 MiB of heap). */
Test(addr_events, the_profilers_own_memory_is_not_the_programs)
{
    struct tq_trace_summary plain, stacks;
    summary_of("", 600000, 40, &plain);
    summary_of("--stacks", 600000, 40, &stacks);
    /* the writer's two 256 KiB buffers at least; --stacks adds a thread's event buffer and the stack table */
    cr_assert_geq(plain.shim_at_peak_rss, 512u << 10, "counting shim's own %llu",
                  (unsigned long long)plain.shim_at_peak_rss);
    cr_assert_gt(stacks.shim_at_peak_rss, plain.shim_at_peak_rss, "own %llu with --stacks, %llu without",
                 (unsigned long long)stacks.shim_at_peak_rss, (unsigned long long)plain.shim_at_peak_rss);
    cr_assert_lt(stacks.shim_at_peak_rss, stacks.peak_rss / 4);
    uint64_t prog_plain = plain.peak_rss - plain.shim_at_peak_rss;
    uint64_t prog_stacks = stacks.peak_rss - stacks.shim_at_peak_rss;
    cr_assert_geq(prog_plain, 600000u * 40);
    /* without the subtraction the two runs' peaks differ by the profiler's extra memory; with it, by less than 1 MiB
     * (libunwind's caches and the loader's pages are not counted as the profiler's) */
    uint64_t diff = prog_stacks > prog_plain ? prog_stacks - prog_plain : prog_plain - prog_stacks;
    cr_expect_lt(diff, 1u << 20, "program's peak %llu KiB with --stacks, %llu KiB without",
                 (unsigned long long)prog_stacks >> 10, (unsigned long long)prog_plain >> 10);
    tq_trace_summary_clear(&plain);
    tq_trace_summary_clear(&stacks);
}

/* Feed one-event records recs[0..n) (one thread's each) to a matcher: every block must end freed, each free after
 * its own allocation, allocs blocks in all; the number of frees still waiting as orphans at the end. */
static size_t expect_every_block_freed(const struct tq_event *recs, int n, int allocs_expected)
{
    struct tq_block_match m;
    tq_block_match_init(&m, &tq_event_match_heap_mem);
    struct tq_id_pool pool = {0};
    struct tq_event out[2];
    int live[16] = {0}, allocs = 0, frees = 0;
    for (int r = 0; r < n; r++) {
        uint32_t k = tq_block_match_rewrite(&m, &recs[r], 1, out, &pool);
        for (uint32_t i = 0; i < k; i++) {
            if (out[i].kind == TQ_CALL_FREE && out[i].addr == 0)
                continue; /* a free whose block comes later (or came before the trace): placed with it */
            cr_assert(out[i].addr > 0 && out[i].addr < 16, "block id %llu", (unsigned long long)out[i].addr);
            if (out[i].kind == TQ_CALL_FREE) {
                cr_assert(live[out[i].addr], "free of id %llu that is not live", (unsigned long long)out[i].addr);
                live[out[i].addr] = 0;
                frees++;
            } else {
                cr_assert(!live[out[i].addr], "id %llu given twice", (unsigned long long)out[i].addr);
                live[out[i].addr] = 1;
                allocs++;
            }
        }
    }
    cr_expect_eq(allocs, allocs_expected);
    cr_expect_eq(frees, allocs_expected, "%d frees of %d blocks: a block stays live", frees, allocs);
    size_t orphans = m.orphans.used;
    tq_block_match_free(&m, &pool);
    return orphans;
}

#define EV_ALLOC(s) {.kind = TQ_CALL_MALLOC, .t_ns = (s), .addr = 0xA000, .size = 16 * (s), .stack_id = 1, .seq = (s)}
#define EV_FREE(s) {.kind = TQ_CALL_FREE, .t_ns = (s), .addr = 0xA000, .seq = (s)}

/* Count the blocks m[0..mn) acquire and release into state (by order number: 1 allocated, 2 released). */
static void note_replayed(const struct tq_matched_event *m, uint32_t mn, int *state, int *allocs, int *frees)
{
    for (uint32_t i = 0; i < mn; i++) {
        if (m[i].released) {
            uint64_t s = m[i].released_size / 16;
            cr_assert(s < 64 && state[s] == 1, "block of order %llu released twice or before its allocation",
                      (unsigned long long)s);
            state[s] = 2;
            (*frees)++;
        }
        if (m[i].ev.kind == TQ_CALL_MALLOC && m[i].ev.addr) {
            uint64_t s = m[i].ev.size / 16;
            cr_assert(s < 64 && state[s] == 0);
            state[s] = 1;
            (*allocs)++;
        }
    }
}

/* The replay (report/event_match.c) on the same events as ADDR_EVENTS records of lens[0..nrecs) events each (thread r
 * writes record r): every block (its size, 16 x its order number, names it) must be released exactly once, after its
 * allocation; allocs_expected blocks in all. The order numbers of these hand-made records have gaps (a trace's have
 * none): the events wait for the numbers missing before them, and come out at the end of the trace, in order. */
static void expect_replay_frees_every_block(const struct tq_event *ev, const uint32_t *lens, int nrecs,
                                            int allocs_expected)
{
    struct tq_event_match *em;
    struct tq_err err = {0};
    cr_assert_eq(tq_event_match_new(&em, &err), TQ_OK);
    int state[64] = {0}, allocs = 0, frees = 0; /* by order number: 1 allocated, 2 released */
    const struct tq_matched_event *m;
    uint32_t mn;
    for (int r = 0, at = 0; r < nrecs; at += (int)lens[r], r++) {
        uint8_t buf[4096];
        size_t len = tq_rec_put_addr_events(buf, sizeof buf, (uint32_t)r + 1, &ev[at], lens[r]);
        cr_assert_gt(len, 0);
        struct tq_rec rec = {.type = (uint16_t)(buf[0] | buf[1] << 8), .len = (uint32_t)(len - TQ_REC_HEADER_SIZE),
                             .data = buf + TQ_REC_HEADER_SIZE};
        cr_assert_eq(tq_event_match_record(em, "test", &rec, &m, &mn, &err), TQ_OK, "%s", err.msg);
        while (mn) {
            note_replayed(m, mn, state, &allocs, &frees);
            cr_assert_eq(tq_event_match_more(em, &m, &mn, &err), TQ_OK);
        }
    }
    cr_assert_eq(tq_event_match_finish(em, "test", &m, &mn, &err), TQ_OK, "%s", err.msg);
    while (mn) {
        note_replayed(m, mn, state, &allocs, &frees);
        cr_assert_eq(tq_event_match_more(em, &m, &mn, &err), TQ_OK);
    }
    cr_expect_eq(allocs, allocs_expected);
    cr_expect_eq(frees, allocs_expected, "replay: %d frees of %d blocks: a block stays live", frees, allocs);
    tq_event_match_free(em);
}

static const uint32_t ONE_EACH[8] = {1, 1, 1, 1, 1, 1, 1, 1};

/* An address handed out four times: main's allocation (order 1) reaches the trace last, after three other threads'
 * records that free it (2), allocate it again (3) and free that (4). Every block must end freed, each free after its
 * own allocation (the matcher once dropped the free of order 2 when the allocation of order 3 came, and main's
 * block stayed live: a false leak, seen with std::async's shared states). */
Test(addr_events, an_address_reused_by_threads_before_its_first_allocation_is_fed)
{
    static const struct tq_event recs[] = {EV_FREE(2), EV_ALLOC(3), EV_FREE(4), EV_ALLOC(1)};
    expect_every_block_freed(recs, 4, 2);
    expect_replay_frees_every_block(recs, ONE_EACH, 4, 2);
}

/* Three blocks at one address (allocated 10, 20, 30, freed 15, 25, 35, each by another thread): the last
 * allocation's record comes first, then the frees, then the first two allocations. The frees of orders 15 and 25
 * come while the block of order 30 is live: they are of blocks still to come and must wait for them (the matcher
 * once dropped them, and both blocks stayed live: false leaks of blocks passed between threads, tests/progs/
 * pass_around.c). */
Test(addr_events, frees_older_than_the_live_block_wait_for_their_allocations)
{
    static const struct tq_event recs[] = {EV_ALLOC(30), EV_FREE(15), EV_FREE(25), EV_FREE(35),
                                           EV_ALLOC(10), EV_ALLOC(20)};
    cr_expect_eq(expect_every_block_freed(recs, 6, 3), 0, "frees left waiting");
    expect_replay_frees_every_block(recs, ONE_EACH, 6, 3);
}

/* A record with two blocks at one address (allocated 10 and 30, freed 20 in the same record, 40 by another thread
 * whose record came first): the waiting free of order 40 is the second block's, not the first's, whose free (20)
 * is later in the same record (the matcher once gave it 40, and the second block stayed live: false leaks of
 * blocks passed between threads, tests/progs/pass_around.c). Fed as one record. */
Test(addr_events, a_waiting_free_goes_to_the_block_it_follows_not_an_earlier_one)
{
    static const struct tq_event other[] = {EV_FREE(40)};
    static const struct tq_event rec[] = {EV_ALLOC(10), EV_FREE(20), EV_ALLOC(30)};
    struct tq_block_match m;
    tq_block_match_init(&m, &tq_event_match_heap_mem);
    struct tq_id_pool pool = {0};
    struct tq_event out[8];
    uint32_t k = tq_block_match_rewrite(&m, other, 1, out, &pool);
    cr_assert_eq(k, 1);
    cr_assert_eq(out[0].addr, 0, "a free of a block not fed yet");
    k = tq_block_match_rewrite(&m, rec, 3, out, &pool);
    /* alloc 10 (id a), free 20 (id a), alloc 30 (id b), free of id b placed right after it */
    cr_assert_eq(k, 4, "%u events out", k);
    cr_expect_eq(out[0].kind, TQ_CALL_MALLOC);
    cr_expect_eq(out[1].kind, TQ_CALL_FREE);
    cr_expect_eq(out[1].addr, out[0].addr, "the first block's own free ends it");
    cr_expect_eq(out[2].kind, TQ_CALL_MALLOC);
    cr_expect_eq(out[3].kind, TQ_CALL_FREE);
    cr_expect_eq(out[3].addr, out[2].addr, "the waiting free ends the second block");
    cr_expect_eq(m.orphans.used, 0);
    tq_block_match_free(&m, &pool);
    static const struct tq_event both[] = {EV_FREE(40), EV_ALLOC(10), EV_FREE(20), EV_ALLOC(30)};
    expect_replay_frees_every_block(both, (const uint32_t[]){1, 3}, 2, 2);
}

/* One thread allocates the address three times (10, 20, 30) before the records of the threads that freed the first
 * two blocks (15, 25) come: each earlier block is given its free when the next allocation comes, so the late frees
 * are expected ones, consumed, not left waiting as orphans. */
Test(addr_events, late_frees_of_blocks_already_ended_do_not_wait)
{
    static const struct tq_event recs[] = {EV_ALLOC(10), EV_ALLOC(20), EV_ALLOC(30), EV_FREE(25), EV_FREE(15),
                                           EV_FREE(35)};
    cr_expect_eq(expect_every_block_freed(recs, 6, 3), 0, "frees left waiting");
    expect_replay_frees_every_block(recs, ONE_EACH, 6, 3);
}

/* The shim writes format 1.8's records (CTX_EVENTS groups; SAMPLE_PRED since 1.11) when every block is named by address
 * (TRACEQ_FREE_BY_ADDR=1); the same run's records written as plain SAMPLE and PACKED_EVENTS records (format 1.6's
 * encoding) replay and summarize the same: the analyzer sees no difference. */
Test(addr_events, a_recorded_trace_reads_the_same_as_its_plain_records)
{
    char *d = tq_tmpdir(), args[4200], plain[4300];
    snprintf(args, sizeof args, "%s 20000", tq_build_path("progs/handoff"));
    setenv("TRACEQ_FREE_BY_ADDR", "1", 1); /* (this test's own process: criterion forks one per test) */
    char *out = NULL;
    cr_assert_eq(shim_record_opts(d, "--stacks", args, &out), 0, "%s", out ? out : "");
    free(out);
    char *path = shim_one_trace(d, "handoff", 0);
    uint64_t n[32];
    shim_disk_types(path, n);
    cr_assert(n[TQ_REC_CTX_EVENTS] > 0 && n[TQ_REC_PACKED_GROUP] == 0 && n[TQ_REC_PACKED_EVENTS] == 0,
              "%llu context-coded records, %llu plain event records", (unsigned long long)n[TQ_REC_CTX_EVENTS],
              (unsigned long long)n[TQ_REC_PACKED_EVENTS]);
    cr_assert(n[TQ_REC_SAMPLE_PRED] > 0 && n[TQ_REC_SAMPLE_DELTA] == 0 && n[TQ_REC_SAMPLE] == 0);

    snprintf(plain, sizeof plain, "%s/plain.tq", d);
    struct tq_trace_writer w;
    tq_fixture_trace_open(plain, &w);
    struct tq_trace_reader *r;
    struct tq_err err = {0};
    cr_assert_eq(tq_trace_open(path, &r, &err), TQ_OK, "%s", err.msg);
    struct tq_rec rec;
    bool done = false;
    static uint8_t buf[TQ_WRITER_BUF];
    static struct tq_pack_ctx *ctx[TQ_CTX_MAX];
    static struct tq_event ev[1 << 16];
    while (tq_trace_next(r, &rec, &done, &err) == TQ_OK && !done) {
        cr_assert(rec.type != TQ_REC_PACKED_GROUP && rec.type != TQ_REC_SAMPLE_DELTA && rec.type != TQ_REC_SAMPLE_PRED,
                  "the reader hides them");
        if (rec.type == TQ_REC_CTX_EVENTS) { /* decoded with its context, stored as format 1.6 stored them */
            struct tq_rec_events e;
            struct tq_events_iter it;
            cr_assert_eq(tq_rec_get_events(&rec, &e, &it), 0);
            if (!ctx[e.ctx]) {
                ctx[e.ctx] = malloc(sizeof *ctx[e.ctx]);
                tq_pack_ctx_init(ctx[e.ctx]);
            }
            cr_assert_eq(tq_events_use_ctx(&it, &e, ctx[e.ctx]), 0);
            uint32_t k = 0;
            while (k < e.count && tq_events_next(&it, &ev[k]) == 1)
                k++;
            cr_assert_eq(k, e.count);
            size_t len = tq_rec_put_packed_events(buf, sizeof buf, e.tid, ev, k);
            cr_assert_gt(len, 0);
            tq_fixture_put(&w, buf, len);
            continue;
        }
        memcpy(buf, rec.data - TQ_REC_HEADER_SIZE, TQ_REC_HEADER_SIZE + rec.len);
        tq_fixture_put(&w, buf, TQ_REC_HEADER_SIZE + rec.len);
    }
    for (unsigned i = 0; i < TQ_CTX_MAX; i++)
        free(ctx[i]);
    cr_assert(done, "%s", err.msg);
    tq_trace_close(r);
    cr_assert_eq(tq_writer_close(&w), 0);
    shim_disk_types(plain, n);
    cr_assert(n[TQ_REC_PACKED_GROUP] == 0 && n[TQ_REC_PACKED_EVENTS] > 0 && n[TQ_REC_SAMPLE] > 0);

    struct tq_trace_summary a, b;
    cr_assert_eq(tq_trace_summarize(path, &a, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(tq_trace_summarize(plain, &b, &err), TQ_OK, "%s", err.msg);
    cr_assert(a.samples == b.samples && a.samples > 0 && a.peak_rss == b.peak_rss &&
              a.peak_rss_t_ns == b.peak_rss_t_ns && a.shim_at_peak_rss == b.shim_at_peak_rss && a.events == b.events,
              "samples %llu/%llu", (unsigned long long)a.samples, (unsigned long long)b.samples);
    tq_trace_summary_clear(&a);
    tq_trace_summary_clear(&b);
    struct tq_heap_replay *ra, *rb;
    cr_assert_eq(tq_heap_replay_run(path, &ra, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(tq_heap_replay_run(plain, &rb, &err), TQ_OK, "%s", err.msg);
    cr_assert(tq_heap_replay_peak(ra) == tq_heap_replay_peak(rb) && tq_heap_replay_peak(ra) > 0 &&
              tq_heap_replay_peak_t_ns(ra) == tq_heap_replay_peak_t_ns(rb));
    cr_assert_eq(tq_heap_replay_count(ra), tq_heap_replay_count(rb));
    for (size_t i = 0; i < tq_heap_replay_count(ra); i++) {
        const struct tq_heap_site *x = tq_heap_replay_site(ra, i), *y = tq_heap_replay_site(rb, i);
        cr_assert(x->stack_id == y->stack_id && x->peak_bytes == y->peak_bytes &&
                      x->allocated_bytes == y->allocated_bytes && x->calls == y->calls &&
                      x->leaked_bytes == y->leaked_bytes && x->temporary_calls == y->temporary_calls,
                  "site %zu differs", i);
    }
    tq_heap_replay_free(ra);
    tq_heap_replay_free(rb);
    free(path);
    tq_rmtree(d);
    free(d);
}
