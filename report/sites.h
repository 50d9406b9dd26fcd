/* sites.h - allocation sites of a --stacks trace: the heap replay's per-stack figures merged by the code location
 * that called the allocator (function, file:line, module), for `traceq report --top` and `traceq diff`. */
#ifndef TQ_SITES_H
#define TQ_SITES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/status.h"
#include "trace_summary.h"

/* One allocation site: every stack whose innermost frame names the same location (in a CPython process, the
 * innermost Python frame: the script's line that allocated). */
struct tq_site {
    char *key;          /* "function (file:line)", else "module+0xOFFSET", else "0x..." (stable across runs) */
    char *module;       /* file name of the module, "" when unknown */
    char *callers;      /* "caller < its caller < ..." (up to 4 frames, may be "") of the site's stack that held
                         * the most bytes at the peak, or when none held any, of the one that allocated most */
    char *callers_allocated; /* the same for the site's stack that allocated the most bytes */
    char *callers_calls;     /* the same for the site's stack that made the most allocation calls */
    char *callers_leaked;    /* ... that leaked the most bytes (without leaks: as callers) */
    char *callers_temporary; /* ... that made the most temporary allocations (without any: as callers) */
    uint64_t peak;      /* heap bytes held at the heap peak */
    uint64_t allocated; /* heap bytes allocated in total */
    uint64_t calls;     /* allocation calls */
    uint64_t leaked, leaked_blocks; /* heap bytes and blocks still live when the trace ends */
    uint64_t temporary;             /* allocations freed with no other allocation in between */
    uint64_t temporary_bytes;
    double allocated_err, peak_err, leaked_err; /* standard errors when the trace was sampled, else 0 */
};

struct tq_sites {
    struct tq_site *v;
    size_t n;
    uint64_t peak, peak_t_ns;  /* the replayed heap peak and when */
    uint64_t allocated, calls; /* totals over all sites */
    uint64_t leaked, leaked_blocks, temporary, temporary_bytes; /* totals over all sites */
    bool aggregated;           /* recorded with --aggregate: the figures were kept by the shim (no leaks/temporary) */
    bool ended;                /* the trace has its END record: leaked = never freed before exit or exec */
    bool killed;               /* the trace has a KILLED record (an OOM kill the runner saw) */
    bool at_snapshot;          /* loaded up to the trace's SNAPSHOT: leaked = live at the snapshot */
    uint64_t sample_bytes;     /* record --sample-bytes of the trace (figures are estimates), else 0 */
    uint32_t python_unsupported; /* PY_VERSION_HEX of a CPython whose frames were not recorded, else 0 */
};

enum tq_site_order {
    TQ_SITES_BY_PEAK,
    TQ_SITES_BY_ALLOCATED,
    TQ_SITES_BY_CALLS,
    TQ_SITES_BY_LEAKED,
    TQ_SITES_BY_TEMPORARY,
    TQ_SITES_BY_KEY
};

/* Replay the trace at path and merge its stacks into sites (streams: memory grows with live blocks and distinct
 * stacks). Fails as tq_heap_replay_run does (TQ_ERR_USAGE for a trace without stacks, reader errors, NOMEM).
 * out is filled on success; release it with tq_sites_clear. */
tq_status tq_sites_load(const char *path, struct tq_sites *out, struct tq_err *err);

/* The same; with python_only, native frames are folded away (tq_heap_replay_run_opts). */
tq_status tq_sites_load_opts(const char *path, bool python_only, struct tq_sites *out, struct tq_err *err);

/* The same, up to the trace's SNAPSHOT record (record --snapshot-at) when until_snapshot: the sites' leaked
 * figures are then what was live at that moment (tq_heap_replay_run_with). */
tq_status tq_sites_load_with(const char *path, bool python_only, bool until_snapshot, struct tq_sites *out,
                             struct tq_err *err);

/* tq_sites_load_opts, reading the trace's summary into *summary in the same pass (tq_trace_summarize, with samples:
 * tq_trace_summarize_samples), so that `traceq report --top` reads each trace once. After a failure neither out nor
 * *summary holds anything to free. */
tq_status tq_sites_load_summarized(const char *path, bool python_only, struct tq_trace_summary *summary,
                                   bool samples, struct tq_sites *out, struct tq_err *err);

/* Sort the sites, biggest first (by key: alphabetical). Can't fail. */
void tq_sites_sort(struct tq_sites *s, enum tq_site_order order);

/* The site with this key, or NULL (sites must be sorted TQ_SITES_BY_KEY). Can't fail. */
const struct tq_site *tq_sites_find(const struct tq_sites *s, const char *key);

/* The caller path shown with a site in a ranking by `order`: the one of its stack that weighs most by that figure
 * (callers for TQ_SITES_BY_PEAK and TQ_SITES_BY_KEY). Can't fail. */
const char *tq_site_callers(const struct tq_site *x, enum tq_site_order order);

/* Free what tq_sites_load filled; a zeroed struct is a no-op. */
void tq_sites_clear(struct tq_sites *s);

#endif
