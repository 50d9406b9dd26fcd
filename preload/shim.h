/* shim.h - the inside of libtraceq.so: per-thread state, lock-free counters, and the session (trace) entry points. */
#ifndef TQ_SHIM_H
#define TQ_SHIM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "../traces/block_match.h"
#include "../traces/codec.h"
#include "../traces/event_order.h"

/* Counter deltas a thread keeps to itself before adding them to the shared totals: sharing a cache line on
 * every call would cost far more than the 15% overhead budget (issue 3 benchmark). */
#define TQ_PUBLISH_BYTES (64 << 10)
#define TQ_PUBLISH_CALLS 1024

/* Per-thread state (initial-exec TLS: no allocation, no lock on first touch from inside malloc). The hot path reads
 * and writes only this and one flag: no atomics, no shared cache line (the totals are touched once per publish). */
struct tq_thread {
    union {
        struct {
            int16_t guard; /* > 0 while the shim itself runs: its own allocations are not counted */
            uint16_t fast; /* the heap hooks' fast path may run in this thread (tq_fast_open) */
        };
        uint32_t gate; /* both: gate == TQ_GATE_FAST (guard down, fast set) when the fast path may run */
    };
    int registered;     /* a TSD destructor will publish this thread's deltas when it exits */
    int32_t calls_left; /* calls until the next publish; 0 in a new thread (TLS starts zeroed), so its first call
                         * publishes, which registers the thread */
    int32_t fast_left[2]; /* the heap hooks' fast path counts its mallocs [0] and frees [1] down from fast_from[k]
                           * instead of adding to pend_calls and calls_left (near the fields it reads): below 0, it
                           * settles. Also the fast path's gate: >= 0 only while it may run (guard down, fast set,
                           * registered), since the publish sets it so and tq_guard_up shifts it by -TQ_FAST_SHUT */
    /* The unpublished heap deltas (pend_req, pend_use: tq_pend_req/tq_pend_use) are kept as the room left below
     * the bounds the heap hooks compare them with, so that the fast path updates and tests each in one
     * instruction (a subtract from memory, then the sign): */
    int64_t room_req; /* mark_req - pend_req: < 0 when pend_req may be a new peak */
    int64_t room_hi;  /* hi_use - pend_use: < 0 when pend_use may be a new peak or is due to be published */
    int64_t room_lo;  /* pend_use + TQ_PUBLISH_BYTES: < 0 when the frees are due to be published. A copy kept for
                       * free's one-instruction test (room_hi is the one read back): 0 in a new thread, whose
                       * first fast call settles anyway (fast_from) */
    int64_t base_req, base_use;            /* shared live totals right after this thread's last publish */
    int64_t mark_req, mark_use;            /* shared peaks as this thread last saw them, minus base: pending
                                            * deltas above a mark may be a new peak (pend <= mark otherwise) */
    int64_t hi_use;                        /* min(mark_use, TQ_PUBLISH_BYTES): the one bound the heap hooks' fast
                                            * path compares pend_use with (above it: a peak, or time to publish) */
    uint32_t pend_calls[TQ_CALL_COUNT];
    int32_t fast_from[2]; /* what fast_left[k] was at the last publish (0 in a new thread, so its first fast call
                           * settles, which publishes and registers the thread) */
};

extern __thread struct tq_thread tq_self;

/* This thread's unpublished heap deltas (all zero in a new thread: TLS starts zeroed). */
static inline int64_t tq_pend_req(const struct tq_thread *t)
{
    return t->mark_req - t->room_req;
}
static inline int64_t tq_pend_use(const struct tq_thread *t)
{
    return t->hi_use - t->room_hi;
}
/* Set the deltas to (req, use) under the current mark_req and hi_use (call again after changing either). */
static inline void tq_pend_set(struct tq_thread *t, int64_t req, int64_t use)
{
    t->room_req = t->mark_req - req;
    t->room_hi = t->hi_use - use;
    t->room_lo = use + TQ_PUBLISH_BYTES;
}

