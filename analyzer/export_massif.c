/* export_massif.c - `traceq export --format massif`: a massif.out that ms_print and massif-visualizer read.
 * Snapshots are up to ~100 evenly spaced samples plus the peak one; heap = requested heap + explicit mmap
 * bytes, extra = allocator slack (usable - requested). Streams the trace twice, never loads it. */
#include <inttypes.h>
#include <string.h>

#include "export.h"
#include "massif_tree.h"
#include "trace_summary.h"

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
    uint64_t i, written;
    struct tq_heap_replay *stacks; /* the peak's call sites when the trace has them, else NULL */
};

/* Keep the first, last and peak samples and about MASSIF_SNAPSHOTS evenly spaced ones. */
static bool keep(const struct emit *e)
{
    uint64_t i = e->i, n = e->scan.n;
    return i == 0 || i + 1 == n || i == e->scan.peak_index ||
           (i * MASSIF_SNAPSHOTS) / n != ((i - 1) * MASSIF_SNAPSHOTS) / n;
}

static tq_status emit_sample(const struct tq_rec_sample *s, void *ctx, struct tq_err *err)
{
    struct emit *e = ctx;
    if (keep(e)) {
        bool peak = e->i == e->scan.peak_index;
        int64_t extra = s->heap_live_usable - s->heap_live_req;
        fprintf(e->out, "#-----------\nsnapshot=%" PRIu64 "\n#-----------\ntime=%" PRIu64 "\nmem_heap_B=%" PRIu64
                        "\nmem_heap_extra_B=%" PRId64 "\nmem_stacks_B=0\n",
                e->written++, s->t_ns / 1000000, held(s), extra > 0 ? extra : 0);
        /* The peak snapshot is "detailed": the call sites at the exact heap peak when the trace has stacks,
         * else a tree with only its root (samples carry no call sites). */
        if (peak && e->stacks) {
            fputs("heap_tree=peak\n", e->out);
            TQ_TRY(tq_massif_tree_write(e->stacks, e->out, err));
        } else if (peak) {
            fprintf(e->out, "heap_tree=peak\nn0: %" PRIu64 " (heap allocation functions) malloc/new/new[], "
                            "--alloc-fns, etc.\n", held(s));
        } else {
            fputs("heap_tree=empty\n", e->out);
        }
    }
    e->i++;
    return ferror(e->out) ? tq_fail(err, TQ_ERR_IO, "cannot write the massif file") : TQ_OK;
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
    if (!st) {
        put_header(out, path, &sum);
        st = tq_export_each_sample(path, emit_sample, &e, NULL, err);
    }
    tq_heap_replay_free(e.stacks);
    tq_trace_summary_clear(&sum);
    return st;
}
