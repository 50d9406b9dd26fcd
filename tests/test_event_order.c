/* test_event_order.c - threads' records merged into the process-wide order of their events (traces/event_order.h):
 * random interleavings come out in order, a thread running alone passes through uncopied, what is held is only what
 * waits for an earlier number (and never more than the limit plus a record), a missing number is given up past the
 * limit, at a flush's watermark or at the end, and events that come after their place was given up go out at once. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "../common/alloc.h"
#include "../traces/event_order.h"

static void *heap_zalloc(size_t n)
{
    return tq_calloc(1, n);
}

static void heap_release(void *p, size_t n)
{
    (void)n;
    free(p);
}

static const struct tq_block_mem heap = {heap_zalloc, heap_release};

static struct tq_event ev(uint64_t seq)
{
    return (struct tq_event){.kind = TQ_CALL_MALLOC, .t_ns = seq, .addr = 0x1000 + 16 * seq, .seq = seq};
}

/* Feed in[0..n) and append what comes out to got (its numbers). */
static void feed(struct tq_event_order *o, const struct tq_event *in, uint32_t n, uint64_t *got, size_t *ngot)
{
    const struct tq_event *out;
    size_t k;
    cr_assert_eq(tq_event_order_add(o, in, n, &out, &k), 0);
    for (size_t i = 0; i < k; i++) {
        cr_assert_eq(out[i].addr, 0x1000 + 16 * out[i].seq, "event %llu copied whole",
                     (unsigned long long)out[i].seq);
        got[(*ngot)++] = out[i].seq;
    }
}

static void drain(struct tq_event_order *o, uint64_t *got, size_t *ngot)
{
    const struct tq_event *out;
    size_t k;
    cr_assert_eq(tq_event_order_drain(o, &out, &k), 0);
    for (size_t i = 0; i < k; i++)
        got[(*ngot)++] = out[i].seq;
}

/* Eight threads' events (numbers dealt at random), cut into records of 1..100 events fed in a random interleaving:
 * every event comes out once, in order, as soon as every earlier one has been fed; nothing is given up. */
Test(event_order, random_interleavings_come_out_in_order)
{
    enum { THREADS = 8, N = 200000 };
    static struct tq_event th[THREADS][N];
    static uint64_t got[N];
    for (unsigned seed = 1; seed <= 3; seed++) {
        uint32_t n[THREADS] = {0}, at[THREADS] = {0};
        srand(seed);
        for (uint64_t s = 0; s < N; s++) {
            int t = rand() % THREADS;
            th[t][n[t]++] = ev(s);
        }
        struct tq_event_order o;
        tq_event_order_init(&o, &heap, TQ_EVENT_ORDER_LIMIT);
        tq_event_order_start(&o, 0);
        size_t ngot = 0, fed = 0, most_held = 0;
        while (fed < N) {
            int t = rand() % THREADS;
            uint32_t k = 1 + (uint32_t)(rand() % 100);
            if (k > n[t] - at[t])
                k = n[t] - at[t];
            if (!k)
                continue;
            feed(&o, &th[t][at[t]], k, got, &ngot);
            at[t] += k;
            fed += k;
            /* out: exactly the numbers below the first one not fed yet */
            uint64_t first_missing = UINT64_MAX;
            for (int u = 0; u < THREADS; u++)
                if (at[u] < n[u] && th[u][at[u]].seq < first_missing)
                    first_missing = th[u][at[u]].seq;
            cr_assert_eq(ngot, first_missing == UINT64_MAX ? N : first_missing, "seed %u: %zu out", seed, ngot);
            cr_assert_eq(o.held, fed - ngot);
            most_held = o.held > most_held ? o.held : most_held;
        }
        for (size_t i = 0; i < ngot; i++)
            cr_assert_eq(got[i], i, "seed %u: event %zu is %llu", seed, i, (unsigned long long)got[i]);
        cr_expect_eq(o.late, 0);
        cr_expect_eq(o.gaps, 0);
        cr_expect_gt(most_held, 100, "seed %u: records were hardly out of order", seed);
        tq_event_order_free(&o);
    }
}