/* Shared totals; each on its own cache line. */
struct tq_totals {
    _Alignas(64) _Atomic int64_t live_req;
    _Alignas(64) _Atomic int64_t live_use;
    _Alignas(64) _Atomic int64_t peak_req;
    _Alignas(64) _Atomic int64_t peak_use;
    _Alignas(64) _Atomic int64_t live_mmap;
    _Atomic int64_t peak_mmap;
    _Alignas(64) _Atomic uint64_t calls[TQ_CALL_COUNT];
};
extern struct tq_totals tq_totals;
/* What the hooks do beyond counting; both set once in the constructor. any == 0: plain counting, where the heap
 * hooks have a fast path (tq_fast_ok). */
union tq_mode {
    struct {
        uint8_t off;    /* the shim is inert (TRACEQ_ENABLED=0, AT_SECURE, unknown heap layout): nothing is counted */
        uint8_t stacks; /* record --stacks: per-allocation events (stacks.c) */
    };
    uint16_t any;
};
extern union tq_mode tq_mode;

/* tq_thread.gate with guard 0 and fast 1. */
#define TQ_GATE_FAST (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? (uint32_t)1 << 16 : (uint32_t)1)
/* Set at the end of the constructor when it chose plain counting (tq_mode.any == 0, for good): from then on a
 * thread's heap hooks may open its fast path. Threads start with it closed (TLS starts zeroed), so whatever they
 * do before the constructor has decided goes through the general path. */
extern _Atomic uint8_t tq_fast_ok;

/* Whatever the shim does in a thread of the program goes between tq_guard_up and tq_guard_down (the guard counts
 * the nesting): its own allocations are then not counted, and the heap hooks' fast path, which tests only its call
 * count (fast_left), finds it shut: both counts and their starts are shifted down by TQ_FAST_SHUT per level (the
 * counts of calls made, fast_from - fast_left, stay as they were). The guard goes up first and down last, so that a
 * signal handler's malloc in between sees a shut fast path or a raised guard, never an open path that a publish
 * would then reopen too far. (The sampler thread raises its guard for good at its start; --stacks code, where the
 * fast path never opens, may raise it directly.) */
#define TQ_FAST_SHUT (1 << 20)
static inline void tq_fast_shift(struct tq_thread *t, int32_t d)
{
    t->fast_left[0] += d;
    t->fast_left[1] += d;
    t->fast_from[0] += d;
    t->fast_from[1] += d;
}
/* (The fences also keep gcc from cancelling the two shifts around a malloc/free pair between them: it takes the
 * builtin malloc and free to leave all other memory alone.) */
static inline void tq_guard_up(void)
{
    struct tq_thread *t = &tq_self;
    t->guard++;
    atomic_signal_fence(memory_order_seq_cst);
    tq_fast_shift(t, -TQ_FAST_SHUT);
    atomic_signal_fence(memory_order_seq_cst);
}
static inline void tq_guard_down(void)
{
    struct tq_thread *t = &tq_self;
    atomic_signal_fence(memory_order_seq_cst);
    tq_fast_shift(t, TQ_FAST_SHUT);
    atomic_signal_fence(memory_order_seq_cst);
    t->guard--;
}

/* From the heap hooks' general path: later calls of this thread may take the fast path (if tq_fast_ok), from its
 * next publish on. */
static inline void tq_fast_open(void)
{
    struct tq_thread *t = &tq_self;
    if (atomic_load_explicit(&tq_fast_ok, memory_order_relaxed) && !t->guard)
        t->fast = 1;
}

/* Add this thread's pending deltas to the shared totals. Can't fail. */
void tq_counters_publish(void);
/* Raise a shared peak to at least cand; returns the peak as it is now. Can't fail. */
int64_t tq_counters_raise(_Atomic int64_t *peak, int64_t cand);
/* This thread's view of the live heap passed a shared peak it knew (pend > mark): raise the peaks. Can't fail. */
void tq_counters_raise_mine(void);
/* Make this thread publish when it exits (pthread key destructor). Can't fail (silently skipped). */
void tq_counters_register_thread(void);
/* Zero the call counts and set peaks to the live values (a fork child starts its own trace). Can't fail. */
void tq_counters_reset_for_child(void);
/* The heap hooks' fast path added its deltas and found a room negative (pend_use above hi_use, pend_req above
 * mark_req, or pend_use below -TQ_PUBLISH_BYTES) or a fast_left count negative: raise the peaks and publish as
 * tq_count_heap/tq_count_call would have. Returns p (so that malloc can end with it). Can't fail. */
