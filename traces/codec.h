/* codec.h - the one encoder/decoder of traceq trace records (layout in traces/FORMAT.md), shared by shim and reader. */
#ifndef TQ_TRACE_CODEC_H
#define TQ_TRACE_CODEC_H

#include <stddef.h>
#include <stdint.h>

/* The file starts with a zstd skippable frame holding the preamble; then come ordinary zstd frames whose
 * concatenated content is a sequence of records (FORMAT.md "File layout"). */
#define TQ_TRACE_SKIPPABLE_MAGIC 0x184D2A5Eu /* one of zstd's skippable-frame magics */
#define TQ_TRACE_PREAMBLE_MAGIC "TQTRACE" /* 7 chars + NUL = 8 bytes */
#define TQ_TRACE_PREAMBLE_SIZE 24u        /* 8 (skippable frame header) + 16 (preamble) */
#define TQ_TRACE_VERSION_MAJOR 1u         /* readers refuse another major */
#define TQ_TRACE_VERSION_MINOR 11u        /* readers accept any minor (fields are only appended) */

#define TQ_REC_HEADER_SIZE 8u             /* u16 type, u16 reserved, u32 payload length */
#define TQ_REC_MAX_PAYLOAD (16u << 20)    /* a reader rejects longer records as corrupt */
#define TQ_STACK_MAX_DEPTH 1024u          /* deepest STACK record a reader accepts */

/* Record types (FORMAT.md "Records"). Readers skip types they do not know. */
enum tq_rec_type {
    TQ_REC_PROCESS = 1, /* first record: pid, ppid, exe, argv, start time, interval, page size */
    TQ_REC_SAMPLE = 2,  /* one sampler tick: statm + counters */
    TQ_REC_CALLS = 3,   /* call counts per interposed function (cumulative) */
    TQ_REC_END = 4,     /* process end: how, status, peaks, VmHWM, ru_maxrss */
    TQ_REC_EXEC = 5,    /* the process is about to exec another image */
    TQ_REC_EVENTS = 6,  /* a batch of per-allocation events of one thread (record --stacks) */
    TQ_REC_STACK = 7,   /* one interned call stack: id -> instruction pointers */
    TQ_REC_MODULE = 8,  /* one mapping of /proc/self/maps (module map for offline symbolization) */
    TQ_REC_AGGREGATE = 9, /* per-stack allocation totals (record --aggregate), cumulative; minor version 1 */
    TQ_REC_GAP = 10,      /* the program took the trace's descriptor away (or made it unreachable); minor version 2 */
    TQ_REC_PYCODE = 11,   /* one CPython code object named by Python frames in stacks; minor version 3 */
    TQ_REC_KILLED = 12,   /* appended by the runner after reaping a killed worker (OOM); minor version 4 */
    TQ_REC_SNAPSHOT = 13, /* the process first crossed record --snapshot-at; minor version 4 */
    TQ_REC_ADDR_EVENTS = 14, /* EVENTS naming blocks by address, each with its process-wide order; minor version 5 */
    TQ_REC_PACKED_EVENTS = 15, /* ADDR_EVENTS' events, field by field in separate streams; minor version 6 */
    TQ_REC_PACKED_GROUP = 16,  /* several PACKED_EVENTS records with their streams stored together; minor 7 */
    TQ_REC_SAMPLE_DELTA = 17,  /* a SAMPLE stored as differences from the trace's previous one; minor 7 */
    TQ_REC_CTX_EVENTS = 18,    /* PACKED_EVENTS' streams coded with a per-thread context carried across records; 8 */
    TQ_REC_STACK_DELTA = 19,   /* a STACK stored as the frames it does not share with the previous stack; minor 8 */
    TQ_REC_INFO_EVENTS = 20,   /* CTX_EVENTS whose events may name blocks by (size, stack) instead of address; 9 */
    TQ_REC_REPEAT_EVENTS = 21, /* INFO_EVENTS whose events may repeat a recent (kind, size, stack) in one byte; 11 */
    TQ_REC_SAMPLE_PRED = 22,   /* a SAMPLE as differences from predictions (previous sample, fields before it); 11 */
};

