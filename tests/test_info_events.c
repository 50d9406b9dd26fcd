/* test_info_events.c - INFO_EVENTS (FORMAT.md 20, format 1.9; REPEAT_EVENTS, 21, where events repeat): heap blocks named by (size, stack) instead of their
 * address. Events with every flag round-trip across records (mixed with address-named ones); a record without flags
 * stays a CTX_EVENTS record; a group of both splits back; cut or damaged records are errors, never a crash; the
 * analyzer's count per (stack, size) matches frees seen before their allocation (another thread's record) without a
 * false leak; a recorded program whose blocks are named both ways (tests/progs/info_mix.c) reports the same as with
 * every block named by address (TRACEQ_FREE_BY_ADDR=1): sites, peak, leaks, temporaries, the folded export. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../report/event_match.h"
#include "../report/info_blocks.h"
#include "../traces/event_ctxs.h"
#include "../traces/reader.h"
#include "../traces/writer.h"
#include "event_util.h"
#include "shim_util.h"

/* INFO_EVENTS, or REPEAT_EVENTS (FORMAT.md 21: the same where an event repeats a recent (kind, size, stack)). */
static int is_info(const uint8_t *rec)
{
    unsigned type = rec[0] | rec[1] << 8;
    return type == TQ_REC_INFO_EVENTS || type == TQ_REC_REPEAT_EVENTS;
}

/* A heap of n events of one thread: allocations (malloc, calloc) named by info when flagged so (about 3 in 4, as
 * blocks with room in their slack), their frees named the same way (temp when the block was the latest allocation),
 * realloc chains whose old and new blocks are each named either way (an old one named by address also freed before its
 * realloc, as the shim writes it since 1.10), mmap events, the occasional free of an unknown
 * address; addresses from a bump pointer, frees of random live blocks. */
static void info_fixture(struct tq_event *ev, size_t n, uint64_t seed)
{
    enum { LIVE = 3000 };
    static struct {
        uint64_t addr, size;
        uint32_t stack;
        int info;
    } live[LIVE];
    size_t nlive = 0;
    uint64_t x = seed, t = 100, seq = 1, top = 0x55550000a000ull, last = 0;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        struct tq_event *e = &ev[i];
        memset(e, 0, sizeof *e);
        t += x % 4 == 0 ? (x >> 20) % 100000 : 0;
        seq += 1 + (x % 9 == 0 ? (x >> 8) % 50 : 0);
        e->t_ns = t;
        e->seq = seq;
        unsigned what = (unsigned)((x >> 33) % 16);
        if (nlive && (what < 6 || nlive == LIVE)) { /* a free: the latest block, or any live one */
            size_t k = what < 2 ? nlive - 1 : (x >> 40) % nlive;
            e->kind = TQ_CALL_FREE;
            if (live[k].info) {
                e->flags = TQ_EV_INFO | (live[k].addr == last ? TQ_EV_TEMP : 0);
                e->size = live[k].size;
                e->stack_id = live[k].stack;
            } else {
                e->addr = live[k].addr;
            }
            live[k] = live[--nlive];
            last = 0;
            continue;
        }
        if (what == 6) { /* the mmap family: never info */
            e->kind = TQ_CALL_MMAP;
            e->addr = 0x7f0000000000ull + ((x >> 20) % 64) * 4096;
            e->size = 4096;
            continue;
        }
        if (what == 7) { /* an unknown address freed */
            e->kind = TQ_CALL_FREE;
            e->addr = 0x1230 + 16 * ((x >> 24) % 64);
            continue;
        }
        e->size = (x >> 16) % (what < 12 ? 300 : 70000);
        e->stack_id = (uint32_t)(x >> 50) % 6 + 1 + (what == 13 ? 100000 : 0);
        e->kind = what < 11 ? TQ_CALL_MALLOC : TQ_CALL_CALLOC;
        int info = (x >> 12) % 4 != 0;
        e->addr = top;
        top += (e->size + 23) < 32 ? 32 : (e->size + 23) & ~15ull;
        if (what == 8 && nlive && !live[(x >> 40) % nlive].info && (x >> 28) % 3 == 0 && i + 1 < n) {
            /* the shim's realloc of a block named by its address (1.10): the old block's FREE, then the realloc
             * naming no old block (TQ_EV_OLD_FREED), its new block in place or not */
            size_t k = (x >> 40) % nlive;
            struct tq_event r = *e;
            *e = (struct tq_event){.kind = TQ_CALL_FREE, .t_ns = e->t_ns, .seq = e->seq, .addr = live[k].addr};
            r.kind = TQ_CALL_REALLOC;
            r.flags = TQ_EV_OLD_FREED;
            r.seq = ++seq;
            if ((x >> 30) % 2)
                r.addr = live[k].addr;
            live[k] = live[--nlive];
            ev[++i] = r;
            e = &ev[i];
        } else if (what == 8 && nlive) { /* realloc of a live block (old named by info or by address) */
            size_t k = (x >> 40) % nlive;
            e->kind = TQ_CALL_REALLOC;
            if (live[k].info) {
                e->flags |= TQ_EV_OLD_INFO | (live[k].addr == last ? TQ_EV_OLD_TEMP : 0);
                e->old_addr = live[k].size;
                e->old_stack = live[k].stack;
            } else {
                e->old_addr = live[k].addr;
            }
            if ((x >> 30) % 2 && !live[k].info) /* in place */
                e->addr = live[k].addr;
            live[k] = live[--nlive];
        }
        if (info)
            e->flags |= TQ_EV_INFO;
        last = e->addr;
        live[nlive].addr = e->addr;
        live[nlive].size = e->size;
        live[nlive].stack = e->stack_id;
        live[nlive++].info = info;
    }
}

