/* stacks.c - `record --stacks`: per-allocation events with interned call stacks, and the module map (FORMAT.md 6-9).
 *
 * Hot path (tq_stacks_took, tail-called by the heap hooks for a new block, and tq_stacks_event, called by drop()
 * and the mmap hooks; guard down):
 *   the shim's stack walker (unwind.c; unw_backtrace where it cannot), from the entry point's own frame -> 64-bit
 *   hash of the ips -> this thread's direct-mapped cache -> stack id; or, when the walk would repeat this thread's
 *   last one (the same registers, the same values in the stack slots it read: unwind.c's memo), that walk's id. Only a cache miss takes the session lock, to
 *   look the hash up in the global table and, for a new stack, append its STACK_DELTA record (the frames it does not
 *   share with the stack written before it) to the writer at once: every stack record therefore precedes the EVENTS
 *   records that use it.
 *   The event goes into this thread's buffer; a full buffer is encoded as one EVENTS record and appended under the
 *   session lock (the append compresses a frame when the writer's buffer is full: that is the backpressure, and
 *   memory stays bounded). The sampler thread flushes every thread's buffer with each frame.
 * Each event takes its number in the process-wide order first: a locked add on a shared counter, or, for a thread
 * that has taken many in a row with no other thread's between, a count of its own until another thread wants one
 * (seq_solo; a membarrier each time the counting changes hands).
 * Frees and munmaps carry no stack (the replay knows the block's stack from its allocation), so they skip unwinding.
 * With --sample-bytes, the sampled live blocks are remembered (sampled_set.c) and only their frees are recorded.
 * Everything here is allocated with raw mmap: nothing may call malloc from inside malloc. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <link.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "session.h"

#define MAX_DEPTH 128          /* frames kept per stack (the outermost are dropped) */
#define EVBUF_N 2048           /* events a thread buffers before it hands them to the writer */
#define CACHE_N 4096           /* this thread's hash -> id cache (direct-mapped) */
#define ENC_CAP TQ_CTX_EVENTS_BOUND(EVBUF_N) /* one CTX_EVENTS record's worst case (FORMAT.md 18) */

struct cache_slot {
    uint64_t hash;
    uint32_t id;
};

/* One thread's buffer; lives in the registry for the whole run, reused after its thread exits.
 * A ring with one writer, its thread, and readers that hold the session lock (the thread itself when the ring is
 * full, the sampler's flush, fork, exit): the thread writes event head % EVBUF_N and then publishes head + 1 with a
 * release store, so it takes no lock and no locked instruction per event; a reader hands events tail..head to the
 * writer and moves tail. The thread hands the ring off itself each time head reaches a multiple of EVBUF_N, before
 * it writes the next event, so tail..head never wraps round the end of ev and never holds more than EVBUF_N events.
 * head and tail count events modulo 2^32, a multiple of EVBUF_N. */
struct evbuf {
    _Atomic uint32_t head;     /* events written (only the thread writes it) */
    uint32_t tail;             /* events handed to the writer (changed with the session lock held) */
    _Atomic int dead;          /* its thread exited: another thread may claim it */
    struct evbuf *next;        /* registry (only ever prepended, under reg_lock) */
    uint32_t tid;
    unsigned epoch;            /* the stack table epoch its cache belongs to */
    _Atomic int taking;        /* its thread is taking an order number (seq_take) */
    uint32_t streak;           /* order numbers in a row taken from event_seq with no other thread's between */
    uint64_t last_seq;         /* the last one of those */
    _Atomic uint64_t solo_next; /* while it is seq_solo: its thread's next order number (others may read it) */
    struct tq_event ev[EVBUF_N];
    struct tq_id_pool pool;    /* --aggregate: block ids this thread's frees released, for its next allocations */
    struct cache_slot cache[CACHE_N];
    uint32_t pack_no;          /* its CTX_EVENTS context number (TQ_CTX_MAX - 1 is shared: every record fresh) */
    int pack_fresh;            /* its next record starts its context afresh */
    struct tq_pack_ctx pack;   /* the coding context its records carry from one to the next */
    unsigned rules_epoch;         /* the loads_epoch its rules belong to */
    struct tq_unwind_rules rules; /* this thread's stack walker's rules (unwind.c; they stay valid for the next) */
    struct tq_unwind_memo memo;   /* its last walk, and the stack id it gave (unwind.c): the same walk again skips the
                                   * rules, the hash and the cache (a loop allocating from one place) */
    uint32_t memo_misses;         /* walks in a row that did not repeat the one before */
    uint32_t memo_rest;           /* walks left without a trail (after MEMO_MISSES misses in a row) */
};
/* A thread whose walks keep changing (most allocations of perl or sqlite3) walks MEMO_REST times without leaving a
 * trail (which costs a few stores per frame) after MEMO_MISSES misses in a row, then tries again. */
#define MEMO_MISSES 4u
#define MEMO_REST 60u
_Static_assert(MAX_DEPTH + 8 <= TQ_UNWIND_MEMO_STEPS, "a walk's trail fits its memo");

/* The registers of the program's frame that called an interposed function: where the shim's walker starts. */
struct entry {
    uint64_t rip, rsp, rbp;
};

static int agg_mode;
/* Blocks are named by (size, stack) where their tail has room (FORMAT.md 20): plain --stacks, unless
 * TRACEQ_FREE_BY_ADDR=1 (preload/CONFIG.md). */
