/* session.c - the shim's life cycle: settings, opening the trace, fork/exec/exit handling, the final records. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../traces/settings.h"
#include "../traces/writer.h"
#include "session.h"

struct tq_session tq_sess = {.lock = PTHREAD_MUTEX_INITIALIZER, .statm_fd = -1, .w = {.fd = -1}};

uint64_t tq_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static pid_t raw_getpid(void)
{
    return (pid_t)syscall(SYS_getpid);
}

void tq_session_say(const char *fmt, ...)
{
    if (!tq_sess.set.verbose)
        return;
    char line[1024];
    int n = snprintf(line, sizeof line, "traceq[%d]: ", (int)raw_getpid());
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = strlen(line);
    line[len++] = '\n';
    ssize_t k = write(2, line, len);
    (void)k;
}

/* Append one encoded record; records that do not fit the scratch are dropped (they never should). */
#define PUT(expr)                                                                                            \
    do {                                                                                                     \
        uint8_t rec_[512];                                                                                   \
        uint8_t *buf = rec_;                                                                                 \
        size_t cap = sizeof rec_;                                                                            \
        size_t n_ = (expr);                                                                                  \
        if (n_)                                                                                              \
            tq_writer_append(&tq_sess.w, rec_, n_);                                                          \
    } while (0)

void tq_session_put_calls_locked(void)
{
    uint64_t c[TQ_CALL_COUNT];
    for (unsigned i = 0; i < TQ_CALL_COUNT; i++)
        c[i] = atomic_load_explicit(&tq_totals.calls[i], memory_order_relaxed);
    PUT(tq_rec_put_calls(buf, cap, c));
}

/* The PROCESS record, encoded into a buffer sized for argv (long command lines are common: compilers, java). */
static void put_process(int forked)
{
    struct tq_rec_process p = {.pid = (uint32_t)tq_sess.pid, .ppid = (uint32_t)getppid(),
                               .interval_us = tq_sess.set.interval_ms * 1000u, .page_size = (uint32_t)tq_sess.page,
                               .flags = (forked ? TQ_PROC_FORKED : 0) | (tq_mode.stacks ? TQ_PROC_STACKS : 0),
                               .sample_bytes = tq_mode.stacks && !tq_sess.set.aggregate ? tq_sess.set.sample_bytes : 0};
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    p.start_unix_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    size_t need = 64 + strlen(tq_sess.exe);
    for (int i = 0; i < tq_sess.argc; i++)
        need += 4 + strlen(tq_sess.argv[i]);
    int argc = tq_sess.argc;
    if (need > TQ_WRITER_BUF - 64) { /* keep the record within one frame buffer: drop the arguments */
        need = 64 + strlen(tq_sess.exe);
        argc = 0;
    }
    uint8_t *buf = malloc(need);
    if (!buf)
        return;
    size_t n = tq_rec_put_process(buf, need, &p, tq_sess.exe, argc, tq_sess.argv);
    if (n)
        tq_writer_append(&tq_sess.w, buf, n);
    free(buf);
}

