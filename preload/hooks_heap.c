/* hooks_heap.c - the interposed malloc family: call glibc's allocator, tag each block, count it (FORMAT.md SAMPLE).
 *
 * To know a block's requested size again at free() without a lookup table, every block is allocated one byte
 * larger and the slack (usable - requested, >= 1) is stored at its very end: in the last byte when < 128,
 * else as 8 bytes before a last byte of 0x80. Heap layout and RSS stay as without the shim for 15 of 16 sizes.
 * Under --stacks a block whose slack (<= 31) has room for its stack id (w = 1, 2 or 3 bytes as the id needs) and 2 more
 * bytes is *info-tagged* too (tq_heap_tag_info): its last byte is 0x80 | w << 5 | slack, the byte before it its owner
 * (the process's fork generation mod 4 in bits 6-7, the allocating thread's mark in bits 0-5) and the w before that
 * its stack id, so that its free can name it by (size, stack) instead of its address (FORMAT.md 20); blocks are never
 * made larger for it (14 of 16 sizes have room for a stack id below 256, 12 for one below 2^24). Without the thread
 * mark, a slack of 2 holds a stack id below 64 and one of 3 an id below 2^14: the last byte is 0x80 | slack, the one
 * before it the generation in bits 6-7 and the id's top 6 bits, then (slack 3) its low 8 bits (a free of such a block
 * by another thread goes unnoticed, see stacks.c).
 * glibc's __libc_* entry points are used directly, so no dlsym (and no bootstrap buffer) is ever needed.
 *
 * malloc and free have a fast path for the common case (counting only, guard down, a heap chunk, slack < 128): the
 * call count down first, whose sign decides it (tq_thread.fast_left: below 0 when the count is spent, and when the
 * fast path is shut: guard up, or the thread has not seen plain counting chosen yet; shim.h tq_guard_up), the header
 * gives the usable size, and per counter one subtract from the room left below a bound that covers both a possible
 * peak and a due publish, whose sign is the test (shim.h's room_*; below 0: tq_counters_settle).
 * Everything else (the mmapped chunks, long slack, --stacks, the shim's own blocks, an inert shim) takes the general
 * path below, which does the same counting one step at a time.
 *
 * An inert shim (tq_mode.off: TRACEQ_ENABLED=0, a setuid process, or a heap layout the start-up check does not
 * recognise) is a pure pass-through: no chunk header is read, no tag written, every call goes straight to glibc with
 * the program's own arguments (malloc, whose fast path cannot afford the check, gives back the one-byte-larger block
 * it got and asks again). Blocks from before it turned inert (tagged while counting: allocations before the
 * constructor) stay glibc blocks that glibc frees and resizes as any other. */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim.h"

#define TQ_EXPORT __attribute__((visibility("default")))

/* m -= d (int64_t lvalues, m thread-local), and goto label when m is then negative: on x86-64 one subtract from
 * memory and a jump on its sign (gcc loads, subtracts, stores and tests otherwise). */
