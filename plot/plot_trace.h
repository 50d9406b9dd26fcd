/* plot_trace.h - `traceq plot`: RSS, heap and mmap of one or more traces over time, overlaid in one chart. */
#ifndef TQ_PLOT_TRACE_H
#define TQ_PLOT_TRACE_H

#include <stdbool.h>
#include <stddef.h>

#include "../common/status.h"

/* Draw the traces at paths[0..n) to `out` (.svg or .png), at most ~2000 points per line (each point keeps the
 * largest value of its time slice, so peaks survive). Lines that stay at zero (no mmap) are left out; RSS and
 * heap peaks are marked. Streams each trace twice. Fails with TQ_ERR_USAGE when n == 0 or a trace has no
 * samples, the reader's errors for a bad trace, and tq_plot_write's errors (existing file without force). */
tq_status tq_plot_traces(const char *const *paths, size_t n, const char *out, bool force, struct tq_err *err);

#endif