/* Interposed functions, in the order of the CALLS record's counters. Append only: indices are on disk. */
#define TQ_CALLS(X)                                                                                  \
    X(MALLOC, "malloc") X(CALLOC, "calloc") X(REALLOC, "realloc") X(REALLOCARRAY, "reallocarray")    \
    X(FREE, "free") X(POSIX_MEMALIGN, "posix_memalign") X(ALIGNED_ALLOC, "aligned_alloc")            \
    X(MEMALIGN, "memalign") X(VALLOC, "valloc") X(PVALLOC, "pvalloc")                                \
    X(MALLOC_USABLE_SIZE, "malloc_usable_size") X(MMAP, "mmap") X(MMAP64, "mmap64")                  \
    X(MUNMAP, "munmap") X(MREMAP, "mremap")

#define TQ_CALL_ENUM_(id, name) TQ_CALL_##id,
enum tq_call { TQ_CALLS(TQ_CALL_ENUM_) TQ_CALL_COUNT };
#undef TQ_CALL_ENUM_

/* Name of a call index ("malloc"), or "unknown" for an index this build does not know. Can't fail. */
const char *tq_call_name(unsigned idx);

/* PROCESS.flags bits. */
#define TQ_PROC_FORKED 1u  /* the trace was started in a fork() child */
#define TQ_PROC_STACKS 2u  /* EVENTS/STACK/MODULE records may follow (record --stacks) */

/* END.reason values. */
enum tq_end_reason {
    TQ_END_EXIT = 1,  /* exit() or return from main; status = exit status */
    TQ_END_UEXIT = 2, /* _exit()/_Exit() called directly; status = exit status */
};

/* GAP.cause values (FORMAT.md GAP). */
enum tq_gap_cause {
    TQ_GAP_CLOSED = 1,      /* the trace's descriptor was closed behind the shim's back; reopened by path */
    TQ_GAP_REPLACED = 2,    /* the descriptor's number named another file (dup2 over it); reopened by path */
    TQ_GAP_UNREACHABLE = 3, /* after a credential change the trace file can no longer be reopened by path */
    TQ_GAP_NO_ROOM = 4,     /* the program dup2'd onto the trace's number and no other number was free: the shim
                             * closed its descriptor (reopened at a later flush if a number is free by then) */
};

/* KILLED.cause values (FORMAT.md KILLED). */
enum tq_killed_cause {
    TQ_KILLED_OOM_CGROUP = 1,   /* the memory cgroup's OOM killer (its oom_kill count rose) */
    TQ_KILLED_OOM_WATCHDOG = 2, /* the runner's RSS watchdog, above its limit */
};

/* SNAPSHOT.limit_kind values (FORMAT.md SNAPSHOT): where the limit came from. */
enum tq_snapshot_limit {
    TQ_SNAP_ABSOLUTE = 0,  /* record --snapshot-at SIZE: no limit involved */
    TQ_SNAP_CGROUP_V2 = 1, /* memory.max of the process's cgroup (v2) */
    TQ_SNAP_CGROUP_V1 = 2, /* memory.limit_in_bytes of the process's memory cgroup (v1) */
    TQ_SNAP_RLIMIT_AS = 3, /* RLIMIT_AS soft limit */
};

/* A decoded record: a borrowed view of its payload. */
struct tq_rec {
    uint16_t type;
    uint32_t len;         /* payload bytes */
    const uint8_t *data;  /* payload (borrowed; see the producer for its lifetime) */
};

struct tq_rec_process {
    uint32_t pid, ppid;
    uint64_t start_unix_ns;  /* CLOCK_REALTIME at trace start */
    uint32_t interval_us;    /* sampling interval */
    uint32_t page_size;
    uint32_t flags;          /* TQ_PROC_* */
    uint32_t argc;
    const char *exe;         /* borrowed, exe_len bytes, not NUL-terminated */
    uint32_t exe_len;
    const uint8_t *args;     /* argc strings, each u32 length + bytes (validated by the decoder) */
    uint32_t args_len;
    uint64_t sample_bytes;   /* record --sample-bytes: mean bytes between recorded allocations; 0 = all (1.3) */
};

struct tq_rec_sample {
    uint64_t t_ns;                         /* since trace start (CLOCK_MONOTONIC) */
    uint64_t vm_size, vm_rss, vm_shared;   /* bytes, from /proc/self/statm */
    int64_t heap_live_req, heap_live_usable;
    uint64_t heap_peak_req, heap_peak_usable;
    int64_t mmap_live;
    uint64_t mmap_peak;
    uint64_t calls_total;
    uint64_t shim_bytes;                   /* the profiler's own memory then (minor version 6; 0 before) */
};

