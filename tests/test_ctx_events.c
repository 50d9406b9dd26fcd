/* test_ctx_events.c - CTX_EVENTS (FORMAT.md 18, format 1.8): events coded with a context that each writer thread
 * carries from record to record. Every field round-trips across records, with every way of coding an address used;
 * the fresh flag restarts a context; groups of several contexts' records split back into the same records (also
 * through the writer and the reader); cut or damaged records are errors, never a crash or wrong events. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../traces/reader.h"
#include "../traces/writer.h"
#include "event_util.h"
#include "helpers.h"

/* n events like a heap's: consecutive chunks from the top (the next-chunk prediction), frees of live blocks recent
 * and old (the ring, near and far), allocations given a just-freed block of their size class, blocks from nowhere
 * (aligned and odd differences), reallocs in place, moved from a known block or from an unknown one, the mmap family,
 * repeated and new stacks, unsized events, gaps in order numbers and times; the last ones with extreme values. */
static void ctx_fixture(struct tq_event *ev, size_t n, uint64_t seed)
{
    enum { LIVE = 6000 };
    static uint64_t live[LIVE], live_size[LIVE];
    size_t nlive = 0;
    uint64_t x = seed, t = 1000, seq = 5, top = 0x55550000a000ull, prev_free = 0, prev_free_size = 0;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        struct tq_event *e = &ev[i];
        memset(e, 0, sizeof *e);
        t += x % 5 == 0 ? (x >> 20) % 4000000 : 0;
        seq += 1 + (x % 7 == 0 ? (x >> 8) % 1000 : 0);
        e->t_ns = t;
        e->seq = seq;
        unsigned what = (unsigned)((x >> 33) % 16);
        if (nlive && (what < 6 || nlive == LIVE)) { /* a free: a recent block, or any live one (far in the ring) */
            size_t k = what < 3 ? nlive - 1 - (x >> 45) % (nlive < 8 ? nlive : 8) : (x >> 40) % nlive;
            e->kind = TQ_CALL_FREE;
            e->addr = live[k];
            prev_free = live[k];
            prev_free_size = live_size[k];
            live[k] = live[--nlive];
            live_size[k] = live_size[nlive];
            continue;
        }
        e->size = what == 15 ? 0 : (x >> 16) % (what < 10 ? 200 : 100000);
        e->stack_id = what == 15 ? 0 : x % 3 ? (uint32_t)(x >> 50) % 4 + 1 : (uint32_t)((x >> 24) % 3000 + 1);
        e->kind = what < 12 ? TQ_CALL_MALLOC : TQ_CALL_CALLOC;
        if (what == 6 && prev_free) { /* the block just freed, for the same size */
            e->addr = prev_free;
            e->size = prev_free_size;
            prev_free = 0;
        } else if (what == 7) { /* from nowhere */
            e->addr = top + 0x100000 + (x % 2 ? 16 * ((x >> 40) % 5000) : (x >> 40) % 5000);
        } else if (what == 8 && nlive) { /* realloc: in place, or moved from a live block, or from an unknown one */
            size_t k = (x >> 40) % nlive;
            e->kind = TQ_CALL_REALLOC;
            e->old_addr = x % 3 == 0 ? top - 0x40000 : live[k];
            e->addr = x % 3 == 1 ? live[k] : top;
            if (e->addr == top)
                top += (e->size + 23) & ~15ull;
            if (x % 3 != 0) {
                live[k] = live[--nlive];
                live_size[k] = live_size[nlive];
            }
        } else if (what == 9) { /* the mmap family: not heap blocks */
            static const uint8_t maps[] = {TQ_CALL_MMAP, TQ_CALL_MUNMAP, TQ_CALL_MREMAP};
            e->kind = maps[x % 3];
            e->addr = 0x7f0000000000ull + ((x >> 20) % 64) * 4096;
            e->old_addr = e->kind == TQ_CALL_MREMAP ? e->addr + 4096 * (x % 2) : 0;
            continue;
        } else {
            e->addr = top;
            top += (e->size + 23) < 32 ? 32 : (e->size + 23) & ~15ull;
        }
        if (nlive < LIVE && e->kind != TQ_CALL_MMAP) {
            live[nlive] = e->addr;
            live_size[nlive++] = e->size;
        }
    }
    for (size_t i = n - 3; i < n; i++)
        ev[i].old_addr = 0;
    ev[n - 3].kind = TQ_CALL_FREE; /* an address never seen (or evicted long ago) */
    ev[n - 3].addr = 0x1230;
    ev[n - 3].size = 0;
    ev[n - 3].stack_id = 0;
    ev[n - 2].kind = TQ_CALL_MALLOC;
    ev[n - 2].addr = UINT64_MAX - 7;
    ev[n - 2].size = UINT64_MAX;
    ev[n - 2].stack_id = UINT32_MAX;
    ev[n - 1].kind = TQ_CALL_MALLOC;
    ev[n - 1].addr = 0;
    ev[n - 1].seq = UINT64_MAX;
    ev[n - 1].t_ns = UINT64_MAX;
}

