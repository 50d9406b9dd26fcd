/* mem_limit.h - the memory limit that applies to the calling process: its cgroup's (v2 memory.max, v1
 * memory.limit_in_bytes) or its RLIMIT_AS, for `record --snapshot-at 80%`. Shared by the shim (which resolves the
 * percentage in the traced process) and `traceq record` (which refuses a percentage when no limit is known).
 * Allocates nothing and uses no stdio: safe inside the shim's constructor. */
#ifndef TQ_TRACE_MEM_LIMIT_H
#define TQ_TRACE_MEM_LIMIT_H

#include <stdint.h>

/* The smallest limit known for this process: *bytes and *kind (enum tq_snapshot_limit of traces/codec.h). Cgroup
 * files are found through /proc/self/cgroup under /sys/fs/cgroup ("max" and v1's "no limit" value of about 2^63
 * count as none). Returns 0, or -1 when none is known. */
int tq_mem_limit(uint64_t *bytes, unsigned *kind);

/* Parse a --snapshot-at / TRACEQ_SNAPSHOT_AT value: "80%" or "12.5%" (more than 0, at most 100: *permille 1..1000,
 * *bytes 0), or a size "512M", "2G", "1048576" (K, M, G, T: powers of 1024; *permille 0). Returns 0, or -1. */
int tq_snapshot_parse(const char *v, unsigned *permille, uint64_t *bytes);

#endif