void *tq_counters_settle(void *p);

static inline int tq_counting(void)
{
    return !tq_self.guard && !tq_mode.off;
}

static inline void tq_count_call(enum tq_call c)
{
    struct tq_thread *t = &tq_self;
    t->pend_calls[c]++;
    if (__builtin_expect(--t->calls_left < 0, 0))
        tq_counters_publish();
}

/* Heap bytes came (d > 0) or went (d < 0). The peak is checked against this thread's view of the live total,
 * which is exact when one thread allocates and within TQ_PUBLISH_BYTES per other thread otherwise. */
static inline void tq_count_heap(int64_t dreq, int64_t duse)
{
    struct tq_thread *t = &tq_self;
    int64_t req = tq_pend_req(t) + dreq, use = tq_pend_use(t) + duse;
    tq_pend_set(t, req, use);
    if (__builtin_expect(req > t->mark_req || use > t->mark_use, 0))
        tq_counters_raise_mine();
    if (__builtin_expect((uint64_t)(use + TQ_PUBLISH_BYTES) > 2 * (uint64_t)TQ_PUBLISH_BYTES, 0))
        tq_counters_publish();
}

/* ---- record --snapshot-at (snapshot.c) ---- */

/* Live heap (usable) + mmap bytes at which the snapshot is due; INT64_MAX when none is (off, or done). */
extern _Atomic int64_t tq_snap_heap_threshold;
/* The heap + mmap figure reached the threshold: ask for the snapshot (once). No allocation, no lock. */
void tq_snapshot_ask(int64_t heap_and_mmap);
/* At start (constructor, after the trace is open): resolve TRACEQ_SNAPSHOT_AT against the process's limit. */
void tq_snapshot_init(void);
/* Arm again from the current figures (start, or a fork child's new trace). Can't fail. */
void tq_snapshot_rearm(void);
struct tq_rec_sample;
/* With every sample (session lock held): compare its statm figure; write the SNAPSHOT record when one is due. */
void tq_snapshot_sample_locked(const struct tq_rec_sample *s);

/* The cheap check, made only where a peak is raised. */
static inline void tq_snapshot_check(int64_t heap_and_mmap)
{
    if (__builtin_expect(heap_and_mmap >= atomic_load_explicit(&tq_snap_heap_threshold, memory_order_relaxed), 0))
        tq_snapshot_ask(heap_and_mmap);
}

/* mmap bytes came or went: rare and expensive calls, so straight to the shared totals. */
static inline void tq_count_mmap(int64_t d)
{
    int64_t now = atomic_fetch_add_explicit(&tq_totals.live_mmap, d, memory_order_relaxed) + d;
    if (d > 0) {
        tq_counters_raise(&tq_totals.peak_mmap, now);
        tq_snapshot_check(now + atomic_load_explicit(&tq_totals.live_use, memory_order_relaxed));
    }
}

/* ---- record --stacks (stacks.c) ---- */


/* libunwind's code range, set at start in stacks mode (0..0 otherwise). */
extern uintptr_t tq_unwinder_lo, tq_unwinder_hi;

/* True when an mmap-family hook was called from libunwind (ret = the hook's return address): the shim's own
 * unwinder releasing its cache, not the program. Can't fail. */
static inline int tq_stacks_unwinder_call(const void *ret)
{
    return __builtin_expect(tq_mode.stacks, 0) && (uintptr_t)ret >= tq_unwinder_lo && (uintptr_t)ret < tq_unwinder_hi;
}

/* One allocation event of the program (guard down): kind is a CALLS index, addr the block (or the address
 * released), size the requested bytes, old_addr the old block of realloc/mremap. with_stack: unwind the caller
 * (allocations) or not (frees). Can't fail (an event that cannot be recorded is dropped). */