struct tq_rec_calls {
    uint32_t n;                           /* counters stored in the record */
    uint64_t count[TQ_CALL_COUNT];        /* known ones; missing ones are 0, extra ones ignored */
};

struct tq_rec_end {
    uint64_t t_ns;
    uint32_t reason;                      /* enum tq_end_reason */
    int32_t status;
    uint64_t vm_hwm, vm_peak;             /* /proc/self/status VmHWM, VmPeak (bytes) */
    uint64_t ru_maxrss;                   /* getrusage(RUSAGE_SELF) in bytes */
    uint64_t rss_peak, rss_peak_t_ns;     /* highest sampled VmRSS and when */
    uint64_t heap_peak_req, heap_peak_usable, mmap_peak;
    int64_t heap_live_req, heap_live_usable, mmap_live; /* at the end */
};

struct tq_rec_exec {
    uint64_t t_ns;
    const char *path;                     /* borrowed, path_len bytes */
    uint32_t path_len;
};

struct tq_rec_gap {
    uint64_t t_ns;        /* when the shim noticed */
    uint32_t cause;       /* enum tq_gap_cause */
    int32_t fd;           /* the descriptor number concerned (-1 when none) */
    uint64_t since_ns;    /* CLOSED/REPLACED: the last time the descriptor was known good (a write before) */
    uint64_t lost_bytes;  /* bytes of records that could not be kept (0: nothing lost) */
    uint32_t uid, gid;    /* the effective ids after the change (UNREACHABLE), else the current ones */
};

/* tq_event.flags (INFO_EVENTS, FORMAT.md 20, and OLD_FREED in CTX_EVENTS too, 18; 0 in every other record): */
#define TQ_EV_INFO 1u     /* the block allocated or freed is named by its size and stack, not its address (addr 0) */
#define TQ_EV_OLD_INFO 2u /* realloc: the old block is named by its size (in old_addr) and stack (old_stack) */
#define TQ_EV_TEMP 4u     /* an INFO free: its block is its thread's latest allocation, with no free in between */
#define TQ_EV_OLD_TEMP 8u /* the same for the old block of an OLD_INFO realloc */
#define TQ_EV_OLD_FREED 16u /* realloc (1.10, OLD 6): its old block was released by a FREE before it (old_addr 0) */

/* One per-allocation event inside an EVENTS record. */
struct tq_event {
    uint8_t kind;        /* enum tq_call */
    uint8_t flags;       /* TQ_EV_* (in what was padding: the shim's buffers keep their size) */
    uint32_t tid;        /* readers' own use (report/event_match.c: the record's thread); codecs ignore it, 0 out */
    uint64_t t_ns;       /* absolute (the codec stores deltas) */
    uint64_t addr;       /* result pointer (address freed/unmapped for free/munmap) */
    uint64_t size;       /* requested bytes (0 for free when unknown) */
    uint64_t old_addr;   /* realloc/reallocarray/mremap only, else 0; TQ_EV_OLD_INFO: the old block's size */
    uint32_t stack_id;   /* 0 = no stack */
    uint32_t old_stack;  /* TQ_EV_OLD_INFO: the old block's stack id, else 0 */
    uint64_t seq;        /* place in the process-wide order of events (ADDR_EVENTS); 0 in EVENTS records */
};

struct tq_rec_events {
    uint32_t tid, count;
    uint64_t t0_ns;
    uint64_t seq0;       /* ADDR_EVENTS: the order number the first event's is counted from; 0 in EVENTS */
    const uint8_t *body; /* packed events (borrowed) */
    uint32_t body_len;
    uint32_t ctx;        /* CTX_EVENTS: the writer's context number (< TQ_CTX_MAX); 0 in other records */
    int fresh;           /* CTX_EVENTS: the record starts its context afresh */
};

/* The streams of a PACKED_EVENTS record (FORMAT.md 15), in the order they are stored. */
enum tq_packed_stream { TQ_PS_KIND, TQ_PS_SEQ, TQ_PS_TIME, TQ_PS_AMTF, TQ_PS_ADDR, TQ_PS_SIZE, TQ_PS_STACK, TQ_PS_OLD,
                        TQ_PS_COUNT };
#define TQ_PACKED_MTF 16 /* addresses a PACKED_EVENTS record remembers (move to front) */

/* PACKED_GROUP (FORMAT.md 16): the most a group adds to the bytes of the PACKED_EVENTS records it holds (its own
 * header and count; the records' headers are not stored, so it usually saves bytes). */