static void append_manifest(void)
{
    if (!tq_sess.set.manifest[0])
        return;
    int fd = open(tq_sess.set.manifest, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return;
    char line[sizeof tq_sess.path + 2];
    size_t n = strlen(tq_sess.path);
    memcpy(line, tq_sess.path, n);
    line[n++] = '\n';
    ssize_t k = write(fd, line, n); /* one short O_APPEND write: lines from many processes do not mix */
    (void)k;
    close(fd);
}

/* Open this process's trace and start sampling. Called with the guard up. */
static void session_start(int forked)
{
    tq_sess.pid = raw_getpid();
    tq_sess.t0 = tq_now_ns();
    tq_sess.rss_peak = tq_sess.rss_peak_t = 0;
    memset(&tq_sess.last_sample, 0, sizeof tq_sess.last_sample); /* a new trace: its first sample is against 0 */
    tq_sess.last_flush = tq_sess.t0;
    tq_sess.finished = 0;
    tq_sess.exec_pending = 0;
    atomic_store(&tq_sess.stop, 0);
    int fd = tq_trace_create(tq_sess.set.output_dir, tq_sess.exe, tq_sess.pid, tq_sess.path, sizeof tq_sess.path);
    if (fd < 0) {
        tq_session_say("cannot create a trace in %s: %s", tq_sess.set.output_dir, strerror(-fd));
        return;
    }
    int high = tq_fd_place_high(fd); /* out of the program's way: its first open() still gets 3 (hooks_fd.c) */
    if (high >= 0)
        fd = high;
    if (tq_writer_restart(&tq_sess.w, fd)) { /* a fork child reuses its parent's buffers (fork_child) */
        close(fd);
        return;
    }
    if (tq_mode.stacks && !tq_sess.set.aggregate)
        tq_writer_group_events(&tq_sess.w); /* can't fail on an open writer */
    tq_session_fds_start();
    put_process(forked);
    tq_stacks_start_locked();
    tq_sampler_sample_locked(0);
    tq_writer_flush(&tq_sess.w); /* the header reaches the disk at once: even an instant SIGKILL leaves it */
    tq_sess.active = 1;
    append_manifest();
    tq_session_say("tracing %s into %s", tq_sess.exe, tq_sess.path);
    if (tq_sampler_start())
        tq_session_say("cannot start the sampler thread; only the end will be recorded");
}

/* Read "Key:   N kB" from /proc/self/status. */
static uint64_t status_kb(const char *buf, const char *key)
{
    const char *p = strstr(buf, key);
    if (!p)
        return 0;
    p += strlen(key);
    while (*p == ' ' || *p == '\t' || *p == ':')
        p++;
    uint64_t v = 0;
    while (*p >= '0' && *p <= '9')
        v = v * 10 + (uint64_t)(*p++ - '0');
    return v * 1024;
}

static void put_end(unsigned reason, int status, uint64_t t)
{
    struct tq_rec_end e = {.t_ns = t, .reason = reason, .status = status};
    char text[4096];
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, text, sizeof text - 1);
        close(fd);
        text[n > 0 ? n : 0] = 0;
        e.vm_hwm = status_kb(text, "VmHWM");
        e.vm_peak = status_kb(text, "VmPeak");
    }
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        e.ru_maxrss = (uint64_t)ru.ru_maxrss * 1024;
    e.rss_peak = tq_sess.rss_peak;
    e.rss_peak_t_ns = tq_sess.rss_peak_t;
    e.heap_peak_req = (uint64_t)atomic_load(&tq_totals.peak_req);
    e.heap_peak_usable = (uint64_t)atomic_load(&tq_totals.peak_use);
    e.mmap_peak = (uint64_t)atomic_load(&tq_totals.peak_mmap);
    e.heap_live_req = atomic_load(&tq_totals.live_req);
    e.heap_live_usable = atomic_load(&tq_totals.live_use);
    e.mmap_live = atomic_load(&tq_totals.live_mmap);
    PUT(tq_rec_put_end(buf, cap, &e));
}

void tq_session_finish(unsigned reason, int status)
{
    if (!tq_sess.active || raw_getpid() != tq_sess.pid) /* vfork/clone children share our memory: not theirs */
        return;
    tq_guard_up();
    tq_counters_publish();
    pthread_mutex_lock(&tq_sess.lock);
    if (!tq_sess.finished) {
        tq_stacks_flush_locked(); /* first: event buffers are only written while the trace is not finished */
        tq_sess.finished = 1;
        atomic_store(&tq_sess.stop, 1);
        uint64_t t = tq_now_ns() - tq_sess.t0;
        tq_sampler_sample_locked(t);
        tq_session_put_calls_locked();
        put_end(reason, status, t);
        if (tq_writer_close(&tq_sess.w)) /* lost (descriptor gone and not reopened, disk full): say so */
            tq_session_say("could not finish %s: its end was not written", tq_sess.path);
        else
            tq_session_say("wrote %s", tq_sess.path);
    }
    pthread_mutex_unlock(&tq_sess.lock);
    tq_guard_down();
}

void tq_session_exec(const char *path)
{
    if (!tq_sess.active || raw_getpid() != tq_sess.pid)
        return;
    tq_guard_up();
    tq_counters_publish();
    pthread_mutex_lock(&tq_sess.lock);
    if (!tq_sess.finished) {
        tq_stacks_flush_locked();
        uint64_t t = tq_now_ns() - tq_sess.t0;
        tq_sampler_sample_locked(t);
        tq_session_put_calls_locked();
        uint8_t *rec = malloc(TQ_REC_HEADER_SIZE + 16 + strlen(path));
        size_t n = rec ? tq_rec_put_exec(rec, TQ_REC_HEADER_SIZE + 16 + strlen(path), t, path) : 0;
        if (n)
            tq_writer_append(&tq_sess.w, rec, n);
        free(rec);
        tq_writer_flush(&tq_sess.w);
        tq_sess.last_flush = tq_now_ns();
        /* Until execve returns (it failed) or replaces us, EXEC must stay the last record: a sample written after
         * it made the summary call an exec'd process "killed?" (test_stress_tree, 1 run in ~20 under load). */
        tq_sess.exec_pending = 1;
    }
    pthread_mutex_unlock(&tq_sess.lock);
    tq_guard_down();
}