static void expect_same(const struct tq_event *got, const struct tq_event *ev, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        cr_assert(got[i].kind == ev[i].kind && got[i].t_ns == ev[i].t_ns && got[i].addr == ev[i].addr &&
                      got[i].size == ev[i].size && got[i].old_addr == ev[i].old_addr &&
                      got[i].stack_id == ev[i].stack_id && got[i].seq == ev[i].seq,
                  "%s: event %zu differs: kind %u addr %llx (want %u %llx)", what, i, got[i].kind,
                  (unsigned long long)got[i].addr, ev[i].kind, (unsigned long long)ev[i].addr);
}

enum { N = 30000, PER = 2048 };
static struct tq_event ev[N], got[N];
static uint8_t buf[TQ_CTX_EVENTS_BOUND(PER)];

Test(ctx_events, every_field_round_trips_across_records_with_every_address_coding)
{
    ctx_fixture(ev, N, 88172645463325252ull);
    static struct tq_pack_ctx enc, dec;
    tq_pack_ctx_init(&enc);
    tq_pack_ctx_init(&dec);
    static uint8_t packed[TQ_CTX_EVENTS_BOUND(PER)];
    size_t total = 0, total_packed = 0;
    unsigned modes[256] = {0};
    for (size_t at = 0; at < N; at += PER) {
        size_t k = N - at < PER ? N - at : PER;
        size_t n = tq_rec_put_ctx_events(buf, sizeof buf, 3, 4242, ev + at, k, &enc, at == 0);
        cr_assert_gt(n, TQ_REC_HEADER_SIZE, "record at %zu", at);
        cr_assert_eq(buf[0] | buf[1] << 8, TQ_REC_CTX_EVENTS);
        total += n;
        total_packed += tq_rec_put_packed_events(packed, sizeof packed, 4242, ev + at, k);
        struct tq_rec_events e;
        cr_assert_eq(decode_head(buf, n, &dec, got + at, k, &e), (long)k, "record at %zu", at);
        cr_assert(e.tid == 4242 && e.ctx == 3 && e.fresh == (at == 0) && e.count == k && e.t0_ns == ev[at].t_ns &&
                      e.seq0 == ev[at].seq,
                  "head of the record at %zu", at);
        struct tq_rec rec = rec_of(buf, n);
        struct tq_events_iter it;
        cr_assert_eq(tq_rec_get_events(&rec, &e, &it), 0);
        for (const uint8_t *p = it.s[TQ_PS_AMTF]; p < it.se[TQ_PS_AMTF]; p++)
            modes[*p]++;
    }
    expect_same(got, ev, N, "across records");
    /* the fixture reaches each way of coding an address (FORMAT.md 18 AMODE): next chunk (0), freed of its class at
     * depth 0 (1) and deeper (2..4), near in 16s (5) and in 1s (6), far in the ring (7) and among the freed (8), ring
     * ages in the byte (9..136), freed ages in the byte (137..255) */
    static const unsigned lo[] = {0, 1, 2, 5, 6, 7, 8, 9, 137}, hi[] = {0, 1, 4, 5, 6, 7, 8, 136, 255};
    for (unsigned g = 0; g < sizeof lo / sizeof lo[0]; g++) {
        unsigned used = 0;
        for (unsigned m = lo[g]; m <= hi[g]; m++)
            used += modes[m];
        cr_expect_gt(used, 0, "address codings %u..%u unused", lo[g], hi[g]);
    }
    cr_expect_lt(total, total_packed, "CTX_EVENTS %zu bytes, PACKED_EVENTS %zu", total, total_packed);
}

