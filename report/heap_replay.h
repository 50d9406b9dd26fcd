/* heap_replay.h - replay a trace's allocation events (traceq record --stacks) into heap bytes per call stack:
 * held at the moment the live heap peaked, allocated in total, and allocation calls. Used by the folded and
 * massif exports; also what `traceq report --top` needs. Streams the trace once; memory grows with the blocks live
 * at once (24 bytes each, report/live_blocks.h) and the distinct stacks, not with the trace's length. */
#ifndef TQ_HEAP_REPLAY_H
#define TQ_HEAP_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/status.h"
#include "trace_summary.h"

/* One call stack's figures. Heap only: the malloc family; mmap/munmap/mremap events are left out. */
struct tq_heap_site {
    uint32_t stack_id;        /* 0 = events recorded without a stack */
    uint32_t depth;
    const uint64_t *ips;      /* depth instruction pointers, innermost first (borrowed from the replay) */
    uint64_t peak_bytes;      /* held when the total live heap peaked */
    uint64_t allocated_bytes; /* all bytes allocated (a realloc counts its new size) */
    uint64_t calls;           /* allocation calls (malloc, calloc, realloc, memalign family) */
    uint64_t leaked_bytes;    /* still live when the trace ends (at exit: never freed) */
    uint64_t leaked_blocks;
    uint64_t temporary_calls; /* allocations freed with no other allocation in between (as heaptrack counts) */
    uint64_t temporary_bytes;
    double allocated_err, peak_err, leaked_err; /* standard errors of the estimates of a sampled trace, else 0 */
};

struct tq_heap_replay; /* opaque */

/* Replay the trace at `path`. Events are taken in record order (each thread's batches as they were flushed), so
 * for several threads the moment of the peak is as the batches order it. Fails with TQ_ERR_USAGE when the trace
 * has no allocation events with stacks ("record it with traceq record --stacks"), the reader's errors
 * (TQ_ERR_IO, TQ_ERR_FORMAT, TQ_ERR_TRUNCATED), TQ_ERR_FORMAT on a record that does not decode or a stack id
 * above 2^24, TQ_ERR_NOMEM. *out is the caller's: free with tq_heap_replay_free. */
tq_status tq_heap_replay_run(const char *path, struct tq_heap_replay **out, struct tq_err *err);

/* The same; with python_only, stacks keep their Python frames only (see keep_python_frames): TQ_ERR_USAGE when
 * the trace has none. */
tq_status tq_heap_replay_run_opts(const char *path, bool python_only, struct tq_heap_replay **out,
                                  struct tq_err *err);

/* What a replay stops at and how it reads. */
struct tq_heap_replay_opts {
    bool python_only;    /* as tq_heap_replay_run_opts */
    bool until_snapshot; /* treat the first SNAPSHOT record (record --snapshot-at) as the end of the trace: the
                          * sites' leaked figures are then what was live at the snapshot, the peak the one before it;
                          * TQ_ERR_USAGE when the trace has no SNAPSHOT record */
    struct tq_trace_summary *summary; /* not NULL (and not until_snapshot): the trace's summary is read into it in
                                       * the same pass (report/trace_summary.h; cleared when the replay fails) */
    bool summary_samples; /* ... with its samples (tq_trace_summarize_samples) */
};

/* The same with every option. */
tq_status tq_heap_replay_run_with(const char *path, const struct tq_heap_replay_opts *o, struct tq_heap_replay **out,
                                  struct tq_err *err);

/* What the trace's records say about the whole recording. */
struct tq_heap_replay_facts {
    /* a KILLED record (appended by `traceq run --trace-blocks` after an OOM kill) was seen */
    bool killed;
    /* the replay stopped at a SNAPSHOT record (opts.until_snapshot) */
    bool at_snapshot;
    /* the trace has its END record (the process exited or called exec): the sites' leaked figures are then what was
     * never freed; without it (a killed process, a cut trace) they are what was live at the last flush */
    bool ended;
    /* the trace was recorded with --aggregate: the sites' figures and the peak are the last AGGREGATE record's,
     * computed in the traced process (FORMAT.md) */
    bool aggregated;
    /* record --sample-bytes: the mean bytes between recorded allocations (figures are then unbiased estimates: each
     * recorded allocation stands for s / (1 - exp(-s / N)) bytes), else 0 */
    uint64_t sample_bytes;
};

/* The trace's facts, borrowed from the replay. Can't fail. */
const struct tq_heap_replay_facts *tq_heap_replay_facts(const struct tq_heap_replay *r);

/* Sites, by stack id (0..count-1); ids never used have all figures 0. Can't fail. */
size_t tq_heap_replay_count(const struct tq_heap_replay *r);
const struct tq_heap_site *tq_heap_replay_site(const struct tq_heap_replay *r, size_t i);

/* Total live heap at the peak, and when (ns since the trace started). Can't fail. */
uint64_t tq_heap_replay_peak(const struct tq_heap_replay *r);
uint64_t tq_heap_replay_peak_t_ns(const struct tq_heap_replay *r);

/* Name frame i of a site into buf. A Python frame: "qualname (file.py:line)" (line from the code object's
 * location table; " [GIL released; Python stack as of the release]" on the innermost Python frame of a thread that allocated without the GIL). A native frame: the function when its module's symbols can be read (frames past the
 * innermost are return addresses, so ip - 1 is looked up), else "module+0xOFFSET", else "0x...". With
 * `with_line`, " (file:line)" follows when debug info has it. Returns buf. Can't fail (truncates). */
char *tq_heap_replay_frame(struct tq_heap_replay *r, const struct tq_heap_site *s, uint32_t i, int with_line,
                           char *buf, size_t size);

/* Look frame i of a site up (frames past the innermost at ip - 1, as above). Returns false when no module of the
 * trace holds the address (out is then zeroed). Strings are borrowed from the replay. Can't fail otherwise. */
struct tq_symbol;
bool tq_heap_replay_lookup(struct tq_heap_replay *r, const struct tq_heap_site *s, uint32_t i, struct tq_symbol *out);

/* The frame that names a site's code: the innermost Python frame when the stack has Python frames (a CPython
 * process recorded with --stacks: the script's line, not the interpreter's C function), else 0. Can't fail. */
uint32_t tq_heap_replay_site_frame(const struct tq_heap_replay *r, const struct tq_heap_site *s);

/* True when frame i of s is a Python frame. Can't fail. */
bool tq_heap_replay_is_python(const struct tq_heap_site *s, uint32_t i);

/* The PY_VERSION_HEX of a CPython whose frames the shim could not read (only 3.11 is), else 0. Can't fail. */
uint32_t tq_heap_replay_python_unsupported(const struct tq_heap_replay *r);

/* Free a replay. tq_heap_replay_free(NULL) is a no-op. */
void tq_heap_replay_free(struct tq_heap_replay *r);

#endif
