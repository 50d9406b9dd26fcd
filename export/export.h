/* export.h - a trace to the formats of standard viewers: massif.out, folded stacks, Chrome trace JSON, CSV. */
#ifndef TQ_EXPORT_H
#define TQ_EXPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "../common/status.h"
#include "../traces/codec.h"

enum tq_export_format {
    TQ_EXPORT_MASSIF, /* valgrind massif.out (ms_print, massif-visualizer): sampled heap, peak snapshot marked */
    TQ_EXPORT_FOLDED, /* "a;b;c bytes" lines for flamegraph.pl / speedscope; needs a trace recorded with stacks */
    TQ_EXPORT_CHROME, /* Chrome trace-event JSON with RSS, heap and mmap counter tracks (Perfetto, about:tracing) */
    TQ_EXPORT_CSV     /* the samples, one row each, header row first */
};

/* What the folded export weighs each stack by. */
enum tq_folded_by {
    TQ_FOLDED_PEAK,     /* heap bytes the stack held at the moment of the heap peak */
    TQ_FOLDED_ALLOCATED /* heap bytes the stack allocated over the whole run */
};

/* Parse "massif", "folded", "chrome" or "csv". Fails with TQ_ERR_USAGE naming the known formats. */
tq_status tq_export_parse_format(const char *s, enum tq_export_format *out, struct tq_err *err);

/* Parse "peak" or "allocated". Fails with TQ_ERR_USAGE. */
tq_status tq_export_parse_folded_by(const char *s, enum tq_folded_by *out, struct tq_err *err);

/* Each exporter streams the trace at `path` (never loading it whole) and writes to `out`.
 * Fail with the reader's errors (TQ_ERR_IO, TQ_ERR_FORMAT, TQ_ERR_TRUNCATED, TQ_ERR_NOMEM), TQ_ERR_FORMAT when
 * a record does not decode, TQ_ERR_IO when writing fails. A trace cut short is exported up to where it ends. */
tq_status tq_export_csv(const char *path, FILE *out, struct tq_err *err);
tq_status tq_export_chrome(const char *path, FILE *out, struct tq_err *err);
/* Also fails with TQ_ERR_FORMAT when the trace has no samples (massif needs at least one snapshot). */
tq_status tq_export_massif(const char *path, FILE *out, struct tq_err *err);
/* Also fails with TQ_ERR_USAGE ("recorded without stacks; use traceq record --stacks") when the trace has no
 * allocation events with stacks, and when no stack has bytes to show (an --aggregate trace whose AGGREGATE records
 * carry no peak figures, with `--by peak`: the message says to try --by allocated). With python_only, native
 * frames are folded away (TQ_ERR_USAGE when the trace has no Python frames). */
tq_status tq_export_folded(const char *path, enum tq_folded_by by, bool python_only, FILE *out, struct tq_err *err);

/* ---- shared by the exporters and the trace plot ---- */

/* Called for each SAMPLE in order; a non-zero return stops the walk and is passed up. */
typedef tq_status (*tq_sample_fn)(const struct tq_rec_sample *s, void *ctx, struct tq_err *err);

/* Walk the samples of a trace; *pid gets the PROCESS pid when not NULL. Fails as the exporters above. */
tq_status tq_export_each_sample(const char *path, tq_sample_fn fn, void *ctx, unsigned *pid, struct tq_err *err);

#endif