Test(ctx_events, a_fresh_record_restarts_its_context_and_a_later_one_needs_it)
{
    ctx_fixture(ev, 3 * PER, 0x1234567ull);
    static struct tq_pack_ctx enc, dec, other;
    tq_pack_ctx_init(&enc);
    tq_pack_ctx_init(&dec);
    tq_pack_ctx_init(&other);
    struct tq_rec_events e;
    size_t n = tq_rec_put_ctx_events(buf, sizeof buf, 0, 1, ev, PER, &enc, 1);
    cr_assert_eq(decode_head(buf, n, &dec, got, PER, &e), PER);
    /* the encoder starts afresh (a new thread in the same buffer): the decoder follows from the flag alone */
    n = tq_rec_put_ctx_events(buf, sizeof buf, 0, 2, ev + PER, PER, &enc, 1);
    cr_assert_eq(decode_head(buf, n, &dec, got + PER, PER, &e), PER);
    cr_assert(e.fresh && e.tid == 2);
    expect_same(got, ev, 2 * PER, "fresh again");
    /* a record that continues a context cannot be read by a context that never had its start */
    n = tq_rec_put_ctx_events(buf, sizeof buf, 0, 2, ev + 2 * PER, PER, &enc, 0);
    cr_assert_eq(decode_head(buf, n, &other, got, PER, &e), -1);
    cr_assert_eq(decode_head(buf, n, &dec, got + 2 * PER, PER, &e), PER);
    cr_assert(!e.fresh);
    expect_same(got, ev, 3 * PER, "continued");
    /* what the encoder cannot store, it refuses, and leaves its context as it was */
    static struct tq_pack_ctx before;
    before = enc;
    struct tq_event bad[2] = {ev[0], ev[1]};
    bad[1].seq = bad[0].seq;
    cr_assert_eq(tq_rec_put_ctx_events(buf, sizeof buf, 0, 2, bad, 2, &enc, 0), 0);
    bad[1] = ev[1];
    bad[1].kind = 16;
    cr_assert_eq(tq_rec_put_ctx_events(buf, sizeof buf, 0, 2, bad, 2, &enc, 0), 0);
    cr_assert_eq(tq_rec_put_ctx_events(buf, sizeof buf, TQ_CTX_MAX, 2, ev, 2, &enc, 0), 0);
    cr_assert_eq(tq_rec_put_ctx_events(buf, tq_rec_ctx_events_bound(2) - 1, 0, 2, ev, 2, &enc, 0), 0);
    cr_assert_eq(tq_rec_put_ctx_events(buf, SIZE_MAX, 0, 2, ev, TQ_CTX_EVENTS_MAX + 1, &enc, 0), 0); /* > 16 MiB */
    cr_assert_eq(memcmp(&before, &enc, sizeof enc), 0);
    /* no events: the record still carries its head */
    n = tq_rec_put_ctx_events(buf, sizeof buf, 0, 2, ev, 0, &enc, 0);
    cr_assert_eq(decode_head(buf, n, &dec, got, 1, &e), 0);
}

/* Records of two contexts, interleaved as threads flush, grouped (as the writer does) and split again. */
Test(ctx_events, a_group_of_two_contexts_splits_into_the_same_records)
{
    ctx_fixture(ev, 8 * 1000, 0xabcdefull);
    static struct tq_pack_ctx enc[2], dec[2];
    static uint8_t staged[8 * TQ_CTX_EVENTS_BOUND(1000)], group[sizeof staged + 64], split[2 * sizeof staged];
    size_t len = 0;
    for (int r = 0; r < 8; r++) { /* records 0, 2, 4, 6 of context 0 (tid 10), the others of context 5 (tid 11) */
        int c = r % 2;
        if (r < 2)
            tq_pack_ctx_init(&enc[c]);
        len += tq_rec_put_ctx_events(staged + len, sizeof staged - len, c ? 5 : 0, 10 + (uint32_t)c, ev + r * 1000,
                                     1000, &enc[c], r < 2);
    }
    size_t g = tq_rec_put_packed_group(group, sizeof group, staged, len);
    cr_assert_gt(g, 0);
    cr_assert_leq(g, len + TQ_GROUP_OVERHEAD);
    cr_assert_eq(group[0] | group[1] << 8, TQ_REC_CTX_EVENTS);
    size_t need;
    uint32_t n;
    struct tq_rec rec = rec_of(group, g);
    cr_assert_eq(tq_rec_get_ctx_group(&rec, split, 10, &need, &n), 0);
    cr_assert(n == 8 && need > 10);
    cr_assert_eq(tq_rec_get_ctx_group(&rec, split, sizeof split, &need, &n), 0);
    cr_assert_eq(need, len, "the split records are the records the encoder wrote");
    cr_assert_eq(memcmp(split, staged, len), 0);
    tq_pack_ctx_init(&dec[0]);
    tq_pack_ctx_init(&dec[1]);
    size_t at = 0;
    for (int r = 0; r < 8; r++) {
        size_t k = TQ_REC_HEADER_SIZE + (split[at + 4] | split[at + 5] << 8 | (size_t)split[at + 6] << 16);
        struct tq_rec_events e;
        cr_assert_eq(decode_head(split + at, k, &dec[r % 2], got + r * 1000, 1000, &e), 1000, "record %d", r);
        cr_assert(e.ctx == (r % 2 ? 5u : 0u) && e.tid == 10u + (unsigned)(r % 2));
        at += k;
    }
    expect_same(got, ev, 8000, "grouped");
    /* damaged groups are refused */
    group[TQ_REC_HEADER_SIZE] = 0; /* n = 0 */
    cr_assert_eq(tq_rec_get_ctx_group(&rec, split, sizeof split, &need, &n), -1);
    group[TQ_REC_HEADER_SIZE] = 8;
    rec.len--; /* the lengths no longer add up */
    cr_assert_eq(tq_rec_get_ctx_group(&rec, split, sizeof split, &need, &n), -1);
    cr_assert_eq(tq_rec_put_packed_group(group, sizeof group, staged, len - 1), 0);
}

