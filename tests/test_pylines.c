/* test_pylines.c - location tables reduced to their lines (traces/pylines.h, FORMAT.md 11 since 1.8): every
 * instruction keeps its line (as report/pycode.c reads it) on random tables of every entry kind and on the real
 * tables of a standard library module, the table never grows, and malformed tables are left as they are. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../report/pycode.h"
#include "../traces/pylines.h"
#include "helpers.h"

/* Code units a well-formed table covers. */
static uint32_t units_of(const uint8_t *t, size_t n)
{
    uint32_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (t[i] & 0x80)
            u += (t[i] & 7) + 1u;
    return u;
}

/* t and its lines-only rewrite give the same line for every instruction (and a few past the end). */
static void expect_same_lines(const uint8_t *t, size_t n, int first_line)
{
    static uint8_t out[1 << 16];
    size_t k = tq_pylines_only(t, n, out, sizeof out);
    cr_assert(k > 0 && k <= n, "%zu bytes from %zu", k, n);
    for (size_t i = 0; i < k; i++) /* only kinds 13 and 15 start an entry */
        if (out[i] & 0x80)
            cr_assert(((out[i] >> 3) & 15) == 13 || ((out[i] >> 3) & 15) == 15, "kind %d", (out[i] >> 3) & 15);
    struct tq_pycode a = {.first_line = first_line, .table = (uint8_t *)t, .table_len = (uint32_t)n};
    struct tq_pycode b = {.first_line = first_line, .table = out, .table_len = (uint32_t)k};
    uint32_t units = units_of(t, n);
    for (uint32_t i = 0; i < units + 3; i++)
        cr_assert_eq(tq_pycode_line(&a, i), tq_pycode_line(&b, i), "instruction %u of %u", i, units);
}

static void put_varint(uint8_t *t, size_t *n, unsigned v)
{
    for (; v >= 64; v >>= 6)
        t[(*n)++] = (uint8_t)(64 | (v & 63));
    t[(*n)++] = (uint8_t)v;
}

static void put_svarint(uint8_t *t, size_t *n, int d)
{
    put_varint(t, n, d < 0 ? ((unsigned)-d << 1) | 1 : (unsigned)d << 1);
}

Test(pylines, random_tables_of_every_kind_keep_their_lines)
{
    static uint8_t t[8192];
    srand(16);
    for (int round = 0; round < 500; round++) {
        size_t n = 0;
        int entries = rand() % 300;
        for (int e = 0; e < entries && n < sizeof t - 16; e++) {
            unsigned kind = (unsigned)rand() % 16, units = (unsigned)rand() % 8;
            t[n++] = (uint8_t)(0x80 | kind << 3 | units);
            switch (kind) {
            case 15: break;
            case 14:
                put_svarint(t, &n, rand() % 2000 - 1000);
                put_varint(t, &n, (unsigned)rand() % 5);
                put_varint(t, &n, (unsigned)rand() % 300);
                put_varint(t, &n, (unsigned)rand() % 300);
                break;
            case 13: put_svarint(t, &n, rand() % 9 == 0 ? rand() % 100000 - 50000 : rand() % 7 - 3); break;
            case 10: case 11: case 12: t[n++] = (uint8_t)(rand() % 128); t[n++] = (uint8_t)(rand() % 128); break;
            default: t[n++] = (uint8_t)(rand() % 128); break;
            }
        }
        if (n)
            expect_same_lines(t, n, rand() % 5000);
    }
}

Test(pylines, runs_of_one_line_merge_and_no_location_stays)
{
    /* 3 short-form entries of one line (8 + 8 + 4 units), then a 2-unit entry without location, then +2 lines */
    const uint8_t t[] = {0x80 | 0 << 3 | 7, 5, 0x80 | 1 << 3 | 7, 9, 0x80 | 2 << 3 | 3, 1, 0x80 | 15 << 3 | 1,
                         0x80 | 12 << 3 | 0, 3, 4};
    uint8_t out[32];
    size_t k = tq_pylines_only(t, sizeof t, out, sizeof out);
    const uint8_t want[] = {0x80 | 13 << 3 | 7, 0, 0x80 | 13 << 3 | 7, 0, 0x80 | 13 << 3 | 3, 0,
                            0x80 | 15 << 3 | 1, 0x80 | 13 << 3 | 0, 4};
    cr_assert_eq(k, sizeof want);
    cr_assert_eq(memcmp(out, want, k), 0);
    expect_same_lines(t, sizeof t, 10);
    cr_assert_eq(tq_pylines_only(t, sizeof t, out, 4), 0, "too small an output: 0, the table stays");
}

Test(pylines, malformed_tables_are_left_as_they_are)
{
    uint8_t out[64];
    const uint8_t not_entry[] = {0x80 | 13 << 3, 2, 0x05};         /* a byte without bit 7 where an entry starts */
    const uint8_t cut_long[] = {0x80 | 14 << 3, 2, 0, 4};          /* long form missing its end column */
    const uint8_t cut_short[] = {0x80 | 11 << 3, 1};               /* one-line form missing a column byte */
    const uint8_t cut_varint[] = {0x80 | 13 << 3, 0x42};           /* a varint that says more follow */
    const uint8_t huge[] = {0x80 | 13 << 3, 0x40, 0x40, 0x40, 0x40, 0x02}; /* a delta of 2^24 lines */
    const uint8_t *bad[] = {not_entry, cut_long, cut_short, cut_varint, huge};
    size_t len[] = {sizeof not_entry, sizeof cut_long, sizeof cut_short, sizeof cut_varint, sizeof huge};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(tq_pylines_only(bad[i], len[i], out, sizeof out), 0, "table %zu", i);
    cr_assert_eq(tq_pylines_only(out, 0, out, sizeof out), 0, "an empty table stays empty");
}

/* The location tables of every code object of a standard library module, from the installed CPython 3.11. */
Test(pylines, real_tables_keep_their_lines, .timeout = 60)
{
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd,
             "%s -c 'import sys, argparse, types\n"
             "if sys.version_info[:2] != (3, 11): sys.exit(0)\n"
             "def walk(c):\n"
             "    print(c.co_firstlineno, c.co_linetable.hex())\n"
             "    for k in c.co_consts:\n"
             "        if isinstance(k, types.CodeType): walk(k)\n"
             "walk(compile(open(argparse.__file__).read(), argparse.__file__, \"exec\"))'",
             tq_python());
    cr_assert_eq(tq_run(cmd, &out, NULL), 0, "%s", cmd);
    size_t tables = 0, before = 0, after = 0;
    static uint8_t t[1 << 16], o[1 << 16];
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        int first = atoi(line);
        char *hex = strchr(line, ' ');
        cr_assert_not_null(hex);
        size_t n = 0;
        for (hex++; hex[0] && hex[1] && n < sizeof t; hex += 2) {
            unsigned b;
            cr_assert_eq(sscanf(hex, "%2x", &b), 1);
            t[n++] = (uint8_t)b;
        }
        if (!n)
            continue;
        expect_same_lines(t, n, first);
        before += n;
        after += tq_pylines_only(t, n, o, sizeof o);
        tables++;
    }
    free(out);
    if (tables == 0)
        cr_skip_test("not CPython 3.11");
    cr_assert_lt(after * 2, before, "%zu tables: %zu bytes -> %zu", tables, before, after);
}
