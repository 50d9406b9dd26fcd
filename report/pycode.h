/* pycode.h - the CPython code objects of a --stacks trace (PYCODE records, FORMAT.md) and the source line of a
 * Python frame: its instruction index looked up in the code object's location table (CPython 3.11's co_linetable,
 * decoded as the interpreter's own PyCode_Addr2Line does). */
#ifndef TQ_PYCODE_H
#define TQ_PYCODE_H

#include <stddef.h>
#include <stdint.h>

#include "../common/status.h"
#include "../traces/codec.h"

struct tq_pycode {
    char *file, *name; /* co_filename, co_qualname (NUL-terminated copies) */
    int first_line;
    uint8_t *table;    /* co_linetable */
    uint32_t table_len;
};

struct tq_pycodes {
    struct tq_pycode *v; /* by id; v[id - 1], entries never defined have name NULL */
    size_t n;
    uint32_t python;     /* PY_VERSION_HEX of the interpreter seen, 0 when none */
    int unsupported;     /* a PYCODE id 0: an interpreter whose frames were not recorded */
};

/* Take one decoded PYCODE record (copies what it borrows). Fails with TQ_ERR_FORMAT for an id above 2^24,
 * TQ_ERR_NOMEM. */
tq_status tq_pycodes_add(struct tq_pycodes *c, const struct tq_rec_pycode *r, struct tq_err *err);

/* The code object with this id, or NULL. Can't fail. */
const struct tq_pycode *tq_pycodes_get(const struct tq_pycodes *c, uint32_t id);

/* The source line of instruction `instr` (2-byte code units from the start of the bytecode), first_line when the
 * table has no entry for it, -1 when the instruction has no line. Can't fail (a malformed table stops the walk). */
int tq_pycode_line(const struct tq_pycode *code, uint32_t instr);

/* Free everything; a zeroed struct is a no-op. */
void tq_pycodes_clear(struct tq_pycodes *c);

#endif