static int info_mode;
static __thread uintptr_t last_block; /* info_mode: this thread's latest heap allocation, 0 after a free (TQ_EV_TEMP) */
/* Threads are marked by their buffer's context number mod 64 in info tags. A block freed by another thread than its
 * own would be replayed in the order of the threads' records, which may hold all of a producer's allocations before
 * a consumer's frees: its thread's mark escapes, and from then on that thread's blocks are named by address (the
 * matcher also learns frees from addresses handed out again, traces/block_match.h). */
#define MARKS 64u
static _Atomic unsigned char escaped[MARKS];
static int unwind_check; /* TRACEQ_UNWIND_CHECK=1: the walker's stacks are compared with unw_backtrace's */
static double sample_mean;            /* record --sample-bytes: mean bytes between recorded allocations; 0 = all */
static __thread int64_t sample_left;  /* bytes until this thread's next recorded allocation */
static __thread uint64_t sample_rng;  /* xorshift64* state, seeded per thread */
static __thread struct evbuf *my_buf;
static struct evbuf *_Atomic registry;
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t exit_key;
static int exit_key_ok;
static uintptr_t self_lo, self_hi;   /* the shim's own code: its frames are cut off the stacks */
uintptr_t tq_unwinder_lo, tq_unwinder_hi; /* libunwind's code (see tq_stacks_unwinder_call) */

/* The global stack table (session lock held): hash -> id. Its first 16 KiB hold 511 stacks (perl's hash and string
 * work has 413), then it doubles: its pages are the program's RSS (all touched, the hashes spread over them). */
static struct tq_hash_ids table = {.first_cap = 1024};
static uint32_t next_id = 1;
static _Atomic unsigned epoch;        /* bumped when the table is emptied (fork child): per-thread caches go */
/* The last stack written to this trace (session lock held): a new one is written as the frames it does not share
 * with it (STACK_DELTA, FORMAT.md 19). Python stacks share their outer frames and differ in a few inner ones. */
static struct {
    uint32_t id, depth;
    uint64_t ips[MAX_DEPTH];
} written;
static _Atomic unsigned loads_epoch;  /* bumped when the loader reports new objects: the walker's rules go (code
                                       * at a reused address may not be the code they were learnt from) */

static uint32_t pack_numbers;      /* CTX_EVENTS context numbers given to buffers (under reg_lock) */
/* The process-wide order of events (tq_event.seq), for matching frees across threads (traces/block_match.h):
 * offline, or in-process with --aggregate. Alone in its cache line: the threads' locked adds move the line from CPU
 * to CPU, and a variable read on every event beside it (seq_solo, sample_mean, info_mode) would move with it (a
 * --stacks malloc storm with 4 threads: 1.95 -> 2.30 s CPU when seq_solo came to share it). */
static struct {
    _Alignas(64) _Atomic uint64_t next;
} event_seq;
/* A thread that takes order numbers alone (solo_streak in a row with no other thread's between) becomes seq_solo:
 * it counts on privately, without the locked add (a tenth of a --stacks malloc storm's CPU time), until another
 * thread wants a number and takes the counting back (seq_shared). SEQ_REVOKING while that is under way. Each time
 * the counting is taken back, the streak that claims it doubles (up to SOLO_STREAK_MAX): threads that run by turns
 * for a while (several threads on a loaded machine's few CPUs) soon stop passing it to and fro. */
#define SOLO_STREAK 16384u
#define SOLO_STREAK_MAX (1u << 26)
static uint32_t solo_streak = SOLO_STREAK; /* changed under seq_lock; read without it (a stale value is harmless) */
#define SEQ_REVOKING ((struct evbuf *)1)
static struct evbuf *_Atomic seq_solo;
static pthread_mutex_t seq_lock = PTHREAD_MUTEX_INITIALIZER;
static int membarrier_ok; /* MEMBARRIER_CMD_PRIVATE_EXPEDITED is registered: seq_solo may be used */

static unsigned long long maps_adds = ~0ull; /* dlpi_adds at the last module snapshot */
static uint32_t maps_generation;

/* ---- module map (MODULE records) ---- */

static int adds_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    *(unsigned long long *)data = info->dlpi_adds;
    return 1; /* the counter is the same for every object: the first is enough */
}

static unsigned long long loads_now(void)
{
    unsigned long long adds = 0;
    dl_iterate_phdr(adds_cb, &adds);
    return adds;
}

static uint64_t parse_hex(const char **p)
{
    uint64_t v = 0;
    for (;; (*p)++) {
        char c = **p;
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return v;
        v = v * 16 + (uint64_t)d;
    }
}

