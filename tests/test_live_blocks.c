/* test_live_blocks.c - the replay's live blocks (report/live_blocks.h): growth that follows the blocks live at once
 * and reuses released slots, every field kept whole, a random run checked against a plain table; and the replay's
 * matcher (report/event_match.h), which keeps its live blocks there by address: on threads' records fed out of
 * order (frees before their allocations, addresses handed out again and again) it releases, event by event, the
 * very blocks that traces/block_match.h's id rewriting with a table of ids releases on the events in order. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../report/event_match.h"
#include "../report/live_blocks.h"
#include "../traces/block_match.h"
#include "../traces/codec.h"

static void expect_take(struct tq_live_blocks *t, uint64_t key, uint64_t seq, uint64_t size, uint32_t stack)
{
    struct tq_live_block b;
    cr_assert(tq_live_blocks_take(t, key, &b), "key %#llx missing", (unsigned long long)key);
    cr_assert(b.key == key && b.seq == seq && b.size == size && b.stack == stack,
              "key %#llx: seq %llu size %llu stack %u", (unsigned long long)key, (unsigned long long)b.seq,
              (unsigned long long)b.size, b.stack);
}

Test(live_blocks, memory_follows_the_blocks_live_at_once)
{
    enum { N = 300000 };
    struct tq_live_blocks *t = tq_live_blocks_new();
    cr_assert_not_null(t);
    size_t empty = tq_live_blocks_bytes(t);
    for (uint64_t i = 0; i < N; i++) { /* heap-like addresses: 16-aligned, close together */
        struct tq_live_block b = {.key = 0x55550000a000ull + 48 * i, .seq = i, .size = i % 1000, .stack = i % 97};
        cr_assert(tq_live_blocks_put(t, &b));
    }
    cr_assert_eq(tq_live_blocks_count(t), N);
    size_t full = tq_live_blocks_bytes(t);
    /* at most 3/4 full after growing by half: 32..48 bytes a block, plus the 64 segments' first slots */
    cr_assert(full - empty >= 32u * N && full - empty <= 48u * N + 64 * 24 * 16, "%zu bytes for %d blocks",
              full - empty, N);
    for (uint64_t i = 0; i < N; i++)
        expect_take(t, 0x55550000a000ull + 48 * i, i, i % 1000, (uint32_t)(i % 97));
    cr_assert_eq(tq_live_blocks_count(t), 0);
    /* as many blocks again at other addresses, three times over: the released slots take them, no growth */
    for (uint64_t round = 0; round < 3; round++) {
        for (uint64_t i = 0; i < N; i++) {
            struct tq_live_block b = {.key = 0x7f0000000000ull + 32 * i + (round << 32), .size = 1};
            cr_assert(tq_live_blocks_put(t, &b));
            if (i % 2)
                cr_assert(tq_live_blocks_take(t, b.key, NULL));
        }
        cr_assert_eq(tq_live_blocks_count(t), N / 2);
        for (uint64_t i = 0; i < N; i += 2)
            cr_assert(tq_live_blocks_take(t, 0x7f0000000000ull + 32 * i + (round << 32), NULL));
    }
    cr_assert_eq(tq_live_blocks_count(t), 0);
    cr_assert_eq(tq_live_blocks_bytes(t), full, "%zu bytes, %zu before", tq_live_blocks_bytes(t), full);
    tq_live_blocks_free(t);
}

Test(live_blocks, fields_kept_whole_and_replaced)
{
    struct tq_live_blocks *t = tq_live_blocks_new();
    cr_assert_not_null(t);
    struct tq_live_block b = {.key = UINT64_MAX, .seq = TQ_LIVE_SEQ_LIMIT - 1, .size = UINT64_MAX,
                              .stack = TQ_LIVE_STACK_LIMIT - 1};
    cr_assert(tq_live_blocks_put(t, &b));
    struct tq_live_block one = {.key = 1, .seq = 0, .size = 0, .stack = 0};
    cr_assert(tq_live_blocks_put(t, &one));
    struct tq_live_block zero = {.key = 0, .size = 5};
    cr_assert(tq_live_blocks_put(t, &zero), "key 0 is ignored");
    cr_assert_eq(tq_live_blocks_count(t), 2);
    struct tq_live_block got;
    cr_assert_not(tq_live_blocks_find(t, 0, &got));
    cr_assert_not(tq_live_blocks_take(t, 2, &got));
    cr_assert(tq_live_blocks_find(t, UINT64_MAX, &got) && got.seq == b.seq && got.size == b.size &&
              got.stack == b.stack);
    one.size = 77;
    one.stack = 9;
    cr_assert(tq_live_blocks_put(t, &one)); /* replaces */
    cr_assert_eq(tq_live_blocks_count(t), 2);
    expect_take(t, 1, 0, 77, 9);
    expect_take(t, UINT64_MAX, TQ_LIVE_SEQ_LIMIT - 1, UINT64_MAX, TQ_LIVE_STACK_LIMIT - 1);
    cr_assert_not(tq_live_blocks_take(t, 1, NULL), "taken twice");
    cr_assert_eq(tq_live_blocks_count(t), 0);
    tq_live_blocks_free(t);
}

