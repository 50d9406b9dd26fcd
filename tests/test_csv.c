/* test_csv.c - the CSV module (common/csv.h): round trips of awkward fields, empty fields kept, quotes, line ends,
 * truncated input, bad quoting, line numbers, and out-of-memory on every allocation of the reader. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/alloc.h"
#include "../common/csv.h"

/* A read-only stream over text. */
static FILE *text_stream(const char *text)
{
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    cr_assert(f);
    return f;
}

/* Read the next record and check its fields (NULL-terminated list). */
static void expect_row(FILE *f, struct tq_csv_row *row, const char *const *want)
{
    struct tq_err err = {0};
    cr_assert_eq(tq_csv_read(f, "t.csv", row, &err), TQ_OK, "%s", err.msg);
    size_t n = 0;
    while (want[n])
        n++;
    cr_assert_eq(row->n, n, "%zu fields, expected %zu (first: %s)", row->n, n, row->n ? row->field[0] : "");
    for (size_t i = 0; i < n; i++)
        cr_assert_str_eq(row->field[i], want[i], "field %zu", i);
}

static void expect_end(FILE *f, struct tq_csv_row *row)
{
    struct tq_err err = {0};
    cr_assert_eq(tq_csv_read(f, "t.csv", row, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(row->n, 0, "end of file");
}

Test(csv, empty_fields_are_kept)
{
    FILE *f = text_stream("a,,c,\n,\n\nx\n,,\n");
    struct tq_csv_row row = {0};
    expect_row(f, &row, (const char *[]){"a", "", "c", "", NULL});
    expect_row(f, &row, (const char *[]){"", "", NULL});
    expect_row(f, &row, (const char *[]){"", NULL}); /* an empty line: one empty field */
    expect_row(f, &row, (const char *[]){"x", NULL});
    expect_row(f, &row, (const char *[]){"", "", "", NULL});
    expect_end(f, &row);
    tq_csv_row_free(&row);
    fclose(f);
}

Test(csv, quotes_commas_and_line_breaks)
{
    FILE *f = text_stream("\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\"\",plain\r\n\"x\"\"\"\r\nlast,\"\"\"\"\n");
    struct tq_csv_row row = {0};
    expect_row(f, &row, (const char *[]){"a,b", "say \"hi\"", "two\nlines", "", "plain", NULL});
    cr_assert_eq(row.line, 1);
    expect_row(f, &row, (const char *[]){"x\"", NULL});
    cr_assert_eq(row.line, 3, "the quoted line break counts");
    expect_row(f, &row, (const char *[]){"last", "\"", NULL});
    cr_assert_eq(row.line, 4);
    expect_end(f, &row);
    tq_csv_row_free(&row);
    fclose(f);
}

Test(csv, a_last_line_without_newline_is_a_record)
{
    FILE *f = text_stream("a,b\nc,");
    struct tq_csv_row row = {0};
    expect_row(f, &row, (const char *[]){"a", "b", NULL});
    expect_row(f, &row, (const char *[]){"c", "", NULL});
    expect_end(f, &row);
    tq_csv_row_free(&row);
    fclose(f);
}

Test(csv, truncated_and_bad_quoting_fail_with_the_line)
{
    struct tq_csv_row row = {0};
    struct tq_err err = {0};
    FILE *f = text_stream("ok,1\n\"cut, in the\nmiddle");
    expect_row(f, &row, (const char *[]){"ok", "1", NULL});
    cr_assert_eq(tq_csv_read(f, "t.csv", &row, &err), TQ_ERR_TRUNCATED);
    cr_assert_str_eq(err.msg, "t.csv:2: the file ends inside a quoted field");
    fclose(f);
    tq_csv_row_free(&row); /* a row reads one file: its line count starts over */
    f = text_stream("\"a\"b,c\n");
    cr_assert_eq(tq_csv_read(f, "t.csv", &row, &err), TQ_ERR_FORMAT);
    cr_assert(strstr(err.msg, "t.csv:1:") && strstr(err.msg, "'b' after the closing quote"), "%s", err.msg);
    fclose(f);
    tq_csv_row_free(&row);
    f = text_stream("\"a\"\rb\n");
    cr_assert_eq(tq_csv_read(f, "t.csv", &row, &err), TQ_ERR_FORMAT);
    fclose(f);
    tq_csv_row_free(&row);
}

Test(csv, a_lone_quote_inside_an_unquoted_field_is_text)
{
    FILE *f = text_stream("5\" disk,a\rb\n");
    struct tq_csv_row row = {0};
    expect_row(f, &row, (const char *[]){"5\" disk", "a\rb", NULL});
    tq_csv_row_free(&row);
    fclose(f);
}

Test(csv, writer_quotes_only_what_needs_it_and_round_trips)
{
    const char *fields[] = {"plain", "", "a,b", "say \"hi\"", "two\nlines", "cr\r\nlf", NULL, "end "};
    char *text = NULL;
    size_t len = 0;
    FILE *w = open_memstream(&text, &len);
    struct tq_err err = {0};
    cr_assert_eq(tq_csv_write(w, fields, 8, &err), TQ_OK);
    cr_assert_eq(tq_csv_write(w, (const char *[]){"x"}, 1, &err), TQ_OK);
    fclose(w);
    cr_assert_str_eq(text, "plain,,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\"cr\r\nlf\",,end \nx\n");
    FILE *f = text_stream(text);
    struct tq_csv_row row = {0};
    expect_row(f, &row, (const char *[]){"plain", "", "a,b", "say \"hi\"", "two\nlines", "cr\r\nlf", "", "end ",
                                         NULL});
    expect_row(f, &row, (const char *[]){"x", NULL});
    expect_end(f, &row);
    tq_csv_row_free(&row);
    fclose(f);
    free(text);
}

Test(csv, long_records_grow_the_buffers)
{
    size_t nf = 500, flen = 40;
    char *text = malloc(nf * (flen + 1) + 2), *p = text;
    cr_assert(text);
    for (size_t i = 0; i < nf; i++) {
        memset(p, 'a' + (char)(i % 26), flen);
        p += flen;
        *p++ = i + 1 < nf ? ',' : '\n';
    }
    *p = 0;
    FILE *f = text_stream(text);
    struct tq_csv_row row = {0};
    struct tq_err err = {0};
    cr_assert_eq(tq_csv_read(f, "t.csv", &row, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(row.n, nf);
    cr_assert_eq(strlen(row.field[nf - 1]), flen);
    cr_assert_eq(row.field[27][0], 'b');
    tq_csv_row_free(&row);
    fclose(f);
    free(text);
}

Test(csv, every_allocation_failure_is_reported)
{
    const char *text = "first,\"sec,ond\",third\nlonger line with more text than the first buffer holds,,,,,,,,,,,,,"
                       ",,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,"
                       ",,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,"
                       ",,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,\n";
    int passed = 0;
    for (long n = 0; !passed && n < 100; n++) {
        FILE *f = text_stream(text);
        struct tq_csv_row row = {0};
        struct tq_err err = {0};
        tq_alloc_fail_nth(n);
        tq_status a = tq_csv_read(f, "t.csv", &row, &err), b = a ? a : tq_csv_read(f, "t.csv", &row, &err);
        tq_alloc_fail_nth(-1);
        if (a == TQ_OK && b == TQ_OK) {
            cr_assert_gt(row.n, 200);
            passed = 1;
        } else {
            cr_assert_eq(a ? a : b, TQ_ERR_NOMEM, "allocation %ld: %s", n, err.msg);
            cr_assert(strstr(err.msg, "out of memory"), "%s", err.msg);
        }
        tq_csv_row_free(&row); /* frees what was allocated before the failure */
        fclose(f);
    }
    cr_assert(passed, "no run got past every allocation");
}