/* What a reader gives back for e: no address for a block named by info. */
static void expect_event(const struct tq_event *got, const struct tq_event *e, size_t i)
{
    uint64_t addr = e->flags & TQ_EV_INFO ? 0 : e->addr;
    cr_assert(got->kind == e->kind && got->flags == e->flags && got->t_ns == e->t_ns && got->addr == addr &&
                  got->size == e->size && got->old_addr == e->old_addr && got->stack_id == e->stack_id &&
                  got->old_stack == e->old_stack && got->seq == e->seq,
              "event %zu differs: kind %u flags %u addr %llx size %llu old %llx stack %u/%u (want %u %u %llx %llu %llx "
              "%u/%u)",
              i, got->kind, got->flags, (unsigned long long)got->addr, (unsigned long long)got->size,
              (unsigned long long)got->old_addr, got->stack_id, got->old_stack, e->kind, e->flags,
              (unsigned long long)addr, (unsigned long long)e->size, (unsigned long long)e->old_addr, e->stack_id,
              e->old_stack);
}

enum { N = 20000, PER = 2048 };
static struct tq_event ev[N], got[N];
static uint8_t buf[TQ_CTX_EVENTS_BOUND(PER)];

Test(info_events, every_flag_round_trips_across_records_mixed_with_addresses)
{
    info_fixture(ev, N, 0x9E3779B97F4A7C15ull);
    static struct tq_pack_ctx enc, dec;
    tq_pack_ctx_init(&enc);
    tq_pack_ctx_init(&dec);
    unsigned flags_seen = 0;
    for (size_t i = 0; i < N; i++)
        flags_seen |= ev[i].flags;
    cr_assert_eq(flags_seen, TQ_EV_INFO | TQ_EV_OLD_INFO | TQ_EV_TEMP | TQ_EV_OLD_TEMP | TQ_EV_OLD_FREED,
                 "the fixture uses every flag");
    for (size_t at = 0; at < N; at += PER) {
        size_t k = N - at < PER ? N - at : PER;
        size_t n = tq_rec_put_ctx_events(buf, sizeof buf, 5, 77, ev + at, k, &enc, at == 0);
        cr_assert_gt(n, TQ_REC_HEADER_SIZE, "record at %zu", at);
        cr_assert(is_info(buf), "record at %zu", at);
        cr_assert_eq(decode(buf, n, &dec, got + at, k), (long)k, "record at %zu", at);
    }
    for (size_t i = 0; i < N; i++)
        expect_event(&got[i], &ev[i], i);
}