Test(live_blocks, random_run_matches_a_plain_table)
{
    enum { N = 5000, OPS = 400000 };
    static uint64_t keys[N], seq[N], size[N];
    static uint32_t stack[N];
    static bool live[N];
    srand(7);
    for (int i = 0; i < N; i++) /* block ids, heap addresses, and keys anywhere */
        keys[i] = i % 3 == 0 ? (uint64_t)i + 1 : i % 3 == 1 ? 0x55550000a000ull + 16 * (uint64_t)i
                                                            : ((uint64_t)rand() << 33 | (uint64_t)i) + 1;
    struct tq_live_blocks *t = tq_live_blocks_new();
    cr_assert_not_null(t);
    size_t count = 0;
    for (int op = 0; op < OPS; op++) {
        int i = rand() % N;
        int what = rand() % 3;
        struct tq_live_block b;
        if (what == 0) {
            seq[i] = (uint64_t)op;
            size[i] = (uint64_t)rand();
            stack[i] = (uint32_t)rand() % TQ_LIVE_STACK_LIMIT;
            count += !live[i];
            live[i] = true;
            cr_assert(tq_live_blocks_put(t, &(struct tq_live_block){keys[i], seq[i], size[i], stack[i]}));
        } else {
            bool got = what == 1 ? tq_live_blocks_take(t, keys[i], &b) : tq_live_blocks_find(t, keys[i], &b);
            cr_assert_eq(got, live[i], "op %d key %#llx", op, (unsigned long long)keys[i]);
            if (got) {
                cr_assert(b.key == keys[i] && b.seq == seq[i] && b.size == size[i] && b.stack == stack[i]);
                if (what == 1) {
                    live[i] = false;
                    count--;
                }
            }
        }
        cr_assert_eq(tq_live_blocks_count(t), count);
    }
    tq_live_blocks_free(t);
}

/* ---- the matcher against traces/block_match.h's id rewriting of the events in order ---- */

enum { THREADS = 4, ADDRS = 24, EVENTS = 60000 };

struct thread_events {
    struct tq_event ev[EVENTS];
    uint32_t n;
};

/* Threads allocating, reallocating and freeing blocks among a few addresses (each handed out thousands of times),
 * a third of the frees in another thread than the allocation; events numbered in one process-wide order. */
static void make_events(struct thread_events *th, unsigned seed)
{
    struct {
        bool live;
    } addr[ADDRS] = {0};
    srand(seed);
    uint64_t seq = 10;
    for (uint32_t i = 0; i < EVENTS; i++) {
        int t = rand() % THREADS, a = rand() % ADDRS, b = rand() % ADDRS;
        uint64_t at = 0x55550000a000ull + 64 * (uint64_t)a, to = 0x55550000a000ull + 64 * (uint64_t)b;
        struct tq_event e = {.t_ns = 1000 + seq, .seq = seq++, .stack_id = 1 + (uint32_t)(rand() % 50),
                             .size = 1 + (uint64_t)(rand() % 4096)};
        if (!addr[a].live) {
            e.kind = rand() % 4 ? TQ_CALL_MALLOC : TQ_CALL_CALLOC;
            e.addr = at;
            addr[a].live = true;
        } else if (rand() % 4 == 0 && (!addr[b].live || a == b)) {
            e.kind = TQ_CALL_REALLOC;
            e.old_addr = at;
            e.addr = to;
            addr[a].live = false;
            addr[b].live = true;
        } else {
            e = (struct tq_event){.kind = TQ_CALL_FREE, .t_ns = e.t_ns, .addr = at, .seq = e.seq};
            addr[a].live = false;
        }
        if (rand() % 50 == 0) /* now and then a free of a block from before the trace */
            e = (struct tq_event){.kind = TQ_CALL_FREE, .t_ns = e.t_ns, .addr = 0x1000 + 16 * (uint64_t)a,
                                  .seq = e.seq};
        th[t].ev[th[t].n++] = e;
    }
}

/* What the replay sees of one event: kind, the block it releases (size, stack), whether that free ends the latest
 * allocation (heaptrack's "temporary"), and whether it acquires a block. */
struct seen {
    uint8_t kind;
    bool released, temporary, acquired;
    uint64_t size, t_ns;
    uint32_t stack;
};

