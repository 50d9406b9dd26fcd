/* export_folded.c - `traceq export --format folded`: "root;...;leaf bytes" per call stack for flamegraph.pl and
 * speedscope, weighed by heap bytes held at the heap peak or allocated in total (figures from heap_replay.h). */
#include <inttypes.h>

#include "export.h"
#include "../report/heap_replay.h"

static void write_site(struct tq_heap_replay *r, const struct tq_heap_site *s, uint64_t w, FILE *out)
{
    char name[512];
    if (s->stack_id == 0 || s->depth == 0)
        fputs("[no stack]", out);
    /* Folded lines go root first; stacks are stored innermost first. */
    for (uint32_t i = s->depth; i-- > 0;) {
        fputs(tq_heap_replay_frame(r, s, i, 0, name, sizeof name), out);
        if (i)
            fputc(';', out);
    }
    fprintf(out, " %" PRIu64 "\n", w);
}

tq_status tq_export_folded(const char *path, enum tq_folded_by by, bool python_only, FILE *out, struct tq_err *err)
{
    struct tq_heap_replay *r;
    TQ_TRY(tq_heap_replay_run_opts(path, python_only, &r, err));
    size_t lines = 0;
    for (size_t i = 0; i < tq_heap_replay_count(r); i++) {
        const struct tq_heap_site *s = tq_heap_replay_site(r, i);
        uint64_t w = by == TQ_FOLDED_PEAK ? s->peak_bytes : s->allocated_bytes;
        if (w) {
            write_site(r, s, w, out);
            lines++;
        }
    }
    /* Say why nothing was written rather than print an empty profile that looks like a broken pipeline. */
    tq_status st = TQ_OK;
    if (lines == 0 && by == TQ_FOLDED_PEAK && tq_heap_replay_facts(r)->aggregated)
        st = tq_fail(err, TQ_ERR_USAGE, "%s: its AGGREGATE records carry no heap-peak figures (no stack held "
                     "bytes at the peak); try --by allocated", path);
    else if (lines == 0)
        st = tq_fail(err, TQ_ERR_USAGE, "%s: the trace has no heap allocations to show", path);
    tq_heap_replay_free(r);
    if (!st && ferror(out))
        st = tq_fail(err, TQ_ERR_IO, "cannot write the folded stacks");
    return st;
}