/* Events without flags make a CTX_EVENTS record, as format 1.8 wrote; a group of it and an INFO_EVENTS record (two
 * contexts) is an INFO_EVENTS group that splits back into the two records, of the group's type, decoding the same. */
Test(info_events, a_record_without_info_stays_ctx_events_and_groups_of_both_split_back)
{
    info_fixture(ev, 2 * PER, 0x51ull);
    static struct tq_event plain[PER];
    for (size_t i = 0; i < PER; i++) { /* the first half named by address only */
        plain[i] = ev[i];
        plain[i].flags = 0;
        plain[i].old_stack = 0;
        if (plain[i].kind == TQ_CALL_FREE && !plain[i].addr)
            plain[i].addr = 0x4000 + 16 * i, plain[i].size = 0, plain[i].stack_id = 0;
        if (ev[i].flags & TQ_EV_OLD_INFO)
            plain[i].old_addr = 0x8000 + 16 * i;
    }
    static struct tq_pack_ctx e1, e2, d1, d2;
    tq_pack_ctx_init(&e1);
    tq_pack_ctx_init(&e2);
    static uint8_t recs[2 * TQ_CTX_EVENTS_BOUND(PER)], group[2 * TQ_CTX_EVENTS_BOUND(PER) + 64];
    static uint8_t split[2 * TQ_CTX_EVENTS_BOUND(PER) + 64];
    size_t a = tq_rec_put_ctx_events(recs, sizeof recs, 1, 10, plain, PER, &e1, 1);
    cr_assert_gt(a, 0);
    cr_assert_eq(recs[0] | recs[1] << 8, TQ_REC_CTX_EVENTS);
    size_t b = tq_rec_put_ctx_events(recs + a, sizeof recs - a, 2, 11, ev + PER, PER, &e2, 1);
    cr_assert_gt(b, 0);
    cr_assert(is_info(recs + a));
    size_t g = tq_rec_put_packed_group(group, sizeof group, recs, a + b);
    cr_assert_gt(g, 0);
    cr_assert_eq(group[0] | group[1] << 8, recs[a] | recs[a + 1] << 8, "the group has the higher type");
    struct tq_rec grec = rec_of(group, g);
    size_t need;
    uint32_t nrec;
    cr_assert_eq(tq_rec_get_ctx_group(&grec, split, sizeof split, &need, &nrec), 0);
    cr_assert_eq(nrec, 2);
    size_t first = TQ_REC_HEADER_SIZE + (split[4] | split[5] << 8 | (size_t)split[6] << 16);
    cr_assert_eq(split[0] | split[1] << 8, group[0] | group[1] << 8);
    tq_pack_ctx_init(&d1);
    tq_pack_ctx_init(&d2);
    cr_assert_eq(decode(split, first, &d1, got, PER), PER);
    cr_assert_eq(decode(split + first, need - first, &d2, got + PER, PER), PER);
    for (size_t i = 0; i < PER; i++)
        expect_event(&got[i], &plain[i], i);
    for (size_t i = PER; i < 2 * PER; i++)
        expect_event(&got[i], &ev[i], i);
}

