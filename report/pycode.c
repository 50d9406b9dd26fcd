/* pycode.c - PYCODE records and CPython 3.11 location tables (see pycode.h). */
#include "pycode.h"

#include <stdlib.h>
#include <string.h>

#include "../common/alloc.h"

enum { MAX_CODE_ID = 1 << 24 };

static char *copy_str(const char *s, uint32_t n)
{
    char *p = tq_malloc((size_t)n + 1);
    if (p) {
        if (n)
            memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

tq_status tq_pycodes_add(struct tq_pycodes *c, const struct tq_rec_pycode *r, struct tq_err *err)
{
    c->python = r->python;
    if (r->id == 0) {
        c->unsupported = 1;
        return TQ_OK;
    }
    if (r->id > MAX_CODE_ID)
        return tq_fail(err, TQ_ERR_FORMAT, "Python code id %u out of range", r->id);
    if (r->id > c->n) {
        size_t n = r->id > 2 * c->n ? r->id : 2 * c->n;
        struct tq_pycode *v = tq_realloc(c->v, n * sizeof *v);
        if (!v)
            return tq_fail(err, TQ_ERR_NOMEM, "out of memory for Python code objects");
        memset(v + c->n, 0, (n - c->n) * sizeof *v);
        c->v = v;
        c->n = n;
    }
    struct tq_pycode *p = &c->v[r->id - 1];
    if (p->name) /* a repeated record keeps the first */
        return TQ_OK;
    struct tq_pycode q = {.file = copy_str(r->file, r->file_len), .name = copy_str(r->name, r->name_len),
                          .first_line = r->first_line, .table_len = r->linetable_len};
    q.table = q.table_len ? tq_malloc(q.table_len) : NULL;
    if (!q.file || !q.name || (q.table_len && !q.table)) {
        free(q.file);
        free(q.name);
        free(q.table);
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory for Python code objects");
    }
    if (q.table_len)
        memcpy(q.table, r->linetable, q.table_len);
    *p = q;
    return TQ_OK;
}

const struct tq_pycode *tq_pycodes_get(const struct tq_pycodes *c, uint32_t id)
{
    return id && id <= c->n && c->v[id - 1].name ? &c->v[id - 1] : NULL;
}

/* Location table varints (Objects/locations.md): 6-bit groups, low first, 0x40 = more follow. */
static uint32_t read_varint(const uint8_t **p, const uint8_t *end)
{
    uint32_t v = 0;
    unsigned shift = 0;
    while (*p < end && shift < 32) {
        uint8_t b = *(*p)++;
        v |= (uint32_t)(b & 63) << shift;
        shift += 6;
        if (!(b & 64))
            break;
    }
    return v;
}

static int read_svarint(const uint8_t **p, const uint8_t *end)
{
    uint32_t u = read_varint(p, end);
    return (u & 1) ? -(int)(u >> 1) : (int)(u >> 1);
}

int tq_pycode_line(const struct tq_pycode *code, uint32_t instr)
{
    const uint8_t *p = code->table, *end = p + code->table_len;
    int line = code->first_line;
    uint32_t at = 0; /* code units covered so far */
    while (p < end) {
        uint8_t first = *p++;
        if (!(first & 0x80))
            return code->first_line; /* not an entry start: malformed */
        unsigned kind = (first >> 3) & 15, units = (first & 7) + 1;
        int no_line = 0;
        switch (kind) {
        case 15: no_line = 1; break;        /* no location */
        case 14:                            /* long form: line delta, end line delta, column, end column */
            line += read_svarint(&p, end);
            read_varint(&p, end);
            read_varint(&p, end);
            read_varint(&p, end);
            break;
        case 13: line += read_svarint(&p, end); break; /* no column */
        case 10: case 11: case 12:          /* one line, columns in two bytes */
            line += (int)kind - 10;
            p += 2;
            break;
        default: p += 1; break;             /* short form: same line, one byte of columns */
        }
        if (instr < at + units)
            return no_line ? -1 : line;
        at += units;
    }
    return code->first_line;
}

void tq_pycodes_clear(struct tq_pycodes *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->v[i].file);
        free(c->v[i].name);
        free(c->v[i].table);
    }
    free(c->v);
    memset(c, 0, sizeof *c);
}