void tq_stacks_event(unsigned kind, const void *addr, uint64_t size, const void *old_addr, int with_stack);
/* tq_stacks_event(kind, p, size, old_addr, 1) for a new heap block p, returning p: the heap hooks call it in tail
 * position (`return tq_stacks_took(...)`), so that its frame replaces theirs and libunwind has one frame of the shim
 * to step over instead of three or four (tq_mode.stacks checked by the caller). Can't fail. */
void *tq_stacks_took(unsigned kind, void *p, uint64_t size, const void *old_addr, uint64_t old_size,
                     uint32_t old_info);
/* old_info != 0: realloc's old block old_addr was info-tagged (its stack id | its thread's mark << 24, hooks_heap.c),
 * with a request of old_size bytes (its event names it so, FORMAT.md 20); or old_info is TQ_OLD_FREED (old_addr
 * NULL): the old block's FREE event was recorded before glibc's realloc (TQ_EV_OLD_FREED). A new heap block whose
 * tail has room gets its stack id there (tq_heap_tag_info) and its event names it by (size, stack). */
#define TQ_OLD_FREED (1u << 31)
/* The free of p, an info-tagged block of size requested bytes (info as old_info above). Can't fail. */
void tq_stacks_free_info(const void *p, uint64_t size, uint32_t info);
/* Set up (aggregate != 0: per-stack totals instead of events; sample_bytes != 0: record one heap allocation per
 * that many bytes on average, chosen by a Poisson process over bytes; python_frames == 0: native frames only, even in
 * a CPython process). Called once from the constructor. */
void tq_stacks_init(int aggregate, unsigned long sample_bytes, int python_frames);
/* Write the module map (at trace start). Session lock held. Can't fail. */
void tq_stacks_start_locked(void);
/* Hand every thread's buffered events (or the changed aggregates) to the writer; a new module snapshot first if
 * something was loaded. Session lock held. Can't fail. */
void tq_stacks_flush_locked(void);
/* In a fork child: forget the parent's stack ids and buffers (the child's trace interns its own). Can't fail. */
void tq_stacks_reset_child(void);

/* record --stacks' own stack walker (unwind.c): per return address, how to find its caller's frame. */
struct tq_unwind_rule {
    uint64_t ip;       /* return address - 1; 0 in a free slot */
    int32_t cfa_off;   /* CFA = (cfa_rbp ? rbp : rsp) + cfa_off; the return address is at CFA - 8 */
    int16_t rbp_off;   /* the caller's rbp is at CFA + rbp_off, or INT16_MIN: it is this frame's */
    uint8_t kind;      /* 0 free, else standard, last frame, or other (unw_backtrace walks such stacks) */
    uint8_t cfa_rbp;
};
#define TQ_UNWIND_RULES 2048 /* rules per table (one table per thread buffer, 32 KiB) */
struct tq_unwind_rules {
    struct tq_unwind_rule r[TQ_UNWIND_RULES];
};
/* A walk's trail: where it started, and each stack slot it read (a return address, and an rbp where the frame's rule
 * reloads it) with the value it found. A walk from the same registers that finds the same values in the same slots
 * lists the same stack (each frame's registers, hence its CFA and the slots it reads, follow from the frame below;
 * an rbp that no CFA is computed from does not matter), so its caller may reuse what it made of it: id (the
 * caller's, 0 = nothing to reuse). */
#define TQ_UNWIND_MEMO_STEPS 136
struct tq_unwind_memo {
    uint64_t rip, rsp, rbp;
    uint32_t steps;     /* frames stepped over */
    uint32_t id;
    int rbp_used;       /* a CFA was computed from the starting rbp (else it may differ) */
    struct {
        uint64_t ret_at, ret, bp_at, bp; /* bp_at 0: the rbp read there (if any) made no CFA */
    } step[TQ_UNWIND_MEMO_STEPS];
};
/* The stack above a frame whose registers are (rip = its return address, rsp, rbp), as unw_backtrace lists it from
 * there: the return addresses, at most max of them, into ips. The number of entries, or -1 when the stack has a
 * frame the walker does not handle (then call unw_backtrace). Learns the rules it lacks into t (using libunwind).
 * Leaves its trail in m unless m is NULL (max <= TQ_UNWIND_MEMO_STEPS), with m->id = 0. Guard held. */