#if defined(__x86_64__)
#define SUB_GOTO_NEGATIVE(m, d, label)                                                                                 \
    __asm__ goto("subq %1, %0\n\tjs %l[" #label "]" : : "m"(m), "er"((int64_t)(d)) : "cc", "memory" : label)
#else
#define SUB_GOTO_NEGATIVE(m, d, label)                                                                                 \
    do {                                                                                                               \
        if (__builtin_expect(((m) -= (int64_t)(d)) < 0, 0))                                                            \
            goto label;                                                                                                \
    } while (0)
#endif

/* What glibc's malloc_usable_size returns, read from the chunk header (size field before the block; bit 1 =
 * mmapped chunk, whose header is 16 bytes instead of 8). session.c checks this against the real function. */
static inline size_t chunk_usable(const void *p)
{
    size_t sz = ((const size_t *)p)[-1];
    return (sz & ~(size_t)7) - ((sz & 2) ? 16 : 8);
}

size_t tq_heap_chunk_usable(const void *p)
{
    return chunk_usable(p);
}

static inline void tag_write(void *p, size_t usable, size_t req)
{
    unsigned char *b = p;
    size_t slack = usable - req;
    if (slack < 128) {
        b[usable - 1] = (unsigned char)slack;
    } else {
        memcpy(b + usable - 9, &slack, 8);
        b[usable - 1] = 0x80;
    }
}

/* An info tag (see the top): its last byte is INFO_MIN or more (or INFO_SMALL); it takes info_tail(last) bytes. */
#define INFO_MIN 0xA0u
#define INFO_SMALL2 0x82u /* a slack of 2 holding a stack id below 64, no mark */
#define INFO_SMALL3 0x83u /* a slack of 3 holding a stack id below 2^14, no mark */

/* Requested size of a tagged block; a damaged tag (the program wrote past its request) reads as 0. */
static inline size_t tag_read(const void *p, size_t usable)
{
    const unsigned char *b = p;
    size_t slack = b[usable - 1];
    if (slack == 0x80 && usable >= 9)
        memcpy(&slack, b + usable - 9, 8);
    else if (slack > 0x80) /* info-tagged */
        slack = slack == INFO_SMALL2 || slack == INFO_SMALL3 ? slack & 3 : slack & 31;
    return slack >= 1 && slack <= usable ? usable - slack : 0;
}

static inline unsigned info_tail(unsigned last)
{
    return last == INFO_SMALL2 ? 2 : last == INFO_SMALL3 ? 3 : (last >> 5 & 3) + 2;
}
unsigned char tq_heap_generation; /* this process's fork generation (mod 4): a child's differs from its parent's */

int tq_heap_tag_info(void *p, uint32_t stack, unsigned mark)
{
    unsigned char *b = p;
    size_t u = chunk_usable(p);
    unsigned slack = b[u - 1], w = stack < 1u << 8 ? 1 : stack < 1u << 16 ? 2 : 3;
    if (slack < w + 2 && ((slack == 2 && stack < 1u << 6) || (slack == 3 && stack < 1u << 14))) { /* no mark */
        b[u - 2] = (unsigned char)((tq_heap_generation & 3) << 6 | (slack == 3 ? stack >> 8 : stack));
        if (slack == 3)
            b[u - 3] = (unsigned char)stack;
        b[u - 1] = (unsigned char)(0x80 | slack);
        return 1;
    }
    if (slack < w + 2 || slack > 31 || stack >= 1u << 24)
        return 0;
    switch (w) { /* little-endian, ending before the owner */
    case 3:
        b[u - 5] = (unsigned char)stack;
        b[u - 4] = (unsigned char)(stack >> 8);
        b[u - 3] = (unsigned char)(stack >> 16);
        break;
    case 2:
        b[u - 4] = (unsigned char)stack;
        b[u - 3] = (unsigned char)(stack >> 8);
        break;
    default:
        b[u - 3] = (unsigned char)stack;
    }
    b[u - 2] = (unsigned char)((tq_heap_generation & 3) << 6 | (mark & 63));
    b[u - 1] = (unsigned char)(0x80 | w << 5 | slack);
    return 1;
}

/* An info-tagged block of this process: its stack id | the allocating thread's mark << 24 (0: not one; a block
 * inherited across fork is named by its address, as the child's trace never saw its allocation). */
static inline uint32_t info_of(const void *p, size_t u)
{
    const unsigned char *b = p;
    unsigned last = b[u - 1], w = info_tail(last) - 2;
    if (last == INFO_SMALL2 || last == INFO_SMALL3) { /* no mark: TQ_INFO_NO_MARK */
        uint32_t stack = last == INFO_SMALL3 ? (b[u - 2] & 63u) << 8 | b[u - 3] : b[u - 2] & 63u;
        return b[u - 2] >> 6 == (tq_heap_generation & 3u) && stack ? stack | TQ_INFO_NO_MARK : 0;
    }
    if (last < INFO_MIN || (last & 31) < w + 2 || u < 5)
        return 0;
    uint32_t word; /* the 4 bytes before the last (a heap block's usable size is 24 at least): ids, then the owner */
    memcpy(&word, b + u - 5, 4);
    if (word >> 30 != (tq_heap_generation & 3u))
        return 0;
    uint32_t stack = (word >> 8 * (3 - w)) & ((1u << 8 * w) - 1) & 0xFFFFFFu;
    return stack ? stack | (word >> 24 & 63) << 24 : 0;
}

/* A new block p (or NULL) for a request of req bytes, through call c.
 * took() and free() are the only places a heap block is born or dies, so they (and tq_realloc) note the
 * per-allocation events of record --stacks, after the tq_counting() check so the shim's own blocks stay out.
 * Whether to count is read once per call: the hot path is a straight line of thread-local adds. */
static inline __attribute__((always_inline)) void *took(void *p, size_t req, enum tq_call c)
{
    if (__builtin_expect(!tq_counting(), 0)) {
        /* the shim's own block while counting: tagged (it may be freed through the fast path, which reads the tag);
         * an inert shim: untouched (its hooks pass the other calls straight through before they get here) */
        if (p && !tq_mode.off)
            tag_write(p, chunk_usable(p), req);
        return p;
    }
    tq_count_call(c);
    if (__builtin_expect(p != NULL, 1)) {
        size_t u = chunk_usable(p);
        tag_write(p, u, req);
        tq_count_heap((int64_t)req, (int64_t)u);
        if (__builtin_expect(tq_mode.stacks, 0)) /* a tail call: the unwinder sees no frame of ours but that one */
            return tq_stacks_took(c, p, req, NULL, 0, 0);
    }
    return p;
}

/* Forget block p, being counted (its tag is read before the real free so the memory is still ours). */
static inline __attribute__((always_inline)) void drop(void *p)
{
    size_t u = chunk_usable(p);
    size_t req = tag_read(p, u);
    tq_count_heap(-(int64_t)req, -(int64_t)u);
    /* before the real free, so p cannot be reused meanwhile; no size: the replay knows the block (FORMAT.md) */
    uint32_t info = __builtin_expect(tq_mode.stacks, 0) ? info_of(p, u) : 0;
    if (info)
        tq_stacks_free_info(p, req, info);
    else
        tq_stacks_note_free(p, 1);
}

/* The general path of malloc, for whatever the fast path does not take (p second: malloc then keeps it in the
 * register it returns it in). */
static __attribute__((noinline)) void *took_malloc(size_t n, void *p)
{
    if (__builtin_expect(tq_mode.off, 0)) { /* inert: the program gets the block glibc gives for its own request */
        __libc_free(p);
        return __libc_malloc(n);
    }
    tq_fast_open();
    return took(p, n, TQ_CALL_MALLOC);
}

/* The fast path's one-byte tag and usable size of heap block p for a request of n bytes: 0 when it does not apply
 * (an mmapped chunk, or a slack of 128 or more), else the usable size. */
static inline __attribute__((always_inline)) size_t fast_tag(unsigned char *p, size_t n)
{
    size_t sz = ((const size_t *)p)[-1];
    /* chunk_usable() of a chunk that is not mmapped: (sz & ~7) - 8 is (sz - 8) & ~7, one register less */
    size_t u = (sz - 8) & ~(size_t)7, slack = u - n;
    if (__builtin_expect((sz & 2) || slack >= 128, 0))
        return 0;
    p[u - 1] = (unsigned char)slack; /* tag_write() */
    return u;
}

/* malloc's fast path took a call count that was spent, or counted a call that is not its own: its last call before it
 * settles (the count went below 0 in an open fast path: counted here as there, then settled), or a shut fast path
 * (count below 0 from the start: guard up, not open yet, an inert shim, --stacks), or a block it does not take (an
 * mmapped chunk, a slack of 128 or more): then the count is given back and the general path takes the call. */
static __attribute__((noinline)) void *malloc_aside(size_t n, unsigned char *p)
{
    struct tq_thread *t = &tq_self;
    size_t u;
    if (t->fast_left[0] < 0 && t->gate == TQ_GATE_FAST && (u = fast_tag(p, n)) != 0) {
        t->room_lo += (int64_t)u;
        t->room_hi -= (int64_t)u;
        t->room_req -= (int64_t)n;
        return tq_counters_settle(p);
    }
    t->fast_left[0]++;
    return took_malloc(n, p);
}

TQ_EXPORT void *malloc(size_t n)
{
    size_t n1;
    if (__builtin_expect(__builtin_add_overflow(n, 1, &n1), 0)) { /* n == SIZE_MAX: the flag of the add */
        errno = ENOMEM;
        return took(NULL, 0, TQ_CALL_MALLOC);
    }
    unsigned char *p = __libc_malloc(n1);
    if (__builtin_expect(p != NULL, 1)) {
        struct tq_thread *t = &tq_self;
        /* the call is counted first: one subtract from thread-local memory and a test of its sign, which is also
         * the fast path's gate (shim.h, fast_left) */
        if (__builtin_expect(--t->fast_left[0] < 0, 0))
            goto aside;
        size_t sz = ((const size_t *)p)[-1];
        size_t u = (sz - 8) & ~(size_t)7, slack = u - n; /* as in fast_tag() */
        if (__builtin_expect(!(sz & 2) && slack < 128, 1)) {
            p[u - 1] = (unsigned char)slack;
            t->room_lo += (int64_t)u;
            /* each a subtract and a test of its sign; once one is negative, the rest is done before settling */
            SUB_GOTO_NEGATIVE(t->room_hi, u, settle_req);
            SUB_GOTO_NEGATIVE(t->room_req, n, settle);
            return p;
        settle_req:
            t->room_req -= (int64_t)n;
        settle:
            return tq_counters_settle(p); /* a tail call: nothing to keep across it */
        }
        /* not the fast path's call after all */
    aside:
        if (__builtin_expect(t->gate != TQ_GATE_FAST, 0)) { /* shut (guard up, not open, inert, --stacks) */
            __asm__ volatile("" : : : "memory"); /* the count read again: gcc would keep the old one at hand */
            t->fast_left[0]++;
            return took_malloc(n, p);
        }
        return malloc_aside(n, p);
    }
    return took_malloc(n, NULL);
}

/* The general path of free. */
static __attribute__((noinline)) void free_slow(void *p)
{
    tq_fast_open();
    if (__builtin_expect(tq_counting(), 1)) {
        if (__builtin_expect(p != NULL, 1))
            drop(p);
        tq_count_call(TQ_CALL_FREE);
    }
    __libc_free(p);
}

/* tag_read() of a one-byte tag (1..127) of heap block p whose header word is sz, read only once the chunk is known
 * not to be mmapped (its usable size u would then be 8 bytes too big); 0 or below when it does not apply. */
static inline __attribute__((always_inline)) int8_t fast_tag_read(const void *p, size_t sz, size_t u)
{
    return __builtin_expect(!(sz & 2), 1) ? ((const int8_t *)p)[u - 1] : 0;
}

/* free's fast path took a call count that was spent, or counted a call that is not its own: as malloc_aside. */
static __attribute__((noinline)) void free_aside(void *p)
{
    struct tq_thread *t = &tq_self;
    if (t->fast_left[1] < 0 && t->gate == TQ_GATE_FAST) {
        size_t sz = ((const size_t *)p)[-1], u = (sz - 8) & ~(size_t)7;
        int8_t tag = fast_tag_read(p, sz, u);
        if (tag > 0) {
            t->room_hi += (int64_t)u;
            t->room_lo -= (int64_t)u;
            t->room_req += (int64_t)(u - (size_t)tag);
            __libc_free(tq_counters_settle(p));
            return;
        }
    }
    t->fast_left[1]++;
    free_slow(p);
}

TQ_EXPORT void free(void *p)
{
    struct tq_thread *t = &tq_self;
    if (__builtin_expect(p != NULL, 1)) {
        if (__builtin_expect(--t->fast_left[1] < 0, 0)) /* counted first, the gate too: as in malloc */
            goto aside;
        size_t sz = ((const size_t *)p)[-1];
        size_t u = (sz - 8) & ~(size_t)7; /* as in malloc */
        int8_t tag = fast_tag_read(p, sz, u);
        if (__builtin_expect(tag > 0, 1)) { /* 1..127 */
            t->room_hi += (int64_t)u;
            SUB_GOTO_NEGATIVE(t->room_lo, u, settle_req);
            t->room_req += (int64_t)(u - (size_t)tag); /* last: u's register is free by now */
            __libc_free(p);
            return;
        settle_req:
            t->room_req += (int64_t)(u - (size_t)tag);
            __libc_free(tq_counters_settle(p));
            return;
        }
        /* not the fast path's call after all */
    aside:
        if (__builtin_expect(t->gate != TQ_GATE_FAST, 0)) { /* shut: as in malloc */
            __asm__ volatile("" : : : "memory");
            t->fast_left[1]++;
            free_slow(p);
            return;
        }
        free_aside(p);
        return;
    }
    free_slow(NULL);
}

TQ_EXPORT void *calloc(size_t nmemb, size_t size)
{
    if (__builtin_expect(tq_mode.off, 0))
        return __libc_calloc(nmemb, size);
    size_t n;
    if (__builtin_mul_overflow(nmemb, size, &n) || n == SIZE_MAX) {
        errno = ENOMEM;
        return took(NULL, 0, TQ_CALL_CALLOC);
    }
    return took(__libc_calloc(1, n + 1), n, TQ_CALL_CALLOC);
}

#ifdef TQ_TESTING
long tq_heap_realloc_gap_us; /* test builds: TQ_TESTING_REALLOC_GAP_US (session.c) */
/* The window between glibc's realloc releasing the old block and the realloc's event, widened for the test of
 * their order (tests/test_stacks.c, realloc_race). */
static void realloc_gap(void)
{
    if (tq_heap_realloc_gap_us)
        usleep((useconds_t)tq_heap_realloc_gap_us);
}
#else
static inline void realloc_gap(void)
{
}
#endif

/* realloc: a block named by its address (not info-tagged) and traced ends with its FREE event before glibc's call,
 * as in free(): once glibc releases it, another thread may be given its address, and that thread's allocation takes
 * its order number after the call it came from, so the release must have a smaller one (FORMAT.md 18, OLD 6:
 * TQ_EV_OLD_FREED). The realloc's own event, after the call, then names no old block: its new block (the old one
 * itself when it grew or shrank in place) is allocated. When glibc's call fails, the old block lives on: its event
 * allocates it again, for the realloc's stack (the shim does not know the one it had). An info-tagged old block is
 * named by (size, stack), not by its address, so its release can stay in the realloc's one event. */
static void *tq_realloc(void *p, size_t n, enum tq_call c)
{
    if (__builtin_expect(tq_mode.off, 0))
        return __libc_realloc(p, n);
    if (!p)
        return n == SIZE_MAX ? (errno = ENOMEM, took(NULL, 0, c)) : took(__libc_malloc(n + 1), n, c);
    if (n == 0) { /* glibc frees and returns NULL here (REALLOC_ZERO_BYTES_FREES) */
        if (tq_counting())
            drop(p);
        __libc_free(p);
        return took(NULL, 0, c);
    }
    if (n >= PTRDIFF_MAX) { /* glibc fails a request past PTRDIFF_MAX (n + 1 here) before it looks at p */
        errno = ENOMEM;
        return took(NULL, 0, c);
    }
    size_t ou = chunk_usable(p), oreq = tq_counting() ? tag_read(p, ou) : 0;
    /* an info-tagged old block is named by (size, stack): its event needs no address */
    uint32_t oinfo = tq_counting() && __builtin_expect(tq_mode.stacks, 0) ? info_of(p, ou) : 0;
    /* before glibc's realloc: once it returns, p may already be another thread's new block */
    int old_freed = tq_counting() && !oinfo ? tq_stacks_note_free(p, 1) : 0;
    void *q = __libc_realloc(p, n + 1);
    realloc_gap();
    if (!q) {
        if (old_freed) /* p is the program's still: allocated again (not a tail call: the walker drops our frame) */
            tq_stacks_took(c, p, oreq, NULL, 0, TQ_OLD_FREED);
        return took(NULL, 0, c);
    }
    size_t nu = chunk_usable(q);
    tag_write(q, nu, n);
    if (tq_counting()) {
        tq_count_heap((int64_t)n - (int64_t)oreq, (int64_t)nu - (int64_t)ou);
        tq_count_call(c);
        if (__builtin_expect(tq_mode.stacks, 0)) /* a tail call, as in took() */
            return tq_stacks_took(c, q, n, oinfo ? p : NULL, oreq, oinfo | (old_freed ? TQ_OLD_FREED : 0));
    }
    return q;
}

TQ_EXPORT void *realloc(void *p, size_t n)
{
    return tq_realloc(p, n, TQ_CALL_REALLOC);
}

TQ_EXPORT void *reallocarray(void *p, size_t nmemb, size_t size)
{
    size_t n;
    if (__builtin_mul_overflow(nmemb, size, &n)) {
        errno = ENOMEM;
        return took(NULL, 0, TQ_CALL_REALLOCARRAY);
    }
    return tq_realloc(p, n, TQ_CALL_REALLOCARRAY);
}

static void *aligned(size_t al, size_t n, enum tq_call c)
{
    if (__builtin_expect(tq_mode.off, 0))
        return __libc_memalign(al, n);
    if (n == SIZE_MAX) {
        errno = ENOMEM;
        return took(NULL, 0, c);
    }
    return took(__libc_memalign(al, n + 1), n, c);
}

TQ_EXPORT int posix_memalign(void **out, size_t al, size_t n)
{
    if (al == 0 || al % sizeof(void *) != 0 || (al & (al - 1)) != 0) {
        took(NULL, 0, TQ_CALL_POSIX_MEMALIGN);
        return EINVAL;
    }
    int saved = errno; /* posix_memalign reports through its result, not errno */
    void *p = aligned(al, n, TQ_CALL_POSIX_MEMALIGN);
    errno = saved;
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

TQ_EXPORT void *aligned_alloc(size_t al, size_t n)
{
    return aligned(al, n, TQ_CALL_ALIGNED_ALLOC);
}

TQ_EXPORT void *memalign(size_t al, size_t n)
{
    return aligned(al, n, TQ_CALL_MEMALIGN);
}

TQ_EXPORT void *valloc(size_t n)
{
    if (__builtin_expect(tq_mode.off, 0))
        return __libc_valloc(n);
    if (n == SIZE_MAX) {
        errno = ENOMEM;
        return took(NULL, 0, TQ_CALL_VALLOC);
    }
    return took(__libc_valloc(n + 1), n, TQ_CALL_VALLOC);
}

TQ_EXPORT void *pvalloc(size_t n)
{
    if (__builtin_expect(tq_mode.off, 0))
        return __libc_pvalloc(n);
    if (n == SIZE_MAX) {
        errno = ENOMEM;
        return took(NULL, 0, TQ_CALL_PVALLOC);
    }
    return took(__libc_pvalloc(n + 1), n, TQ_CALL_PVALLOC);
}

/* glibc's malloc_usable_size (session.c finds it at start-up); NULL until then. */
size_t (*tq_heap_real_usable)(void *);

/* The bytes the program may use without disturbing the tag; an inert shim asks glibc. */
TQ_EXPORT size_t malloc_usable_size(void *p)
{
    if (__builtin_expect(tq_mode.off, 0))
        return tq_heap_real_usable ? tq_heap_real_usable(p) : 0;
    if (tq_counting())
        tq_count_call(TQ_CALL_MALLOC_USABLE_SIZE);
#ifdef TQ_TESTING
    /* test builds: TQ_TESTING_GUARDED_ALLOC=1 makes each call allocate and free a block as the shim does for itself
     * (guard up), in a thread whose fast path may be open (tests/test_shim_counters.c: never counted) */
    static int guarded = -1;
    if (guarded < 0)
        guarded = getenv("TQ_TESTING_GUARDED_ALLOC") != NULL;
    if (guarded) {
        tq_guard_up();
        void *volatile own = malloc(40); /* volatile: gcc drops a free(malloc()) pair */
        free(own);
        tq_guard_down();
    }
#endif
    if (!p)
        return 0;
    size_t u = chunk_usable(p);
    unsigned char last = ((const unsigned char *)p)[u - 1];
    return last == 0x80 && u >= 9 ? u - 9 : last >= INFO_MIN || last == INFO_SMALL2 || last == INFO_SMALL3 ? u - info_tail(last)
                                                                                              : u - 1;
}