/* One line of /proc/self/maps: "start-end perms offset dev inode   path". File-backed ones become MODULE records. */
static void put_maps_line(const char *l, const char *end)
{
    struct tq_rec_module m = {.generation = maps_generation};
    const char *p = l;
    m.start = parse_hex(&p);
    if (*p++ != '-')
        return;
    m.end = parse_hex(&p);
    if (*p++ != ' ' || end - p < 5)
        return;
    m.perms = (p[0] == 'r' ? 1u : 0) | (p[1] == 'w' ? 2u : 0) | (p[2] == 'x' ? 4u : 0) | (p[3] == 'p' ? 8u : 0);
    p += 5;
    m.offset = parse_hex(&p);
    for (int field = 0; field < 2 && p < end; field++) { /* dev, inode */
        while (p < end && *p == ' ')
            p++;
        while (p < end && *p != ' ')
            p++;
    }
    while (p < end && *p == ' ')
        p++;
    if (p >= end || *p != '/')
        return;
    /* static, not on the stack: this runs inside the program's malloc, maybe on a small thread stack (the session
     * lock is held, so one caller at a time) */
    static char path[4096];
    static uint8_t rec[TQ_REC_HEADER_SIZE + 64 + sizeof path];
    size_t n = (size_t)(end - p) < sizeof path ? (size_t)(end - p) : sizeof path - 1;
    memcpy(path, p, n);
    path[n] = 0;
    size_t k = tq_rec_put_module(rec, sizeof rec, &m, path);
    if (k)
        tq_writer_append(&tq_sess.w, rec, k);
}

/* A MODULE snapshot of /proc/self/maps (session lock held). No stdio, no allocation: read in blocks. */
static void put_maps_locked(void)
{
    static char buf[16384];
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    maps_adds = loads_now();
    size_t have = 0;
    for (;;) {
        ssize_t k = read(fd, buf + have, sizeof buf - have);
        if (k <= 0)
            break;
        have += (size_t)k;
        char *l = buf, *nl;
        while ((nl = memchr(l, '\n', have - (size_t)(l - buf)))) {
            put_maps_line(l, nl);
            l = nl + 1;
        }
        have -= (size_t)(l - buf);
        memmove(buf, l, have);
        if (have == sizeof buf) /* a line longer than the buffer: drop it */
            have = 0;
    }
    close(fd);
    maps_generation++;
    atomic_fetch_add_explicit(&loads_epoch, 1, memory_order_relaxed);
}

/* A new snapshot when objects were loaded since the last one (dlopen). Session lock held. */
static void check_maps_locked(void)
{
    if (loads_now() != maps_adds)
        put_maps_locked();
}

/* ---- the stack table ---- */

static uint64_t hash_ips(const uint64_t *ips, int n)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)n;
    for (int i = 0; i < n; i++) {
        h = (h ^ ips[i]) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    return h ? h : 1;
}

/* The id of a stack (session lock held); a new one gets its STACK record now. 0 when out of memory.
 * Stacks are identified by their 64-bit hash alone: a collision (about n^2 / 2^65) would merge two stacks. */
static uint32_t intern_locked(uint64_t h, const uint64_t *ips, int n)
{
    struct tq_hash_slot *slot = tq_hash_ids_slot(&table, h);
    if (!slot)
        return 0;
    if (slot->id)
        return slot->id;
    if (agg_mode && next_id >= tq_agg_max_stacks())
        return 0;
    check_maps_locked(); /* new code may have been loaded: its modules go before the stack that names it */
    uint32_t id = next_id++;
    *slot = (struct tq_hash_slot){h, id};
    table.used++;
    /* static: small thread stacks; a STACK_DELTA is at most 3 + 3 + 128 LEB128s of 10 bytes */
    static uint8_t rec[TQ_REC_HEADER_SIZE + 32 + MAX_DEPTH * 10];
    size_t k = tq_rec_put_stack_delta(rec, sizeof rec, id, ips, (uint32_t)n, written.id, written.ips, written.depth);
    if (k && tq_writer_append(&tq_sess.w, rec, k) == 0) { /* the next one is relative to what the file holds */
        written.id = id;
        written.depth = (uint32_t)n;
        memcpy(written.ips, ips, (size_t)n * sizeof *ips);
    }
    return id;
}

/* The id of the stack with hash h, on a miss of this thread's cache: looked up (or interned) under the session lock.
 * Out of line: the unwinding caller stays small. */
static __attribute__((noinline)) uint32_t lookup_locked_miss(struct cache_slot *c, uint64_t h, const uint64_t *frames,
                                                            int n)
{
    pthread_mutex_lock(&tq_sess.lock);
    uint32_t id = tq_sess.active && !tq_sess.finished ? intern_locked(h, frames, n) : 0;
    pthread_mutex_unlock(&tq_sess.lock);
    if (id) {
        c->hash = h;
        c->id = id;
    }
    return id;
}

/* The frames of raw[0..n) below the shim's own on top, at most MAX_DEPTH of them: their number, and their start in
 * *at (inside raw: no copy; a `rep movs` of them cost more than the walk of a shallow stack). */
static inline __attribute__((always_inline)) int without_own(const uint64_t *raw, int n, const uint64_t **at)
{
    int k = 0;
    while (k < n && raw[k] >= self_lo && raw[k] < self_hi) /* our own frames */
        k++;
    n -= k;
    *at = raw + k;
    return n > MAX_DEPTH ? MAX_DEPTH : n > 0 ? n : 0;
}

/* unw_backtrace's stack without the shim's frames: at most MAX_DEPTH entries into native, their number. */
static inline __attribute__((always_inline)) int backtrace_native(uint64_t *native)
{
    void *ips[MAX_DEPTH + 8];
    uint64_t raw[MAX_DEPTH + 8];
    const uint64_t *at;
    int n = unw_backtrace(ips, MAX_DEPTH + 8);
    for (int i = 0; i < n; i++)
        raw[i] = (uint64_t)(uintptr_t)ips[i];
    n = without_own(raw, n, &at);
    memcpy(native, at, (size_t)n * sizeof *native);
    return n;
}

