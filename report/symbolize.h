/* symbolize.h - offline symbols for the instruction pointers of a trace's stacks (elfutils libdwfl).
 *
 * libdw rather than libbacktrace: libdwfl reads any module from its path and load address (libbacktrace only
 * symbolizes the running process), finds separate debug files by build-id (/usr/lib/debug), and is already
 * linked for the rest of the analyzer. Nothing here runs in the profiled process.
 *
 * Fast on real stacks: each distinct address is resolved once and kept, each module is opened once and its
 * symbols sorted once (symtab.h), so memory grows with distinct addresses and modules, never with how often an
 * address is asked for. Function names are shown demangled (C++), otherwise exactly as libdwfl names them. */
#ifndef TQ_SYMBOLIZE_H
#define TQ_SYMBOLIZE_H

#include <stdbool.h>
#include <stdint.h>

#include "../common/status.h"

struct tq_symbolizer; /* opaque */

/* What is known about one address; strings are borrowed from the symbolizer (valid until it is freed),
 * NULL / 0 when unknown. */
struct tq_symbol {
    const char *function; /* demangled when it is a C++ name */
    const char *file;   /* source file (needs debug info) */
    int line;
    const char *module; /* path of the mapped file */
    uint64_t offset;    /* address - module load bias */
};

/* An empty symbolizer. Returns NULL when memory runs out. */
struct tq_symbolizer *tq_symbolizer_new(void);

/* Note one mapping of a MODULE record (or a /proc/PID/maps line): [start, end) maps `path` at file `offset`.
 * Paths that are not absolute ("[vdso]", "[heap]", anonymous) are ignored. Fails with TQ_ERR_NOMEM. */
tq_status tq_symbolizer_add_mapping(struct tq_symbolizer *s, uint64_t start, uint64_t end, uint64_t offset,
                                    const char *path, struct tq_err *err);

/* Look `ip` up. For return addresses (every stack frame but the innermost) pass ip - 1 so the call, not the
 * next line, is named. Returns false when the address is in no known module (out is then zeroed). Modules whose
 * files cannot be read give module + offset without a function. Can't fail otherwise (when memory runs out for
 * the caches the address is resolved without them). Not thread-safe. */
bool tq_symbolizer_lookup(struct tq_symbolizer *s, uint64_t ip, struct tq_symbol *out);

/* Free everything. tq_symbolizer_free(NULL) is a no-op. */
void tq_symbolizer_free(struct tq_symbolizer *s);

#endif