#define TQ_GROUP_OVERHEAD (TQ_REC_HEADER_SIZE + 4u)

/* Does a record of this type hold events (EVENTS, ADDR_EVENTS, PACKED_EVENTS)? Do they name blocks by address? */
#define TQ_REC_IS_CTX(t)                                                                                       \
    ((t) == TQ_REC_CTX_EVENTS || (t) == TQ_REC_INFO_EVENTS || (t) == TQ_REC_REPEAT_EVENTS) /* with a context */
#define TQ_REC_HAS_EVENTS(t)                                                                                   \
    ((t) == TQ_REC_EVENTS || (t) == TQ_REC_ADDR_EVENTS || (t) == TQ_REC_PACKED_EVENTS || TQ_REC_IS_CTX(t))
#define TQ_REC_EVENTS_BY_ADDR(t)                                                                               \
    ((t) == TQ_REC_ADDR_EVENTS || (t) == TQ_REC_PACKED_EVENTS || TQ_REC_IS_CTX(t))

/* CTX_EVENTS (FORMAT.md 18): the coding context one writer thread carries from record to record. The encoder and
 * the decoder keep the same one (the decoder ignores hash[] and fhash[]): recent addresses with the size class of their
 * block, recently freed addresses, the predicted next allocation, the latest freed addresses of each size class, recent
 * stack ids. */
#define TQ_CTX_RING 4096u      /* addresses a context remembers (a power of 2) */
#define TQ_CTX_HASH_BITS 13u   /* the encoder's index into the ring: 2^13 slots */
#define TQ_CTX_CLASSES 128u    /* size classes of the most-recently-freed table (16-byte chunk steps) */
#define TQ_CTX_FREED 1024u     /* freed addresses a context remembers in order (a power of 2) */
#define TQ_CTX_FHASH_BITS 11u  /* the encoder's index into those */
#define TQ_CTX_DEPTH 4u        /* freed addresses kept per size class (a ring: the latest first) */
#define TQ_CTX_STACKS 8u       /* recent stack ids (move to front) */
#define TQ_CTX_MAX 1024u       /* context numbers are below this */
#define TQ_CTX_REP_SETS 32u    /* REPEAT_EVENTS: sets of 2 recent (kind, size, stack) tuples (FORMAT.md 21) */
struct tq_pack_ctx {
    uint64_t next;             /* the previous heap allocation's address + its chunk size */
    uint64_t miss;             /* the previous address coded as a difference from it (not an allocation's) */
    uint64_t t, seq;           /* the time of the context's last event, and its order number + 1 */
    uint32_t pos, filled;      /* ring[] slot written next; slots written since the context was fresh (<= RING) */
    uint32_t fpos, ffilled;    /* the same for freed_ring[] */
    uint32_t stack;            /* the previous stack id */
    int started;               /* decoder: a fresh record has set it up */
    uint32_t stacks[TQ_CTX_STACKS];          /* recent stack ids, most recent first */
    uint64_t freed[TQ_CTX_CLASSES][TQ_CTX_DEPTH]; /* each size class's latest freed addresses, a ring (0: none) */
    uint8_t freed_top[TQ_CTX_CLASSES];            /* the slot of each one's latest */
    uint64_t ring[TQ_CTX_RING];              /* recent addresses; ring[pos - 1] the most recent */
    uint8_t ring_cls[TQ_CTX_RING];           /* the size class + 1 of each one's block, 0 when not known */
    uint64_t freed_ring[TQ_CTX_FREED];       /* recently freed addresses; freed_ring[fpos - 1] the latest */
    uint16_t hash[1u << TQ_CTX_HASH_BITS];   /* encoder: slot + 1 of the ring's latest copy of an address (0: none) */
    uint16_t fhash[1u << TQ_CTX_FHASH_BITS]; /* encoder: the same for freed_ring[] */
    /* recent INFO events' (kind, size value, stack id), 2 ways a set, way 0 the later: kind + 1 (0: empty) */
    uint64_t rep_size[TQ_CTX_REP_SETS][2];
    uint32_t rep_stack[TQ_CTX_REP_SETS][2];
    uint8_t rep_kind[TQ_CTX_REP_SETS][2];
    int rep_on;                /* encoder: repeat tuples (80% of the last TUPLES record's were there) */
    unsigned rep_probe;        /* encoder: records with INFO events since fresh (every 64th keeps the tuples) */
};