/* A line on stderr (TRACEQ_UNWIND_CHECK only: the shim is otherwise silent unless verbose). */
static void check_say(const char *what, int n, int m, int at, uint64_t a, uint64_t b)
{
    char line[200];
    int k = snprintf(line, sizeof line, "traceq[%d]: unwind check: %s: walker %d frames, unw_backtrace %d, "
                     "first difference at %d: %#llx vs %#llx\n", (int)getpid(), what, n, m, at,
                     (unsigned long long)a, (unsigned long long)b);
    if (k > 0 && write(2, line, (size_t)k < sizeof line ? (size_t)k : sizeof line - 1) < 0)
        return;
}

/* TRACEQ_UNWIND_CHECK: the walker's stack (n frames; -1: it left the stack to unw_backtrace) compared with
 * unw_backtrace's (m frames, in native); says the first match, the first stack left to unw_backtrace and the first
 * 20 differences. Returns m. */
static __attribute__((noinline)) int check_walk(const uint64_t *walked, int n, const uint64_t *native, int m)
{
    static _Atomic int said_same, said_differ, said_left;
    int at = 0;
    while (at < n && at < m && walked[at] == native[at])
        at++;
    if (n < 0) {
        if (!atomic_exchange(&said_left, 1))
            check_say("left to unw_backtrace", n, m, -1, 0, 0);
    } else if (at == n && n == m) {
        if (!atomic_exchange(&said_same, 1))
            check_say("the same", n, m, -1, 0, 0);
    } else if (atomic_fetch_add(&said_differ, 1) < 20) {
        check_say("DIFFERENT", n, m, at, at < n ? walked[at] : 0, at < m ? native[at] : 0);
    }
    return m;
}

/* This thread's stack id for the caller of the interposed function. Inlined into the function that calls the hook's
 * event (tq_stacks_took, tq_stacks_event). With from (the program's frame that called the hook), the shim's walker
 * (unwind.c) lists the stack; without, or when it cannot, unw_backtrace does: every function between unw_backtrace
 * and the program is one more frame for libunwind to look up and step over (~80 instructions each, and ~200 per
 * call: 626 per allocation on the malloc storm, where the walker needs ~100). */
static inline __attribute__((always_inline)) uint32_t capture(struct evbuf *b, const struct entry *from)
{
    uint64_t native[MAX_DEPTH], merged[MAX_DEPTH], raw[MAX_DEPTH + 8];
    const uint64_t *frames = native;
    int n = -1, walked_here = 0;
    unsigned ep = atomic_load_explicit(&epoch, memory_order_relaxed);
    if (__builtin_expect(b->epoch != ep, 0)) { /* a fork child's new table: the ids cached are the parent's */
        memset(b->cache, 0, sizeof b->cache);
        b->epoch = ep;
        b->memo.id = 0;
    }
    if (from) {
        unsigned le = atomic_load_explicit(&loads_epoch, memory_order_relaxed);
        if (__builtin_expect(b->rules_epoch != le, 0)) {
            memset(&b->rules, 0, sizeof b->rules);
            b->rules_epoch = le;
            b->memo.id = 0;
        }
        /* Python frames come from the interpreter's state, not the walk; the check compares every stack */
        walked_here = !tq_py_on && !unwind_check;
        if (walked_here && b->memo.id) {
            if (tq_unwind_same(&b->memo, from->rip, from->rsp, from->rbp)) {
                b->memo_misses = 0;
                return b->memo.id;
            }
            if (++b->memo_misses >= MEMO_MISSES) {
                b->memo_misses = 0;
                b->memo_rest = MEMO_REST;
            }
        }
        if (b->memo_rest) {
            b->memo_rest--;
            b->memo.id = 0;
            walked_here = 0;
        }
        n = tq_unwind(from->rip, from->rsp, from->rbp, raw, MAX_DEPTH + 8, &b->rules, walked_here ? &b->memo : NULL);
        walked_here &= n >= 0;
        if (n >= 0)
            n = without_own(raw, n, &frames); /* posix_memalign's event comes through a frame of the shim */
        if (__builtin_expect(unwind_check, 0)) {
            uint64_t walked[MAX_DEPTH];
            if (n > 0)
                memcpy(walked, frames, (size_t)n * sizeof *frames);
            frames = native;
            n = check_walk(walked, n, native, backtrace_native(native));
        }
    }
    if (n < 0) {
        n = backtrace_native(native);
        frames = native;
    }
    if (n <= 0)
        return 0;
    if (tq_py_on) { /* a CPython process: its Python frames go in where the eval loop runs them */
        n = tq_py_merge(frames, n, merged, MAX_DEPTH);
        frames = merged;
    }
    uint64_t h = hash_ips(frames, n);
    struct cache_slot *c = &b->cache[h & (CACHE_N - 1)];
    uint32_t id = c->hash == h && c->id ? c->id : lookup_locked_miss(c, h, frames, n);
    if (walked_here)
        b->memo.id = id;
    return id;
}

/* ---- per-thread buffers ---- */

/* Encode b's published events (tail..head) as one PACKED_EVENTS record into the writer (session lock held):
 * addresses as they are, each with its order number, for the analyzer to match frees to allocations (the shim keeps
 * no table of live blocks). --aggregate matches them here instead, to keep its per-stack totals. Events the thread
 * is still writing (past head) stay for the next hand-off. */