Test(info_events, cut_or_damaged_records_are_errors_never_crashes)
{
    enum { M = 400 };
    info_fixture(ev, M, 0x77ull);
    static struct tq_pack_ctx enc, dec;
    tq_pack_ctx_init(&enc);
    size_t n = tq_rec_put_ctx_events(buf, sizeof buf, 1, 1, ev, M, &enc, 1);
    cr_assert(is_info(buf));
    for (size_t cut = 1; cut < n - TQ_REC_HEADER_SIZE; cut++) {
        tq_pack_ctx_init(&dec);
        cr_assert_eq(decode(buf, n - cut, &dec, got, M), -1, "cut by %zu", cut);
    }
    static uint8_t bad[TQ_CTX_EVENTS_BOUND(M)];
    for (size_t at = TQ_REC_HEADER_SIZE; at < n; at++)
        for (unsigned v = 0; v < 256; v += 29) {
            memcpy(bad, buf, n);
            bad[at] = (uint8_t)(bad[at] ^ (v | 1));
            tq_pack_ctx_init(&dec);
            decode(bad, n, &dec, got, M); /* any outcome but a crash */
        }
    /* specific damage: the INFO bit in a CTX_EVENTS record; an INFO allocation without a stack; OLD value 4 (an old
     * block named by info) in a CTX_EVENTS record */
    struct tq_event one[2] = {{.kind = TQ_CALL_MALLOC, .flags = TQ_EV_INFO, .size = 8, .stack_id = 3, .seq = 1},
                              {.kind = TQ_CALL_FREE, .flags = TQ_EV_INFO, .size = 8, .stack_id = 3, .seq = 2}};
    tq_pack_ctx_init(&enc);
    n = tq_rec_put_ctx_events(buf, sizeof buf, 1, 1, one, 2, &enc, 1);
    tq_pack_ctx_init(&dec);
    cr_assert_eq(decode(buf, n, &dec, got, 2), 2);
    memcpy(bad, buf, n);
    bad[0] = TQ_REC_CTX_EVENTS;
    tq_pack_ctx_init(&dec);
    cr_assert_eq(decode(bad, n, &dec, got, 2), -1, "INFO in a CTX_EVENTS record");
    struct tq_rec rec = rec_of(buf, n);
    struct tq_rec_events e;
    struct tq_events_iter it;
    cr_assert_eq(tq_rec_get_events(&rec, &e, &it), 0);
    size_t stack = (size_t)(it.s[TQ_PS_STACK] - buf);
    memcpy(bad, buf, n);
    bad[stack] = 8; /* the stack id: 0 + zz 0 = 0 */
    tq_pack_ctx_init(&dec);
    cr_assert_eq(decode(bad, n, &dec, got, 2), -1, "an INFO allocation of stack 0");
    struct tq_event re[2] = {{.kind = TQ_CALL_MALLOC, .flags = TQ_EV_INFO, .size = 8, .stack_id = 3, .seq = 1},
                             {.kind = TQ_CALL_REALLOC, .flags = TQ_EV_OLD_INFO, .addr = 0x9000, .size = 9,
                              .old_addr = 8, .stack_id = 3, .old_stack = 3, .seq = 2}};
    tq_pack_ctx_init(&enc);
    n = tq_rec_put_ctx_events(buf, sizeof buf, 1, 1, re, 2, &enc, 1);
    tq_pack_ctx_init(&dec);
    cr_assert_eq(decode(buf, n, &dec, got, 2), 2);
    expect_event(&got[1], &re[1], 1);
    memcpy(bad, buf, n);
    bad[0] = TQ_REC_CTX_EVENTS;
    tq_pack_ctx_init(&dec);
    cr_assert_eq(decode(bad, n, &dec, got, 2), -1, "OLD 4 or INFO in a CTX_EVENTS record");
    /* OLD value 6 (the old block freed before, 1.10) is CTX_EVENTS' as well: alone, it keeps the record one */
    struct tq_event fr[2] = {{.kind = TQ_CALL_FREE, .addr = 0x9000, .seq = 1},
                             {.kind = TQ_CALL_REALLOC, .flags = TQ_EV_OLD_FREED, .addr = 0x9000, .size = 9,
                              .stack_id = 3, .seq = 2}};
    tq_pack_ctx_init(&enc);
    n = tq_rec_put_ctx_events(buf, sizeof buf, 1, 1, fr, 2, &enc, 1);
    cr_assert_eq(buf[0] | buf[1] << 8, TQ_REC_CTX_EVENTS);
    tq_pack_ctx_init(&dec);
    cr_assert_eq(decode(buf, n, &dec, got, 2), 2);
    expect_event(&got[0], &fr[0], 0);
    expect_event(&got[1], &fr[1], 1);
    /* the encoder refuses flags where they mean nothing */
    struct tq_event wrong[] = {{.kind = TQ_CALL_MALLOC, .flags = TQ_EV_INFO, .size = 8, .seq = 1},
                               {.kind = TQ_CALL_MMAP, .flags = TQ_EV_INFO, .size = 8, .stack_id = 1, .seq = 1},
                               {.kind = TQ_CALL_MALLOC, .flags = TQ_EV_TEMP, .size = 8, .stack_id = 1, .seq = 1},
                               {.kind = TQ_CALL_MALLOC, .flags = TQ_EV_OLD_INFO, .size = 8, .stack_id = 1, .seq = 1},
                               {.kind = TQ_CALL_FREE, .flags = TQ_EV_OLD_FREED, .seq = 1},
                               {.kind = TQ_CALL_MALLOC, .flags = TQ_EV_OLD_FREED, .size = 8, .stack_id = 1, .seq = 1},
                               {.kind = TQ_CALL_REALLOC, .flags = TQ_EV_OLD_FREED, .addr = 64, .old_addr = 32,
                                .seq = 1},
                               {.kind = TQ_CALL_REALLOC, .flags = TQ_EV_OLD_FREED | TQ_EV_OLD_INFO, .addr = 64,
                                .size = 8, .old_addr = 8, .stack_id = 1, .old_stack = 1, .seq = 1},
                               {.kind = TQ_CALL_FREE, .flags = 32, .seq = 1}};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        tq_pack_ctx_init(&enc);
        cr_expect_eq(tq_rec_put_ctx_events(buf, sizeof buf, 1, 1, &wrong[i], 1, &enc, 1), 0, "event %zu", i);
    }
}