/* Through the writer (which groups a frame's records) and the reader (which gives them back one by one). */
Test(ctx_events, the_reader_returns_each_record_of_a_written_group)
{
    ctx_fixture(ev, 6 * 1000, 0x5151ull);
    char *d = tq_tmpdir(), path[4200];
    snprintf(path, sizeof path, "%s/ctx.tq", d);
    struct tq_trace_writer w;
    tq_fixture_trace_open(path, &w);
    cr_assert_eq(tq_writer_group_events(&w), 0);
    static uint8_t rec[4096];
    struct tq_rec_process p = {.pid = 7, .flags = TQ_PROC_STACKS};
    tq_fixture_put(&w, rec, tq_rec_put_process(rec, sizeof rec, &p, "/bin/c", 0, NULL));
    static struct tq_pack_ctx enc[2], dec[2];
    tq_pack_ctx_init(&enc[0]);
    tq_pack_ctx_init(&enc[1]);
    for (int r = 0; r < 6; r++) {
        size_t n = tq_rec_put_ctx_events(buf, sizeof buf, (uint32_t)r % 2, 20 + (uint32_t)r % 2, ev + r * 1000, 1000,
                                         &enc[r % 2], r < 2);
        cr_assert_eq(tq_writer_append_events(&w, buf, n), 0);
        if (r == 3) { /* a MODULE must stay after the events before it: the group is cut there */
            struct tq_rec_module m = {.start = 0x1000, .end = 0x2000};
            tq_fixture_put(&w, rec, tq_rec_put_module(rec, sizeof rec, &m, "/lib/x.so"));
        }
    }
    struct tq_rec_end e = {.t_ns = 8, .reason = TQ_END_EXIT};
    tq_fixture_put(&w, rec, tq_rec_put_end(rec, sizeof rec, &e));
    cr_assert_eq(tq_writer_close(&w), 0);

    struct tq_trace_reader *r;
    struct tq_err err = {0};
    cr_assert_eq(tq_trace_open(path, &r, &err), TQ_OK, "%s", err.msg);
    tq_pack_ctx_init(&dec[0]);
    tq_pack_ctx_init(&dec[1]);
    struct tq_rec got_rec;
    bool done = false;
    int events = 0, order = 0;
    static const uint16_t want[] = {TQ_REC_PROCESS, TQ_REC_CTX_EVENTS, TQ_REC_CTX_EVENTS, TQ_REC_CTX_EVENTS,
                                    TQ_REC_CTX_EVENTS, TQ_REC_MODULE, TQ_REC_CTX_EVENTS, TQ_REC_CTX_EVENTS,
                                    TQ_REC_END};
    while (tq_trace_next(r, &got_rec, &done, &err) == TQ_OK && !done) {
        cr_assert_lt(order, 9);
        cr_assert_eq(got_rec.type, want[order], "record %d is of type %u", order, got_rec.type);
        order++;
        if (got_rec.type != TQ_REC_CTX_EVENTS)
            continue;
        cr_assert_eq(got_rec.data[0], 1, "one record each");
        struct tq_rec_events h;
        long k = decode_head(got_rec.data - TQ_REC_HEADER_SIZE, TQ_REC_HEADER_SIZE + got_rec.len, &dec[events % 2],
                        got + events * 1000, 1000, &h);
        cr_assert_eq(k, 1000, "record %d", events);
        events++;
    }
    cr_assert(done && order == 9, "%s", err.msg);
    cr_assert_eq(tq_trace_count(r, TQ_REC_CTX_EVENTS), 6);
    cr_assert_eq(tq_trace_minor_version(r), TQ_TRACE_VERSION_MINOR);
    tq_trace_close(r);
    expect_same(got, ev, 6000, "written and read");
    tq_rmtree(d);
    free(d);
}

