/* snapshot.c - record --snapshot-at: note the first time the process's memory reaches a threshold and write a
 * SNAPSHOT record then (traces/FORMAT.md), after every thread's buffered events, so that a replay up to it has the
 * live heap by site at that moment.
 *
 * Two cheap checks, no allocation: the heap hooks compare the live heap + mmap bytes against a precomputed
 * threshold only when they raise the heap peak (tq_counters_raise: rare), and the sampler compares each sample's
 * statm figure (VmSize for an RLIMIT_AS limit, VmRSS otherwise) with the threshold. The first that fires asks;
 * the record is written under the session lock by the next sample. */
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "../traces/mem_limit.h"
#include "session.h"

_Atomic int64_t tq_snap_heap_threshold = INT64_MAX; /* live heap + mmap that means "crossed" (shim.h) */

static struct {
    _Atomic int state;  /* 0 off, 1 armed, 4 being asked, 2 asked (value/t set), 3 written */
    uint64_t threshold, limit;
    unsigned kind, permille;
    int use_vmsize;     /* RLIMIT_AS: the measure is VmSize, else VmRSS */
    int64_t base;       /* that measure less heap and mmap bytes, when armed */
    _Atomic uint64_t value, t_ns;
} snap;

void tq_snapshot_init(void)
{
    const struct tq_settings *s = &tq_sess.set;
    if (!s->snapshot_permille && !s->snapshot_bytes)
        return;
    uint64_t limit = 0;
    unsigned kind = TQ_SNAP_ABSOLUTE;
    if (s->snapshot_permille) {
        if (tq_mem_limit(&limit, &kind)) {
            tq_session_say("TRACEQ_SNAPSHOT_AT=%u.%u%%: no memory limit is known (cgroup memory.max, "
                           "memory.limit_in_bytes, RLIMIT_AS); no snapshot", s->snapshot_permille / 10,
                           s->snapshot_permille % 10);
            return;
        }
        snap.threshold = limit / 1000 * s->snapshot_permille + limit % 1000 * s->snapshot_permille / 1000;
    } else {
        snap.threshold = s->snapshot_bytes;
    }
    snap.limit = limit;
    snap.kind = kind;
    snap.permille = s->snapshot_permille;
    snap.use_vmsize = kind == TQ_SNAP_RLIMIT_AS;
    tq_snapshot_rearm();
}

void tq_snapshot_rearm(void)
{
    if (!snap.threshold)
        return;
    /* What is not heap or the program's mmaps (code, libraries, stacks) is about what the process has now:
     * the heap check fires when the heap brings the whole to the threshold. */
    char buf[128];
    uint64_t size = 0, rss = 0;
    ssize_t got = tq_sess.statm_fd >= 0 ? pread(tq_sess.statm_fd, buf, sizeof buf - 1, 0) : -1;
    if (got > 0) {
        buf[got] = 0;
        const char *p = buf;
        while (*p >= '0' && *p <= '9')
            size = size * 10 + (uint64_t)(*p++ - '0');
        while (*p == ' ')
            p++;
        while (*p >= '0' && *p <= '9')
            rss = rss * 10 + (uint64_t)(*p++ - '0');
    }
    int64_t base = (int64_t)((snap.use_vmsize ? size : rss) * (uint64_t)tq_sess.page) -
                   atomic_load(&tq_totals.live_use) - atomic_load(&tq_totals.live_mmap);
    if (base < 0)
        base = 0;
    snap.base = base;
    atomic_store(&snap.state, 1);
    atomic_store(&tq_snap_heap_threshold,
                 (int64_t)snap.threshold > base ? (int64_t)snap.threshold - base : 0);
}

void tq_snapshot_ask(int64_t heap_and_mmap)
{
    int armed = 1;
    if (!atomic_compare_exchange_strong(&snap.state, &armed, 4)) /* 4: this thread fills value and t_ns */
        return;
    atomic_store(&tq_snap_heap_threshold, INT64_MAX);
    atomic_store(&snap.value, (uint64_t)(heap_and_mmap + snap.base));
    atomic_store(&snap.t_ns, tq_now_ns());
    atomic_store(&snap.state, 2);
}

void tq_snapshot_sample_locked(const struct tq_rec_sample *s)
{
    int st = atomic_load(&snap.state);
    if (st == 1 && (snap.use_vmsize ? s->vm_size : s->vm_rss) >= snap.threshold) {
        int armed = 1;
        if (atomic_compare_exchange_strong(&snap.state, &armed, 4)) {
            atomic_store(&tq_snap_heap_threshold, INT64_MAX);
            atomic_store(&snap.value, snap.use_vmsize ? s->vm_size : s->vm_rss);
            atomic_store(&snap.t_ns, tq_sess.t0 + s->t_ns);
            atomic_store(&snap.state, 2);
        }
        st = atomic_load(&snap.state);
    }
    if (st != 2 || tq_sess.finished)
        return;
    tq_stacks_flush_locked(); /* every event before the crossing goes before the record */
    uint64_t t = atomic_load(&snap.t_ns);
    struct tq_rec_snapshot r = {.t_ns = t > tq_sess.t0 ? t - tq_sess.t0 : 0,
                                .threshold = snap.threshold,
                                .limit = snap.limit,
                                .limit_kind = snap.kind,
                                .permille = snap.permille,
                                .value = atomic_load(&snap.value),
                                .heap_live = (uint64_t)atomic_load(&tq_totals.live_req)};
    uint8_t rec[TQ_REC_HEADER_SIZE + 64];
    size_t n = tq_rec_put_snapshot(rec, sizeof rec, &r);
    if (n)
        tq_writer_append(&tq_sess.w, rec, n);
    tq_writer_flush(&tq_sess.w); /* on disk at once: the process may be killed next */
    atomic_store(&snap.state, 3);
    tq_session_say("memory reached %llu bytes: snapshot written", (unsigned long long)r.value);
}