int tq_unwind(uint64_t rip, uint64_t rsp, uint64_t rbp, uint64_t *ips, int max, struct tq_unwind_rules *t,
              struct tq_unwind_memo *m);
/* Whether a walk from (rip, rsp, rbp) would list the stack of m's walk again (m->id != 0): a few loads and compares
 * per frame. Rules t learnt since that walk must not have been emptied (the caller clears m->id when it empties t). */
static inline __attribute__((always_inline)) int tq_unwind_same(const struct tq_unwind_memo *m, uint64_t rip,
                                                                uint64_t rsp, uint64_t rbp)
{
    if (!m->id || rip != m->rip || rsp != m->rsp || (m->rbp_used && rbp != m->rbp))
        return 0;
    for (uint32_t i = 0; i < m->steps; i++) {
        if (*(const uint64_t *)(uintptr_t)m->step[i].ret_at != m->step[i].ret)
            return 0;
        if (m->step[i].bp_at && *(const uint64_t *)(uintptr_t)m->step[i].bp_at != m->step[i].bp)
            return 0;
    }
    return 1;
}

/* Memory from the kernel, never from malloc (raw_mem.c). tq_raw_map returns NULL when the kernel refuses. */
void *tq_raw_map(size_t n);
void tq_raw_unmap(void *p, size_t n);
/* The same, for a reservation touched as used: not counted in tq_raw_mapped (its mapped size would overstate). */
void *tq_raw_reserve(size_t n);
extern _Atomic uint64_t tq_raw_mapped; /* bytes tq_raw_map holds (the shim's own tables and buffers) */

/* The next definition of name (glibc's), found with the guard up: dlsym may allocate. (hooks_proc.c) */
void *tq_next_sym(const char *name);

/* A table of 64-bit hashes to ids (0 = empty slot) in raw memory, open addressing with linear probing from
 * hash & (cap - 1); the caller serializes. (The stack and code tables, and the sampled set by address hashes.) */
struct tq_hash_slot {
    uint64_t hash;
    uint32_t id;
};
struct tq_hash_ids {
    struct tq_hash_slot *v;
    size_t cap, used; /* cap: a power of two */
    size_t first_cap; /* slots of the first mapping (a power of two) */
};
/* The slot holding hash, or the empty slot where it goes (the caller sets its id and counts t->used); grows the
 * table first when half full. NULL when memory is short. */
struct tq_hash_slot *tq_hash_ids_slot(struct tq_hash_ids *t, uint64_t hash);
/* Take hash out of the table (backward-shift deletion: later members of its probe run move into the hole). 1 when
 * it was there, else 0. Can't fail. */
int tq_hash_ids_remove(struct tq_hash_ids *t, uint64_t hash);
/* Empty the table (a fork child), keeping its memory. Can't fail. */
void tq_hash_ids_clear(struct tq_hash_ids *t);

/* CPython frames in stacks (pyframes.c). tq_py_init at start (constructor, guard held): turns tq_py_on on in a
 * CPython 3.11 process. tq_py_merge: the native stack ips[0..n) with this thread's Python frames put inside the
 * eval-loop frames that run them, into out (at most max); returns the count. tq_py_start_locked: with a new trace,
 * the note that the interpreter is not read (other versions). tq_py_reset_child: forget code ids (fork child). */
extern int tq_py_on;
void tq_py_init(void);
int tq_py_merge(const uint64_t *ips, int n, uint64_t *out, int max);
void tq_py_start_locked(void);
void tq_py_reset_child(void);

/* record --aggregate (block_ids.c), session lock held: a thread's record in[0..n) (ids_of_thread: its pool of block
 * ids); its events and those of earlier records that are now next in the process-wide order of events get block ids
 * (traces/block_match.h) and go into the per-stack totals (tq_agg_apply). Can't fail (a block that cannot get an id
 * is named 0; events that cannot be held for their order go as they are). */