static void put_events_locked(struct evbuf *b)
{
    uint32_t tail = b->tail, head = atomic_load_explicit(&b->head, memory_order_acquire), n = head - tail;
    if (!n)
        return;
    const struct tq_event *ev = &b->ev[tail % EVBUF_N]; /* n events in a row: the ring never wraps (above) */
    if (tq_sess.active && !tq_sess.finished) {
        static uint8_t enc[ENC_CAP]; /* static: one writer at a time (session lock held) */
        if (agg_mode) {
            tq_blocks_aggregate(ev, n, &b->pool); /* put into the order of the events first (block_ids.c) */
        } else {
            int fresh = b->pack_fresh || b->pack_no == TQ_CTX_MAX - 1;
            size_t k = tq_rec_put_ctx_events(enc, sizeof enc, b->pack_no, b->tid, ev, n, &b->pack, fresh);
            /* the writer groups a frame's event records (FORMAT.md 18); a record that did not reach it leaves the
             * reader's context behind the encoder's: the next one starts afresh */
            b->pack_fresh = !k || tq_writer_append_events(&tq_sess.w, enc, k) != 0;
        }
    }
    b->tail = head;
}

/* The thread's hand-off of its full ring (head at a multiple of EVBUF_N). */
static void hand_off(struct evbuf *b)
{
    pthread_mutex_lock(&tq_sess.lock);
    put_events_locked(b);
    pthread_mutex_unlock(&tq_sess.lock);
}

static void thread_gone(void *arg)
{
    struct evbuf *b = arg;
    tq_self.guard++;
    pthread_mutex_lock(&tq_sess.lock);
    put_events_locked(b); /* all of them: the next thread to claim b starts at head == tail */
    pthread_mutex_unlock(&tq_sess.lock);
    my_buf = NULL;
    atomic_store(&b->dead, 1);
    tq_self.guard--;
}

/* This thread's buffer: a dead thread's, or a fresh mapping. NULL when memory is short. Guard held. */
static struct evbuf *buf_get(void)
{
    struct evbuf *b;
    for (b = atomic_load(&registry); b; b = b->next) {
        int d = 1;
        if (atomic_load(&b->dead) && atomic_compare_exchange_strong(&b->dead, &d, 0))
            break;
    }
    int fresh = !b;
    if (!b) {
        if (!(b = tq_raw_map(sizeof *b)))
            return NULL;
        pthread_mutex_lock(&reg_lock);
        b->pack_no = pack_numbers < TQ_CTX_MAX - 1 ? pack_numbers++ : TQ_CTX_MAX - 1;
        b->next = atomic_load(&registry);
        atomic_store(&registry, b);
        pthread_mutex_unlock(&reg_lock);
    }
    b->tid = (uint32_t)syscall(SYS_gettid); /* read by a flush only once an event of ours is published */
    b->pack_fresh = 1; /* a new thread's records: a fresh context (FORMAT.md 18) */
    if (fresh) /* a new mapping's rules are empty: no need to clear them (and touch their pages) */
        b->rules_epoch = atomic_load_explicit(&loads_epoch, memory_order_relaxed);
    my_buf = b;
    if (exit_key_ok)
        pthread_setspecific(exit_key, b);
    return b;
}

/* ---- the process-wide order of events (tq_event.seq) ----
 * Every event takes a number; an event that happens after another one (in the program's order, or through the
 * program's own synchronization: a block passed to another thread and freed there) gets a bigger number. Numbers
 * come from event_seq with a locked add, or, for the thread whose buffer is seq_solo, from its own counter.
 * A thread's `taking` covers its look at seq_solo and the number it takes after it. x86 may let that load pass the
 * store of `taking`: whoever changes seq_solo (under seq_lock) therefore calls membarrier, after which every thread
 * that read the old seq_solo shows taking = 1, and waits for it to drop to 0:
 *   claim: seq_solo = b, membarrier, wait for every other thread's taking; then nobody is still adding to event_seq
 *          (the others see b and come to seq_lock), and b counts on from event_seq.
 *   revoke: seq_solo = SEQ_REVOKING, membarrier, wait for the owner's taking; event_seq = its next number; NULL;
 *           the next claim needs a streak twice as long. */

static void membarrier_all(void)
{
    syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
}

/* The owner's next number (only its thread writes it: a plain load and store, no locked instruction). */
static inline __attribute__((always_inline)) uint64_t solo_step(struct evbuf *b)
{
    uint64_t seq = atomic_load_explicit(&b->solo_next, memory_order_relaxed);
    atomic_store_explicit(&b->solo_next, seq + 1, memory_order_relaxed);
    return seq;
}

/* The next number to be taken, or a smaller one while the counting changes hands: every event numbered below it has
 * taken its number. */
static uint64_t seq_next(void)
{
    struct evbuf *s = atomic_load(&seq_solo);
    uint64_t q = atomic_load(&event_seq.next);
    if (s && s != SEQ_REVOKING) {
        uint64_t n = atomic_load_explicit(&s->solo_next, memory_order_relaxed);
        q = n > q ? n : q;
    }
    return q;
}

/* Wait until x is not taking a number. */
static void wait_taken(struct evbuf *x)
{
    while (atomic_load_explicit(&x->taking, memory_order_acquire))
        sched_yield();
}

