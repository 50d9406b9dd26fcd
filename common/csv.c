/* csv.c - the CSV reader (a character state machine: quoted fields, doubled quotes, line breaks inside quotes) and
 * writer (quotes only the fields that need it) (see csv.h). */
#include "csv.h"
#include "alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void tq_csv_row_free(struct tq_csv_row *row)
{
    if (!row)
        return;
    free(row->buf);
    free(row->field);
    memset(row, 0, sizeof *row);
}

/* Append byte c to the row's buffer. */
static tq_status put_byte(struct tq_csv_row *row, size_t *len, char c, struct tq_err *err)
{
    if (*len == row->cap) {
        size_t cap = row->cap ? 2 * row->cap : 256;
        char *nb = tq_realloc(row->buf, cap);
        if (!nb)
            return tq_fail(err, TQ_ERR_NOMEM, "out of memory for a CSV record");
        row->buf = nb;
        row->cap = cap;
    }
    row->buf[(*len)++] = c;
    return TQ_OK;
}

/* Start a field at offset off (kept as an offset until the record is complete: the buffer may move). */
static tq_status start_field(struct tq_csv_row *row, size_t off, struct tq_err *err)
{
    if (row->n == row->fcap) {
        size_t cap = row->fcap ? 2 * row->fcap : 32;
        char **nf = tq_realloc(row->field, cap * sizeof *nf);
        if (!nf)
            return tq_fail(err, TQ_ERR_NOMEM, "out of memory for a CSV record");
        row->field = nf;
        row->fcap = cap;
    }
    row->field[row->n++] = (char *)(uintptr_t)off;
    return TQ_OK;
}

/* The rest of a quoted field (the opening quote read); *c gets the character after the closing quote. */
static tq_status read_quoted(FILE *f, const char *name, struct tq_csv_row *row, size_t *len, int *c,
                             struct tq_err *err)
{
    for (;;) {
        int ch = getc(f);
        if (ch == EOF)
            return ferror(f) ? tq_fail_errno(err, TQ_ERR_IO, "cannot read %s", name)
                             : tq_fail(err, TQ_ERR_TRUNCATED, "%s:%ld: the file ends inside a quoted field", name,
                                       row->line);
        if (ch == '"') {
            ch = getc(f);
            if (ch != '"') {
                *c = ch;
                return TQ_OK;
            }
        } else if (ch == '\n') {
            row->next_line++;
        }
        TQ_TRY(put_byte(row, len, (char)ch, err));
    }
}

tq_status tq_csv_read(FILE *f, const char *name, struct tq_csv_row *row, struct tq_err *err)
{
    size_t len = 0;
    row->n = 0;
    if (row->next_line < 1)
        row->next_line = 1;
    row->line = row->next_line;
    int c = getc(f);
    if (c == EOF)
        return ferror(f) ? tq_fail_errno(err, TQ_ERR_IO, "cannot read %s", name) : TQ_OK;
    for (;;) {
        TQ_TRY(start_field(row, len, err));
        if (c == '"') {
            TQ_TRY(read_quoted(f, name, row, &len, &c, err));
            if (c == '\r') {
                c = getc(f);
                if (c != '\n')
                    return tq_fail(err, TQ_ERR_FORMAT, "%s:%ld: a carriage return after a quoted field", name,
                                   row->next_line);
            }
            if (c != ',' && c != '\n' && c != EOF)
                return tq_fail(err, TQ_ERR_FORMAT, "%s:%ld: '%c' after the closing quote of field %zu", name,
                               row->next_line, c, row->n);
        } else {
            while (c != ',' && c != '\n' && c != EOF) {
                int next = c == '\r' ? getc(f) : 0;
                if (c == '\r' && next == '\n') {
                    c = next; /* "\r\n" ends the record */
                    break;
                }
                TQ_TRY(put_byte(row, &len, (char)c, err));
                c = c == '\r' ? next : getc(f);
            }
        }
        TQ_TRY(put_byte(row, &len, 0, err));
        if (c != ',')
            break;
        c = getc(f);
    }
    if (c == EOF && ferror(f))
        return tq_fail_errno(err, TQ_ERR_IO, "cannot read %s", name);
    row->next_line++;
    for (size_t i = 0; i < row->n; i++)
        row->field[i] = row->buf + (uintptr_t)row->field[i];
    return TQ_OK;
}

/* Does s need quotes to survive a round trip? */
static int needs_quotes(const char *s)
{
    return s[strcspn(s, ",\"\r\n")] != 0;
}

tq_status tq_csv_write(FILE *f, const char *const *fields, size_t n, struct tq_err *err)
{
    for (size_t i = 0; i < n; i++) {
        const char *s = fields[i] ? fields[i] : "";
        if (i)
            putc(',', f);
        if (!needs_quotes(s)) {
            fputs(s, f);
            continue;
        }
        putc('"', f);
        for (; *s; s++) {
            if (*s == '"')
                putc('"', f);
            putc(*s, f);
        }
        putc('"', f);
    }
    putc('\n', f);
    return ferror(f) ? tq_fail(err, TQ_ERR_IO, "cannot write a CSV record") : TQ_OK;
}
