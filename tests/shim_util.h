/* shim_util.h - what the shim tests share: run a program under `traceq record`, find and read its traces. */
#ifndef TQ_SHIM_UTIL_H
#define TQ_SHIM_UTIL_H

#include <criterion/criterion.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "../report/trace_summary.h"
#include "../traces/event_ctxs.h"
#include "../traces/reader.h"
#include "helpers.h"

/* Run `traceq record -q -o DIR OPTS -- ARGS` (shell text) with a 120 s limit (status 124 when it hangs: a deadlock
 * fails the test instead of stalling the suite); returns the exit status, stdout in *out if asked. */
static inline int shim_record_opts(const char *dir, const char *opts, const char *args, char **out)
{
    size_t n = strlen(args) + strlen(dir) + strlen(opts) + 4200;
    char *cmd = malloc(n);
    snprintf(cmd, n, "timeout 120 %s record -q -o %s %s -- %s", tq_build_path("traceq"), dir, opts, args);
    int st = tq_run(cmd, out, NULL);
    free(cmd);
    return st;
}

static inline int shim_record(const char *dir, const char *args, char **out)
{
    return shim_record_opts(dir, "", args, out);
}

/* Path of the one trace matching DIR/traceq.NAME.PID.tq (NAME "*": any program, PID 0: any process), malloc'd
 * (caller frees); fails the test if not exactly one matches. */
static inline char *shim_one_trace(const char *dir, const char *name, int pid)
{
    char pat[4200];
    if (pid)
        snprintf(pat, sizeof pat, "%.4000s/traceq.%.100s.%d.tq", dir, name, pid);
    else
        snprintf(pat, sizeof pat, "%.4000s/traceq.%.100s.*.tq", dir, name);
    glob_t g;
    cr_assert_eq(glob(pat, 0, NULL, &g), 0, "no trace matches %s", pat);
    cr_assert_eq(g.gl_pathc, 1, "%zu traces match %s", g.gl_pathc, pat);
    char *p = strdup(g.gl_pathv[0]);
    globfree(&g);
    return p;
}

/* Summarize the one trace matching DIR/traceq.NAME.PID.tq (PID 0: any); fails the test if not exactly one. */
static inline void shim_summary(const char *dir, const char *name, int pid, struct tq_trace_summary *s)
{
    char *path = shim_one_trace(dir, name, pid);
    struct tq_err err = {0};
    cr_assert_eq(tq_trace_summarize(path, s, &err), TQ_OK, "%s", err.msg);
    free(path);
}

/* Number of traces in dir. */
static inline size_t shim_count(const char *dir)
{
    char pat[4200];
    snprintf(pat, sizeof pat, "%.4000s/traceq.*.tq", dir);
    glob_t g;
    size_t n = glob(pat, 0, NULL, &g) == 0 ? g.gl_pathc : 0;
    globfree(&g);
    return n;
}

/* How many records of each type (< 32) the file at path holds on disk (decompressed, not through the reader). */
static inline void shim_disk_types(const char *path, uint64_t count[32])
{
    memset(count, 0, 32 * sizeof count[0]);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    static uint8_t in[1 << 16];
    uint8_t *out = malloc(64u << 20);
    size_t len = 0;
    ZSTD_DCtx *z = ZSTD_createDCtx();
    size_t got;
    while ((got = fread(in, 1, sizeof in, f)) > 0) {
        ZSTD_inBuffer zi = {in, got, 0};
        while (zi.pos < zi.size) {
            ZSTD_outBuffer zo = {out, 64u << 20, len};
            cr_assert(!ZSTD_isError(ZSTD_decompressStream(z, &zo, &zi)));
            len = zo.pos;
        }
    }
    for (size_t at = 0; at + TQ_REC_HEADER_SIZE <= len;) {
        unsigned type = out[at] | out[at + 1] << 8;
        count[type < 32 ? type : 0]++;
        at += TQ_REC_HEADER_SIZE +
              (size_t)(out[at + 4] | out[at + 5] << 8 | out[at + 6] << 16 | (uint32_t)out[at + 7] << 24);
    }
    ZSTD_freeDCtx(z);
    free(out);
    fclose(f);
}

/* What shim_replay_in_order found in a trace. */
struct shim_order {
    size_t events;                  /* events in the trace (order numbers 0..events-1, each once: checked) */
    uint64_t kinds[TQ_CALL_COUNT];  /* events of each kind */
    size_t double_allocs;           /* allocations at an address that was live */
    size_t bad_frees;               /* frees (and realloc's old blocks) of an address that was not live */
    size_t live;                    /* blocks named by address live at the end */
    int64_t info_live;              /* blocks named by (size, stack) live at the end (FORMAT.md 20: counted only) */
    int64_t info_low;               /* the lowest that count went: below 0, an INFO free came before its allocation */
};