static void note(struct seen *out, size_t *n, uint64_t *last, const struct tq_event *e, uint64_t gone_key,
                 bool released, uint64_t size, uint32_t stack)
{
    bool heap_free = e->kind == TQ_CALL_FREE || e->kind == TQ_CALL_REALLOC;
    struct seen s = {.kind = e->kind, .t_ns = e->t_ns, .released = released, .size = released ? size : 0,
                     .stack = released ? stack : 0};
    if (heap_free) {
        s.temporary = released && gone_key && gone_key == *last;
        *last = 0;
    }
    if (e->kind != TQ_CALL_FREE && e->addr) {
        s.acquired = true;
        *last = e->addr;
    }
    out[(*n)++] = s;
}

/* Note the matcher's batch m[0..mn) and its next ones. */
static void note_batches(struct tq_event_match *em, struct seen *got, size_t *ngot, uint64_t *last_key,
                         const struct tq_matched_event *m, uint32_t mn)
{
    struct tq_err err = {0};
    while (mn) {
        for (uint32_t i = 0; i < mn; i++)
            note(got, ngot, last_key, &m[i].ev, m[i].ev.kind == TQ_CALL_FREE ? m[i].ev.addr : m[i].ev.old_addr,
                 m[i].released, m[i].released_size, m[i].released_stack);
        cr_assert_eq(tq_event_match_more(em, &m, &mn, &err), TQ_OK, "%s", err.msg);
    }
}

/* The matcher, fed threads' records in a random interleaving (frees before their allocations in file order, an
 * address handed out again in between), releases, event by event, what traces/block_match.h's id rewriting releases
 * when it is fed every event in the process-wide order: the records are put back into that order first
 * (traces/event_order.h); what is still held at the end comes out of tq_event_match_finish. */
Test(event_match, releases_what_block_ids_release_in_the_process_wide_order)
{
    static struct thread_events th[THREADS];
    static struct tq_event all[EVENTS];
    static struct seen want[3 * EVENTS], got[3 * EVENTS];
    static uint8_t buf[1 << 20];
    static struct tq_event out[2 * EVENTS];
    static struct {
        uint64_t size;
        uint32_t stack;
        bool live;
    } by_id[EVENTS + 2];
    for (unsigned seed = 1; seed <= 3; seed++) {
        memset(th, 0, sizeof th);
        memset(by_id, 0, sizeof by_id);
        make_events(th, seed);
        /* the reference: every event in order (make_events numbers them from 10 on, one after the other) */
        uint32_t at[THREADS] = {0};
        for (uint32_t i = 0; i < EVENTS; i++)
            for (int t = 0; t < THREADS; t++)
                if (at[t] < th[t].n && th[t].ev[at[t]].seq == 10 + i) {
                    all[i] = th[t].ev[at[t]++];
                    break;
                }
        struct tq_block_match bm;
        tq_block_match_init(&bm, &tq_event_match_heap_mem);
        struct tq_id_pool pool = {0};
        size_t nwant = 0, ngot = 0, fed = 0, late = 0;
        uint64_t last_id = 0, last_key = 0, fed_max = 0;
        uint32_t k = tq_block_match_rewrite(&bm, all, EVENTS, out, &pool);
        for (uint32_t i = 0; i < k; i++) {
            const struct tq_event *e = &out[i];
            uint64_t gone = e->kind == TQ_CALL_FREE ? e->addr : e->kind == TQ_CALL_REALLOC ? e->old_addr : 0;
            bool rel = gone && by_id[gone].live;
            note(want, &nwant, &last_id, e, gone, rel, by_id[gone].size, by_id[gone].stack);
            if (rel)
                by_id[gone].live = false;
            if (e->kind != TQ_CALL_FREE && e->addr) {
                cr_assert(e->addr < EVENTS + 2);
                by_id[e->addr].size = e->size;
                by_id[e->addr].stack = e->stack_id;
                by_id[e->addr].live = true;
            }
        }
        /* the matcher, on the same events as records of 1..64 events of a thread picked at random */
        struct tq_event_match *em;
        struct tq_err err = {0};
        cr_assert_eq(tq_event_match_new(&em, &err), TQ_OK);
        tq_event_match_begins_at(em, 10);
        memset(at, 0, sizeof at);
        srand(seed * 31);
        const struct tq_matched_event *m;
        uint32_t mn;
        while (fed < EVENTS) {
            int t = rand() % THREADS;
            uint32_t n = 1 + (uint32_t)(rand() % 64);
            if (n > th[t].n - at[t])
                n = th[t].n - at[t];
            if (!n)
                continue;
            const struct tq_event *ev = &th[t].ev[at[t]];
            at[t] += n;
            fed += n;
            late += ev[0].seq < fed_max; /* a record read after one with later events: out of order */
            fed_max = ev[n - 1].seq > fed_max ? ev[n - 1].seq : fed_max;
            size_t len = tq_rec_put_addr_events(buf, sizeof buf, (uint32_t)t, ev, n);
            cr_assert_gt(len, 0);
            struct tq_rec rec = {.type = (uint16_t)(buf[0] | buf[1] << 8), .len = (uint32_t)(len - TQ_REC_HEADER_SIZE),
                                 .data = buf + TQ_REC_HEADER_SIZE};
            cr_assert_eq(tq_event_match_record(em, "test", &rec, &m, &mn, &err), TQ_OK, "%s", err.msg);
            note_batches(em, got, &ngot, &last_key, m, mn);
        }
        cr_assert_eq(tq_event_match_finish(em, "test", &m, &mn, &err), TQ_OK, "%s", err.msg);
        note_batches(em, got, &ngot, &last_key, m, mn);
        cr_assert_eq(ngot, nwant, "seed %u: %zu events against %zu", seed, ngot, nwant);
        for (size_t i = 0; i < nwant; i++)
            cr_assert(got[i].kind == want[i].kind && got[i].t_ns == want[i].t_ns &&
                          got[i].released == want[i].released && got[i].size == want[i].size &&
                          got[i].stack == want[i].stack && got[i].temporary == want[i].temporary &&
                          got[i].acquired == want[i].acquired,
                      "seed %u event %zu: kind %u released %d (%llu B, stack %u) temporary %d, want kind %u "
                      "released %d (%llu B, stack %u) temporary %d", seed, i, got[i].kind, got[i].released,
                      (unsigned long long)got[i].size, got[i].stack, got[i].temporary, want[i].kind,
                      want[i].released, (unsigned long long)want[i].size, want[i].stack, want[i].temporary);
        cr_assert_gt(late, 100, "seed %u: only %zu records out of order", seed, late);
        tq_event_match_free(em);
        tq_block_match_free(&bm, &pool);
    }
}

