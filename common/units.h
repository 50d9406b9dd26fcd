/* units.h - the one checked parser and printer for memory sizes, shapes and integer ranges. */
#ifndef TQ_UNITS_H
#define TQ_UNITS_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

/* Parse "4GiB", "512 MiB", "3GB", "1.5G", "4096" into bytes.
 * Binary suffixes (KiB MiB GiB TiB, and bare K M G T) are powers of 1024; decimal ones (KB MB GB TB) of 1000;
 * "B" or no suffix means bytes. Case-insensitive. Fractions are allowed ("1.5GiB").
 * Fails with TQ_ERR_USAGE on empty input, junk, a negative value or overflow of uint64_t. */
tq_status tq_parse_bytes(const char *s, uint64_t *out, struct tq_err *err);

/* Format bytes in binary units with 3 significant-ish digits ("1.50 GiB", "512 B") into buf.
 * Returns buf. Can't fail (truncates to bufsize). */
char *tq_format_bytes(uint64_t bytes, char *buf, size_t bufsize);

/* A byte count computed in floating point (a model's prediction) as a whole number of bytes, rounded up:
 * 0 for NaN or <= 0, UINT64_MAX at or above 2^64. Never an out-of-range conversion. Can't fail. */
uint64_t tq_bytes_from_double(double bytes);

/* Parse a shape "200x200x400" (also "200,200,400") into three positive sizes.
 * Fails with TQ_ERR_USAGE on a missing or extra axis, zero, junk, or a size above 2^40. */
tq_status tq_parse_shape(const char *s, size_t shape[3], struct tq_err *err);

/* Parse a decimal integer in [min, max]; fails with TQ_ERR_USAGE naming `what` otherwise. */
tq_status tq_parse_long(const char *s, long min, long max, const char *what, long *out, struct tq_err *err);

/* Parse a duration "90", "90s", "2m", "1.5h" (seconds without a suffix) into seconds. Fails with TQ_ERR_USAGE
 * naming `what` on junk, a negative or non-finite value (0 is returned as 0: callers decide whether it is allowed). */
tq_status tq_parse_seconds(const char *s, const char *what, double *out, struct tq_err *err);

/* Parse an inclusive range "start:stop:step" (or a single number), or a geometric one "start:stop:xF" (start,
 * start*F, start*F^2, ... rounded, up to stop; F > 1 may be fractional), into its values, at most `cap`.
 * Writes the count to *n. Fails with TQ_ERR_USAGE on junk, step <= 0, F <= 1, start > stop or more than cap
 * values. */
tq_status tq_parse_range(const char *s, size_t *values, size_t cap, size_t *n, struct tq_err *err);

#endif