/* The counting goes back to event_seq (seq_lock held). */
static void revoke_locked(void)
{
    struct evbuf *s = atomic_load(&seq_solo);
    if (!s || s == SEQ_REVOKING)
        return;
    atomic_store(&seq_solo, SEQ_REVOKING);
    membarrier_all();
    wait_taken(s);
    atomic_store(&event_seq.next, atomic_load(&s->solo_next));
    atomic_store(&seq_solo, NULL);
    if (solo_streak < SOLO_STREAK_MAX)
        __atomic_store_n(&solo_streak, solo_streak * 2, __ATOMIC_RELAXED);
}

/* b's thread counts alone from now on (it is taking a number: seq_shared's caller). */
static void claim(struct evbuf *b)
{
    pthread_mutex_lock(&seq_lock);
    if (!atomic_load(&seq_solo)) {
        atomic_store(&seq_solo, b);
        membarrier_all();
        for (struct evbuf *x = atomic_load(&registry); x; x = x->next)
            if (x != b)
                wait_taken(x);
        atomic_store(&b->solo_next, atomic_load(&event_seq.next));
    }
    pthread_mutex_unlock(&seq_lock);
}

/* A number from event_seq, for a thread that is not seq_solo (taking = 1): another thread's counting is taken back
 * first; a thread that has taken solo_streak in a row claims the counting. */
static __attribute__((noinline)) uint64_t seq_shared(struct evbuf *b)
{
    struct evbuf *s;
    while ((s = atomic_load(&seq_solo)) != NULL) {
        if (s == b)
            return solo_step(b);
        atomic_store(&b->taking, 0); /* not while waiting: the claimer or revoker may wait for it */
        pthread_mutex_lock(&seq_lock);
        revoke_locked();
        pthread_mutex_unlock(&seq_lock);
        b->streak = 0;
        atomic_store(&b->taking, 1); /* seq_cst: a full fence before seq_solo is read again */
    }
    uint64_t seq = atomic_fetch_add(&event_seq.next, 1);
    b->streak = seq == b->last_seq + 1 ? b->streak + 1 : 0;
    b->last_seq = seq;
    if (b->streak >= __atomic_load_n(&solo_streak, __ATOMIC_RELAXED) && membarrier_ok) {
        b->streak = 0;
        claim(b);
    }
    return seq;
}

/* This thread's next order number. The owner of the counting takes it with two plain stores and a load. */
static inline __attribute__((always_inline)) uint64_t seq_take(struct evbuf *b)
{
    atomic_store_explicit(&b->taking, 1, memory_order_relaxed);
    atomic_signal_fence(memory_order_seq_cst); /* the compiler keeps the store before the load (the CPU: above) */
    uint64_t seq = atomic_load_explicit(&seq_solo, memory_order_relaxed) == b ? solo_step(b) : seq_shared(b);
    atomic_store_explicit(&b->taking, 0, memory_order_release);
    return seq;
}

/* ---- byte sampling (record --sample-bytes; FORMAT.md PROCESS) ---- */

static int is_heap_alloc(unsigned k)
{
    return k == TQ_CALL_MALLOC || k == TQ_CALL_CALLOC || k == TQ_CALL_REALLOC || k == TQ_CALL_REALLOCARRAY ||
           k == TQ_CALL_POSIX_MEMALIGN || k == TQ_CALL_ALIGNED_ALLOC || k == TQ_CALL_MEMALIGN ||
           k == TQ_CALL_VALLOC || k == TQ_CALL_PVALLOC;
}

/* Bytes to the next sample point: exponential with mean sample_mean (points of a Poisson process over bytes). */
static int64_t sample_gap(void)
{
    if (!sample_rng)
        sample_rng = ((uint64_t)syscall(SYS_gettid) * 0x9E3779B97F4A7C15ull) ^ (uint64_t)(uintptr_t)&sample_rng;
    sample_rng ^= sample_rng >> 12;
    sample_rng ^= sample_rng << 25;
    sample_rng ^= sample_rng >> 27;
    double u = (double)((sample_rng * 0x2545F4914F6CDD1Dull) >> 11) * 0x1.0p-53; /* [0, 1) */
    double gap = -sample_mean * log1p(-u);
    return gap < 1 ? 1 : gap > 9.0e18 ? INT64_MAX : (int64_t)gap;
}

/* Whether an allocation of size bytes holds a sample point: probability 1 - exp(-size / sample_mean). */
static int take_sample(uint64_t size)
{
    if (sample_left == 0)
        sample_left = sample_gap();
    sample_left -= size > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)size;
    if (sample_left > 0)
        return 0;
    while (sample_left <= 0) /* every point inside this allocation is used up by it */
        sample_left += sample_gap();
    return 1;
}

/* tq_stacks_event's body, inlined into its entry points so that unw_backtrace runs in their frame.
 * info_mode: flags TQ_EV_INFO with given (stack id | mark << 24): a free of an info-tagged block (size its request);
 * old_info != 0 likewise: the old block of a realloc was info-tagged (old_size its request, old_addr its address),
 * or old_info is TQ_OLD_FREED: its FREE came before (the event is TQ_EV_OLD_FREED, old_addr NULL). */
