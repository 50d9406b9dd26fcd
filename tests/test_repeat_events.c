/* test_repeat_events.c - REPEAT_EVENTS (FORMAT.md 21, format 1.11): an INFO event that repeats one of its context's
 * recent (kind, size, stack) tuples takes its KIND byte alone. Periodic events (a program doing the same allocations
 * row after row) round-trip across records and take about a byte each; only records flagged TUPLES keep the tuples:
 * the writer flags a context's first record with INFO events and every 64th, and all of them while 80% of the last
 * flagged one's tuples were known, when it also repeats them; a FRESH record forgets the tuples; a group of CTX, INFO
 * and REPEAT
 * records is a REPEAT group that splits back; a repeat byte in an INFO_EVENTS record, or naming a way the context never
 * filled, is corrupt; cut or damaged records are errors, never a crash. */
#include <stdlib.h>
#include <string.h>

#include "../traces/codec.h"
#include <criterion/criterion.h>

#include "event_util.h"
#include "helpers.h"

static void expect_same(const struct tq_event *got, const struct tq_event *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t addr = e[i].flags & TQ_EV_INFO ? 0 : e[i].addr;
        cr_assert(got[i].kind == e[i].kind && got[i].flags == e[i].flags && got[i].t_ns == e[i].t_ns &&
                      got[i].addr == addr && got[i].size == e[i].size && got[i].old_addr == e[i].old_addr &&
                      got[i].stack_id == e[i].stack_id && got[i].old_stack == e[i].old_stack &&
                      got[i].seq == e[i].seq,
                  "event %zu differs: kind %u/%u flags %u/%u size %llu/%llu stack %u/%u seq %llu/%llu t %llu/%llu", i,
                  got[i].kind, e[i].kind, got[i].flags, e[i].flags, (unsigned long long)got[i].size,
                  (unsigned long long)e[i].size, got[i].stack_id, e[i].stack_id, (unsigned long long)got[i].seq,
                  (unsigned long long)e[i].seq, (unsigned long long)got[i].t_ns, (unsigned long long)e[i].t_ns);
    }
}

/* A program inserting rows: each row allocates and frees the same few (size, stack) blocks by info (the row's own
 * size grows now and then), with the clock ticking and another thread's events (order numbers skipped) every so often,
 * a block named by address, a realloc whose old block is named by info, a calloc and a memalign. */
static void rows_fixture(struct tq_event *ev, size_t n)
{
    uint64_t t = 1000, seq = 5, x = 0x2545F4914F6CDD1Dull;
    size_t row = 0;
    for (size_t i = 0; i < n; row++) {
        uint64_t rowsize = 48 + 16 * (row / 700);
        struct tq_event r[] = {
            {.kind = TQ_CALL_MALLOC, .flags = TQ_EV_INFO, .size = rowsize, .stack_id = 7},
            {.kind = TQ_CALL_MALLOC, .flags = TQ_EV_INFO, .size = 100, .stack_id = 9},
            {.kind = TQ_CALL_FREE, .flags = TQ_EV_INFO | TQ_EV_TEMP, .size = 100, .stack_id = 9},
            {.kind = TQ_CALL_CALLOC, .flags = TQ_EV_INFO, .size = 24, .stack_id = 12},
            {.kind = TQ_CALL_FREE, .flags = TQ_EV_INFO, .size = 24, .stack_id = 12},
            {.kind = TQ_CALL_MEMALIGN, .flags = TQ_EV_INFO, .size = 64, .stack_id = 300000},
            {.kind = TQ_CALL_FREE, .flags = TQ_EV_INFO, .size = 64, .stack_id = 300000},
            {.kind = TQ_CALL_FREE, .flags = TQ_EV_INFO, .size = rowsize, .stack_id = 7},
        };
        for (size_t j = 0; j < sizeof r / sizeof r[0] && i < n; j++, i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            ev[i] = r[j];
            if (x % 29 == 0)
                t += 1000000 + x % 5000;
            seq += 1 + (x % 41 == 0 ? x % 7 + 1 : 0);
            if (x % 97 == 0) { /* a block named by address */
                ev[i] = (struct tq_event){.kind = TQ_CALL_MALLOC, .addr = 0x55550000a000ull + 32 * (x % 1000),
                                          .size = 17, .stack_id = 4};
            } else if (x % 89 == 0) { /* a realloc whose old block is named by info */
                ev[i] = (struct tq_event){.kind = TQ_CALL_REALLOC, .flags = TQ_EV_OLD_INFO | TQ_EV_INFO, .size = 200,
                                          .old_addr = 100, .stack_id = 9, .old_stack = 9};
            }
            ev[i].t_ns = t;
            ev[i].seq = seq;
        }
    }
}