Test(info_events, the_count_per_stack_and_size_matches_frees_before_their_allocations)
{
    struct tq_info_blocks *t = tq_info_blocks_new();
    cr_assert_not_null(t);
    cr_assert_eq(tq_info_blocks_alloc(t, 1, 48, 10), 1);
    cr_assert_eq(tq_info_blocks_alloc(t, 1, 48, 11), 1);
    cr_assert_eq(tq_info_blocks_release(t, 1, 64, 12), 0, "none of (1, 64) is live: it waits");
    cr_assert_eq(tq_info_blocks_release(t, 2, 48, 13), 0, "none of (2, 48) is live: it waits");
    cr_assert_eq(tq_info_blocks_release(t, 1, 48, 14), 1);
    cr_assert_eq(tq_info_blocks_live(t), 1);
    cr_assert_eq(tq_info_blocks_waiting(t), 2);
    cr_assert_eq(tq_info_blocks_alloc(t, 1, 64, 20), 1, "allocated after the waiting free: not its block");
    cr_assert_eq(tq_info_blocks_alloc(t, 1, 64, 5), 0, "allocated before it: freed at once");
    cr_assert_eq(tq_info_blocks_alloc(t, 2, 48, 7), 0);
    cr_assert_eq(tq_info_blocks_waiting(t), 0);
    cr_assert_eq(tq_info_blocks_live(t), 2);
    for (uint32_t s = 1; s <= 5000; s++) /* the table grows */
        cr_assert_eq(tq_info_blocks_alloc(t, s, s * 16, 100 + s), 1);
    for (uint32_t s = 1; s <= 5000; s++)
        cr_assert_eq(tq_info_blocks_release(t, s, s * 16, 20000 + s), 1, "kind %u", s);
    cr_assert_eq(tq_info_blocks_live(t), 2);
    tq_info_blocks_free(t);
}

/* Thread 2 frees (named by info) the blocks thread 1 allocated, and its record reaches the analyzer first (then
 * thread 1's, then thread 2's second record freeing the rest): every block is released exactly once, none is left
 * live (no false leak), and no free is released before its block was allocated (the matcher puts the events in the
 * process-wide order first; where that order is given up, the count per kind waits, as the test above checks). */