/* Cut anywhere, or with any byte changed, a record is an error or other events, never a crash (ASan checks reads). */
Test(ctx_events, cut_or_damaged_records_are_errors_never_crashes)
{
    enum { M = 300 };
    ctx_fixture(ev, M, 0x77ull);
    static struct tq_pack_ctx enc, dec;
    tq_pack_ctx_init(&enc);
    size_t n = tq_rec_put_ctx_events(buf, sizeof buf, 1, 1, ev, M, &enc, 1);
    struct tq_rec_events e;
    for (size_t cut = 1; cut < n - TQ_REC_HEADER_SIZE; cut++) {
        tq_pack_ctx_init(&dec);
        cr_assert_eq(decode_head(buf, n - cut, &dec, got, M, &e), -1, "cut by %zu", cut);
    }
    static uint8_t bad[TQ_CTX_EVENTS_BOUND(M)];
    for (size_t at = TQ_REC_HEADER_SIZE; at < n; at++)
        for (unsigned v = 0; v < 256; v += 37) {
            memcpy(bad, buf, n);
            bad[at] = (uint8_t)(bad[at] ^ (v | 1));
            tq_pack_ctx_init(&dec);
            decode_head(bad, n, &dec, got, M, &e); /* any outcome but a crash */
        }
    /* specific damage: a free coded as the next-chunk prediction; an age the context never filled; a context number
     * out of range; an unknown flag */
    struct tq_event one[2] = {{.kind = TQ_CALL_MALLOC, .addr = 0x1000, .size = 8, .seq = 1},
                              {.kind = TQ_CALL_FREE, .addr = 0x1000, .seq = 2}};
    tq_pack_ctx_init(&enc);
    n = tq_rec_put_ctx_events(buf, sizeof buf, 1, 1, one, 2, &enc, 1);
    struct tq_rec rec = rec_of(buf, n);
    struct tq_events_iter it;
    cr_assert_eq(tq_rec_get_events(&rec, &e, &it), 0);
    size_t amode = (size_t)(it.s[TQ_PS_AMTF] - buf);
    cr_assert_eq(buf[amode + 1], 9, "the free is the ring's latest address");
    tq_pack_ctx_init(&dec);
    cr_assert_eq(decode_head(buf, n, &dec, got, 2, &e), 2);
    memcpy(bad, buf, n);
    bad[amode + 1] = 0; /* NEXT for a free */
    tq_pack_ctx_init(&dec);
    cr_assert_eq(decode_head(bad, n, &dec, got, 2, &e), -1);
    bad[amode + 1] = 10; /* age 1: one address in the ring so far */
    tq_pack_ctx_init(&dec);
    cr_assert_eq(decode_head(bad, n, &dec, got, 2, &e), -1);
    bad[amode + 1] = 137; /* a freed address for a free; and the freed ring is empty */
    tq_pack_ctx_init(&dec);
    cr_assert_eq(decode_head(bad, n, &dec, got, 2, &e), -1);
    memcpy(bad, buf, n);
    bad[TQ_REC_HEADER_SIZE + 1] = 0x80; /* context number 1024 (2 bytes): the lengths are off too, either way bad */
    bad[TQ_REC_HEADER_SIZE + 2] = 0x08;
    tq_pack_ctx_init(&dec);
    cr_assert_eq(decode_head(bad, n, &dec, got, 2, &e), -1);
    memcpy(bad, buf, n);
    bad[TQ_REC_HEADER_SIZE + 4] = 3; /* flags: fresh and an unknown bit */
    tq_pack_ctx_init(&dec);
    cr_assert_eq(decode_head(bad, n, &dec, got, 2, &e), -1);
}
