/* export_massif.c - `traceq export --format massif`: a massif.out that ms_print and massif-visualizer read.
 * Snapshots are up to ~100 evenly spaced samples plus the peak (the replay's exact one for a trace with stacks); heap = requested heap + explicit mmap
 * bytes, extra = allocator slack (usable - requested). Streams the trace twice, never loads it. */
#include <inttypes.h>
#include <string.h>

#include "export.h"
#include "massif_tree.h"
#include "../report/trace_summary.h"

enum { MASSIF_SNAPSHOTS = 100 };

static uint64_t held(const struct tq_rec_sample *s)
{
    int64_t v = s->heap_live_req + s->mmap_live;
    return v > 0 ? (uint64_t)v : 0;
}

struct scan {
    uint64_t n, peak_index, peak;
};

static tq_status scan_sample(const struct tq_rec_sample *s, void *ctx, struct tq_err *err)
{
    (void)err;
    struct scan *c = ctx;
    if (c->n == 0 || held(s) > c->peak) {
        c->peak = held(s);
        c->peak_index = c->n;
    }
    c->n++;
    return TQ_OK;
}

struct emit {
    FILE *out;
    struct scan scan;
    uint64_t i, written, last_ms;
    struct tq_rec_sample last;     /* the previous sample, for the mmap bytes and slack around the replay's peak */
    struct tq_heap_replay *stacks; /* the peak's call sites when the trace has them, else NULL */
    uint64_t stacks_peak;          /* heap bytes of the replay's peak snapshot: its exact peak (see peak_heap) */
    bool peak_written;
};

/* Keep the first, last and peak samples and about MASSIF_SNAPSHOTS evenly spaced ones. */
static bool keep(const struct emit *e)
{
    uint64_t i = e->i, n = e->scan.n;
    return i == 0 || i + 1 == n || i == e->scan.peak_index ||
           (i * MASSIF_SNAPSHOTS) / n != ((i - 1) * MASSIF_SNAPSHOTS) / n;
}

static void put_snapshot_head(struct emit *e, uint64_t t_ns, uint64_t heap, int64_t extra)
{
    uint64_t ms = t_ns / 1000000;
    /* Snapshot times must not go back; the replay's peak time comes from a coarser clock than the samples'. */
    if (ms < e->last_ms)
        ms = e->last_ms;
    e->last_ms = ms;
    fprintf(e->out, "#-----------\nsnapshot=%" PRIu64 "\n#-----------\ntime=%" PRIu64 "\nmem_heap_B=%" PRIu64
                    "\nmem_heap_extra_B=%" PRId64 "\nmem_stacks_B=0\n",
            e->written++, ms, heap, extra > 0 ? extra : 0);
}

/* The replay's peak as a detailed snapshot of its own, at the moment it happened: heap = the exact heap peak of
 * the events (or of the AGGREGATE record) + the program's mmap bytes of the sample before it, so the call tree
 * under it sums to exactly mem_heap_B. A sampled snapshot could hold less than the tree (samples miss what
 * happens between them), which ms_print refuses. */
static tq_status put_replay_peak(struct emit *e, const struct tq_rec_sample *near, struct tq_err *err)
{
    uint64_t mmap = near->mmap_live > 0 ? (uint64_t)near->mmap_live : 0;
    put_snapshot_head(e, tq_heap_replay_peak_t_ns(e->stacks), e->stacks_peak + mmap,
                      near->heap_live_usable - near->heap_live_req);
    fputs("heap_tree=peak\n", e->out);
    e->peak_written = true;
    return tq_massif_tree_write(e->stacks, e->stacks_peak + mmap, mmap, e->out, err);
}

static tq_status emit_sample(const struct tq_rec_sample *s, void *ctx, struct tq_err *err)
{
    struct emit *e = ctx;
    if (e->stacks && !e->peak_written && s->t_ns > tq_heap_replay_peak_t_ns(e->stacks))
        TQ_TRY(put_replay_peak(e, e->i ? &e->last : s, err));
    if (keep(e)) {
        put_snapshot_head(e, s->t_ns, held(s), s->heap_live_usable - s->heap_live_req);
        /* Without stacks the peak sample is the "detailed" snapshot, with a root-only tree (samples carry no
         * call sites); with stacks the replay's own peak snapshot is the detailed one. */
        if (!e->stacks && e->i == e->scan.peak_index)
            fprintf(e->out, "heap_tree=peak\nn0: %" PRIu64 " (heap allocation functions) malloc/new/new[], "
                            "--alloc-fns, etc.\n", held(s));
        else
            fputs("heap_tree=empty\n", e->out);
    }
    e->last = *s;
    e->i++;
    return ferror(e->out) ? tq_fail(err, TQ_ERR_IO, "cannot write the massif file") : TQ_OK;
}

/* The heap bytes of the replay's peak: its exact figure, or the sites' sum if that is larger (an AGGREGATE record
 * written before the last stacks' figures), so the tree never holds more than its root. */
static uint64_t peak_heap(const struct tq_heap_replay *r)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < tq_heap_replay_count(r); i++)
        sum += tq_heap_replay_site(r, i)->peak_bytes;
    return sum > tq_heap_replay_peak(r) ? sum : tq_heap_replay_peak(r);
}

static void put_header(FILE *out, const char *path, const struct tq_trace_summary *sum)
{
    fprintf(out, "desc: traceq export of %s (heap = requested heap + mmap bytes)\ncmd:", path);
    if (sum->argc == 0)
        fprintf(out, " %s", sum->exe ? sum->exe : "?");
    /* massif.out is line based: a newline inside an argument would end the cmd line early. */
    for (int i = 0; i < sum->argc; i++) {
        fputc(' ', out);
        for (const char *p = sum->argv[i]; *p; p++)
            fputc(*p == '\n' ? ' ' : *p, out);
    }
    fputs("\ntime_unit: ms\n", out);
}

tq_status tq_export_massif(const char *path, FILE *out, struct tq_err *err)
{
    struct tq_trace_summary sum;
    TQ_TRY(tq_trace_summarize(path, &sum, err));
    struct emit e = {.out = out};
    tq_status st = tq_export_each_sample(path, scan_sample, &e.scan, NULL, err);
    if (!st && e.scan.n == 0)
        st = tq_fail(err, TQ_ERR_FORMAT, "%s has no samples to export", path);
    /* A trace without allocation events keeps the root-only tree; other replay failures are real errors. */
    if (!st && (sum.flags & TQ_PROC_STACKS) && (st = tq_heap_replay_run(path, &e.stacks, err)) == TQ_ERR_USAGE)
        st = TQ_OK;
    if (!st && e.stacks && (e.stacks_peak = peak_heap(e.stacks)) == 0) { /* nothing was held: no tree to show */
        tq_heap_replay_free(e.stacks);
        e.stacks = NULL;
    }
    if (!st) {
        put_header(out, path, &sum);
        st = tq_export_each_sample(path, emit_sample, &e, NULL, err);
    }
    if (!st && e.stacks && !e.peak_written)
        st = put_replay_peak(&e, &e.last, err);
    if (!st && ferror(out))
        st = tq_fail(err, TQ_ERR_IO, "cannot write the massif file");
    tq_heap_replay_free(e.stacks);
    tq_trace_summary_clear(&sum);
    return st;
}
