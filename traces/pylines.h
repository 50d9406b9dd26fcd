/* pylines.h - a CPython 3.11 location table (co_linetable, Objects/locations.md) with its column information
 * dropped: the table a PYCODE record carries since format 1.8 (FORMAT.md 11). Every instruction keeps its line
 * (or its "no line"); a table of lines alone is about a fifth of the interpreter's (NumPy script: 228 KB -> 47 KB). */
#ifndef TQ_PYLINES_H
#define TQ_PYLINES_H

#include <stddef.h>
#include <stdint.h>

/* Rewrite the location table t[0..n) into out[0..cap) as entries of kind 13 ("no column": a line delta) and 15
 * ("no location") only, consecutive instructions of one line merged (up to 8 code units an entry). Any reader of
 * location tables finds the same line (or no line) for every instruction, and the same number of instructions
 * covered. Returns the new table's length (never more than n), or 0 when t is not a well-formed table (an entry
 * that does not start with bit 7 set, a field past its end, a varint over 30 bits or a line delta of 2^24 or more)
 * or cap is too small: the caller then keeps t as it is. Allocates nothing (the shim calls it). */
size_t tq_pylines_only(const uint8_t *t, size_t n, uint8_t *out, size_t cap);

#endif
