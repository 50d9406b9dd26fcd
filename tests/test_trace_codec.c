/* test_trace_codec.c - the trace codec, writer and reader: round trips, truncation, corruption, safe creation. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../report/trace_summary.h"
#include "../traces/codec.h"
#include "../traces/reader.h"
#include "../traces/settings.h"
#include "../traces/writer.h"
#include "helpers.h"

/* Write a small trace: PROCESS, nsamp samples (a frame flushed every 10), CALLS, EVENTS, STACK, MODULE, END. */
static char *write_trace(const char *dir, int nsamp, int with_end)
{
    static char path[4096];
    int fd = tq_trace_create(dir, "/usr/bin/my prog", 4242, path, sizeof path);
    cr_assert_geq(fd, 0, "create: %s", strerror(-fd));
    struct tq_trace_writer w;
    cr_assert_eq(tq_writer_open(&w, fd), 0);
    uint8_t rec[4096];
    char *argv[] = {"prog", "--flag", "", NULL};
    struct tq_rec_process p = {.pid = 4242, .ppid = 7, .start_unix_ns = 1, .interval_us = 10000,
                               .page_size = 4096, .flags = TQ_PROC_FORKED};
    tq_fixture_put(&w, rec, tq_rec_put_process(rec, sizeof rec, &p, "/usr/bin/my prog", 3, argv));
    for (int i = 0; i < nsamp; i++) {
        struct tq_rec_sample s = {.t_ns = 1000u * (uint64_t)(i + 1), .vm_rss = 4096u * (uint64_t)(i % 7 + 1),
                                  .heap_peak_req = 100u * (uint64_t)i, .heap_live_req = 5, .mmap_peak = 3,
                                  .calls_total = (uint64_t)i};
        tq_fixture_put(&w, rec, tq_rec_put_sample(rec, sizeof rec, &s));
        if (i % 10 == 9)
            cr_assert_eq(tq_writer_flush(&w), 0);
    }
    uint64_t calls[TQ_CALL_COUNT] = {0};
    calls[TQ_CALL_MALLOC] = 11;
    calls[TQ_CALL_MREMAP] = 2;
    tq_fixture_put(&w, rec, tq_rec_put_calls(rec, sizeof rec, calls));
    struct tq_event ev[3] = {{.kind = TQ_CALL_MALLOC, .t_ns = 50, .addr = 0x1000, .size = 16, .stack_id = 1},
                             {.kind = TQ_CALL_REALLOC, .t_ns = 70, .addr = 0x2000, .size = 32, .old_addr = 0x1000,
                              .stack_id = 2},
                             {.kind = TQ_CALL_FREE, .t_ns = 70, .addr = 0x2000, .size = 32}};
    tq_fixture_put(&w, rec, tq_rec_put_events(rec, sizeof rec, 99, ev, 3));
    uint64_t ips[2] = {0x401000, 0x402000};
    tq_fixture_put(&w, rec, tq_rec_put_stack(rec, sizeof rec, 1, ips, 2));
    struct tq_rec_module m = {.generation = 1, .perms = 5, .start = 0x400000, .end = 0x500000};
    tq_fixture_put(&w, rec, tq_rec_put_module(rec, sizeof rec, &m, "/usr/bin/prog"));
    uint8_t unknown[12] = {0x34, 0x12, 0, 0, 4, 0, 0, 0, 1, 2, 3, 4}; /* type 0x1234: must be skipped */
    tq_fixture_put(&w, unknown, sizeof unknown);
    if (with_end) {
        struct tq_rec_end e = {.t_ns = 999999, .reason = TQ_END_EXIT, .status = 3, .vm_hwm = 1 << 20,
                               .ru_maxrss = 1 << 20, .rss_peak = 8192, .rss_peak_t_ns = 500};
        tq_fixture_put(&w, rec, tq_rec_put_end(rec, sizeof rec, &e));
    }
    cr_assert_eq(tq_writer_close(&w), 0);
    return path;
}