enum { N = 30000, PER = 2048 };
static struct tq_event ev[N], got[N];
static uint8_t buf[TQ_CTX_EVENTS_BOUND(PER)];

Test(repeat_events, periodic_events_take_a_byte_each_and_round_trip_across_records)
{
    rows_fixture(ev, N);
    static struct tq_pack_ctx enc, dec;
    tq_pack_ctx_init(&enc);
    tq_pack_ctx_init(&dec);
    size_t bytes = 0;
    for (size_t at = 0; at < N; at += PER) {
        size_t k = N - at < PER ? N - at : PER;
        size_t n = tq_rec_put_ctx_events(buf, sizeof buf, 3, 41, ev + at, k, &enc, at == 0);
        cr_assert_gt(n, TQ_REC_HEADER_SIZE, "record at %zu", at);
        /* the first record repeats nothing (the writer does not know yet how often its tuples repeat), but it keeps
         * them: a REPEAT_EVENTS record as well */
        cr_assert_eq(buf[0] | buf[1] << 8, TQ_REC_REPEAT_EVENTS, "record at %zu", at);
        cr_assert_eq(decode(buf, n, &dec, got + at, k), (long)k, "record at %zu", at);
        bytes += n;
    }
    expect_same(got, ev, N);
    /* INFO_EVENTS took at least 3 bytes an event here (KIND, SIZE, STACK; more with a time or order step, ~8% of
     * them); the repeats take 1: about 1.4 bytes an event */
    cr_expect_lt(bytes, N + N / 2 + 3 * PER, "%zu bytes for %d events", bytes, N);
}

/* Which records keep and repeat tuples: a context's first record with INFO events keeps them (TUPLES) and repeats
 * none; 4 of its 5 tuples were known, so the next record repeats them; after a FRESH record of 2 events (1 known) the
 * next record neither keeps nor repeats them (INFO_EVENTS) until the 64th; the repeat record without its TUPLES flag,
 * or marked FRESH as well (its tuples forgotten), is corrupt, not guessed. */
Test(repeat_events, records_keep_tuples_when_flagged_and_fresh_records_forget_them)
{
    enum { R = 4 };
    static const unsigned count[R] = {5, 2, 2, 2}, want[R] = {TQ_REC_REPEAT_EVENTS, TQ_REC_REPEAT_EVENTS,
                                                               TQ_REC_REPEAT_EVENTS, TQ_REC_INFO_EVENTS};
    static const int fresh[R] = {1, 0, 1, 0}, repeats_want[R] = {0, 2, 0, 0};
    static struct tq_event e[R][5];
    static uint8_t recs[R][TQ_CTX_EVENTS_BOUND(5)];
    size_t len[R];
    static struct tq_pack_ctx enc, dec, before2;
    tq_pack_ctx_init(&enc);
    tq_pack_ctx_init(&dec);
    uint64_t seq = 1;
    for (int r = 0; r < R; r++) {
        for (unsigned i = 0; i < count[r]; i++)
            e[r][i] = (struct tq_event){.kind = TQ_CALL_MALLOC, .flags = TQ_EV_INFO, .size = 8, .stack_id = 3,
                                        .t_ns = 50, .seq = seq++};
        len[r] = tq_rec_put_ctx_events(recs[r], sizeof recs[r], 1, 1, e[r], count[r], &enc, fresh[r]);
        cr_assert_gt(len[r], 0);
        cr_assert_eq(recs[r][0] | recs[r][1] << 8, want[r], "record %d", r);
        struct tq_rec rr = rec_of(recs[r], len[r]);
        struct tq_rec_events ee;
        struct tq_events_iter it;
        cr_assert_eq(tq_rec_get_events(&rr, &ee, &it), 0);
        int repeats = 0;
        for (const uint8_t *k = it.s[TQ_PS_KIND]; k < it.se[TQ_PS_KIND]; k++)
            repeats += (*k & 0xC0) == 0x40;
        cr_assert_eq(repeats, repeats_want[r], "record %d: %d repeat bytes", r, repeats);
        if (r == 1)
            before2 = dec;
        cr_assert_eq(decode(recs[r], len[r], &dec, got, count[r]), (long)count[r], "record %d", r);
        expect_same(got, e[r], count[r]);
    }
    /* head: uleb n, ctx, tid, count, flags (one byte each here) */
    cr_assert_eq(recs[1][TQ_REC_HEADER_SIZE + 4], 2, "TUPLES");
    recs[1][TQ_REC_HEADER_SIZE + 4] = 0;
    dec = before2;
    cr_assert_eq(decode(recs[1], len[1], &dec, got, 2), -1, "repeat bytes in a record that keeps no tuples");
    recs[1][TQ_REC_HEADER_SIZE + 4] = 3; /* FRESH as well */
    dec = before2;
    cr_assert_eq(decode(recs[1], len[1], &dec, got, 2), -1, "repeats of tuples a fresh context does not have");
    recs[1][TQ_REC_HEADER_SIZE + 4] = 2;
    recs[1][0] = TQ_REC_INFO_EVENTS;
    dec = before2;
    cr_assert_eq(decode(recs[1], len[1], &dec, got, 2), -1, "TUPLES in an INFO_EVENTS record");
}