Test(info_events, cross_thread_frees_before_their_allocations_leave_no_false_leak)
{
    enum { B = 200 };
    static struct tq_event alloc[B], free1[B / 2], free2[B / 2];
    for (int i = 0; i < B; i++) /* thread 1: order numbers 2i */
        alloc[i] = (struct tq_event){.kind = TQ_CALL_MALLOC, .flags = TQ_EV_INFO, .t_ns = 10 + 2 * (uint64_t)i,
                                     .size = 16 + 16 * (uint64_t)(i % 5), .stack_id = 1 + (uint32_t)(i % 3),
                                     .seq = 2 * (uint64_t)i};
    for (int i = 0; i < B; i++) { /* thread 2: the free of block i at 2i + 1 */
        struct tq_event f = {.kind = TQ_CALL_FREE, .flags = TQ_EV_INFO, .t_ns = 11 + 2 * (uint64_t)i,
                             .size = alloc[i].size, .stack_id = alloc[i].stack_id, .seq = 2 * (uint64_t)i + 1};
        if (i < B / 2)
            free1[i] = f;
        else
            free2[i - B / 2] = f;
    }
    struct tq_event_match *em;
    struct tq_err err = {0};
    cr_assert_eq(tq_event_match_new(&em, &err), TQ_OK);
    tq_event_match_begins_at(em, 0);
    static struct tq_pack_ctx c1, c2;
    tq_pack_ctx_init(&c1);
    tq_pack_ctx_init(&c2);
    struct {
        const struct tq_event *ev;
        size_t n;
        uint32_t ctx, tid;
        struct tq_pack_ctx *c;
    } order[] = {{free1, B / 2, 2, 2, &c2}, {alloc, B, 1, 1, &c1}, {free2, B / 2, 2, 2, &c2}};
    int64_t live = 0, released = 0, allocated = 0, low = 0;
    for (size_t r = 0; r < 3; r++) {
        size_t n = tq_rec_put_ctx_events(buf, sizeof buf, order[r].ctx, order[r].tid, order[r].ev, order[r].n,
                                         order[r].c, r < 2);
        cr_assert_gt(n, 0);
        struct tq_rec rec = rec_of(buf, n);
        const struct tq_matched_event *m;
        uint32_t mn;
        cr_assert_eq(tq_event_match_record(em, "test", &rec, &m, &mn, &err), TQ_OK, "%s", err.msg);
        for (int finished = 0; mn || (r == 2 && !finished);) { /* this record's batches; after the last, the rest */
            if (!mn) {
                cr_assert_eq(tq_event_match_finish(em, "test", &m, &mn, &err), TQ_OK, "%s", err.msg);
                finished = 1;
                if (!mn)
                    break;
            }
            for (uint32_t i = 0; i < mn; i++) {
                if (m[i].released) {
                    live--;
                    released++;
                }
                if (m[i].ev.kind == TQ_CALL_MALLOC) {
                    cr_assert_neq(m[i].ev.addr, 0, "the replay sees a key for an allocation named by info");
                    live++;
                    allocated++;
                }
                low = live < low ? live : low;
            }
            cr_assert_eq(tq_event_match_more(em, &m, &mn, &err), TQ_OK, "%s", err.msg);
        }
    }
    cr_expect_eq(allocated, B);
    cr_expect_eq(released, B, "%lld of %d blocks released", (long long)released, B);
    cr_expect_eq(live, 0, "false leaks: %lld", (long long)live);
    cr_expect_eq(low, 0, "a block released before its allocation");
    tq_event_match_free(em);
}

/* `report --json` of the trace at path (top 50 sites, leaks, temporaries) without what differs between two runs of
 * the program (times, pid, RSS), as text. */