static inline __attribute__((always_inline)) void event(unsigned kind, const void *addr, uint64_t size,
                                                        const void *old_addr, int with_stack,
                                                        const struct entry *from, unsigned flags,
                                                        uint32_t given, uint64_t old_size, uint32_t old_info)
{
    struct tq_thread *t = &tq_self;
    if (!tq_sess.active || tq_sess.finished)
        return;
    flags |= old_info >> 31 ? TQ_EV_OLD_FREED : 0; /* TQ_OLD_FREED */
    if (__builtin_expect(sample_mean > 0, 0) && is_heap_alloc(kind)) {
        int sampled = take_sample(size);
        if (sampled && addr && tq_sampled_on) {
            t->guard++;
            if (tq_sampled_add(addr)) /* no room to remember it: its free could not be recorded, so neither is it */
                sampled = 0;
            t->guard--;
        }
        if (!sampled) {
            if (!old_addr)
                return; /* not recorded, and nothing to release */
            kind = TQ_CALL_FREE; /* an unrecorded realloc still releases its old block (which may have been recorded) */
            addr = old_addr;
            size = 0;
            old_addr = NULL;
            with_stack = 0;
        }
    }
    t->guard++; /* unwinding may allocate or map: none of that is the program's */
    struct evbuf *b = my_buf ? my_buf : buf_get();
    if (!b)
        goto out;
    uint32_t id = with_stack ? capture(b, from) : given & 0xFFFFFFu;
    uint32_t old_stack = old_info & 0xFFFFFFu;
    if (info_mode && kind != TQ_CALL_MMAP && kind != TQ_CALL_MMAP64 && kind != TQ_CALL_MUNMAP &&
        kind != TQ_CALL_MREMAP) { /* heap events: whether each block is named by (size, stack) (FORMAT.md 20) */
        uintptr_t last = last_block;
        unsigned mark = b->pack_no % MARKS;
        if (kind == TQ_CALL_FREE) {
            if ((flags & TQ_EV_INFO) && (uintptr_t)addr == last)
                flags |= TQ_EV_TEMP;
            if ((flags & TQ_EV_INFO) && !(given & TQ_INFO_NO_MARK) && given >> 24 != mark)
                atomic_store_explicit(&escaped[given >> 24], 1, memory_order_relaxed);
            last_block = 0;
        } else {
            if (old_stack && (uintptr_t)old_addr == last)
                flags |= TQ_EV_OLD_TEMP;
            if (old_stack) {
                if (!(old_info & TQ_INFO_NO_MARK) && old_info >> 24 != mark)
                    atomic_store_explicit(&escaped[old_info >> 24], 1, memory_order_relaxed);
                flags |= TQ_EV_OLD_INFO;
                old_addr = (const void *)(uintptr_t)old_size; /* the event names the old block by its size */
            }
            if (addr && id && !atomic_load_explicit(&escaped[mark], memory_order_relaxed) &&
                tq_heap_tag_info((void *)(uintptr_t)addr, id, mark))
                flags |= TQ_EV_INFO;
            last_block = (uintptr_t)addr;
        }
    }
    struct timespec ts;
    /* The coarse clock (the kernel tick, 1-4 ms) is a plain memory read; the precise one cost 11% of a malloc
     * storm under --stacks. Events keep their order regardless: it is the order of the buffer. */
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    uint32_t head = atomic_load_explicit(&b->head, memory_order_relaxed); /* ours: no other thread writes it */
    struct tq_event *e = &b->ev[head % EVBUF_N]; /* past head: no reader looks at it until it is published */
    e->kind = (uint8_t)kind;
    e->flags = (uint8_t)flags;
    e->old_stack = old_stack;
    e->t_ns = now > tq_sess.t0 ? now - tq_sess.t0 : 0;
    if (head % EVBUF_N && e->t_ns < e[-1].t_ns) /* never decreasing within a record (FORMAT.md) */
        e->t_ns = e[-1].t_ns;
    e->addr = (uint64_t)(uintptr_t)addr;
    e->size = size;
    e->old_addr = (uint64_t)(uintptr_t)old_addr;
    e->stack_id = id;
    /* Its place in the process-wide order, taken last: with threads running on two CPUs at once the locked add
     * waits for its cache line to come from the other CPU, and taken first (before the stack walk) it also held up
     * everything after it (a 4-thread --stacks malloc storm: 1.83-1.89 -> 2.24-2.59 s CPU). The order stays the one
     * that matters, the event's against the real call it reports. */
    e->seq = seq_take(b);
    atomic_store_explicit(&b->head, head + 1, memory_order_release); /* the event is complete: readers may take it */
    __builtin_prefetch(e + 1, 1); /* the next event's slot, for writing (past the ring's end: the next field) */
    if ((head + 1) % EVBUF_N == 0)
        hand_off(b); /* before the next event goes to ev[0] */
out:
    t->guard--;
}

void tq_stacks_event(unsigned kind, const void *addr, uint64_t size, const void *old_addr, int with_stack)
{
    event(kind, addr, size, old_addr, with_stack, NULL, 0, 0, 0, 0);
}

void tq_stacks_free_info(const void *p, uint64_t size, uint32_t info)
{
    event(TQ_CALL_FREE, p, size, NULL, 0, NULL, TQ_EV_INFO, info, 0, 0);
}

/* Called in tail position by the heap hooks: its return address is the program's, and its frame pointer (which
 * __builtin_frame_address makes it keep) points at the program's saved rbp, with the return address above it. */