/* Cursor over the events of one EVENTS, ADDR_EVENTS or PACKED_EVENTS record. */
struct tq_events_iter {
    const uint8_t *p, *end;
    uint32_t left;
    uint64_t t_ns;
    uint64_t addr;       /* previous event's address (addresses are stored as differences) */
    uint64_t seq;        /* previous event's order number (ADDR_EVENTS) */
    int with_seq;        /* ADDR_EVENTS, PACKED_EVENTS: 1 before its first event, 2 after; 0 for EVENTS */
    int packed;          /* PACKED_EVENTS: the fields below are used */
    const uint8_t *s[TQ_PS_COUNT], *se[TQ_PS_COUNT]; /* each stream's read position and end */
    uint64_t mtf[TQ_PACKED_MTF]; /* recent addresses, most recent first */
    uint64_t miss;       /* the previous address not found in mtf */
    uint32_t stack;      /* the previous stack id of the STACK stream */
    int ctx_rec;         /* CTX_EVENTS: events decode with ctx (tq_events_use_ctx), which they update */
    int info_ok;         /* INFO_EVENTS: events may name blocks by (size, stack) (TQ_EV_* flags) */
    int repeat_ok;       /* REPEAT_EVENTS with the TUPLES flag: tuple events keep the context's recent (kind, size,
                          * stack) and may repeat one in their KIND byte */
    struct tq_pack_ctx *ctx;
    uint64_t dt0, dseq0; /* CTX_EVENTS: t0_ns and seq0 as the head stores them (relative to the context) */
};

struct tq_rec_stack {
    uint32_t id, depth;
    const uint8_t *ips;  /* depth little-endian u64, innermost first (read with tq_rec_stack_ip) */
};

struct tq_rec_module {
    uint32_t generation, perms; /* perms bits: 1 r, 2 w, 4 x, 8 private */
    uint64_t start, end, offset;
    const char *path;           /* borrowed, path_len bytes */
    uint32_t path_len;
};

/* A Python frame inside a STACK record's ips (FORMAT.md PYCODE): the top four bits set (no user-space address has
 * them), the PYCODE id in bits 24..59, the instruction's index in the code object's bytecode in bits 0..23. */
#define TQ_PYFRAME_TAG (0xFull << 60)
#define TQ_PYFRAME(code_id, instr) (TQ_PYFRAME_TAG | ((uint64_t)(code_id) << 24) | ((uint64_t)(instr) & 0xFFFFFFu))
#define TQ_IS_PYFRAME(ip) (((ip) & TQ_PYFRAME_TAG) == TQ_PYFRAME_TAG)
#define TQ_PYFRAME_CODE(ip) ((uint32_t)(((ip) >> 24) & 0xFFFFFFFFFull))
#define TQ_PYFRAME_INSTR(ip) ((uint32_t)((ip) & 0xFFFFFFu))
#define TQ_PYFRAME_NOGIL (1u << 23) /* in the instruction field: the thread allocated without holding the GIL */

struct tq_rec_pycode {
    uint32_t id;          /* > 0, named by TQ_PYFRAME values; 0: an interpreter whose frames are not read */
    uint32_t python;      /* the interpreter's version as PY_VERSION_HEX (0x030B02F0 for 3.11.2) */
    int32_t first_line;   /* co_firstlineno */
    const char *file, *name; /* co_filename and co_qualname, UTF-8, borrowed */
    uint32_t file_len, name_len;
    const uint8_t *linetable; /* co_linetable (the interpreter's location table), borrowed */
    uint32_t linetable_len;
};

/* One entry of an AGGREGATE record: totals of one stack since the trace started (the malloc family only). */
struct tq_agg_entry {
    uint32_t stack_id;
    uint64_t calls;      /* allocation calls */
    uint64_t bytes;      /* bytes requested by those calls */
    uint64_t peak_bytes; /* bytes of its blocks live at the record's heap peak */
};

struct tq_rec_aggregate {
    uint32_t count;
    uint64_t heap_peak;     /* live heap at the peak the entries' peak_bytes refer to */
    uint64_t peak_t_ns;     /* when */
    const uint8_t *entries; /* count entries of 32 bytes (read with tq_rec_aggregate_entry) */
};

/* ---- encoding: each returns the bytes written into buf (header + payload), or 0 when cap is too small ---- */

