/* pylines.c - location tables reduced to their lines (see pylines.h). */
#include "pylines.h"

#define LINE_DELTA_MAX (1 << 24) /* larger deltas: the table is left as it is */
#define NO_LINE (-(1L << 40))    /* a run of instructions without a line (never a real line) */

/* An unsigned varint of the table (6-bit groups, low first, 0x40 = more follow); -1 when cut short or over 30 bits. */
static long read_varint(const uint8_t **p, const uint8_t *end)
{
    unsigned long v = 0;
    for (unsigned shift = 0; shift < 30; shift += 6) {
        if (*p >= end)
            return -1;
        uint8_t b = *(*p)++;
        v |= (unsigned long)(b & 63) << shift;
        if (!(b & 64))
            return (long)v;
    }
    return -1;
}

/* A signed varint (bit 0 the sign); sets *ok = 0 when malformed or too large a delta. */
static long read_delta(const uint8_t **p, const uint8_t *end, int *ok)
{
    long u = read_varint(p, end);
    long d = u < 0 ? 0 : (u & 1) ? -(u >> 1) : u >> 1;
    if (u < 0 || d >= LINE_DELTA_MAX || d <= -LINE_DELTA_MAX)
        *ok = 0;
    return d;
}

struct out_table {
    uint8_t *p, *end;
    long line;  /* the line the entries written so far end on */
    int full;
};

static void put_byte(struct out_table *o, uint8_t b)
{
    if (o->p < o->end)
        *o->p++ = b;
    else
        o->full = 1;
}

/* Entries for `units` code units of line `line` (or NO_LINE). */
static void put_run(struct out_table *o, long line, unsigned long units)
{
    while (units) {
        unsigned k = units > 8 ? 8 : (unsigned)units;
        units -= k;
        if (line == NO_LINE) {
            put_byte(o, (uint8_t)(0x80 | 15 << 3 | (k - 1)));
            continue;
        }
        long d = line - o->line;
        unsigned long v = d < 0 ? ((unsigned long)-d << 1) | 1 : (unsigned long)d << 1;
        o->line = line;
        put_byte(o, (uint8_t)(0x80 | 13 << 3 | (k - 1)));
        for (; v >= 64; v >>= 6)
            put_byte(o, (uint8_t)(64 | (v & 63)));
        put_byte(o, (uint8_t)v);
    }
}

size_t tq_pylines_only(const uint8_t *t, size_t n, uint8_t *out, size_t cap)
{
    const uint8_t *p = t, *end = t + n;
    struct out_table o = {out, out + cap, 0, 0};
    long line = 0, run_line = NO_LINE; /* lines relative to first_line (the table's own start) */
    unsigned long run_units = 0;
    int ok = 1;
    while (p < end && ok) {
        uint8_t first = *p++;
        if (!(first & 0x80))
            return 0;
        unsigned kind = (first >> 3) & 15, units = (first & 7) + 1;
        long at = line;
        switch (kind) {
        case 15: at = NO_LINE; break;
        case 14:
            at = line += read_delta(&p, end, &ok);
            for (int i = 0; i < 3; i++) /* end line delta, column, end column */
                ok &= read_varint(&p, end) >= 0;
            break;
        case 13: at = line += read_delta(&p, end, &ok); break;
        case 10: case 11: case 12:
            at = line += (long)kind - 10;
            ok &= end - p >= 2;
            p += ok ? 2 : 0;
            break;
        default:
            ok &= p < end;
            p += ok ? 1 : 0;
            break;
        }
        if (at > LINE_DELTA_MAX || at < -LINE_DELTA_MAX)
            ok = at == NO_LINE;
        if (run_units && at != run_line) {
            put_run(&o, run_line, run_units);
            run_units = 0;
        }
        run_line = at;
        run_units += units;
    }
    if (!ok)
        return 0;
    put_run(&o, run_line, run_units);
    return o.full || (size_t)(o.p - out) > n ? 0 : (size_t)(o.p - out);
}