void tq_blocks_aggregate(const struct tq_event *in, uint32_t n, struct tq_id_pool *ids_of_thread);
/* A flush wrote every thread's buffer, and the order counter stood at `below` when it began: the events numbered
 * before it that are still held go into the totals, the numbers missing below it (events being written then) given
 * up. Can't fail. */
void tq_blocks_aggregate_below(uint64_t below);
/* Forget every block and held event; the next event is numbered first_seq (a fork child's trace starts with none).
 * Can't fail. */
void tq_blocks_reset(uint64_t first_seq);
/* Bytes of the block matcher's tables resident now (the shim's own memory; session lock held). Can't fail. */
uint64_t tq_blocks_resident_locked(void);

/* ---- record --aggregate (aggregate.c); all with the session lock held ---- */

/* Reserve the per-stack table. Returns 0, or -1 when memory is short (aggregate mode is then off). */
int tq_agg_init(void);
/* Stack ids aggregate mode can count. Can't fail. */
uint32_t tq_agg_max_stacks(void);
/* Add rewritten events (block ids, see tq_blocks_aggregate) to the per-stack totals. Can't fail. */
void tq_agg_apply(const struct tq_event *ev, uint32_t n);
/* Write the totals that changed as AGGREGATE records. Can't fail. */
void tq_agg_put_locked(void);
/* Forget every total (a fork child). Can't fail. */
void tq_agg_reset(void);

static inline void tq_stacks_note(unsigned kind, const void *addr, uint64_t size, const void *old_addr, int with_stack)
{
    if (__builtin_expect(tq_mode.stacks, 0))
        tq_stacks_event(kind, addr, size, old_addr, with_stack);
}

/* ---- record --sample-bytes: the sampled live blocks (sampled_set.c) ---- */

/* Set once at start when heap allocations are sampled; then only the frees of sampled blocks are recorded. */
extern int tq_sampled_on;
#define TQ_SAMPLED_FILTER_N (1u << 16) /* filter buckets (one byte each) */
/* Sampled live blocks per bucket of address hashes (255: at least that many, for good). */
extern _Atomic uint8_t *tq_sampled_filter;

static inline uint32_t tq_sampled_bucket(const void *p)
{
    return (uint32_t)(((uint64_t)(uintptr_t)p * 0xff51afd7ed558ccdull) >> 48);
}
/* False when p is surely not a sampled live block (one byte read); true when it may be. */
static inline int tq_sampled_maybe(const void *p)
{
    return atomic_load_explicit(&tq_sampled_filter[tq_sampled_bucket(p)], memory_order_relaxed) != 0;
}
/* Raw memory for the filter; sets tq_sampled_on. -1 when the kernel refuses it (sampling then records nothing). */
int tq_sampled_init(void);
/* Add the sampled block p (guard held). -1 when memory is short (p is then not in the set). */
int tq_sampled_add(const void *p);
/* Take p out of the set (guard held): 1 when it was a sampled live block, else 0. */
int tq_sampled_take(const void *p);
/* A fork child: no block is sampled in its trace yet. Can't fail. */
void tq_sampled_reset_child(void);

/* Heap block p is freed (or released by realloc: the hook calls this before glibc's realloc, so p cannot be handed
 * out again meanwhile). Records its FREE when it is traced (free_event != 0): always without sampling, and only when
 * p was sampled with it. Returns whether it was traced. */
int tq_stacks_release(const void *p, int free_event);

static inline int tq_stacks_note_free(const void *p, int free_event)
{
    if (__builtin_expect(!tq_mode.stacks, 1))
        return 0;
    if (tq_sampled_on && !tq_sampled_maybe(p))
        return 0;
    return tq_stacks_release(p, free_event);
}

/* ---- heap (hooks_heap.c) ---- */

/* glibc's allocator, called directly: no dlsym, so no bootstrap allocation is ever needed. */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);

/* What glibc's malloc_usable_size(p) returns, read from the chunk header. Can't fail for a glibc block. */
size_t tq_heap_chunk_usable(const void *p);
/* Info-tag heap block p (hooks_heap.c's tag, FORMAT.md 20) with its stack id (< 2^24) and the allocating thread's mark
 * (< 64) when its tail has room: 1 if done. */