static char *report_of(const char *path)
{
    char cmd[8400], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s report --json --leaks --temporary --top 50 %s", tq_build_path("traceq"), path);
    cr_assert_eq(tq_run(cmd, &out, NULL), 0, "%s", cmd);
    json_error_t je;
    json_t *root = json_loads(out, 0, &je);
    cr_assert_not_null(root, "%s", je.text);
    free(out);
    json_t *t = json_array_get(json_object_get(root, "traces"), 0), *keep = json_object();
    /* (not "events", the count of event records: by address, each realloc has its old block's FREE too, 1.10) */
    static const char *const keys[] = {"top", "leaks", "temporary", "calls", "peak_heap", "final_heap"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        json_t *v = json_object_get(t, keys[i]);
        cr_assert_not_null(v, "no %s", keys[i]);
        json_object_set(keep, keys[i], v);
    }
    json_object_del(json_object_get(keep, "top"), "peak_t_ns");
    char *s = json_dumps(keep, JSON_SORT_KEYS | JSON_INDENT(1));
    json_decref(keep);
    json_decref(root);
    return s;
}

/* The heap frees of the trace at path named by info (*info) and by address (*addr). */
static void count_frees(const char *path, uint64_t *info, uint64_t *addr)
{
    struct tq_trace_reader *r;
    struct tq_err err = {0};
    cr_assert_eq(tq_trace_open(path, &r, &err), TQ_OK, "%s", err.msg);
    struct tq_event_ctxs ctxs = {0};
    struct tq_rec rec;
    bool done = false;
    *info = *addr = 0;
    while (tq_trace_next(r, &rec, &done, &err) == TQ_OK && !done) {
        if (!TQ_REC_HAS_EVENTS(rec.type))
            continue;
        struct tq_rec_events e;
        struct tq_events_iter it;
        struct tq_event ev;
        cr_assert_eq(tq_event_ctxs_open(&ctxs, path, &rec, &e, &it, &err), TQ_OK, "%s", err.msg);
        int got;
        while ((got = tq_events_next(&it, &ev)) == 1)
            if (ev.kind == TQ_CALL_FREE)
                ++*(ev.flags & TQ_EV_INFO ? info : addr);
        cr_assert_eq(got, 0);
    }
    cr_assert(done, "%s", err.msg);
    tq_event_ctxs_clear(&ctxs);
    tq_trace_close(r);
}

static char *folded_of(const char *path)
{
    char cmd[8400], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s export --format folded %s", tq_build_path("traceq"), path);
    cr_assert_eq(tq_run(cmd, &out, NULL), 0, "%s", cmd);
    return out;
}

Test(info_events, a_program_reports_the_same_with_blocks_named_by_info_or_by_address, .timeout = 120)
{
    char *d = tq_tmpdir(), args[4200], sub[2][4300];
    snprintf(args, sizeof args, "%s 10", tq_build_path("progs/info_mix"));
    char *trace[2], *rep[2], *folded[2];
    uint64_t n[2][32];
    for (int by_addr = 0; by_addr < 2; by_addr++) {
        snprintf(sub[by_addr], sizeof sub[by_addr], "%s/%d", d, by_addr);
        cr_assert_eq(mkdir(sub[by_addr], 0700), 0);
        setenv("TRACEQ_FREE_BY_ADDR", by_addr ? "1" : "0", 1);
        cr_assert_eq(shim_record_opts(sub[by_addr], "--stacks", args, NULL), 0);
        trace[by_addr] = shim_one_trace(sub[by_addr], "info_mix", 0);
        shim_disk_types(trace[by_addr], n[by_addr]);
        rep[by_addr] = report_of(trace[by_addr]);
        folded[by_addr] = folded_of(trace[by_addr]);
    }
    unsetenv("TRACEQ_FREE_BY_ADDR");
    cr_expect_gt(n[0][TQ_REC_INFO_EVENTS] + n[0][TQ_REC_REPEAT_EVENTS], 0, "blocks named by info");
    cr_expect_eq(n[1][TQ_REC_INFO_EVENTS] + n[1][TQ_REC_REPEAT_EVENTS], 0,
                 "TRACEQ_FREE_BY_ADDR=1: every block by address");
    cr_expect_gt(n[1][TQ_REC_CTX_EVENTS], 0);
    uint64_t info, addr;
    count_frees(trace[0], &info, &addr);
    /* about 14 of 16 sizes have room for a small stack id, the rest (slack 1 or 2) are named by address */
    cr_expect(info > 4 * addr && addr > 0, "%llu frees by info, %llu by address", (unsigned long long)info,
              (unsigned long long)addr);
    count_frees(trace[1], &info, &addr);
    cr_expect(info == 0 && addr > 0);
    cr_expect_str_eq(rep[0], rep[1], "report by info:\n%s\nby address:\n%s", rep[0], rep[1]);
    cr_expect_str_eq(folded[0], folded[1]);
    json_t *r0 = json_loads(rep[0], 0, NULL);
    cr_assert_not_null(r0);
    /* about 1900 of the 2000 slots hold a block at the end, half of them freed; leak() adds 2 */
    long long leaked = (long long)json_integer_value(json_object_get(json_object_get(r0, "leaks"), "leaked_blocks"));
    cr_expect(leaked > 800 && leaked < 1100, "%lld blocks leaked", leaked);
    json_decref(r0);
    for (int i = 0; i < 2; i++) {
        free(trace[i]);
        free(rep[i]);
        free(folded[i]);
    }
    tq_rmtree(d);
    free(d);
}

