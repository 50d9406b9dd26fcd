/* sampler.c - the sampler thread: reads /proc/self/statm with pread every interval, writes SAMPLE records, and
 * compresses a frame at least every TRACEQ_FLUSH_MS so a killed process leaves a readable trace (FORMAT.md F7). */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "session.h"

/* size resident shared (pages) from statm; no stdio: this runs inside someone else's process. */
static void read_statm(uint64_t out[3])
{
    char buf[128];
    out[0] = out[1] = out[2] = 0;
    tq_session_check_statm_locked(); /* the program may have closed or replaced it with a raw system call */
    if (tq_sess.statm_fd < 0)
        return;
    ssize_t n = pread(tq_sess.statm_fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return;
    buf[n] = 0;
    const char *p = buf;
    for (int i = 0; i < 3; i++) {
        while (*p == ' ')
            p++;
        while (*p >= '0' && *p <= '9')
            out[i] = out[i] * 10 + (uint64_t)(*p++ - '0');
    }
}

void tq_sampler_sample_locked(uint64_t t_ns)
{
    uint64_t statm[3];
    read_statm(statm);
    uint64_t page = (uint64_t)tq_sess.page;
    struct tq_rec_sample s = {
        .t_ns = t_ns,
        .vm_size = statm[0] * page,
        .vm_rss = statm[1] * page,
        .vm_shared = statm[2] * page,
        .heap_live_req = atomic_load_explicit(&tq_totals.live_req, memory_order_relaxed),
        .heap_live_usable = atomic_load_explicit(&tq_totals.live_use, memory_order_relaxed),
        .heap_peak_req = (uint64_t)atomic_load_explicit(&tq_totals.peak_req, memory_order_relaxed),
        .heap_peak_usable = (uint64_t)atomic_load_explicit(&tq_totals.peak_use, memory_order_relaxed),
        .mmap_live = atomic_load_explicit(&tq_totals.live_mmap, memory_order_relaxed),
        .mmap_peak = (uint64_t)atomic_load_explicit(&tq_totals.peak_mmap, memory_order_relaxed),
    };
    /* the profiler's own memory: its raw mappings (event buffers, stack and block tables) and the trace writer */
    s.shim_bytes = atomic_load_explicit(&tq_raw_mapped, memory_order_relaxed) + tq_writer_own_bytes(&tq_sess.w) +
                   tq_blocks_resident_locked();
    for (unsigned i = 0; i < TQ_CALL_COUNT; i++)
        s.calls_total += atomic_load_explicit(&tq_totals.calls[i], memory_order_relaxed);
    if (s.vm_rss > tq_sess.rss_peak) {
        tq_sess.rss_peak = s.vm_rss;
        tq_sess.rss_peak_t = t_ns;
    }
    uint8_t rec[TQ_REC_HEADER_SIZE + 128];
    size_t n = tq_rec_put_sample_pred(rec, sizeof rec, &s, &tq_sess.last_sample); /* FORMAT.md 22 */
    if (n && tq_writer_append(&tq_sess.w, rec, n) == 0)
        tq_sess.last_sample = s;
    tq_snapshot_sample_locked(&s);
}

static void add_ns(struct timespec *ts, uint64_t ns)
{
    ns += (uint64_t)ts->tv_nsec;
    ts->tv_sec += (time_t)(ns / 1000000000u);
    ts->tv_nsec = (long)(ns % 1000000000u);
}

static void *sampler_main(void *arg)
{
    (void)arg;
    tq_self.guard = 1; /* for good: nothing this thread allocates is the program's */
    uint64_t interval = (uint64_t)tq_sess.set.interval_ms * 1000000u;
    uint64_t flush = (uint64_t)tq_sess.set.flush_ms * 1000000u;
    uint64_t tick = interval < flush ? interval : flush;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    uint64_t next_sample = tq_now_ns() + interval;
    while (!atomic_load(&tq_sess.stop)) {
        add_ns(&next, tick);
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) != 0 && !atomic_load(&tq_sess.stop))
            ;
        uint64_t now = tq_now_ns();
        if (now > (uint64_t)next.tv_sec * 1000000000u + (uint64_t)next.tv_nsec + tick) /* fell behind: resync */
            clock_gettime(CLOCK_MONOTONIC, &next);
        pthread_mutex_lock(&tq_sess.lock);
        if (tq_sess.finished || atomic_load(&tq_sess.stop)) {
            pthread_mutex_unlock(&tq_sess.lock);
            break;
        }
        if (tq_sess.exec_pending) { /* EXEC stays the last record while execve runs (session.c) */
            pthread_mutex_unlock(&tq_sess.lock);
            continue;
        }
        if (now >= next_sample) {
            tq_sampler_sample_locked(now - tq_sess.t0);
            next_sample += interval;
            if (next_sample < now)
                next_sample = now + interval;
        }
        if (now - tq_sess.last_flush >= flush) {
            tq_stacks_flush_locked();
            tq_session_put_calls_locked();
            tq_writer_flush(&tq_sess.w);
            tq_sess.last_flush = now;
        }
        pthread_mutex_unlock(&tq_sess.lock);
    }
    return NULL;
}

int tq_sampler_start(void)
{
    /* All signals blocked in the new thread: programs expect their own threads to take their signals
     * (heaptrack, bugs.kde.org 378494). The mask is inherited from the creating thread, then restored. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 << 10);
    pthread_t th;
    int rc = pthread_create(&th, &attr, sampler_main, NULL);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc ? -1 : 0;
}