static int shim_by_seq(const void *a, const void *b)
{
    const struct tq_event *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static inline int shim_is_heap_alloc(unsigned k)
{
    return k == TQ_CALL_MALLOC || k == TQ_CALL_CALLOC || k == TQ_CALL_POSIX_MEMALIGN || k == TQ_CALL_ALIGNED_ALLOC ||
           k == TQ_CALL_MEMALIGN || k == TQ_CALL_VALLOC || k == TQ_CALL_PVALLOC;
}

/* Read every event of the --stacks trace at path, check that its order numbers are 0..n-1 (each once: no event
 * lost or repeated) and replay its heap events by address in that process-wide order, independently of the
 * analyzer (an open-addressing table; a freed slot keeps its address, live 0): an allocation, or a realloc's new
 * block, at a live address and a free, or a realloc's old block, of an address that is not live are counted. */
static inline void shim_replay_in_order(const char *path, struct shim_order *o)
{
    memset(o, 0, sizeof *o);
    size_t n = 0, cap = 1 << 21;
    struct tq_event *all = malloc(cap * sizeof *all);
    cr_assert_not_null(all);
    struct tq_trace_reader *r;
    struct tq_err err = {0};
    cr_assert_eq(tq_trace_open(path, &r, &err), TQ_OK, "%s", err.msg);
    struct tq_rec rec;
    struct tq_event_ctxs ctxs = {0}; /* CTX_EVENTS records decode with their writer context's state */
    bool done = false;
    while (tq_trace_next(r, &rec, &done, &err) == TQ_OK && !done) {
        if (!TQ_REC_HAS_EVENTS(rec.type))
            continue;
        struct tq_rec_events e;
        struct tq_events_iter it;
        cr_assert_eq(tq_event_ctxs_open(&ctxs, path, &rec, &e, &it, &err), TQ_OK, "%s", err.msg);
        int got;
        while (n < cap && (got = tq_events_next(&it, &all[n])) == 1)
            n++;
        cr_assert(n < cap && got == 0, "corrupt record or too many events");
    }
    cr_assert_not(tq_trace_truncated(r));
    tq_event_ctxs_clear(&ctxs);
    tq_trace_close(r);
    qsort(all, n, sizeof *all, shim_by_seq);
    o->events = n;
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(all[i].seq, i, "order number %llu at place %zu: missing or repeated events",
                     (unsigned long long)all[i].seq, i);
        if (all[i].kind < TQ_CALL_COUNT)
            o->kinds[all[i].kind]++;
    }
    size_t tcap = 1 << 21;
    struct slot {
        uint64_t addr;
        int live;
    } *t = calloc(tcap, sizeof *t);
    cr_assert_not_null(t);
    for (size_t i = 0; i < n; i++) {
        const struct tq_event *e = &all[i];
        int re = e->kind == TQ_CALL_REALLOC || e->kind == TQ_CALL_REALLOCARRAY;
        int alloc = shim_is_heap_alloc(e->kind) || re, gone = e->kind == TQ_CALL_FREE;
        for (int step = 0; step < 2; step++) { /* a realloc: its old block first, then its new one */
            int freeing = step == 0 ? gone || re : 0, taking = step == 1 && alloc;
            if (!freeing && !taking)
                continue;
            int info = freeing && re ? (e->flags & TQ_EV_OLD_INFO) != 0 : (e->flags & TQ_EV_INFO) != 0;
            uint64_t addr = freeing && re ? e->old_addr : e->addr;
            if (info) {
                o->info_live += taking ? 1 : -1;
                if (o->info_live < o->info_low)
                    o->info_low = o->info_live;
                continue;
            }
            if (!addr)
                continue; /* realloc(NULL, n), or an old block whose free came before it (TQ_EV_OLD_FREED) */
            size_t j = (size_t)((addr * 0x9E3779B97F4A7C15ull) >> 40) & (tcap - 1);
            while (t[j].addr && t[j].addr != addr)
                j = (j + 1) & (tcap - 1);
            t[j].addr = addr;
            if (taking) {
                o->double_allocs += t[j].live;
                o->live += !t[j].live;
                t[j].live = 1;
            } else {
                o->bad_frees += !t[j].live;
                o->live -= t[j].live;
                t[j].live = 0;
            }
        }
    }
    free(t);
    free(all);
}

#endif