/* A thread running alone: each record's events are the next numbers, given out as they are (not copied). */
Test(event_order, a_thread_alone_passes_through)
{
    static struct tq_event in[3000];
    for (uint64_t s = 0; s < 3000; s++)
        in[s] = ev(500 + s);
    struct tq_event_order o;
    tq_event_order_init(&o, &heap, TQ_EVENT_ORDER_LIMIT);
    const struct tq_event *out;
    size_t k;
    for (int r = 0; r < 3; r++) { /* no start given: the first record starts the order (a fork child's trace) */
        cr_assert_eq(tq_event_order_add(&o, &in[1000 * r], 1000, &out, &k), 0);
        cr_assert_eq(out, &in[1000 * r], "record %d was copied", r);
        cr_assert_eq(k, 1000);
    }
    cr_expect_eq(o.next, 3500);
    cr_expect_eq(o.out_cap, 0, "no buffer made");
    tq_event_order_free(&o);
}

/* A number that never comes (a lost record): the events behind it wait until more than the limit do, then the gap
 * is given up, and its event, if it comes after all, goes out at once ("late"). What is held never exceeds the
 * limit plus the record being fed. */
Test(event_order, a_missing_number_is_given_up_past_the_limit)
{
    enum { LIMIT = 1000 };
    static struct tq_event in[5000];
    static uint64_t got[6000];
    for (uint64_t s = 0; s < 5000; s++)
        in[s] = ev(s + 1); /* number 0 is missing */
    struct tq_event_order o;
    tq_event_order_init(&o, &heap, LIMIT);
    tq_event_order_start(&o, 0);
    size_t ngot = 0;
    for (int r = 0; r < 50; r++) {
        feed(&o, &in[100 * r], 100, got, &ngot);
        cr_assert_leq(o.held, LIMIT + 100);
        if (r < 10)
            cr_assert_eq(ngot, 0, "record %d: given out behind the missing number", r);
    }
    cr_expect_eq(ngot, 5000, "everything out once the gap was given up");
    cr_expect_eq(o.gaps, 1);
    for (size_t i = 0; i < ngot; i++)
        cr_assert_eq(got[i], i + 1);
    struct tq_event zero = ev(0);
    feed(&o, &zero, 1, got, &ngot);
    cr_expect_eq(ngot, 5001);
    cr_expect_eq(got[5000], 0);
    cr_expect_eq(o.late, 1);
    tq_event_order_free(&o);
}

/* The shim's flush: the counter stood at `below` when it began and every buffer was written since, so numbers
 * missing below it are given up (events being written then) and the events after them go out; numbers at or above
 * it still wait. At the end, drain gives out everything held, in order. */
Test(event_order, a_flush_watermark_and_the_end_give_out_what_waits)
{
    struct tq_event a[] = {ev(1), ev(2), ev(5)}, b[] = {ev(7), ev(8)};
    uint64_t got[16];
    size_t ngot = 0;
    struct tq_event_order o;
    tq_event_order_init(&o, &heap, TQ_EVENT_ORDER_LIMIT);
    tq_event_order_start(&o, 0);
    feed(&o, a, 3, got, &ngot);
    feed(&o, b, 2, got, &ngot);
    cr_assert_eq(ngot, 0, "0 is missing");
    const struct tq_event *out;
    size_t k;
    cr_assert_eq(tq_event_order_release_below(&o, 4, &out, &k), 0);
    cr_assert_eq(k, 2, "1 and 2 (0 given up); 5 waits for 3 and 4");
    cr_expect(out[0].seq == 1 && out[1].seq == 2);
    cr_assert_eq(tq_event_order_release_below(&o, 4, &out, &k), 0);
    cr_expect_eq(k, 0);
    struct tq_event c[] = {ev(3), ev(4)};
    feed(&o, c, 2, got, &ngot);
    cr_assert_eq(ngot, 3, "3, 4, 5; 7 waits for 6");
    cr_expect(got[0] == 3 && got[1] == 4 && got[2] == 5);
    drain(&o, got, &ngot);
    cr_assert_eq(ngot, 5);
    cr_expect(got[3] == 7 && got[4] == 8);
    cr_expect_eq(o.held, 0);
    cr_expect_eq(o.gaps, 2);
    tq_event_order_reset(&o, 100); /* a fork child: starts again at its counter */
    feed(&o, b, 2, got, &ngot);
    cr_expect_eq(ngot, 7, "numbers before the start are late: out at once");
    cr_expect_eq(o.late, 2);
    tq_event_order_free(&o);
}