/* The 24-byte file preamble. Returns TQ_TRACE_PREAMBLE_SIZE, or 0 when cap is too small. */
size_t tq_trace_put_preamble(uint8_t *buf, size_t cap);
/* PROCESS; exe and argv[0..argc) are NUL-terminated strings (argv may be NULL when argc == 0). */
size_t tq_rec_put_process(uint8_t *buf, size_t cap, const struct tq_rec_process *p, const char *exe,
                          int argc, char *const *argv);
size_t tq_rec_put_sample(uint8_t *buf, size_t cap, const struct tq_rec_sample *s);
/* SAMPLE_DELTA of s: its fields as differences from prev, the trace's previous sample (all 0 before the first). */
size_t tq_rec_put_sample_delta(uint8_t *buf, size_t cap, const struct tq_rec_sample *s,
                               const struct tq_rec_sample *prev);
/* SAMPLE_PRED of s (FORMAT.md 22): its fields as differences from their predictions (prev, the trace's previous sample,
 * all 0 before the first, and the fields before each); t_ns is stored in whole microseconds (rounded down). */
size_t tq_rec_put_sample_pred(uint8_t *buf, size_t cap, const struct tq_rec_sample *s,
                              const struct tq_rec_sample *prev);
/* CALLS with TQ_CALL_COUNT counters from count[]. */
size_t tq_rec_put_calls(uint8_t *buf, size_t cap, const uint64_t count[TQ_CALL_COUNT]);
size_t tq_rec_put_end(uint8_t *buf, size_t cap, const struct tq_rec_end *e);
/* EXEC; path is NUL-terminated. */
size_t tq_rec_put_exec(uint8_t *buf, size_t cap, uint64_t t_ns, const char *path);
size_t tq_rec_put_gap(uint8_t *buf, size_t cap, const struct tq_rec_gap *g);
/* EVENTS holding ev[0..n) of thread tid; times must not decrease. */
size_t tq_rec_put_events(uint8_t *buf, size_t cap, uint32_t tid, const struct tq_event *ev, size_t n);
/* ADDR_EVENTS holding ev[0..n) of thread tid, addresses as they are, with their order numbers ev[].seq; times and
 * order numbers must increase (times may stay equal). */
size_t tq_rec_put_addr_events(uint8_t *buf, size_t cap, uint32_t tid, const struct tq_event *ev, size_t n);
/* PACKED_EVENTS: the same events and order numbers as ADDR_EVENTS, stored compactly (kinds must be < 16). The
 * encoder writes its streams in one pass, so cap must hold the worst case, tq_rec_packed_events_bound(n) bytes
 * (returns 0 otherwise); the record written is usually far smaller. */
size_t tq_rec_put_packed_events(uint8_t *buf, size_t cap, uint32_t tid, const struct tq_event *ev, size_t n);
/* The bytes tq_rec_put_packed_events needs for n events: the record's header and fields and every stream's worst
 * case (a byte, or the LEB128 of 64 bits, per event and stream). */
size_t tq_rec_packed_events_bound(size_t n);
/* A context set up as fresh (all of it zeroed: call once on new memory; tq_rec_put_ctx_events resets it as needed). */
void tq_pack_ctx_init(struct tq_pack_ctx *c);
/* CTX_EVENTS (FORMAT.md 18) holding ev[0..n) of thread tid (same rules as PACKED_EVENTS), coded with c, the context
 * number ctx_no's (< TQ_CTX_MAX) of the writer; fresh: c is reset first and the record says so (a thread's first
 * record, a context whose last record may not have reached the file). c must be the one the previous record of this
 * context number was coded with; it is updated. An INFO_EVENTS record (FORMAT.md 20, the same with blocks named by
 * size and stack) when an event has TQ_EV_* flags: INFO on an allocation with a stack id or on a free, OLD_INFO (with
 * OLD_TEMP) on a realloc, TEMP on an INFO free; sizes below 2^63 (OLD_FREED, CTX_EVENTS' too, does not make one). A
 * REPEAT_EVENTS record (FORMAT.md 21) when it keeps the tuples (TUPLES). Returns 0, leaving c untouched, when cap is
 * below tq_rec_ctx_events_bound(n), n is over TQ_CTX_EVENTS_MAX or the events break the rules. */
size_t tq_rec_put_ctx_events(uint8_t *buf, size_t cap, uint32_t ctx_no, uint32_t tid, const struct tq_event *ev,
                             size_t n, struct tq_pack_ctx *c, int fresh);
