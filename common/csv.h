/* csv.h - one CSV reader and writer (RFC 4180): fields separated by commas, a field holding a comma, a quote or a
 * line break written in double quotes with its quotes doubled, empty fields kept as empty strings. Used for the
 * sweep dataset (model/dataset.c) and the experiment's results table (experiment/experiment.c). */
#ifndef TQ_CSV_H
#define TQ_CSV_H

#include <stddef.h>
#include <stdio.h>

#include "status.h"

/* One record as read: n fields, each a NUL-terminated string inside the row's own buffer. Zero-initialise, reuse
 * for every tq_csv_read of one file (it counts the lines), free with tq_csv_row_free. */
struct tq_csv_row {
    size_t n;
    char **field;   /* field[0..n) */
    long line;      /* the line the record starts on, from 1 */
    long next_line; /* the line the next record starts on (internal) */
    char *buf;      /* owned storage */
    size_t cap, fcap;
};

/* Read the next record of f into row. A record ends at a line break outside quotes ("\n" or "\r\n") or at the end
 * of the file; an empty line is a record of one empty field. Returns TQ_OK with row->n >= 1 for a record, TQ_OK
 * with row->n == 0 at the end of the file. Fails with TQ_ERR_TRUNCATED when the file ends inside a quoted field,
 * TQ_ERR_FORMAT on a character after a closing quote other than a comma or line break, TQ_ERR_IO on a read error,
 * TQ_ERR_NOMEM; the message names `name` (the file, for messages) and the line. */
tq_status tq_csv_read(FILE *f, const char *name, struct tq_csv_row *row, struct tq_err *err);

/* Free the row's storage and zero it; NULL is a no-op. Can't fail. */
void tq_csv_row_free(struct tq_csv_row *row);

/* Write one record of n fields and a "\n", quoting the fields that need it (NULL is written as an empty field).
 * Fails with TQ_ERR_IO when the stream reports an error (checked with ferror; the caller flushes). */
tq_status tq_csv_write(FILE *f, const char *const *fields, size_t n, struct tq_err *err);

#endif