/* Feed ev[0..n) as one ADDR_EVENTS record of thread 1; returns the matcher's status (err holds its message). */
static tq_status feed(struct tq_event_match *em, const struct tq_event *ev, uint32_t n, struct tq_err *err)
{
    static uint8_t buf[4096];
    size_t len = tq_rec_put_addr_events(buf, sizeof buf, 1, ev, n);
    cr_assert_gt(len, 0);
    struct tq_rec rec = {.type = (uint16_t)(buf[0] | buf[1] << 8), .len = (uint32_t)(len - TQ_REC_HEADER_SIZE),
                         .data = buf + TQ_REC_HEADER_SIZE};
    const struct tq_matched_event *m;
    uint32_t mn;
    return tq_event_match_record(em, "t.tq", &rec, &m, &mn, err);
}

/* Order numbers are kept in 40 bits from the trace's first one (a trace would need 2^40 events to span more): a
 * record beyond that, or an allocation's stack id of 2^24 or more, is a corrupt trace, never a wrong match. */
Test(event_match, order_numbers_and_stack_ids_out_of_range_are_refused)
{
    struct tq_event_match *em;
    struct tq_err err = {0};
    cr_assert_eq(tq_event_match_new(&em, &err), TQ_OK);
    struct tq_event a = {.kind = TQ_CALL_MALLOC, .t_ns = 1, .addr = 0xA000, .size = 8, .stack_id = 1,
                         .seq = (uint64_t)1 << 45};
    cr_assert_eq(feed(em, &a, 1, &err), TQ_OK, "%s", err.msg); /* a high first number is fine: numbers are rebased */
    struct tq_event back = {.kind = TQ_CALL_FREE, .t_ns = 2, .addr = 0xA000, .seq = ((uint64_t)1 << 45) - 5};
    cr_assert_eq(feed(em, &back, 1, &err), TQ_OK, "%s", err.msg); /* a little before it: another thread's */
    struct tq_event far = {.kind = TQ_CALL_FREE, .t_ns = 3, .addr = 0xA000, .seq = ((uint64_t)1 << 45) + TQ_LIVE_SEQ_LIMIT};
    cr_assert_eq(feed(em, &far, 1, &err), TQ_ERR_FORMAT);
    cr_assert(strstr(err.msg, "t.tq") && strstr(err.msg, "2^40"), "%s", err.msg);
    struct tq_event big = {.kind = TQ_CALL_MALLOC, .t_ns = 4, .addr = 0xB000, .size = 8,
                           .stack_id = TQ_LIVE_STACK_LIMIT, .seq = ((uint64_t)1 << 45) + 10};
    cr_assert_eq(feed(em, &big, 1, &err), TQ_ERR_FORMAT);
    cr_assert(strstr(err.msg, "stack id"), "%s", err.msg);
    tq_event_match_free(em);
}
