/* append.h - add a record to a finished or cut trace file after the fact (the runner's KILLED record: FORMAT.md).
 * Not for the shim: a trace being written has one writer, its process. */
#ifndef TQ_TRACE_APPEND_H
#define TQ_TRACE_APPEND_H

#include <stddef.h>

#include "../common/status.h"

/* Append the encoded record rec[0..n) to the trace at path as one new zstd frame (with checksum). The file is
 * opened with O_NOFOLLOW and must be a regular trace file (preamble checked). A tail cut inside a frame (a
 * process killed in the middle of a write) is cut off first, so that the new frame follows the last complete one
 * (the records of that partial frame are lost; readers would have stopped there anyway). Fails with TQ_ERR_IO
 * (cannot open, read or write), TQ_ERR_FORMAT (not a trace, or a frame too damaged to find its end), TQ_ERR_NOMEM. */
tq_status tq_trace_append_record(const char *path, const void *rec, size_t n, struct tq_err *err);

#endif