void *tq_stacks_took(unsigned kind, void *p, uint64_t size, const void *old_addr, uint64_t old_size,
                     uint32_t old_info)
{
    const uint64_t *fp = __builtin_frame_address(0);
    struct entry from = {.rip = fp[1], .rsp = (uint64_t)(uintptr_t)(fp + 2), .rbp = fp[0]};
    event(kind, p, size, old_addr, 1, &from, 0, 0, old_size, old_info);
    return p;
}

int tq_stacks_release(const void *p, int free_event)
{
    if (tq_sampled_on) {
        tq_self.guard++;
        int was = tq_sampled_take(p);
        tq_self.guard--;
        if (!was)
            return 0; /* not sampled: its allocation is not in the trace, so neither is its free */
    }
    if (free_event) /* inlined: a free's own copy, without the stack and sampling paths */
        event(TQ_CALL_FREE, p, 0, NULL, 0, NULL, 0, 0, 0, 0);
    return 1;
}

void tq_stacks_flush_locked(void)
{
    if (!tq_mode.stacks)
        return;
    check_maps_locked();
    uint64_t below = seq_next(); /* events numbered before it are published by now, or being written */
    for (struct evbuf *b = atomic_load(&registry); b; b = b->next)
        put_events_locked(b); /* what each thread has published; it goes on writing meanwhile */
    if (agg_mode) {
        tq_blocks_aggregate_below(below);
        tq_agg_put_locked();
    }
}

void tq_stacks_start_locked(void)
{
    written.id = written.depth = 0; /* a new trace file: its first stack is relative to none */
    if (!tq_mode.stacks)
        return;
    put_maps_locked();
    tq_py_start_locked();
}

void tq_stacks_reset_child(void)
{
    if (!tq_mode.stacks)
        return;
    /* Only this thread exists in the child; other buffers' events were the parent's (flushed in fork_prepare). */
    for (struct evbuf *b = atomic_load(&registry); b; b = b->next) {
        b->tail = atomic_load(&b->head); /* dropped: the parent's (an event being written at fork is dropped too) */
        b->pool.n = 0;
        b->pack_fresh = 1; /* the child's trace starts every context afresh */
        if (b != my_buf)
            atomic_store(&b->dead, 1);
    }
    pthread_mutex_init(&reg_lock, NULL);
    struct evbuf *solo = atomic_load(&seq_solo); /* its thread is gone (or is this one): event_seq counts on */
    if (solo && solo != SEQ_REVOKING && atomic_load(&solo->solo_next) > atomic_load(&event_seq.next))
        atomic_store(&event_seq.next, atomic_load(&solo->solo_next));
    atomic_store(&seq_solo, NULL);
    pthread_mutex_init(&seq_lock, NULL);
    for (struct evbuf *b = atomic_load(&registry); b; b = b->next) {
        atomic_store(&b->taking, 0);
        b->streak = 0;
    }
    tq_hash_ids_clear(&table);
    next_id = 1;
    tq_heap_generation++; /* the parent's info-tagged blocks name stacks of its trace: the child names them by address */
    tq_blocks_reset(atomic_load(&event_seq.next)); /* the child's next event's number */
    tq_sampled_reset_child();
    tq_py_reset_child();
    atomic_fetch_add(&epoch, 1);
    if (agg_mode)
        tq_agg_reset();
    maps_generation = 0;
}

/* The executable range of the object holding range->me. */
struct code_range {
    uintptr_t me, lo, hi;
};

static int range_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct code_range *r = data;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        uintptr_t a = info->dlpi_addr + ph->p_vaddr;
        if (a < lo)
            lo = a;
        if (a + ph->p_memsz > hi)
            hi = a + ph->p_memsz;
    }
    if (r->me >= lo && r->me < hi) {
        r->lo = lo;
        r->hi = hi;
        return 1;
    }
    return 0;
}

static void code_range_of(uintptr_t me, uintptr_t *lo, uintptr_t *hi)
{
    struct code_range r = {me, 0, 0};
    dl_iterate_phdr(range_cb, &r);
    *lo = r.lo;
    *hi = r.hi;
}

void tq_stacks_init(int aggregate, unsigned long sample_bytes, int python_frames)
{
    sample_mean = aggregate ? 0 : (double)sample_bytes; /* --aggregate keeps exact totals */
    code_range_of((uintptr_t)&tq_stacks_init, &self_lo, &self_hi);
    /* libunwind maps its per-thread trace cache itself (no hook sees it) but unmaps it with munmap from a thread
     * exit destructor, outside the guard: knowing its code lets the munmap hook leave that out of the program's
     * mmap bytes (they went negative by 256 KiB per thread). */
    code_range_of((uintptr_t)&unw_backtrace, &tq_unwinder_lo, &tq_unwinder_hi);
    exit_key_ok = pthread_key_create(&exit_key, thread_gone) == 0;
    agg_mode = aggregate;
    const char *by_addr = secure_getenv("TRACEQ_FREE_BY_ADDR");
    info_mode = !aggregate && !(sample_mean > 0) && !(by_addr && !strcmp(by_addr, "1"));
    membarrier_ok = syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
    const char *check = secure_getenv("TRACEQ_UNWIND_CHECK");
    unwind_check = check && !strcmp(check, "1");
    if (sample_mean > 0 && tq_sampled_init())
        tq_session_say("no memory for the set of sampled blocks: every free is recorded");
    if (aggregate && tq_agg_init())
        return;
    if (python_frames)
        tq_py_init();
    tq_mode.stacks = 1;
}