Test(trace_codec, round_trip_every_record_type)
{
    char *dir = tq_tmpdir();
    char *path = write_trace(dir, 25, 1);
    cr_assert(strstr(path, "/traceq.my_prog.4242.tq") != NULL, "%s", path);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);

    struct tq_err err = {0};
    struct tq_trace_reader *r;
    cr_assert_eq(tq_trace_open(path, &r, &err), TQ_OK, "%s", err.msg);
    struct tq_rec rec;
    bool done = false;
    int seen_events = 0, seen_stack = 0, seen_module = 0, seen_process = 0;
    while (tq_trace_next(r, &rec, &done, &err) == TQ_OK && !done) {
        if (rec.type == TQ_REC_PROCESS) {
            struct tq_rec_process p;
            cr_assert_eq(tq_rec_get_process(&rec, &p), 0);
            cr_assert_eq(p.argc, 3);
            const char *a;
            uint32_t n;
            cr_assert_eq(tq_rec_process_arg(&p, 1, &a, &n), 0);
            cr_assert(n == 6 && !memcmp(a, "--flag", 6));
            cr_assert_eq(tq_rec_process_arg(&p, 3, &a, &n), -1);
            seen_process++;
        } else if (rec.type == TQ_REC_EVENTS) {
            struct tq_rec_events e;
            struct tq_events_iter it;
            struct tq_event ev;
            cr_assert_eq(tq_rec_get_events(&rec, &e, &it), 0);
            cr_assert_eq(e.tid, 99);
            cr_assert_eq(tq_events_next(&it, &ev), 1);
            cr_assert(ev.kind == TQ_CALL_MALLOC && ev.t_ns == 50 && ev.addr == 0x1000 && ev.stack_id == 1);
            cr_assert_eq(tq_events_next(&it, &ev), 1);
            cr_assert(ev.kind == TQ_CALL_REALLOC && ev.old_addr == 0x1000 && ev.t_ns == 70 && ev.size == 32);
            cr_assert_eq(tq_events_next(&it, &ev), 1);
            cr_assert_eq(tq_events_next(&it, &ev), 0);
            seen_events++;
        } else if (rec.type == TQ_REC_STACK) {
            struct tq_rec_stack s;
            cr_assert_eq(tq_rec_get_stack(&rec, &s), 0);
            cr_assert(s.depth == 2 && tq_rec_stack_ip(&s, 1) == 0x402000);
            seen_stack++;
        } else if (rec.type == TQ_REC_MODULE) {
            struct tq_rec_module m;
            cr_assert_eq(tq_rec_get_module(&rec, &m), 0);
            cr_assert(m.start == 0x400000 && m.path_len == 13);
            seen_module++;
        }
    }
    cr_assert(done, "%s", err.msg);
    cr_assert_not(tq_trace_truncated(r));
    cr_assert_eq(tq_trace_count(r, TQ_REC_SAMPLE), 25);
    cr_assert(seen_process == 1 && seen_events == 1 && seen_stack == 1 && seen_module == 1);
    tq_trace_close(r);

    struct tq_trace_summary s;
    cr_assert_eq(tq_trace_summarize(path, &s, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(s.pid, 4242);
    cr_assert_eq(s.ppid, 7);
    cr_assert_str_eq(s.exe, "/usr/bin/my prog");
    cr_assert_str_eq(s.argv[2], "");
    cr_assert_eq(s.samples, 25);
    cr_assert_eq(s.peak_rss, 7 * 4096);
    cr_assert_eq(s.peak_heap, 2400);
    cr_assert_eq(s.calls[TQ_CALL_MALLOC], 11);
    cr_assert_eq(s.calls[TQ_CALL_MREMAP], 2);
    cr_assert_eq(s.ending, TQ_ENDED_EXIT);
    cr_assert_eq(s.exit_status, 3);
    cr_assert_eq(s.vm_hwm, 1 << 20);
    cr_assert_not(s.truncated);
    cr_assert_eq(s.events, 1);
    tq_trace_summary_clear(&s);
    tq_rmtree(dir);
    free(dir);
}

/* Copy the first n bytes of src to dst. */
static void copy_prefix(const char *src, const char *dst, size_t n)
{
    size_t len;
    char *buf = tq_slurp(src, &len);
    cr_assert_not_null(buf);
    cr_assert_leq(n, len);
    FILE *f = fopen(dst, "wb");
    cr_assert_eq(fwrite(buf, 1, n, f), n);
    fclose(f);
    free(buf);
}

Test(trace_codec, truncated_tail_reports_samples_read)
{
    char *dir = tq_tmpdir();
    char *path = strdup(write_trace(dir, 30, 1));
    size_t len;
    free(tq_slurp(path, &len));
    char cut[4200];
    snprintf(cut, sizeof cut, "%s/cut.tq", dir);
    struct tq_err err = {0};
    /* Every prefix either summarizes as truncated or fails cleanly: never a crash. */
    for (size_t n = 0; n < len; n += (n < 64 ? 1 : 7)) {
        copy_prefix(path, cut, n);
        struct tq_trace_summary s;
        tq_status st = tq_trace_summarize(cut, &s, &err);
        if (st == TQ_OK) {
            cr_assert(s.truncated, "prefix %zu of %zu not flagged truncated", n, len);
            cr_assert_leq(s.samples, 30);
            char line[256];
            cr_assert(strstr(tq_trace_summary_ending(&s, line, sizeof line), "truncated after") != NULL);
            tq_trace_summary_clear(&s);
        } else {
            cr_assert(st == TQ_ERR_FORMAT || st == TQ_ERR_TRUNCATED, "prefix %zu: %s", n, err.msg);
            cr_assert_gt(strlen(err.msg), 10);
        }
        unlink(cut);
    }
    /* Cutting inside the last frame keeps the first 20 samples (two frames were flushed before it). */
    copy_prefix(path, cut, len - 5);
    struct tq_trace_summary s;
    cr_assert_eq(tq_trace_summarize(cut, &s, &err), TQ_OK, "%s", err.msg);
    cr_assert(s.truncated);
    cr_assert_geq(s.samples, 20);
    tq_trace_summary_clear(&s);
    free(path);
    tq_rmtree(dir);
    free(dir);
}

Test(trace_codec, corrupted_and_garbage_files_fail_clearly)
{
    char *dir = tq_tmpdir();
    char *path = strdup(write_trace(dir, 30, 1));
    size_t len;
    char *orig = tq_slurp(path, &len);
    struct tq_err err = {0};
    char bad[4200];
    snprintf(bad, sizeof bad, "%s/bad.tq", dir);
    unsigned seed = 12345;
    for (int trial = 0; trial < 300; trial++) {
        char *copy = malloc(len);
        memcpy(copy, orig, len);
        for (int k = 0; k < 1 + trial % 4; k++)
            copy[rand_r(&seed) % len] ^= (char)(1 + rand_r(&seed) % 255);
        struct tq_trace_reader *r;
        if (tq_trace_open_mem(copy, len, &r, &err) == TQ_OK) {
            struct tq_rec rec;
            bool done = false;
            tq_status st;
            while (!(st = tq_trace_next(r, &rec, &done, &err)) && !done) {
                struct tq_rec_sample x;
                struct tq_rec_process p;
                if (rec.type == TQ_REC_SAMPLE)
                    (void)tq_rec_get_sample(&rec, &x);
                if (rec.type == TQ_REC_PROCESS && tq_rec_get_process(&rec, &p) == 0)
                    for (uint32_t i = 0; i < p.argc; i++) {
                        const char *a;
                        uint32_t n;
                        cr_assert_eq(tq_rec_process_arg(&p, i, &a, &n), 0);
                    }
            }
            if (st)
                cr_assert_gt(strlen(err.msg), 10);
            tq_trace_close(r);
        }
        free(copy);
    }
    FILE *f = fopen(bad, "wb");
    fputs("this is not a trace at all, just some text\n", f);
    fclose(f);
    struct tq_trace_summary s;
    cr_assert_eq(tq_trace_summarize(bad, &s, &err), TQ_ERR_FORMAT);
    cr_assert(strstr(err.msg, "not a traceq trace") != NULL, "%s", err.msg);
    f = fopen(bad, "wb");
    fclose(f);
    cr_assert_eq(tq_trace_summarize(bad, &s, &err), TQ_ERR_FORMAT);
    cr_assert(strstr(err.msg, "empty") != NULL, "%s", err.msg);
    /* A valid preamble followed by garbage: a zstd error, named. */
    f = fopen(bad, "wb");
    fwrite(orig, 1, TQ_TRACE_PREAMBLE_SIZE, f);
    fputs("garbage garbage garbage garbage", f);
    fclose(f);
    cr_assert_eq(tq_trace_summarize(bad, &s, &err), TQ_ERR_FORMAT);
    cr_assert(strstr(err.msg, "corrupt trace") != NULL, "%s", err.msg);
    cr_assert_eq(tq_trace_summarize("/nonexistent/x.tq", &s, &err), TQ_ERR_IO);
    free(orig);
    free(path);
    tq_rmtree(dir);
    free(dir);
}

Test(trace_codec, create_refuses_symlink_and_never_overwrites)
{
    char *dir = tq_tmpdir();
    char victim[4200], link[4200], path[4200];
    snprintf(victim, sizeof victim, "%s/victim", dir);
    snprintf(link, sizeof link, "%s/traceq.prog.77.tq", dir);
    FILE *f = fopen(victim, "w");
    fputs("keep", f);
    fclose(f);
    cr_assert_eq(symlink(victim, link), 0);
    int fd = tq_trace_create(dir, "prog", 77, path, sizeof path);
    cr_assert_geq(fd, 0);
    cr_assert(strstr(path, "traceq.prog.77.1.tq") != NULL, "%s", path);
    cr_assert_eq(write(fd, "x", 1), 1);
    close(fd);
    char *kept = tq_slurp(victim, NULL);
    cr_assert_str_eq(kept, "keep");
    free(kept);
    fd = tq_trace_create(dir, "prog", 77, path, sizeof path);
    cr_assert(strstr(path, "traceq.prog.77.2.tq") != NULL, "%s", path);
    close(fd);
    tq_rmtree(dir);
    free(dir);
}

static char *fake_env(const char *name)
{
    static const char *const vars[][2] = {{"TRACEQ_INTERVAL_MS", "1"}, {"TRACEQ_FLUSH_MS", "250"},
                                         {"TRACEQ_VERBOSE", "yes"}, {"TRACEQ_OUTPUT_DIR", "/x/y"},
                                         {"TRACEQ_FOLLOW_FORK", "maybe"}};
    for (unsigned i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (!strcmp(name, vars[i][0]))
            return (char *)vars[i][1];
    return NULL;
}

Test(trace_codec, settings_from_environment)
{
    struct tq_settings s;
    char msg[256] = "";
    tq_settings_defaults(&s);
    cr_expect_eq(s.interval_ms, 10);
    cr_expect_eq(s.flush_ms, 100);
    cr_expect_eq(s.enabled, 1);
    cr_expect_eq(tq_settings_from_env(&s, fake_env, msg, sizeof msg), -1);
    cr_expect(strstr(msg, "TRACEQ_FOLLOW_FORK='maybe' is not valid") != NULL, "first bad value named: %s", msg);
    cr_expect_eq(s.interval_ms, 1);
    cr_expect_eq(s.flush_ms, 100, "a bad value keeps the default");
    cr_expect_eq(s.verbose, 1);
    cr_expect_eq(s.follow_fork, 1);
    cr_expect_str_eq(s.output_dir, "/x/y");
}

/* The writer's reopen callback (as the shim's): the same path, append-only. */
static const char *reopen_path;
static int reopen_same_path(void *arg, struct tq_rec_gap *gap)
{
    (void)arg;
    gap->t_ns = 777;
    return open(reopen_path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
}

Test(trace_codec, writer_reopens_a_descriptor_taken_away_and_writes_a_gap)
{
    char *dir = tq_tmpdir();
    char path[4200], victim[4200];
    snprintf(path, sizeof path, "%s/t.tq", dir);
    snprintf(victim, sizeof victim, "%s/victim", dir);
    struct tq_trace_writer w;
    tq_fixture_trace_open(path, &w);
    reopen_path = path;
    w.reopen = reopen_same_path;
    uint8_t rec[4096];
    struct tq_rec_process p = {.pid = 1, .ppid = 1};
    tq_fixture_put(&w, rec, tq_rec_put_process(rec, sizeof rec, &p, "x", 0, NULL));
    struct tq_rec_sample s = {.t_ns = 1, .heap_peak_req = 10};
    tq_fixture_put(&w, rec, tq_rec_put_sample(rec, sizeof rec, &s));
    cr_assert_eq(tq_writer_flush(&w), 0);
    /* The "program" puts its own file at the trace's number (dup2), then the writer flushes again. */
    int v = open(victim, O_WRONLY | O_CREAT | O_EXCL, 0600);
    cr_assert_geq(v, 0);
    int old = w.fd;
    cr_assert_eq(dup2(v, old), old);
    close(v);
    s.t_ns = 2;
    s.heap_peak_req = 20;
    tq_fixture_put(&w, rec, tq_rec_put_sample(rec, sizeof rec, &s));
    cr_assert_eq(tq_writer_flush(&w), 0);
    cr_expect_neq(w.fd, old);
    cr_expect_eq(w.reopened, 1);
    struct tq_rec_end e = {.t_ns = 3, .reason = TQ_END_EXIT};
    tq_fixture_put(&w, rec, tq_rec_put_end(rec, sizeof rec, &e));
    cr_assert_eq(tq_writer_close(&w), 0);
    size_t n;
    free(tq_slurp(victim, &n));
    cr_expect_eq(n, 0, "the writer wrote %zu bytes into the program's file", n);
    cr_expect_eq(fcntl(old, F_GETFD), 0, "the program's descriptor was closed by the writer");
    close(old);
    struct tq_trace_summary sum;
    struct tq_err err = {0};
    cr_assert_eq(tq_trace_summarize(path, &sum, &err), TQ_OK, "%s", err.msg);
    cr_expect_eq(sum.samples, 2);
    cr_expect_eq(sum.ending, TQ_ENDED_EXIT);
    cr_expect_eq(sum.gaps, 1);
    cr_expect_eq(sum.reopened, 1);
    cr_expect_eq(sum.gap[0].cause, TQ_GAP_REPLACED);
    cr_expect_eq(sum.gap[0].fd, old);
    cr_expect_eq(sum.gap[0].t_ns, 777);
    cr_expect_eq(sum.minor_version, TQ_TRACE_VERSION_MINOR);
    char line[512];
    cr_expect(strstr(tq_trace_summary_gaps(&sum, line, sizeof line), "nothing lost"), "%s", line);
    tq_trace_summary_clear(&sum);
    tq_rmtree(dir);
    free(dir);
}

/* SAMPLE_PRED (format 1.11): samples stored as differences from predictions (the previous sample; usable bytes move
 * with the requested ones; a peak is at least the live bytes) read back as the SAMPLE records they stand for, times in
 * whole microseconds; values that go down, wrap around or beat their predictions survive; a heap that grows between
 * samples (peak = live) takes fewer bytes than as SAMPLE_DELTA; a cut record is an error naming SAMPLE_PRED. */
Test(trace_codec, sample_preds_read_as_the_samples_they_stand_for)
{
    enum { N = 60 };
    struct tq_rec_sample s[N], prev = {0};
    uint64_t x = 0x2545F4914F6CDD1Dull;
    char *d = tq_tmpdir(), path[4200];
    snprintf(path, sizeof path, "%s/preds.tq", d);
    struct tq_trace_writer w;
    tq_fixture_trace_open(path, &w);
    uint8_t rec[512];
    struct tq_rec_process p = {.pid = 1};
    tq_fixture_put(&w, rec, tq_rec_put_process(rec, sizeof rec, &p, "/bin/d", 0, NULL));
    size_t pred_bytes = 0, delta_bytes = 0;
    for (int i = 0; i < N; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        s[i] = i ? s[i - 1] : (struct tq_rec_sample){0};
        s[i].t_ns += 10000000 + x % 100000;
        s[i].vm_rss += 4096 * ((x >> 12) % 9);
        int64_t grow = i < 40 ? (int64_t)((x >> 20) % 100000) : (int64_t)((x >> 20) % 100000) - 70000;
        s[i].heap_live_req += grow;
        s[i].heap_live_usable += grow + (int64_t)((x >> 40) % 64);
        if (s[i].heap_live_req > (int64_t)s[i].heap_peak_req) /* the peak of a sampled heap: at least its live bytes */
            s[i].heap_peak_req = (uint64_t)s[i].heap_live_req + (i % 5 == 0 ? (x >> 8) % 3000 : 0);
        if (s[i].heap_live_usable > (int64_t)s[i].heap_peak_usable)
            s[i].heap_peak_usable = (uint64_t)s[i].heap_live_usable;
        s[i].mmap_live = i == 50 ? -(int64_t)(x % 1000) : s[i].mmap_live + (i % 7 == 0 ? 1 << 20 : 0);
        s[i].mmap_peak = i == 55 ? UINT64_MAX : s[i].mmap_peak > (uint64_t)s[i].mmap_live ? s[i].mmap_peak
                                                                                      : (uint64_t)s[i].mmap_live;
        s[i].calls_total += x % 100000;
        s[i].shim_bytes = 1 << 20;
        size_t n = tq_rec_put_sample_delta(rec, sizeof rec, &s[i], &prev);
        delta_bytes += i < 40 ? n : 0;
        n = tq_rec_put_sample_pred(rec, sizeof rec, &s[i], &prev);
        pred_bytes += i < 40 ? n : 0;
        cr_assert_eq(rec[0], TQ_REC_SAMPLE_PRED);
        tq_fixture_put(&w, rec, n);
        prev = s[i];
    }
    cr_assert_lt(pred_bytes + 40 * 4, delta_bytes, "40 growing samples: %zu bytes, as SAMPLE_DELTA %zu", pred_bytes,
                 delta_bytes);
    size_t cut = tq_rec_put_sample_pred(rec, sizeof rec, &s[0], &prev);
    rec[4] = (uint8_t)(rec[4] - 3); /* the same record with its last 3 bytes cut off */
    tq_fixture_put(&w, rec, cut - 3);
    cr_assert_eq(tq_writer_close(&w), 0);

    struct tq_trace_reader *r;
    struct tq_err err = {0};
    cr_assert_eq(tq_trace_open(path, &r, &err), TQ_OK, "%s", err.msg);
    struct tq_rec got;
    bool done = false;
    int i = -1; /* PROCESS first */
    tq_status st;
    while (!(st = tq_trace_next(r, &got, &done, &err)) && !done) {
        if (i >= 0) {
            struct tq_rec_sample back, want = s[i];
            want.t_ns = want.t_ns / 1000 * 1000;
            cr_assert_eq(got.type, TQ_REC_SAMPLE, "record %d", i);
            cr_assert_eq(tq_rec_get_sample(&got, &back), 0);
            cr_assert_eq(memcmp(&back, &want, sizeof back), 0, "sample %d differs", i);
        }
        i++;
    }
    cr_assert_eq(st, TQ_ERR_FORMAT, "the cut record: %s", err.msg);
    cr_assert(strstr(err.msg, "SAMPLE_PRED"), "%s", err.msg);
    cr_assert_eq(i, N);
    cr_assert_eq(tq_trace_count(r, TQ_REC_SAMPLE), N);
    tq_trace_close(r);
    tq_rmtree(d);
    free(d);
}

/* SAMPLE_DELTA (format 1.7): samples stored as differences from the previous one (a full SAMPLE in between resets
 * the base, as a reader of a mixed trace must) read back as the very SAMPLE records they stand for, counted as
 * samples; values that go down or wrap around survive; a cut delta is an error, never a wrong sample. */
Test(trace_codec, sample_deltas_read_as_the_samples_they_stand_for)
{
    enum { N = 40 };
    struct tq_rec_sample s[N], prev = {0};
    uint64_t x = 0x9E3779B97F4A7C15ull;
    char *d = tq_tmpdir(), path[4200];
    snprintf(path, sizeof path, "%s/deltas.tq", d);
    struct tq_trace_writer w;
    tq_fixture_trace_open(path, &w);
    uint8_t rec[512];
    struct tq_rec_process p = {.pid = 1};
    tq_fixture_put(&w, rec, tq_rec_put_process(rec, sizeof rec, &p, "/bin/d", 0, NULL));
    size_t delta_bytes = 0, full_bytes = 0;
    for (int i = 0; i < N; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        s[i] = i ? s[i - 1] : (struct tq_rec_sample){0};
        s[i].t_ns += 10000000 + x % 1000;
        s[i].vm_rss += (x >> 8) % 3 ? 4096 * ((x >> 12) % 9) : -(uint64_t)4096;
        s[i].heap_live_req += (int64_t)((x >> 20) % 100000) - 50000;
        s[i].heap_peak_req = i == 7 ? UINT64_MAX : s[i].heap_peak_req + (x >> 30) % 5;
        s[i].mmap_live = -(int64_t)(x % 1000);
        s[i].calls_total += x % 100000;
        s[i].shim_bytes = 1 << 20;
        size_t n;
        if (i == 20) { /* a full SAMPLE: the next deltas are relative to it */
            n = tq_rec_put_sample(rec, sizeof rec, &s[i]);
            full_bytes = n;
        } else {
            n = tq_rec_put_sample_delta(rec, sizeof rec, &s[i], &prev);
            delta_bytes = n > delta_bytes ? n : delta_bytes;
            cr_assert_eq(rec[0], TQ_REC_SAMPLE_DELTA);
        }
        tq_fixture_put(&w, rec, n);
        prev = s[i];
    }
    cr_assert_lt(delta_bytes, full_bytes / 2, "a delta takes %zu bytes, a SAMPLE %zu", delta_bytes, full_bytes);
    size_t cut = tq_rec_put_sample_delta(rec, sizeof rec, &s[0], &prev);
    rec[4] = (uint8_t)(rec[4] - 3); /* the same delta with its last 3 bytes cut off */
    tq_fixture_put(&w, rec, cut - 3);
    cr_assert_eq(tq_writer_close(&w), 0);

    struct tq_trace_reader *r;
    struct tq_err err = {0};
    cr_assert_eq(tq_trace_open(path, &r, &err), TQ_OK, "%s", err.msg);
    struct tq_rec got;
    bool done = false;
    int i = -1; /* PROCESS first */
    tq_status st;
    while (!(st = tq_trace_next(r, &got, &done, &err)) && !done) {
        if (i >= 0) {
            struct tq_rec_sample back;
            cr_assert_eq(got.type, TQ_REC_SAMPLE, "record %d", i);
            cr_assert_eq(tq_rec_get_sample(&got, &back), 0);
            cr_assert_eq(memcmp(&back, &s[i], sizeof back), 0, "sample %d differs", i);
        }
        i++;
    }
    cr_assert_eq(st, TQ_ERR_FORMAT, "the cut delta: %s", err.msg);
    cr_assert(strstr(err.msg, "SAMPLE_DELTA"), "%s", err.msg);
    cr_assert_eq(i, N);
    cr_assert_eq(tq_trace_count(r, TQ_REC_SAMPLE), N);
    tq_trace_close(r);
    tq_rmtree(d);
    free(d);
}
