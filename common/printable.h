/* printable.h - text from a trace or argv made safe for a terminal: a program can name itself with escape
 * sequences (ESC [ ... clears the screen, retitles the window, fakes output), so every program name, path or
 * argument that traceq prints goes through tq_printable first. */
#ifndef TQ_PRINTABLE_H
#define TQ_PRINTABLE_H

#include <stddef.h>

/* Copy s into buf (cap bytes, always NUL-terminated, cut at a character boundary when too long) with C0 controls
 * (0x00-0x1f), DEL (0x7f), C1 controls (U+0080-U+009F) and bytes that are not valid UTF-8 written as \xHH, and a
 * backslash as \\, so the result is unambiguous. Valid UTF-8 text passes unchanged. NULL prints as "?". Returns
 * buf. Can't fail. */
char *tq_printable(const char *s, char *buf, size_t cap);

#endif