size_t tq_rec_ctx_events_bound(size_t n);
#define TQ_CTX_EVENTS_BOUND(n) (TQ_REC_HEADER_SIZE + 77u + (size_t)(n) * 67u) /* the same, for static buffers */
#define TQ_CTX_EVENTS_MAX 250000u /* events one CTX_EVENTS record may hold (its worst case stays under 16 MiB) */
/* For a CTX_EVENTS record read by tq_rec_get_events (out, it): decode its events with c, the context of its number
 * (out->ctx) that every earlier record of that number was decoded with (read every event of each, in file order).
 * Fills out->t0_ns and seq0. Returns -1 when the record is not fresh and c has never had a fresh record. */
int tq_events_use_ctx(struct tq_events_iter *it, struct tq_rec_events *out, struct tq_pack_ctx *c);
size_t tq_rec_put_stack(uint8_t *buf, size_t cap, uint32_t id, const uint64_t *ips, uint32_t depth);
/* STACK_DELTA (FORMAT.md 19) of stack id (ips[0..depth), innermost first) after the stack prev_id (prev[0..prev_depth)),
 * the previous STACK or STACK_DELTA record of the trace (prev_id 0, prev_depth 0 before the first): the frames it
 * does not share with the longest run of prev's outer frames (some of prev's outermost left out) that it ends with.
 * At most prev_depth * depth comparisons. */
size_t tq_rec_put_stack_delta(uint8_t *buf, size_t cap, uint32_t id, const uint64_t *ips, uint32_t depth,
                              uint32_t prev_id, const uint64_t *prev, uint32_t prev_depth);
/* PACKED_GROUP of the len bytes at recs, which must be whole encoded PACKED_EVENTS records (header included), one
 * after the other: their streams are stored stream by stream (or, when they are CTX_EVENTS records, one CTX_EVENTS
 * group of all their records, FORMAT.md 18). Returns its size (at most len + TQ_GROUP_OVERHEAD),
 * or 0 when cap is too small or recs is not such a sequence. */
size_t tq_rec_put_packed_group(uint8_t *buf, size_t cap, const uint8_t *recs, size_t len);
/* MODULE; path is NUL-terminated. */
size_t tq_rec_put_module(uint8_t *buf, size_t cap, const struct tq_rec_module *m, const char *path);

/* PYCODE of c (its borrowed strings and table included). */
size_t tq_rec_put_pycode(uint8_t *buf, size_t cap, const struct tq_rec_pycode *c);

/* AGGREGATE holding e[0..n), whose peak_bytes are those at heap_peak bytes, at peak_t_ns. */
size_t tq_rec_put_aggregate(uint8_t *buf, size_t cap, uint64_t heap_peak, uint64_t peak_t_ns,
                            const struct tq_agg_entry *e, uint32_t n);

/* ---- decoding: each returns 0 on success, -1 when the payload is too short or inconsistent ---- */

/* Check a 24-byte preamble. Returns 0 if valid, -1 not a trace, -2 unsupported major version. */
int tq_trace_check_preamble(const uint8_t *buf, size_t len, unsigned *major, unsigned *minor);
int tq_rec_get_process(const struct tq_rec *r, struct tq_rec_process *out);
/* Argument i of a decoded PROCESS (i < argc): sets *s and *len (borrowed). Returns 0, or -1 when i is out of range. */
int tq_rec_process_arg(const struct tq_rec_process *p, uint32_t i, const char **s, uint32_t *len);
int tq_rec_get_sample(const struct tq_rec *r, struct tq_rec_sample *out);
/* A SAMPLE_DELTA whose previous sample was prev (may be out itself). */
int tq_rec_get_sample_delta(const struct tq_rec *r, const struct tq_rec_sample *prev, struct tq_rec_sample *out);
/* A SAMPLE_PRED whose previous sample was prev (may be out itself); t_ns comes back in whole microseconds. */
int tq_rec_get_sample_pred(const struct tq_rec *r, const struct tq_rec_sample *prev, struct tq_rec_sample *out);
int tq_rec_get_calls(const struct tq_rec *r, struct tq_rec_calls *out);
int tq_rec_get_end(const struct tq_rec *r, struct tq_rec_end *out);
int tq_rec_get_exec(const struct tq_rec *r, struct tq_rec_exec *out);
int tq_rec_get_gap(const struct tq_rec *r, struct tq_rec_gap *out);