int tq_heap_tag_info(void *p, uint32_t stack, unsigned mark);
/* In an info (stack id | mark << 24): the block's tag has no thread mark. */
#define TQ_INFO_NO_MARK (1u << 30)
/* This process's fork generation, kept mod 4 in info tags: a child's blocks are told from its parent's. */
extern unsigned char tq_heap_generation;
#ifdef TQ_TESTING
extern long tq_heap_realloc_gap_us; /* test builds: microseconds between glibc's realloc and its event */
extern long tq_map_release_gap_us; /* test builds: microseconds between munmap's/mremap's system call and its event */
#endif
/* glibc's own malloc_usable_size, found by the constructor before anything else (NULL before it ran). */
extern size_t (*tq_heap_real_usable)(void *);

/* ---- session (session.c, sampler.c) ---- */

/* Write the final sample, CALLS and END, flush and close the trace: once, in the traced process only.
 * reason is enum tq_end_reason; status the exit status (-1 when unknown). Can't fail (errors are dropped). */
void tq_session_finish(unsigned reason, int status);
/* The process is about to exec path: write a sample, CALLS and EXEC and flush, keeping the trace open in case
 * the exec fails. Can't fail. */
void tq_session_exec(const char *path);
/* The exec announced by tq_session_exec failed and the process goes on: the sampler may write again. Can't fail. */
void tq_session_exec_failed(void);
/* Register the on_exit handler that writes END with the exit status (again: only the first END counts). */
void tq_session_register_exit(void);
/* Print one line on stderr when TRACEQ_VERBOSE is set. */
void tq_session_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- the shim's descriptors (hooks_fd.c, session.c) ---- */

/* Move fd to a number out of the program's way (above its RLIMIT_NOFILE soft limit, else near 1000), close-on-exec.
 * Returns the new descriptor (fd is closed), or -1 when there is no room up there (fd stays open). */
int tq_fd_place_high(int fd);
/* Find the C library's close() (constructor time, guard up). Can't fail. */
void tq_fd_hooks_init(void);
/* The descriptor gate (hooks_fd.c), shut by the shim while it renumbers its descriptors or checks and writes the
 * trace: the program's hooked close/dup2/dup3/close_range/closefrom wait outside it. Nests; session lock held. */
void tq_fd_gate_close(void);
void tq_fd_gate_open(void);
/* A fork child: no other thread is inside the gate. Can't fail. */
void tq_fd_gate_reset_child(void);
/* Whether fd is one of the shim's own descriptors (the trace, /proc/self/statm) in the process they belong to.
 * Allocates nothing, takes no lock (close() may run in a signal handler or a vfork child). Can't fail. */
int tq_session_owns_fd(int fd);
/* The shim's descriptors, ascending, into out[2]; returns how many. Same rules as tq_session_owns_fd. */
int tq_session_fds(int out[2]);
/* The program wants number fd (dup2 onto it), which is one of the shim's: move the shim's descriptor elsewhere
 * (or, when no number is free, close it and let the next flush reopen the trace). Can't fail. */
void tq_session_yield_fd(int fd);
/* The program changed its user or group ids: write a GAP UNREACHABLE record if the trace file could no longer be
 * reopened by path. Can't fail. */
void tq_session_creds_changed(void);
/* Give the writer its reopen callback and open /proc/self/statm (trace start, lock held or single-threaded). */
void tq_session_fds_start(void);
/* Reopen /proc/self/statm when its descriptor was closed or replaced behind the shim's back (lock held). */
void tq_session_check_statm_locked(void);

/* Start the sampler thread (all signals blocked). Returns 0 or -1. */
int tq_sampler_start(void);
/* Append one SAMPLE to the trace (writer lock held by the caller); t_ns since trace start. Can't fail. */
void tq_sampler_sample_locked(uint64_t t_ns);
/* Nanoseconds of CLOCK_MONOTONIC. Can't fail. */
uint64_t tq_now_ns(void);

#endif
