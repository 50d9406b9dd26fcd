/* counters.c - the shim's lock-free counters: per-thread deltas published into shared atomic totals. */
#include <pthread.h>
#include <string.h>

#include "shim.h"

__thread struct tq_thread tq_self;
struct tq_totals tq_totals;
union tq_mode tq_mode;
_Atomic uint8_t tq_fast_ok;

static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;
static int exit_key_ok;

int64_t tq_counters_raise(_Atomic int64_t *peak, int64_t cand)
{
    int64_t cur = atomic_load_explicit(peak, memory_order_relaxed);
    while (cand > cur && !atomic_compare_exchange_weak_explicit(peak, &cur, cand, memory_order_relaxed,
                                                                memory_order_relaxed))
        ;
    return cand > cur ? cand : cur;
}

/* Set both peaks to at least this thread's view of the live totals, and its marks below them (the rooms follow). */
static void raise_both(struct tq_thread *t)
{
    int64_t req = tq_pend_req(t), use = tq_pend_use(t);
    t->mark_req = tq_counters_raise(&tq_totals.peak_req, t->base_req + req) - t->base_req;
    t->mark_use = tq_counters_raise(&tq_totals.peak_use, t->base_use + use) - t->base_use;
    t->hi_use = t->mark_use < TQ_PUBLISH_BYTES ? t->mark_use : TQ_PUBLISH_BYTES;
    tq_pend_set(t, req, use);
    tq_snapshot_check(t->base_use + use + atomic_load_explicit(&tq_totals.live_mmap, memory_order_relaxed));
}

void tq_counters_raise_mine(void)
{
    raise_both(&tq_self);
}

void tq_counters_publish(void)
{
    struct tq_thread *t = &tq_self;
    if (!t->registered && !t->guard)
        tq_counters_register_thread();
    int64_t req = tq_pend_req(t), use = tq_pend_use(t);
    t->base_req = atomic_fetch_add_explicit(&tq_totals.live_req, req, memory_order_relaxed) + req;
    t->base_use = atomic_fetch_add_explicit(&tq_totals.live_use, use, memory_order_relaxed) + use;
    tq_pend_set(t, 0, 0);
    raise_both(t);
    t->pend_calls[TQ_CALL_MALLOC] += (uint32_t)(t->fast_from[0] - t->fast_left[0]);
    t->pend_calls[TQ_CALL_FREE] += (uint32_t)(t->fast_from[1] - t->fast_left[1]);
    for (unsigned i = 0; i < TQ_CALL_COUNT; i++)
        if (t->pend_calls[i]) {
            atomic_fetch_add_explicit(&tq_totals.calls[i], t->pend_calls[i], memory_order_relaxed);
            t->pend_calls[i] = 0;
        }
    /* an unregistered thread (only inside the shim: guard up) publishes again at its next call */
    t->calls_left = t->registered ? TQ_PUBLISH_CALLS : 0;
    /* the fast path's counts, which also shut it (< 0 on the first call) when it may not run */
    int32_t fast = t->registered && t->fast ? TQ_PUBLISH_CALLS / 2 : 0;
    fast -= TQ_FAST_SHUT * (int32_t)t->guard;
    t->fast_left[0] = t->fast_left[1] = t->fast_from[0] = t->fast_from[1] = fast;
}

void *tq_counters_settle(void *p)
{
    struct tq_thread *t = &tq_self;
    if (t->room_req < 0 || tq_pend_use(t) > t->mark_use)
        raise_both(t);
    if (t->calls_left < 0 || t->fast_left[0] < 0 || t->fast_left[1] < 0 ||
        (uint64_t)(tq_pend_use(t) + TQ_PUBLISH_BYTES) > 2 * (uint64_t)TQ_PUBLISH_BYTES)
        tq_counters_publish();
    else
        tq_pend_set(t, tq_pend_req(t), tq_pend_use(t)); /* room_lo again (the others are unchanged) */
    return p;
}

/* TSD destructor: the thread is exiting. Clearing `registered` lets a later free() in another destructor
 * register again, and glibc then runs this once more (PTHREAD_DESTRUCTOR_ITERATIONS). */
static void thread_exit(void *arg)
{
    (void)arg;
    tq_guard_up();
    tq_self.registered = 0;
    tq_counters_publish();
    tq_self.registered = 0;
    tq_guard_down();
}

static void exit_key_create(void)
{
    exit_key_ok = pthread_key_create(&exit_key, thread_exit) == 0;
}

void tq_counters_register_thread(void)
{
    tq_guard_up();
    tq_self.registered = 1; /* set first: pthread_setspecific must not recurse into here */
    pthread_once(&exit_key_once, exit_key_create);
    if (exit_key_ok)
        pthread_setspecific(exit_key, (void *)1);
    tq_guard_down();
}

void tq_counters_reset_for_child(void)
{
    struct tq_thread *t = &tq_self;
    memset(t->pend_calls, 0, sizeof t->pend_calls);
    t->fast_left[0] = t->fast_from[0];
    t->fast_left[1] = t->fast_from[1];
    for (unsigned i = 0; i < TQ_CALL_COUNT; i++)
        atomic_store_explicit(&tq_totals.calls[i], 0, memory_order_relaxed);
    tq_counters_publish();
    atomic_store_explicit(&tq_totals.peak_req, atomic_load(&tq_totals.live_req), memory_order_relaxed);
    atomic_store_explicit(&tq_totals.peak_use, atomic_load(&tq_totals.live_use), memory_order_relaxed);
    atomic_store_explicit(&tq_totals.peak_mmap, atomic_load(&tq_totals.live_mmap), memory_order_relaxed);
    int64_t req = tq_pend_req(t), use = tq_pend_use(t);
    t->mark_req = t->mark_use = t->hi_use = 0;
    tq_pend_set(t, req, use);
}