void tq_session_exec_failed(void)
{
    if (!tq_sess.active || raw_getpid() != tq_sess.pid)
        return;
    tq_guard_up();
    pthread_mutex_lock(&tq_sess.lock);
    tq_sess.exec_pending = 0;
    pthread_mutex_unlock(&tq_sess.lock);
    tq_guard_down();
}

/* ---- fork: the writer lock is taken around fork() so the child never inherits it held mid-write ---- */

static void fork_prepare(void)
{
    tq_guard_up();
    pthread_mutex_lock(&tq_sess.lock);
    if (tq_sess.active && !tq_sess.finished)
        tq_stacks_flush_locked(); /* the parent's buffered events are the parent's: into its trace before fork */
}

static void fork_parent(void)
{
    pthread_mutex_unlock(&tq_sess.lock);
    tq_guard_down();
}

static void fork_child(void)
{
    pthread_mutex_unlock(&tq_sess.lock);
    tq_fd_gate_reset_child();
    int was_active = tq_sess.active && !tq_sess.finished;
    tq_sess.active = 0;
    /* The parent's queued records and file are the parent's: drop them, never write them twice. */
    tq_writer_release_file(&tq_sess.w);
    if (tq_sess.statm_fd >= 0)
        close(tq_sess.statm_fd);
    __atomic_store_n(&tq_sess.statm_fd, -1, __ATOMIC_RELAXED);
    if (was_active && tq_sess.set.follow_fork) {
        tq_counters_reset_for_child();
        tq_stacks_reset_child();
        session_start(1);
        tq_snapshot_rearm();
    }
    tq_guard_down();
}

/* exit()'s status, kept by the exit handler for the destructor below (exit_seen: the handler ran). */
static int exit_status = -1, exit_seen;

/* exit() or return from main: not the end yet. The program's static destructors (C++ objects, registered before
 * main with __cxa_atexit, so run after this handler) and the loader's _dl_fini (every object's destructors) still
 * run and may free memory: a block freed there is not a leak. So the status is kept and END is written by the
 * shim's own destructor, which _dl_fini runs after the program's. _exit() from a later handler still writes END
 * (hooks_proc.c); abort() or a crash there leaves a trace without END, as anywhere else. */
static void on_exit_handler(int status, void *arg)
{
    (void)arg;
    if (!exit_seen && raw_getpid() == tq_sess.pid) {
        exit_status = status;
        exit_seen = 1;
    }
}

void tq_session_register_exit(void)
{
    if (tq_sess.active)
        on_exit(on_exit_handler, NULL);
}

/* A private copy of the arguments, made at start-up: the program owns its argv array and may rewrite it (git's
 * option parser writes NULL into it), and a forked child's PROCESS record is encoded long after start-up, so
 * reading the program's array then crashed `git commit`'s maintenance child (tests/test_transparency_argv.c).
 * Stops at the first NULL. Lives as long as the process; *kept gets the count (0 when memory is short). */
static char **copy_argv(int argc, char **argv, int *kept)
{
    size_t bytes = 0;
    int n = 0;
    for (; n < argc && argv[n]; n++)
        bytes += strlen(argv[n]) + 1;
    char **copy = __libc_malloc((size_t)(n + 1) * sizeof *copy + bytes);
    *kept = copy ? n : 0;
    if (!copy)
        return NULL;
    char *p = (char *)(copy + n + 1);
    for (int i = 0; i < n; i++) {
        size_t len = strlen(argv[i]) + 1;
        copy[i] = memcpy(p, argv[i], len);
        p += len;
    }
    copy[n] = NULL;
    return copy;
}