/* KILLED (FORMAT.md): written by the runner, not the shim. where = the cgroup's path, or "" for the watchdog. */
struct tq_rec_killed {
    uint64_t unix_ns;     /* CLOCK_REALTIME when the runner reaped the process */
    uint32_t cause;       /* enum tq_killed_cause */
    uint32_t signal;      /* the signal that ended the worker (9) */
    uint64_t limit;       /* the limit in bytes */
    uint32_t worker_pid;
    const char *where;    /* decoded: borrowed from the record */
    uint32_t where_len;
};
size_t tq_rec_put_killed(uint8_t *buf, size_t cap, const struct tq_rec_killed *k, const char *where);
int tq_rec_get_killed(const struct tq_rec *r, struct tq_rec_killed *out);

/* SNAPSHOT (FORMAT.md): the process's memory first reached threshold (measured as `measure` says). */
struct tq_rec_snapshot {
    uint64_t t_ns;
    uint64_t threshold;   /* bytes */
    uint64_t limit;       /* bytes; 0 with TQ_SNAP_ABSOLUTE */
    uint32_t limit_kind;  /* enum tq_snapshot_limit */
    uint32_t permille;    /* the fraction of limit asked for, in 1/1000 (0 with an absolute size) */
    uint64_t value;       /* what crossed it: the counter's value then */
    uint64_t heap_live;   /* live heap (requested bytes) then */
};
size_t tq_rec_put_snapshot(uint8_t *buf, size_t cap, const struct tq_rec_snapshot *s);
int tq_rec_get_snapshot(const struct tq_rec *r, struct tq_rec_snapshot *out);

/* An EVENTS, ADDR_EVENTS, PACKED_EVENTS, CTX_EVENTS or INFO_EVENTS record (by r->type). A CTX_EVENTS or INFO_EVENTS
 * record must hold one record (the reader splits groups) and needs tq_events_use_ctx before its events. Events come
 * out with flags 0 and old_stack 0 except INFO_EVENTS' (TQ_EV_*: addr 0 for an INFO block). */
int tq_rec_get_events(const struct tq_rec *r, struct tq_rec_events *out, struct tq_events_iter *it);
/* Next event of an EVENTS record: returns 1 with *ev filled, 0 at the end, -1 on a malformed event. */
int tq_events_next(struct tq_events_iter *it, struct tq_event *ev);
int tq_rec_get_stack(const struct tq_rec *r, struct tq_rec_stack *out);
/* A STACK_DELTA after the stack prev_id (prev[0..prev_depth)): sets *id, *depth and ips[0..*depth) (room for
 * TQ_STACK_MAX_DEPTH; must not overlap prev). -1 also when it names more frames of prev than prev has, is deeper than
 * TQ_STACK_MAX_DEPTH, or its id is not in 1..2^32-1. */
int tq_rec_get_stack_delta(const struct tq_rec *r, uint32_t prev_id, const uint64_t *prev, uint32_t prev_depth,
                           uint32_t *id, uint64_t *ips, uint32_t *depth);
/* The PACKED_EVENTS records a PACKED_GROUP holds, as they were before grouping (headers included), one after the
 * other: *need gets their total size (at most 2 * r->len); when it is <= cap they are written to out. Returns 0
 * (also when out was too small: check *need), or -1 when the group is malformed. *n gets the number of records. */
int tq_rec_get_packed_group(const struct tq_rec *r, uint8_t *out, size_t cap, size_t *need, uint32_t *n);
/* The same for a CTX_EVENTS, INFO_EVENTS or REPEAT_EVENTS group (FORMAT.md 18, 20, 21): its records as records of its type holding one
 * record each. */
int tq_rec_get_ctx_group(const struct tq_rec *r, uint8_t *out, size_t cap, size_t *need, uint32_t *n);
/* Frame i (< depth) of a decoded STACK. Can't fail for i < depth. */
uint64_t tq_rec_stack_ip(const struct tq_rec_stack *s, uint32_t i);
int tq_rec_get_module(const struct tq_rec *r, struct tq_rec_module *out);
int tq_rec_get_aggregate(const struct tq_rec *r, struct tq_rec_aggregate *out);
int tq_rec_get_pycode(const struct tq_rec *r, struct tq_rec_pycode *out);
/* Entry i (< count) of a decoded AGGREGATE. Can't fail for i < count. */
struct tq_agg_entry tq_rec_aggregate_entry(const struct tq_rec_aggregate *a, uint32_t i);

#endif
