/* reader.h - stream the records of a trace file one by one (never loads the whole trace; see traces/FORMAT.md).
 *
 * Usage:
 *     struct tq_trace_reader *r;
 *     TQ_TRY(tq_trace_open(path, &r, err));
 *     struct tq_rec rec;
 *     bool done = false;
 *     while (!(st = tq_trace_next(r, &rec, &done, err)) && !done)
 *         switch (rec.type) { case TQ_REC_SAMPLE: tq_rec_get_sample(&rec, &s) ...; }
 *     if (tq_trace_truncated(r)) ... "truncated after N samples" (tq_trace_count(r, TQ_REC_SAMPLE))
 *     tq_trace_close(r);
 *
 * Decode each record's payload with the tq_rec_get_* functions of traces/codec.h. A reader is not thread-safe;
 * use one per thread. Its memory is bounded by the largest record (16 MiB) plus zstd's window (and the last stack,
 * which a STACK_DELTA is relative to). */
#ifndef TQ_TRACE_READER_H
#define TQ_TRACE_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/status.h"
#include "codec.h"

struct tq_trace_reader; /* opaque */

/* Open a trace file and check its preamble. Fails with TQ_ERR_IO (cannot open), TQ_ERR_FORMAT (not a trace,
 * or an unsupported major version), TQ_ERR_TRUNCATED (shorter than the preamble) or TQ_ERR_NOMEM. */
tq_status tq_trace_open(const char *path, struct tq_trace_reader **out, struct tq_err *err);

/* Same over an in-memory trace of len bytes (borrowed: keep it alive until tq_trace_close). Same failures. */
tq_status tq_trace_open_mem(const void *buf, size_t len, struct tq_trace_reader **out, struct tq_err *err);

/* Read the next record into *rec. rec->data is borrowed and valid until the next call.
 * At the end of the records sets *done = true (rec is then untouched) and returns TQ_OK; a tail cut short
 * (a partial zstd frame or record, e.g. after SIGKILL) also ends the stream this way, with
 * tq_trace_truncated() true. Fails with TQ_ERR_FORMAT on corrupt data (bad zstd data, checksum mismatch,
 * a record type 0, a payload over 16 MiB, a first record that is not PROCESS), TQ_ERR_IO on a read error,
 * TQ_ERR_NOMEM. After a failure or the end, further calls repeat the same outcome. */
tq_status tq_trace_next(struct tq_trace_reader *r, struct tq_rec *rec, bool *done, struct tq_err *err);

/* True once the stream ended inside a zstd frame or a record. Can't fail. */
bool tq_trace_truncated(const struct tq_trace_reader *r);

/* Records of one type returned so far (types up to 19; others count 0). A PACKED_GROUP is never returned: the
 * reader returns the PACKED_EVENTS records it holds instead (FORMAT.md 16); a CTX_EVENTS group is returned as its
 * records, one CTX_EVENTS record each (FORMAT.md 18); a SAMPLE_DELTA is returned as the SAMPLE it stands for
 * (FORMAT.md 17), and counted as one; a STACK_DELTA as the STACK it stands for (FORMAT.md 19), whole, counted as a
 * STACK. Can't fail. */
uint64_t tq_trace_count(const struct tq_trace_reader *r, unsigned type);

/* Minor format version from the preamble. Can't fail. */
unsigned tq_trace_minor_version(const struct tq_trace_reader *r);

/* Close the file and free the reader. tq_trace_close(NULL) is a no-op. */
void tq_trace_close(struct tq_trace_reader *r);

#endif