Test(repeat_events, groups_of_ctx_info_and_repeat_records_split_back)
{
    rows_fixture(ev, 2 * PER);
    static struct tq_event plain[PER], unique[PER];
    for (size_t i = 0; i < PER; i++) { /* by address only: CTX_EVENTS */
        plain[i] = (struct tq_event){.kind = i % 2 ? TQ_CALL_FREE : TQ_CALL_MALLOC,
                                     .addr = 0x10000 + 32 * (i / 2), .size = i % 2 ? 0 : 20, .stack_id = i % 2 ? 0 : 3,
                                     .t_ns = 7, .seq = i + 1};
        unique[i] = (struct tq_event){.kind = TQ_CALL_MALLOC, .flags = TQ_EV_INFO, .size = i + 1, .stack_id = 2,
                                      .t_ns = 9, .seq = i + 1}; /* no tuple twice */
    }
    enum { R = 4 };
    static struct tq_pack_ctx enc[3], dec[3];
    for (int i = 0; i < 3; i++)
        tq_pack_ctx_init(&enc[i]);
    static uint8_t recs[R * TQ_CTX_EVENTS_BOUND(PER)], group[R * TQ_CTX_EVENTS_BOUND(PER) + 64];
    static uint8_t split[R * TQ_CTX_EVENTS_BOUND(PER) + 64];
    /* context 1: plain; context 2: two records of rows (the second repeats); context 3: unique */
    const struct tq_event *src[R] = {plain, ev, ev + PER, unique};
    static const int ctx_of[R] = {0, 1, 1, 2}, fresh[R] = {1, 1, 0, 1};
    static const unsigned type[R] = {TQ_REC_CTX_EVENTS, TQ_REC_REPEAT_EVENTS, TQ_REC_REPEAT_EVENTS,
                                     TQ_REC_REPEAT_EVENTS}; /* a context's first INFO record keeps the tuples */
    size_t at = 0;
    for (int r = 0; r < R; r++) {
        size_t n = tq_rec_put_ctx_events(recs + at, sizeof recs - at, (uint32_t)ctx_of[r] + 1, 10, src[r], PER,
                                         &enc[ctx_of[r]], fresh[r]);
        cr_assert_gt(n, 0);
        cr_assert_eq(recs[at] | recs[at + 1] << 8, type[r], "record %d", r);
        at += n;
    }
    size_t g = tq_rec_put_packed_group(group, sizeof group, recs, at);
    cr_assert_gt(g, 0);
    cr_assert_eq(group[0] | group[1] << 8, TQ_REC_REPEAT_EVENTS, "the group has the highest type");
    struct tq_rec grec = rec_of(group, g);
    size_t need;
    uint32_t nrec;
    cr_assert_eq(tq_rec_get_ctx_group(&grec, split, sizeof split, &need, &nrec), 0);
    cr_assert_eq(nrec, R);
    for (int i = 0; i < 3; i++)
        tq_pack_ctx_init(&dec[i]);
    at = 0;
    for (int r = 0; r < R; r++) {
        size_t len = TQ_REC_HEADER_SIZE + (split[at + 4] | split[at + 5] << 8 | (size_t)split[at + 6] << 16);
        cr_assert_eq(split[at] | split[at + 1] << 8, TQ_REC_REPEAT_EVENTS);
        cr_assert_eq(decode(split + at, len, &dec[ctx_of[r]], got, PER), PER, "record %d", r);
        expect_same(got, src[r], PER);
        at += len;
    }
    cr_assert_eq(at, need);
}