/* A report_of text without its count of event records (they follow the flushes' timing, which differs from run to
 * run: alloc_loop's events fill a few records). */
static char *without_records(char *rep)
{
    json_t *root = json_loads(rep, 0, NULL);
    cr_assert_not_null(root);
    json_object_del(root, "events");
    char *s = json_dumps(root, JSON_SORT_KEYS | JSON_INDENT(1));
    json_decref(root);
    free(rep);
    return s;
}

/* REPEAT_EVENTS (FORMAT.md 21) from the shim: a program that allocates the same 4 KiB block from the same place over
 * and over (tests/progs/alloc_loop.c) has its events repeat their (kind, size, stack) in one byte; its report (sites,
 * peak, leaks, temporaries) and folded export are those of the same run with every block named by address. */
Test(info_events, repeated_tuples_report_the_same_as_blocks_named_by_address, .timeout = 120)
{
    char *d = tq_tmpdir(), args[4200], sub[2][4300];
    snprintf(args, sizeof args, "%s - 4 0 8 0", tq_build_path("progs/alloc_loop"));
    char *trace[2], *rep[2], *folded[2];
    uint64_t n[2][32];
    for (int by_addr = 0; by_addr < 2; by_addr++) {
        snprintf(sub[by_addr], sizeof sub[by_addr], "%s/%d", d, by_addr);
        cr_assert_eq(mkdir(sub[by_addr], 0700), 0);
        setenv("TRACEQ_FREE_BY_ADDR", by_addr ? "1" : "0", 1);
        cr_assert_eq(shim_record_opts(sub[by_addr], "--stacks", args, NULL), 0);
        trace[by_addr] = shim_one_trace(sub[by_addr], "alloc_loop", 0);
        shim_disk_types(trace[by_addr], n[by_addr]);
        rep[by_addr] = without_records(report_of(trace[by_addr]));
        folded[by_addr] = folded_of(trace[by_addr]);
    }
    unsetenv("TRACEQ_FREE_BY_ADDR");
    cr_expect_gt(n[0][TQ_REC_REPEAT_EVENTS], 0, "repeated (kind, size, stack) events in one byte");
    cr_expect_eq(n[1][TQ_REC_INFO_EVENTS] + n[1][TQ_REC_REPEAT_EVENTS], 0,
                 "TRACEQ_FREE_BY_ADDR=1: every block by address");
    cr_expect_str_eq(rep[0], rep[1], "report by info:\n%s\nby address:\n%s", rep[0], rep[1]);
    cr_expect_str_eq(folded[0], folded[1]);
    for (int i = 0; i < 2; i++) {
        free(trace[i]);
        free(rep[i]);
        free(folded[i]);
    }
    tq_rmtree(d);
    free(d);
}
