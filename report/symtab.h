/* symtab.h - one module's symbol table, read and sorted once, answering "which function holds this address" with
 * a binary search instead of libdwfl's scan of the whole table per call, and giving exactly the symbol that
 * dwfl_module_addrinfo gives (its preference rules are replayed on the sorted table: see symtab.c). Names are
 * shown demangled (C++ "_Z..." names, via libiberty), each symbol's once. */
#ifndef TQ_SYMTAB_H
#define TQ_SYMTAB_H

#include <elfutils/libdwfl.h>
#include <stdint.h>

#include "../common/status.h"

struct tq_symtab; /* opaque */

/* Read mod's symbol table (.symtab, else .dynsym, plus a MiniDebugInfo table: whatever libdwfl finds). A module
 * without symbols gives an empty table. Fails with TQ_ERR_NOMEM. *out is the caller's: free with tq_symtab_free;
 * it borrows mod's strings, so it must be freed before mod's Dwfl is ended. */
tq_status tq_symtab_new(Dwfl_Module *mod, struct tq_symtab **out, struct tq_err *err);

/* The symbol dwfl_module_addrinfo(mod, addr) would name (addr in the Dwfl's address space), or NULL; its shown
 * name (demangled when it is a C++ name, else the symbol's own) goes to *shown. Not thread-safe (the demangled
 * names are made on first use). When the demangler runs out of memory the raw name is shown; can't fail otherwise. */
const char *tq_symtab_lookup(struct tq_symtab *t, uint64_t addr, const char **shown);

/* Symbols in the table (for tests and statistics). Can't fail. */
size_t tq_symtab_count(const struct tq_symtab *t);

/* Free a table. tq_symtab_free(NULL) is a no-op. */
void tq_symtab_free(struct tq_symtab *t);

#endif