Test(repeat_events, misplaced_or_unknown_repeats_are_corrupt_and_damage_never_crashes)
{
    /* a record of 5 mallocs of one tuple (4 of 5 known: the writer repeats in the next record), then 2 more: each
     * one KIND byte 0x40 + 2 x set + 0 */
    struct tq_event five[5], two[2];
    for (int i = 0; i < 5; i++)
        five[i] = (struct tq_event){.kind = TQ_CALL_MALLOC, .flags = TQ_EV_INFO, .size = 8, .stack_id = 3,
                                    .seq = (uint64_t)i + 1};
    for (int i = 0; i < 2; i++)
        two[i] = (struct tq_event){.kind = TQ_CALL_MALLOC, .flags = TQ_EV_INFO, .size = 8, .stack_id = 3,
                                   .seq = (uint64_t)i + 6};
    static struct tq_pack_ctx enc, dec, warm;
    static uint8_t first[TQ_CTX_EVENTS_BOUND(5)];
    tq_pack_ctx_init(&enc);
    size_t n1 = tq_rec_put_ctx_events(first, sizeof first, 1, 1, five, 5, &enc, 1);
    cr_assert_eq(first[0] | first[1] << 8, TQ_REC_REPEAT_EVENTS);
    tq_pack_ctx_init(&warm);
    cr_assert_eq(decode(first, n1, &warm, got, 5), 5); /* the context the next record is read with */
    size_t n = tq_rec_put_ctx_events(buf, sizeof buf, 1, 1, two, 2, &enc, 0);
    cr_assert_eq(buf[0] | buf[1] << 8, TQ_REC_REPEAT_EVENTS);
    dec = warm;
    cr_assert_eq(decode(buf, n, &dec, got, 2), 2);
    expect_same(got, two, 2);
    struct tq_rec rec = rec_of(buf, n);
    struct tq_rec_events e;
    struct tq_events_iter it;
    cr_assert_eq(tq_rec_get_events(&rec, &e, &it), 0);
    size_t kind = (size_t)(it.s[TQ_PS_KIND] - buf);
    cr_assert_eq(buf[kind] & 0xC1, 0x40, "a repeat of way 0");
    cr_assert_eq(buf[kind + 1], buf[kind]);
    static uint8_t bad[TQ_CTX_EVENTS_BOUND(64)];
    memcpy(bad, buf, n);
    bad[0] = TQ_REC_INFO_EVENTS;
    dec = warm;
    cr_assert_eq(decode(bad, n, &dec, got, 2), -1, "a repeat in an INFO_EVENTS record");
    memcpy(bad, buf, n);
    bad[kind] ^= 1;
    dec = warm;
    cr_assert_eq(decode(bad, n, &dec, got, 2), -1, "way 1, never filled");
    memcpy(bad, buf, n);
    bad[kind] ^= 2;
    dec = warm;
    cr_assert_eq(decode(bad, n, &dec, got, 2), -1, "another set, never filled");
    /* cuts and bit flips of a record of many repeats (after one that sets its context up) */
    enum { M = 400 };
    rows_fixture(ev, 2 * M);
    tq_pack_ctx_init(&enc);
    static uint8_t lead[TQ_CTX_EVENTS_BOUND(M)];
    n1 = tq_rec_put_ctx_events(lead, sizeof lead, 1, 1, ev, M, &enc, 1);
    tq_pack_ctx_init(&warm);
    cr_assert_eq(decode(lead, n1, &warm, got, M), M);
    n = tq_rec_put_ctx_events(buf, sizeof buf, 1, 1, ev + M, M, &enc, 0);
    cr_assert_eq(buf[0] | buf[1] << 8, TQ_REC_REPEAT_EVENTS);
    dec = warm;
    cr_assert_eq(decode(buf, n, &dec, got, M), M);
    expect_same(got, ev + M, M);
    for (size_t cut = 1; cut < n - TQ_REC_HEADER_SIZE; cut++) {
        dec = warm;
        cr_assert_eq(decode(buf, n - cut, &dec, got, M), -1, "cut by %zu", cut);
    }
    static uint8_t flipped[TQ_CTX_EVENTS_BOUND(M)];
    for (size_t at = TQ_REC_HEADER_SIZE; at < n; at++)
        for (unsigned v = 0; v < 256; v += 29) {
            memcpy(flipped, buf, n);
            flipped[at] = (uint8_t)(flipped[at] ^ (v | 1));
            dec = warm;
            decode(flipped, n, &dec, got, M); /* any outcome but a crash */
        }
}