/* glibc passes (argc, argv, envp) to constructors of shared objects; argv is copied (see copy_argv). */
static void __attribute__((constructor)) tq_session_init(int argc, char **argv, char **envp)
{
    (void)envp;
    tq_guard_up();
    /* glibc's own malloc_usable_size: the layout check below compares with it, and an inert shim answers with it */
    tq_heap_real_usable = (size_t(*)(void *))dlsym(RTLD_NEXT, "malloc_usable_size");
    tq_settings_defaults(&tq_sess.set);
    if (getauxval(AT_SECURE)) { /* setuid/setgid: stay inert, read nothing from the environment */
        tq_mode.off = 1;
        goto out;
    }
    char msg[256];
    if (tq_settings_from_env(&tq_sess.set, secure_getenv, msg, sizeof msg))
        tq_session_say("%s; using the default", msg);
    if (!tq_sess.set.enabled) {
        tq_mode.off = 1;
        goto out;
    }
    /* The heap hooks read glibc's chunk header directly; make sure that matches this glibc. Heap chunks only
     * (below glibc's default mmap threshold of 128 KiB): freeing an mmapped chunk above the threshold makes glibc
     * raise it and its trim threshold for the rest of the process, which changed the program's own heap growth
     * (git log -p: 909 brk calls bare, 14 under the shim; tests/progs/heap_growth.c). An mmapped chunk has the same
     * header with the IS_MMAPPED bit, and its mapping ends where the size field says (chunk_usable's other case).
     * The header is read only once the C library's own answer has glibc's granularity (a heap chunk holds 16k + 8
     * bytes): another allocator behind __libc_malloc (valgrind's, whose blocks are bare, with no-access redzones
     * around them) fails that first and is never read outside a block. */
    int layout_ok = tq_heap_real_usable != NULL;
    for (size_t n = 1; layout_ok && n < (128u << 10) - 64; n = n * 3 + 5) {
        void *p = __libc_malloc(n);
        size_t glibc_says = p ? tq_heap_real_usable(p) : 0;
        layout_ok = p && glibc_says >= n && glibc_says % (2 * sizeof(size_t)) == sizeof(size_t) &&
                    glibc_says == tq_heap_chunk_usable(p);
        __libc_free(p);
    }
#ifdef TQ_TESTING
    if (getenv("TQ_TESTING_HEAP_FOREIGN")) /* test builds: act as if the check failed (tests/test_shim_inert.c) */
        layout_ok = 0;
    const char *gap = getenv("TQ_TESTING_REALLOC_GAP_US"); /* tests/test_stacks.c: realloc_race */
    tq_heap_realloc_gap_us = gap ? atol(gap) : 0;
    gap = getenv("TQ_TESTING_MUNMAP_GAP_US"); /* tests/test_shim_counters.c: map_race */
    tq_map_release_gap_us = gap ? atol(gap) : 0;
#endif
    if (!layout_ok) {
        tq_session_say("this C library's heap layout is not the one traceq knows; staying inert");
        tq_mode.off = 1;
        goto out;
    }
    tq_sess.page = sysconf(_SC_PAGESIZE);
    tq_sess.argv = copy_argv(argc, argv, &tq_sess.argc);
    ssize_t k = readlink("/proc/self/exe", tq_sess.exe, sizeof tq_sess.exe - 1);
    tq_sess.exe[k > 0 ? k : 0] = 0;
    if (k <= 0 && argc > 0)
        snprintf(tq_sess.exe, sizeof tq_sess.exe, "%s", argv[0]);
    if (tq_sess.set.output_dir[0] != '/') { /* fix it now: a later chdir() must not move a child's trace */
        char cwd[sizeof tq_sess.set.output_dir], abs[sizeof tq_sess.set.output_dir];
        const char *rel = strcmp(tq_sess.set.output_dir, ".") ? tq_sess.set.output_dir : NULL;
        if (getcwd(cwd, sizeof cwd) &&
            (size_t)snprintf(abs, sizeof abs, "%s%s%s", cwd, rel ? "/" : "", rel ? rel : "") < sizeof abs)
            memcpy(tq_sess.set.output_dir, abs, sizeof abs);
    }
    tq_counters_register_thread();
    tq_fd_hooks_init();
    if (tq_sess.set.stacks)
        tq_stacks_init(tq_sess.set.aggregate, tq_sess.set.sample_bytes, tq_sess.set.python_frames);
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    session_start(0);
    tq_snapshot_init();
    tq_session_register_exit(); /* a fallback: __libc_start_main's hook registers again, earlier in the order */
    if (!tq_mode.any) /* plain counting, for good: the heap hooks' fast path may open (tq_fast_open) */
        atomic_store_explicit(&tq_fast_ok, 1, memory_order_relaxed);
out:
    tq_guard_down();
}

/* The end of an exit(): after the program's static destructors and the destructors of the objects _dl_fini
 * finalizes before the shim (the executable's always; libraries in the loader's order). Priority 101: the last of
 * the shim's own. The status is unknown (-1) when no exit handler ran (the library unloaded some other way). */
static void __attribute__((destructor(101))) tq_session_fini(void)
{
    tq_session_finish(TQ_END_EXIT, exit_status);
}
