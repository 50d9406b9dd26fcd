/* codec.c - encode and decode trace records byte by byte (little-endian, bounds-checked; see FORMAT.md). */
#include "codec.h"

#include <stddef.h>
#include <string.h>

/* ---- byte cursors ---- */

struct put {
    uint8_t *p;
    size_t cap, len;
    int over; /* set once anything did not fit; later puts are no-ops */
};

static void put_bytes(struct put *w, const void *src, size_t n)
{
    if (w->over || n > w->cap - w->len) {
        w->over = 1;
        return;
    }
    memcpy(w->p + w->len, src, n);
    w->len += n;
}

static void put_le(struct put *w, uint64_t v, unsigned bytes)
{
    uint8_t b[8];
    for (unsigned i = 0; i < bytes; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    put_bytes(w, b, bytes);
}

static void put_u16(struct put *w, uint16_t v) { put_le(w, v, 2); }
static void put_u32(struct put *w, uint32_t v) { put_le(w, v, 4); }
static void put_u64(struct put *w, uint64_t v) { put_le(w, v, 8); }

static void put_str(struct put *w, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n > TQ_REC_MAX_PAYLOAD / 2) /* FORMAT.md: strings are bounded by the record size */
        n = TQ_REC_MAX_PAYLOAD / 2;
    put_u32(w, (uint32_t)n);
    put_bytes(w, s, n);
}

static void put_uleb(struct put *w, uint64_t v)
{
    if (!w->over && w->cap - w->len >= 10) { /* the common case, straight into the buffer (EVENTS are hot) */
        uint8_t *p = w->p + w->len;
        while (v >= 0x80) {
            *p++ = (uint8_t)(v | 0x80);
            v >>= 7;
        }
        *p++ = (uint8_t)v;
        w->len = (size_t)(p - w->p);
        return;
    }
    uint8_t b[10];
    unsigned n = 0;
    do {
        b[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            b[n] |= 0x80;
        n++;
    } while (v);
    put_bytes(w, b, n);
}

/* Reserve a record header; tq_rec_close patches the payload length once the payload is written. */
static size_t rec_open(struct put *w, uint16_t type)
{
    size_t at = w->len;
    put_u16(w, type);
    put_u16(w, 0);
    put_u32(w, 0);
    return at;
}

static size_t rec_close(struct put *w, size_t at)
{
    if (w->over)
        return 0;
    size_t payload = w->len - at - TQ_REC_HEADER_SIZE;
    if (payload > TQ_REC_MAX_PAYLOAD)
        return 0;
    for (unsigned i = 0; i < 4; i++)
        w->p[at + 4 + i] = (uint8_t)(payload >> (8 * i));
    return w->len - at;
}

struct get {
    const uint8_t *p;
    size_t len, pos;
    int bad; /* set once a read went past the end; later reads return 0 */
};

static uint64_t get_le(struct get *r, unsigned bytes)
{
    if (r->bad || bytes > r->len - r->pos) {
        r->bad = 1;
        return 0;
    }
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes; i++)
        v |= (uint64_t)r->p[r->pos + i] << (8 * i);
    r->pos += bytes;
    return v;
}

static uint32_t get_u32(struct get *r) { return (uint32_t)get_le(r, 4); }
static uint64_t get_u64(struct get *r) { return get_le(r, 8); }

/* A u32-length-prefixed string: returns a borrowed pointer, or NULL (and marks bad) if it overruns. */
static const char *get_str(struct get *r, uint32_t *len)
{
    *len = get_u32(r);
    if (r->bad || *len > r->len - r->pos) {
        r->bad = 1;
        *len = 0;
        return NULL;
    }
    const char *s = (const char *)r->p + r->pos;
    r->pos += *len;
    return s;
}

/* ULEB128 of at most 10 bytes; sets *bad on overrun or overlong encoding. */
static uint64_t get_uleb(const uint8_t **pp, const uint8_t *end, int *bad)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        if (*pp >= end) {
            *bad = 1;
            return 0;
        }
        uint8_t b = *(*pp)++;
        if (shift == 63 && (b & 0x7e)) {
            *bad = 1;
            return 0;
        }
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    *bad = 1;
    return 0;
}

static struct get rec_reader(const struct tq_rec *r)
{
    return (struct get){.p = r->data, .len = r->len, .pos = 0, .bad = 0};
}

/* A record's fixed-size fields, in their order on disk: where each is in the record's struct and how wide it is
 * (4 or 8 bytes; signed fields are stored as their two's complement). One table per record serves both its
 * encoder and its decoder, so the two cannot drift apart. */
struct field {
    unsigned short off, size;
};
#define FIELD(type, name) {offsetof(type, name), sizeof(((type *)0)->name)}
#define NFIELDS(table) (sizeof(table) / sizeof(table)[0])

static void put_fields(struct put *w, const void *src, const struct field *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t v = 0;
        uint32_t v32 = 0;
        if (f[i].size == 8) {
            memcpy(&v, (const char *)src + f[i].off, 8);
        } else {
            memcpy(&v32, (const char *)src + f[i].off, 4);
            v = v32;
        }
        put_le(w, v, f[i].size);
    }
}

static void get_fields(struct get *r, void *dst, const struct field *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t v = get_le(r, f[i].size);
        uint32_t v32 = (uint32_t)v;
        memcpy((char *)dst + f[i].off, f[i].size == 8 ? (const void *)&v : (const void *)&v32, f[i].size);
    }
}

/* A record made of fixed-size fields only: encode src (its size, 0 when it does not fit) / decode into dst
 * (0, or -1 when the payload is short). */
static size_t put_record(uint8_t *buf, size_t cap, uint16_t type, const void *src, const struct field *f, size_t n)
{
    struct put w = {buf, cap, 0, 0};
    size_t at = rec_open(&w, type);
    put_fields(&w, src, f, n);
    return rec_close(&w, at);
}

static int get_record(const struct tq_rec *rec, void *dst, const struct field *f, size_t n)
{
    struct get r = rec_reader(rec);
    get_fields(&r, dst, f, n);
    return r.bad ? -1 : 0;
}

/* Defines tq_rec_put_NAME and tq_rec_get_NAME (codec.h) of a fixed-size record from its table NAME_fields. */
#define FIXED_RECORD(name, type, rec_type)                                                                   \
    size_t tq_rec_put_##name(uint8_t *buf, size_t cap, const type *in)                                       \
    {                                                                                                        \
        return put_record(buf, cap, rec_type, in, name##_fields, NFIELDS(name##_fields));                     \
    }                                                                                                        \
    int tq_rec_get_##name(const struct tq_rec *rec, type *out)                                               \
    {                                                                                                        \
        return get_record(rec, out, name##_fields, NFIELDS(name##_fields));                                  \
    }

/* ---- names ---- */

#define TQ_CALL_NAME_(id, name) name,
static const char *const call_names[] = {TQ_CALLS(TQ_CALL_NAME_)};
#undef TQ_CALL_NAME_

const char *tq_call_name(unsigned idx)
{
    return idx < TQ_CALL_COUNT ? call_names[idx] : "unknown";
}

/* ---- preamble ---- */

size_t tq_trace_put_preamble(uint8_t *buf, size_t cap)
{
    struct put w = {buf, cap, 0, 0};
    put_u32(&w, TQ_TRACE_SKIPPABLE_MAGIC);
    put_u32(&w, TQ_TRACE_PREAMBLE_SIZE - 8);
    put_bytes(&w, TQ_TRACE_PREAMBLE_MAGIC, 8); /* includes the NUL */
    put_u16(&w, TQ_TRACE_VERSION_MAJOR);
    put_u16(&w, TQ_TRACE_VERSION_MINOR);
    put_u32(&w, 0);
    return w.over ? 0 : w.len;
}

int tq_trace_check_preamble(const uint8_t *buf, size_t len, unsigned *major, unsigned *minor)
{
    struct get r = {buf, len, 0, 0};
    if (get_u32(&r) != TQ_TRACE_SKIPPABLE_MAGIC || get_u32(&r) != TQ_TRACE_PREAMBLE_SIZE - 8 || r.bad ||
        len < TQ_TRACE_PREAMBLE_SIZE || memcmp(buf + 8, TQ_TRACE_PREAMBLE_MAGIC, 8) != 0)
        return -1;
    r.pos = 16;
    *major = (unsigned)get_le(&r, 2);
    *minor = (unsigned)get_le(&r, 2);
    return *major == TQ_TRACE_VERSION_MAJOR ? 0 : -2;
}

/* ---- PROCESS ---- */

size_t tq_rec_put_process(uint8_t *buf, size_t cap, const struct tq_rec_process *p, const char *exe,
                          int argc, char *const *argv)
{
    struct put w = {buf, cap, 0, 0};
    size_t at = rec_open(&w, TQ_REC_PROCESS);
    put_u32(&w, p->pid);
    put_u32(&w, p->ppid);
    put_u64(&w, p->start_unix_ns);
    put_u32(&w, p->interval_us);
    put_u32(&w, p->page_size);
    put_u32(&w, p->flags);
    put_u32(&w, argc > 0 ? (uint32_t)argc : 0);
    put_str(&w, exe);
    for (int i = 0; i < argc; i++)
        put_str(&w, argv[i]);
    put_u64(&w, p->sample_bytes); /* minor version 3 */
    return rec_close(&w, at);
}

int tq_rec_get_process(const struct tq_rec *rec, struct tq_rec_process *out)
{
    struct get r = rec_reader(rec);
    out->pid = get_u32(&r);
    out->ppid = get_u32(&r);
    out->start_unix_ns = get_u64(&r);
    out->interval_us = get_u32(&r);
    out->page_size = get_u32(&r);
    out->flags = get_u32(&r);
    out->argc = get_u32(&r);
    out->exe = get_str(&r, &out->exe_len);
    if (r.bad)
        return -1;
    out->args = r.p + r.pos;
    size_t start = r.pos;
    for (uint32_t i = 0; i < out->argc && !r.bad; i++) {
        uint32_t n;
        get_str(&r, &n);
    }
    if (r.bad)
        return -1;
    out->args_len = (uint32_t)(r.pos - start);
    out->sample_bytes = r.len - r.pos >= 8 ? get_u64(&r) : 0; /* older traces end here */
    return 0;
}

int tq_rec_process_arg(const struct tq_rec_process *p, uint32_t i, const char **s, uint32_t *len)
{
    if (i >= p->argc)
        return -1;
    struct get r = {p->args, p->args_len, 0, 0};
    for (uint32_t k = 0; k <= i; k++)
        *s = get_str(&r, len);
    return r.bad ? -1 : 0;
}

/* ---- SAMPLE ---- */

static const struct field sample_fields[] = {
    FIELD(struct tq_rec_sample, t_ns),          FIELD(struct tq_rec_sample, vm_size),
    FIELD(struct tq_rec_sample, vm_rss),        FIELD(struct tq_rec_sample, vm_shared),
    FIELD(struct tq_rec_sample, heap_live_req), FIELD(struct tq_rec_sample, heap_live_usable),
    FIELD(struct tq_rec_sample, heap_peak_req), FIELD(struct tq_rec_sample, heap_peak_usable),
    FIELD(struct tq_rec_sample, mmap_live),     FIELD(struct tq_rec_sample, mmap_peak),
    FIELD(struct tq_rec_sample, calls_total),
};

size_t tq_rec_put_sample(uint8_t *buf, size_t cap, const struct tq_rec_sample *in)
{
    struct put w = {buf, cap, 0, 0};
    size_t at = rec_open(&w, TQ_REC_SAMPLE);
    put_fields(&w, in, sample_fields, NFIELDS(sample_fields));
    put_u64(&w, in->shim_bytes); /* minor version 6 */
    return rec_close(&w, at);
}

int tq_rec_get_sample(const struct tq_rec *rec, struct tq_rec_sample *out)
{
    struct get r = rec_reader(rec);
    get_fields(&r, out, sample_fields, NFIELDS(sample_fields));
    out->shim_bytes = !r.bad && r.len - r.pos >= 8 ? get_u64(&r) : 0; /* older traces end before it */
    return r.bad ? -1 : 0;
}

/* SAMPLE_DELTA (FORMAT.md 17): every SAMPLE field, shim_bytes included, as uleb(zigzag(value - previous value)). */
_Static_assert(NFIELDS(sample_fields) == 11, "SAMPLE_DELTA stores SAMPLE's 11 u64 fields and shim_bytes");
static void sample_values(const struct tq_rec_sample *s, uint64_t v[12])
{
    for (size_t i = 0; i < NFIELDS(sample_fields); i++)
        memcpy(&v[i], (const char *)s + sample_fields[i].off, 8); /* all 8 bytes wide */
    v[11] = s->shim_bytes;
}

static uint64_t zigzag(uint64_t d);
static uint64_t unzigzag(uint64_t z);

size_t tq_rec_put_sample_delta(uint8_t *buf, size_t cap, const struct tq_rec_sample *in,
                               const struct tq_rec_sample *prev)
{
    uint64_t v[12], p[12];
    sample_values(in, v);
    sample_values(prev, p);
    struct put w = {buf, cap, 0, 0};
    size_t at = rec_open(&w, TQ_REC_SAMPLE_DELTA);
    for (int i = 0; i < 12; i++)
        put_uleb(&w, zigzag(v[i] - p[i]));
    return rec_close(&w, at);
}

int tq_rec_get_sample_delta(const struct tq_rec *rec, const struct tq_rec_sample *prev, struct tq_rec_sample *out)
{
    uint64_t v[12];
    sample_values(prev, v);
    const uint8_t *p = rec->data, *end = rec->data + rec->len;
    int bad = 0;
    for (int i = 0; i < 12 && !bad; i++)
        v[i] += unzigzag(get_uleb(&p, end, &bad)); /* modulo 2^64, as written */
    if (bad)
        return -1;
    for (size_t i = 0; i < NFIELDS(sample_fields); i++)
        memcpy((char *)out + sample_fields[i].off, &v[i], 8);
    out->shim_bytes = v[11];
    return 0;
}

/* SAMPLE_PRED (FORMAT.md 22): each field as uleb(zigzag(value - its prediction from the previous sample and the fields
 * before it)); the time in whole microseconds. */
static uint64_t pred_peak(uint64_t prev_peak, uint64_t live)
{
    return (int64_t)live > 0 && live > prev_peak ? live : prev_peak; /* live fields are i64: negative predicts nothing */
}

static uint64_t sample_pred(const uint64_t v[12], const uint64_t p[12], int i)
{
    switch (i) {
    case 5: return p[5] + (v[4] - p[4]);   /* usable bytes change with the requested ones */
    case 6: return pred_peak(p[6], v[4]);  /* a peak is at least the live bytes now */
    case 7: return pred_peak(p[7], v[5]) + (v[6] - pred_peak(p[6], v[4])); /* and beats it as the requested one */
    case 9: return pred_peak(p[9], v[8]);
    default: return p[i];
    }
}

size_t tq_rec_put_sample_pred(uint8_t *buf, size_t cap, const struct tq_rec_sample *in,
                              const struct tq_rec_sample *prev)
{
    uint64_t v[12], p[12];
    sample_values(in, v);
    sample_values(prev, p);
    struct put w = {buf, cap, 0, 0};
    size_t at = rec_open(&w, TQ_REC_SAMPLE_PRED);
    put_uleb(&w, zigzag(v[0] / 1000 - p[0] / 1000));
    for (int i = 1; i < 12; i++)
        put_uleb(&w, zigzag(v[i] - sample_pred(v, p, i)));
    return rec_close(&w, at);
}

int tq_rec_get_sample_pred(const struct tq_rec *rec, const struct tq_rec_sample *prev, struct tq_rec_sample *out)
{
    uint64_t v[12], p[12];
    sample_values(prev, p);
    const uint8_t *q = rec->data, *end = rec->data + rec->len;
    int bad = 0;
    v[0] = (p[0] / 1000 + unzigzag(get_uleb(&q, end, &bad))) * 1000; /* modulo 2^64, as written */
    for (int i = 1; i < 12 && !bad; i++)
        v[i] = sample_pred(v, p, i) + unzigzag(get_uleb(&q, end, &bad));
    if (bad)
        return -1;
    for (size_t i = 0; i < NFIELDS(sample_fields); i++)
        memcpy((char *)out + sample_fields[i].off, &v[i], 8);
    out->shim_bytes = v[11];
    return 0;
}

/* ---- CALLS ---- */

size_t tq_rec_put_calls(uint8_t *buf, size_t cap, const uint64_t count[TQ_CALL_COUNT])
{
    struct put w = {buf, cap, 0, 0};
    size_t at = rec_open(&w, TQ_REC_CALLS);
    put_u32(&w, TQ_CALL_COUNT);
    put_u32(&w, 0);
    for (unsigned i = 0; i < TQ_CALL_COUNT; i++)
        put_u64(&w, count[i]);
    return rec_close(&w, at);
}

int tq_rec_get_calls(const struct tq_rec *rec, struct tq_rec_calls *out)
{
    struct get r = rec_reader(rec);
    out->n = get_u32(&r);
    (void)get_u32(&r);
    if (r.bad || out->n > (r.len - r.pos) / 8)
        return -1;
    for (unsigned i = 0; i < TQ_CALL_COUNT; i++)
        out->count[i] = i < out->n ? get_u64(&r) : 0;
    return r.bad ? -1 : 0;
}

/* ---- END ---- */

static const struct field end_fields[] = {
    FIELD(struct tq_rec_end, t_ns),           FIELD(struct tq_rec_end, reason),
    FIELD(struct tq_rec_end, status),         FIELD(struct tq_rec_end, vm_hwm),
    FIELD(struct tq_rec_end, vm_peak),        FIELD(struct tq_rec_end, ru_maxrss),
    FIELD(struct tq_rec_end, rss_peak),       FIELD(struct tq_rec_end, rss_peak_t_ns),
    FIELD(struct tq_rec_end, heap_peak_req),  FIELD(struct tq_rec_end, heap_peak_usable),
    FIELD(struct tq_rec_end, mmap_peak),      FIELD(struct tq_rec_end, heap_live_req),
    FIELD(struct tq_rec_end, heap_live_usable), FIELD(struct tq_rec_end, mmap_live),
};

FIXED_RECORD(end, struct tq_rec_end, TQ_REC_END)

/* ---- EXEC ---- */

size_t tq_rec_put_exec(uint8_t *buf, size_t cap, uint64_t t_ns, const char *path)
{
    struct put w = {buf, cap, 0, 0};
    size_t at = rec_open(&w, TQ_REC_EXEC);
    put_u64(&w, t_ns);
    put_str(&w, path);
    return rec_close(&w, at);
}

int tq_rec_get_exec(const struct tq_rec *rec, struct tq_rec_exec *out)
{
    struct get r = rec_reader(rec);
    out->t_ns = get_u64(&r);
    out->path = get_str(&r, &out->path_len);
    return r.bad ? -1 : 0;
}

/* ---- GAP ---- */

static const struct field gap_fields[] = {
    FIELD(struct tq_rec_gap, t_ns),     FIELD(struct tq_rec_gap, cause),      FIELD(struct tq_rec_gap, fd),
    FIELD(struct tq_rec_gap, since_ns), FIELD(struct tq_rec_gap, lost_bytes), FIELD(struct tq_rec_gap, uid),
    FIELD(struct tq_rec_gap, gid),
};

FIXED_RECORD(gap, struct tq_rec_gap, TQ_REC_GAP)

/* ---- KILLED, SNAPSHOT ---- */

/* KILLED: its fixed fields, a reserved u32 (0), then where (a string). */
static const struct field killed_fields[] = {
    FIELD(struct tq_rec_killed, unix_ns), FIELD(struct tq_rec_killed, cause),
    FIELD(struct tq_rec_killed, signal),  FIELD(struct tq_rec_killed, limit),
    FIELD(struct tq_rec_killed, worker_pid),
};

size_t tq_rec_put_killed(uint8_t *buf, size_t cap, const struct tq_rec_killed *k, const char *where)
{
    struct put w = {buf, cap, 0, 0};
    size_t at = rec_open(&w, TQ_REC_KILLED);
    put_fields(&w, k, killed_fields, NFIELDS(killed_fields));
    put_u32(&w, 0);
    put_str(&w, where ? where : "");
    return rec_close(&w, at);
}

int tq_rec_get_killed(const struct tq_rec *rec, struct tq_rec_killed *out)
{
    struct get r = rec_reader(rec);
    get_fields(&r, out, killed_fields, NFIELDS(killed_fields));
    get_u32(&r);
    out->where = get_str(&r, &out->where_len);
    return r.bad ? -1 : 0;
}

static const struct field snapshot_fields[] = {
    FIELD(struct tq_rec_snapshot, t_ns),       FIELD(struct tq_rec_snapshot, threshold),
    FIELD(struct tq_rec_snapshot, limit),      FIELD(struct tq_rec_snapshot, limit_kind),
    FIELD(struct tq_rec_snapshot, permille),   FIELD(struct tq_rec_snapshot, value),
    FIELD(struct tq_rec_snapshot, heap_live),
};

FIXED_RECORD(snapshot, struct tq_rec_snapshot, TQ_REC_SNAPSHOT)

/* ---- EVENTS ---- */

/* Addresses are stored as signed differences (FORMAT.md "EVENTS"): zigzag maps them to small unsigned numbers. */
static uint64_t zigzag(uint64_t d)
{
    return (d << 1) ^ (uint64_t)-(int64_t)(d >> 63);
}

static uint64_t unzigzag(uint64_t z)
{
    return (z >> 1) ^ (uint64_t)-(int64_t)(z & 1);
}

/* Kinds whose events carry an old address (FORMAT.md "EVENTS"). */
static int kind_has_old(unsigned kind)
{
    return kind == TQ_CALL_REALLOC || kind == TQ_CALL_REALLOCARRAY || kind == TQ_CALL_MREMAP;
}

/* An event's fields after its kind, as EVENTS and ADDR_EVENTS store them: time and address as differences from the
 * previous event's (*t, *a, updated), size, stack, and a realloc's old address relative to the new one. */
static void put_event_fields(struct put *w, const struct tq_event *e, uint64_t *t, uint64_t *a)
{
    put_uleb(w, e->t_ns - *t);
    put_uleb(w, zigzag(e->addr - *a));
    put_uleb(w, e->size);
    put_uleb(w, e->stack_id);
    if (kind_has_old(e->kind))
        put_uleb(w, zigzag(e->old_addr - e->addr));
    *t = e->t_ns;
    *a = e->addr;
}

size_t tq_rec_put_events(uint8_t *buf, size_t cap, uint32_t tid, const struct tq_event *ev, size_t n)
{
    struct put w = {buf, cap, 0, 0};
    if (n > UINT32_MAX)
        return 0;
    size_t at = rec_open(&w, TQ_REC_EVENTS);
    uint64_t t = n ? ev[0].t_ns : 0, a = 0;
    put_u32(&w, tid);
    put_u32(&w, (uint32_t)n);
    put_u64(&w, t);
    for (size_t i = 0; i < n; i++) {
        if (ev[i].t_ns < t)
            return 0;
        put_bytes(&w, &ev[i].kind, 1);
        put_event_fields(&w, &ev[i], &t, &a);
    }
    return rec_close(&w, at);
}

/* ADDR_EVENTS (FORMAT.md 14): EVENTS' fields plus each event's order number, stored after its kind as the
 * difference from the previous one minus 1 (the first from seq0): 0 for every event of a thread running alone. */
size_t tq_rec_put_addr_events(uint8_t *buf, size_t cap, uint32_t tid, const struct tq_event *ev, size_t n)
{
    struct put w = {buf, cap, 0, 0};
    if (n > UINT32_MAX)
        return 0;
    size_t at = rec_open(&w, TQ_REC_ADDR_EVENTS);
    uint64_t t = n ? ev[0].t_ns : 0, a = 0, q = n ? ev[0].seq : 0;
    put_u32(&w, tid);
    put_u32(&w, (uint32_t)n);
    put_u64(&w, t);
    put_u64(&w, q);
    for (size_t i = 0; i < n; i++) {
        if (ev[i].t_ns < t || (i > 0 && ev[i].seq <= q))
            return 0;
        put_bytes(&w, &ev[i].kind, 1);
        put_uleb(&w, i > 0 ? ev[i].seq - q - 1 : 0); /* the first: seq0 is its own number */
        put_event_fields(&w, &ev[i], &t, &a);
        q = ev[i].seq;
    }
    return rec_close(&w, at);
}

/* ---- PACKED_EVENTS (FORMAT.md 15) ---- */

#define PK_SEQ 0x10u   /* kind byte: a dseq follows in the SEQ stream (else it is 0) */
#define PK_TIME 0x20u  /* a dt_ns follows in the TIME stream (else it is 0) */
#define PK_BAD 0x40u   /* never set, but in INFO_EVENTS (FORMAT.md 20): PK_INFO */
#define PK_INFO PK_BAD /* INFO_EVENTS: the event's block is named by its size and stack, not by an address */
#define PK_SIZE 0x80u  /* a size and a stack follow in the SIZE and STACK streams (else both are 0) */
#define PK_REPEAT_MASK 0xC0u /* REPEAT_EVENTS (FORMAT.md 21): a KIND byte with PK_INFO but not PK_SIZE is a repeat, */
#define PK_REPEAT 0x40u      /* its low 6 bits 2 x set + way of the context's recent (kind, size, stack) tuples */
#define PK_MISS_ALIGNED TQ_PACKED_MTF /* AMTF byte: not among the recent addresses; ADDR holds (addr - miss) / 16 */
#define PK_MISS_ODD (TQ_PACKED_MTF + 1) /* not among them; ADDR holds addr - miss */

/* Look a up among the recent addresses m[] and move (or put) it in front. Returns its index, TQ_PACKED_MTF if new. */
static unsigned mtf_step(uint64_t m[TQ_PACKED_MTF], uint64_t a)
{
    unsigned i = 0;
    while (i < TQ_PACKED_MTF && m[i] != a)
        i++;
    unsigned found = i;
    if (i == TQ_PACKED_MTF)
        i = TQ_PACKED_MTF - 1;
    for (; i > 0; i--) /* a loop, not memmove: usually a few slots, and a call costs more (hot in the shim) */
        m[i] = m[i - 1];
    m[0] = a;
    return found;
}

/* The writer's address cache: the same list as mtf_step's, kept as a ring whose front is ring[head], so that a miss
 * (put in front, the last one dropped) costs one store instead of moving 15 addresses; and with a count of the
 * addresses per hash bucket, so that most misses are known without comparing all 16 (misses are the common case). */
#define MTF_BUCKETS 256
struct mtf_ring {
    uint64_t ring[TQ_PACKED_MTF];
    unsigned head;
    uint8_t in_bucket[MTF_BUCKETS]; /* how many of ring[] hash to each bucket */
};

static unsigned mtf_bucket(uint64_t a)
{
    return (unsigned)((a * 0x9E3779B97F4A7C15ull) >> 56);
}

static void mtf_ring_init(struct mtf_ring *r)
{
    memset(r, 0, sizeof *r); /* TQ_PACKED_MTF zeros, as mtf_step's list starts */
    r->in_bucket[mtf_bucket(0)] = TQ_PACKED_MTF;
}

/* mtf_step on the ring: a's index in the list (TQ_PACKED_MTF if new), then a in front. */
static unsigned mtf_ring_step(struct mtf_ring *r, uint64_t a)
{
    unsigned bucket = mtf_bucket(a);
    uint32_t hits = 0; /* bit j: ring[j] == a */
    if (r->in_bucket[bucket])
        for (unsigned j = 0; j < TQ_PACKED_MTF; j++)
            hits |= (uint32_t)(r->ring[j] == a) << j;
    if (!hits) {
        r->head = (r->head - 1) & (TQ_PACKED_MTF - 1); /* onto the last one's slot */
        r->in_bucket[mtf_bucket(r->ring[r->head])]--;
        r->in_bucket[bucket]++;
        r->ring[r->head] = a;
        return TQ_PACKED_MTF;
    }
    uint32_t by_index = ((hits >> r->head) | (hits << (TQ_PACKED_MTF - r->head))) & ((1u << TQ_PACKED_MTF) - 1);
    unsigned found = (unsigned)__builtin_ctz(by_index);
    for (unsigned i = found; i > 0; i--) /* the ones before it move back by one */
        r->ring[(r->head + i) & (TQ_PACKED_MTF - 1)] = r->ring[(r->head + i - 1) & (TQ_PACKED_MTF - 1)];
    r->ring[r->head] = a;
    return found;
}

/* The most bytes one event adds to each stream: a byte, LEB128 of 64 bits (10), or of a zigzagged difference of two
 * 32-bit stack ids (5). */
static const unsigned packed_stream_max[TQ_PS_COUNT] = {1, 10, 10, 1, 10, 10, 5, 10};

static uint8_t *uleb_at(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* Every stream, each with its length, in one pass over the events (the address cache stepped once per event): each
 * stream is written into its own worst-case region of w's buffer, then the streams are moved down together. Returns
 * 0, writing nothing, when w cannot hold the worst case (tq_rec_packed_events_bound). The shim's hot loop. */
static int put_packed_streams_once(struct put *w, const struct tq_event *ev, size_t n)
{
    size_t need = 0;
    for (unsigned s = 0; s < TQ_PS_COUNT; s++)
        need += 4 + n * packed_stream_max[s];
    if (w->over || w->cap - w->len < need)
        return 0;
    uint8_t *base[TQ_PS_COUNT], *at = w->p + w->len;
    for (unsigned s = 0; s < TQ_PS_COUNT; s++) {
        base[s] = at + 4;
        at = base[s] + n * packed_stream_max[s];
    }
    uint8_t *kind = base[TQ_PS_KIND], *seq = base[TQ_PS_SEQ], *time = base[TQ_PS_TIME], *amtf = base[TQ_PS_AMTF];
    uint8_t *addr = base[TQ_PS_ADDR], *size = base[TQ_PS_SIZE], *stack = base[TQ_PS_STACK], *old = base[TQ_PS_OLD];
    uint64_t t = n ? ev[0].t_ns : 0, q = n ? ev[0].seq : 0, miss = 0;
    struct mtf_ring m;
    mtf_ring_init(&m);
    uint32_t last_stack = 0;
    for (size_t i = 0; i < n; i++) {
        const struct tq_event *e = &ev[i];
        uint64_t dq = i ? e->seq - q - 1 : 0, dt = e->t_ns - t;
        int sized = e->size || e->stack_id;
        *kind++ = (uint8_t)(e->kind | (dq ? PK_SEQ : 0) | (dt ? PK_TIME : 0) | (sized ? PK_SIZE : 0));
        if (dq)
            seq = uleb_at(seq, dq);
        if (dt)
            time = uleb_at(time, dt);
        uint64_t d = e->addr - miss;
        unsigned found = mtf_ring_step(&m, e->addr);
        if (found < TQ_PACKED_MTF) {
            *amtf++ = (uint8_t)found;
        } else {
            *amtf++ = d & 15 ? PK_MISS_ODD : PK_MISS_ALIGNED;
            addr = uleb_at(addr, d & 15 ? zigzag(d) : zigzag((uint64_t)((int64_t)d >> 4)));
            miss = e->addr;
        }
        if (sized) {
            size = uleb_at(size, e->size);
            stack = uleb_at(stack, zigzag((uint64_t)e->stack_id - last_stack));
            last_stack = e->stack_id;
        }
        if (kind_has_old(e->kind))
            old = uleb_at(old, zigzag(e->old_addr - e->addr));
        t = e->t_ns;
        q = e->seq;
    }
    uint8_t *end[TQ_PS_COUNT] = {kind, seq, time, amtf, addr, size, stack, old};
    uint8_t *out = w->p + w->len; /* never above base[s] - 4: each earlier stream took at most its region */
    for (unsigned s = 0; s < TQ_PS_COUNT; s++) {
        size_t len = (size_t)(end[s] - base[s]);
        for (unsigned i = 0; i < 4; i++)
            out[i] = (uint8_t)(len >> (8 * i));
        if (out + 4 != base[s])
            memmove(out + 4, base[s], len);
        out += 4 + len;
    }
    w->len = (size_t)(out - w->p);
    return 1;
}

size_t tq_rec_put_packed_events(uint8_t *buf, size_t cap, uint32_t tid, const struct tq_event *ev, size_t n)
{
    struct put w = {buf, cap, 0, 0};
    if (n > UINT32_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (ev[i].kind >= 16 || (i > 0 && (ev[i].t_ns < ev[i - 1].t_ns || ev[i].seq <= ev[i - 1].seq)))
            return 0;
    size_t at = rec_open(&w, TQ_REC_PACKED_EVENTS);
    put_u32(&w, tid);
    put_u32(&w, (uint32_t)n);
    put_u64(&w, n ? ev[0].t_ns : 0);
    put_u64(&w, n ? ev[0].seq : 0);
    if (!put_packed_streams_once(&w, ev, n))
        return 0;
    return rec_close(&w, at);
}

size_t tq_rec_packed_events_bound(size_t n)
{
    size_t per_event = 0;
    for (unsigned s = 0; s < TQ_PS_COUNT; s++)
        per_event += packed_stream_max[s];
    return TQ_REC_HEADER_SIZE + 24 + 4 * TQ_PS_COUNT + n * per_event;
}

/* The fields of the next PACKED_EVENTS event; *dq and *dt as ADDR_EVENTS stores them. Returns -1 when malformed. */
static int packed_fields(struct tq_events_iter *it, struct tq_event *ev, uint64_t *dq, uint64_t *dt, uint64_t *sid)
{
    int bad = 0;
    if (it->s[TQ_PS_KIND] >= it->se[TQ_PS_KIND] || it->s[TQ_PS_AMTF] >= it->se[TQ_PS_AMTF])
        return -1;
    uint8_t k = *it->s[TQ_PS_KIND]++, a = *it->s[TQ_PS_AMTF]++;
    if (k & PK_BAD || a > PK_MISS_ODD)
        return -1;
    ev->kind = k & 15;
    *dq = k & PK_SEQ ? get_uleb(&it->s[TQ_PS_SEQ], it->se[TQ_PS_SEQ], &bad) : 0;
    *dt = k & PK_TIME ? get_uleb(&it->s[TQ_PS_TIME], it->se[TQ_PS_TIME], &bad) : 0;
    if (a < TQ_PACKED_MTF) {
        ev->addr = it->mtf[a];
    } else {
        uint64_t v = unzigzag(get_uleb(&it->s[TQ_PS_ADDR], it->se[TQ_PS_ADDR], &bad));
        ev->addr = it->miss + (a == PK_MISS_ALIGNED ? v << 4 : v);
        it->miss = ev->addr;
    }
    mtf_step(it->mtf, ev->addr);
    ev->size = 0;
    *sid = 0;
    if (k & PK_SIZE) {
        ev->size = get_uleb(&it->s[TQ_PS_SIZE], it->se[TQ_PS_SIZE], &bad);
        *sid = it->stack + unzigzag(get_uleb(&it->s[TQ_PS_STACK], it->se[TQ_PS_STACK], &bad));
        if (*sid > UINT32_MAX)
            return -1;
        it->stack = (uint32_t)*sid;
    }
    ev->old_addr = kind_has_old(ev->kind)
        ? ev->addr + unzigzag(get_uleb(&it->s[TQ_PS_OLD], it->se[TQ_PS_OLD], &bad)) : 0;
    return bad ? -1 : 0;
}

static int ctx_events_open(const struct tq_rec *rec, struct tq_rec_events *out, struct tq_events_iter *it);
static int ctx_fields(struct tq_events_iter *it, struct tq_event *ev, uint64_t *dq, uint64_t *dt, uint64_t *sid);

int tq_rec_get_events(const struct tq_rec *rec, struct tq_rec_events *out, struct tq_events_iter *it)
{
    if (TQ_REC_IS_CTX(rec->type))
        return ctx_events_open(rec, out, it);
    struct get r = rec_reader(rec);
    int packed = rec->type == TQ_REC_PACKED_EVENTS, with_seq = TQ_REC_EVENTS_BY_ADDR(rec->type);
    out->ctx = 0;
    out->fresh = 0;
    out->tid = get_u32(&r);
    out->count = get_u32(&r);
    out->t0_ns = get_u64(&r);
    out->seq0 = with_seq ? get_u64(&r) : 0;
    if (r.bad || out->count > r.len - r.pos) /* every event takes at least 1 byte, so this is a loose bound */
        return -1;
    out->body = r.p + r.pos;
    out->body_len = (uint32_t)(r.len - r.pos);
    memset(it, 0, sizeof *it);
    it->p = out->body;
    it->end = out->body + out->body_len;
    it->left = out->count;
    it->t_ns = out->t0_ns;
    it->seq = out->seq0;
    it->with_seq = with_seq;
    it->packed = packed;
    for (unsigned s = 0; packed && s < TQ_PS_COUNT; s++) {
        uint32_t len = get_u32(&r);
        if (r.bad || len > r.len - r.pos)
            return -1;
        it->s[s] = r.p + r.pos;
        it->se[s] = r.p + r.pos + len;
        r.pos += len;
    }
    if (packed && (size_t)(it->se[TQ_PS_KIND] - it->s[TQ_PS_KIND]) != out->count)
        return -1;
    return 0;
}

int tq_events_next(struct tq_events_iter *it, struct tq_event *ev)
{
    if (it->left == 0)
        return 0;
    int bad = 0;
    uint64_t dq = 0, dt, sid;
    ev->flags = 0;
    ev->tid = 0;
    ev->old_stack = 0;
    if (it->ctx_rec) {
        if (ctx_fields(it, ev, &dq, &dt, &sid) < 0)
            return -1;
    } else if (it->packed) {
        if (packed_fields(it, ev, &dq, &dt, &sid) < 0)
            return -1;
    } else {
        if (it->p >= it->end)
            return -1;
        ev->kind = *it->p++;
        dq = it->with_seq ? get_uleb(&it->p, it->end, &bad) : 0;
        dt = get_uleb(&it->p, it->end, &bad);
        ev->addr = it->addr + unzigzag(get_uleb(&it->p, it->end, &bad));
        ev->size = get_uleb(&it->p, it->end, &bad);
        sid = get_uleb(&it->p, it->end, &bad);
        ev->old_addr = kind_has_old(ev->kind) ? ev->addr + unzigzag(get_uleb(&it->p, it->end, &bad)) : 0;
        it->addr = ev->addr;
    }
    if (bad || sid > UINT32_MAX || dt > UINT64_MAX - it->t_ns)
        return -1;
    if (it->with_seq) { /* the first event's number is seq0 + its difference; later ones step at least 1 */
        uint64_t step = it->with_seq == 2 ? 1 : 0;
        if (it->seq > UINT64_MAX - step || dq > UINT64_MAX - step - it->seq)
            return -1;
        it->seq += dq + step;
        it->with_seq = 2;
    }
    ev->seq = it->with_seq ? it->seq : 0;
    ev->stack_id = (uint32_t)sid;
    it->t_ns += dt;
    ev->t_ns = it->t_ns;
    if (it->ctx) { /* the context's last event, for the next record's t0 and seq0 */
        it->ctx->t = ev->t_ns;
        it->ctx->seq = ev->seq + 1;
    }
    it->left--;
    return 1;
}

/* ---- PACKED_GROUP (FORMAT.md 16) ---- */

#define PACKED_HEAD 24u                          /* u32 tid, u32 count, u64 t0_ns, u64 seq0 */
#define PACKED_META (PACKED_HEAD + 4u * TQ_PS_COUNT) /* that and the 8 stream lengths: what a group keeps per record */

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Where stream s of the PACKED_EVENTS payload pay (already checked by group_check) starts, and its length. */
static const uint8_t *packed_stream(const uint8_t *pay, unsigned s, uint32_t *len)
{
    const uint8_t *p = pay + PACKED_HEAD;
    for (unsigned i = 0; i < s; i++)
        p += 4 + le32(p);
    *len = le32(p);
    return p + 4;
}

/* Whether recs[0..len) is a sequence of whole PACKED_EVENTS records whose streams fill their payloads exactly;
 * *n gets their number. */
static int group_check(const uint8_t *recs, size_t len, uint32_t *n)
{
    *n = 0;
    for (size_t at = 0; at < len;) {
        if (len - at < TQ_REC_HEADER_SIZE + PACKED_META || recs[at] != TQ_REC_PACKED_EVENTS || recs[at + 1] != 0)
            return -1;
        size_t pay = le32(recs + at + 4), used = PACKED_HEAD;
        if (pay > len - at - TQ_REC_HEADER_SIZE)
            return -1;
        for (unsigned s = 0; s < TQ_PS_COUNT; s++) {
            if (pay - used < 4)
                return -1;
            used += 4 + (size_t)le32(recs + at + TQ_REC_HEADER_SIZE + used);
            if (used > pay)
                return -1;
        }
        if (used != pay || *n == UINT32_MAX)
            return -1;
        (*n)++;
        at += TQ_REC_HEADER_SIZE + pay;
    }
    return 0;
}

static size_t put_ctx_group(uint8_t *buf, size_t cap, const uint8_t *recs, size_t len);

size_t tq_rec_put_packed_group(uint8_t *buf, size_t cap, const uint8_t *recs, size_t len)
{
    if (len >= 2 && TQ_REC_IS_CTX(recs[0]) && recs[1] == 0)
        return put_ctx_group(buf, cap, recs, len);
    uint32_t n;
    if (group_check(recs, len, &n))
        return 0;
    struct put w = {buf, cap, 0, 0};
    size_t at = rec_open(&w, TQ_REC_PACKED_GROUP);
    put_u32(&w, n);
    for (size_t r = 0; r < len; r += TQ_REC_HEADER_SIZE + le32(recs + r + 4)) { /* each record's head and lengths */
        const uint8_t *pay = recs + r + TQ_REC_HEADER_SIZE;
        put_bytes(&w, pay, PACKED_HEAD);
        for (unsigned s = 0; s < TQ_PS_COUNT; s++) {
            uint32_t k;
            packed_stream(pay, s, &k);
            put_u32(&w, k);
        }
    }
    for (unsigned s = 0; s < TQ_PS_COUNT; s++) /* then stream by stream: all kinds together, all sizes together... */
        for (size_t r = 0; r < len; r += TQ_REC_HEADER_SIZE + le32(recs + r + 4)) {
            uint32_t k;
            const uint8_t *p = packed_stream(recs + r + TQ_REC_HEADER_SIZE, s, &k);
            put_bytes(&w, p, k);
        }
    return rec_close(&w, at);
}

int tq_rec_get_packed_group(const struct tq_rec *rec, uint8_t *out, size_t cap, size_t *need, uint32_t *n)
{
    struct get r = rec_reader(rec);
    *n = get_u32(&r);
    *need = 0;
    if (r.bad || *n == 0 || *n > (r.len - r.pos) / PACKED_META) /* writers never write an empty group */
        return -1;
    const uint8_t *meta = r.p + r.pos, *data = meta + (size_t)*n * PACKED_META;
    size_t data_len = r.len - r.pos - (size_t)*n * PACKED_META, total[TQ_PS_COUNT] = {0}, sum = 0;
    for (uint32_t i = 0; i < *n; i++)
        for (unsigned s = 0; s < TQ_PS_COUNT; s++)
            total[s] += le32(meta + (size_t)i * PACKED_META + PACKED_HEAD + 4 * s);
    for (unsigned s = 0; s < TQ_PS_COUNT; s++)
        sum += total[s]; /* < 2^32 per length x 2^19 records: no overflow in 64 bits */
    if (sum != data_len)
        return -1;
    *need = data_len + (size_t)*n * (TQ_REC_HEADER_SIZE + PACKED_META);
    if (*need > cap)
        return 0;
    const uint8_t *from[TQ_PS_COUNT]; /* where each stream's next record's bytes are */
    from[0] = data;
    for (unsigned s = 1; s < TQ_PS_COUNT; s++)
        from[s] = from[s - 1] + total[s - 1];
    struct put w = {out, cap, 0, 0};
    for (uint32_t i = 0; i < *n; i++) {
        const uint8_t *m = meta + (size_t)i * PACKED_META;
        size_t at = rec_open(&w, TQ_REC_PACKED_EVENTS);
        put_bytes(&w, m, PACKED_HEAD);
        for (unsigned s = 0; s < TQ_PS_COUNT; s++) {
            uint32_t k = le32(m + PACKED_HEAD + 4 * s);
            put_u32(&w, k);
            put_bytes(&w, from[s], k);
            from[s] += k;
        }
        if (!rec_close(&w, at))
            return -1; /* a record over 16 MiB */
    }
    return w.over ? -1 : 0;
}

/* ---- CTX_EVENTS (FORMAT.md 18) ---- */

#define CX_NEXT 0u     /* address byte: the predicted next allocation (ctx->next) */
#define CX_CLASS 1u    /* 1..TQ_CTX_DEPTH: the freed address of the event's size class at depth byte - 1 */
#define CX_NEAR16 (CX_CLASS + TQ_CTX_DEPTH) /* base + 16 x unzigzag(ADDR) */
#define CX_NEAR1 (CX_NEAR16 + 1)            /* base + unzigzag(ADDR) */
#define CX_FAR (CX_NEAR1 + 1)               /* the ring's address of age CX_AGES + uleb of ADDR */
#define CX_FFAR (CX_FAR + 1)                /* the freed ring's address of age CX_FAGES + uleb of ADDR */
#define CX_AGE0 (CX_FFAR + 1)               /* CX_AGE0..: the ring's address of age byte - CX_AGE0 */
#define CX_AGES 128u
#define CX_FAGE0 (CX_AGE0 + CX_AGES)        /* CX_FAGE0..255: the freed ring's address of age byte - CX_FAGE0 */
#define CX_FAGES (256u - CX_FAGE0)
#define CX_OLD_SAME 0u /* OLD: old_addr = addr; 1 + 2 age: the ring's address of that age; 2: a difference follows */
#define CX_OLD_DIFF 2u
#define CX_OLD_INFO 4u /* INFO_EVENTS: the old block is named by 2 size + temp and its stack's difference (FORMAT.md 20) */
#define CX_OLD_FREED 6u /* (1.10) the old block was released by a FREE before it (TQ_EV_OLD_FREED, FORMAT.md 18) */
#define CX_FLAG_FRESH 1u
#define CX_FLAG_TUPLES 2u /* REPEAT_EVENTS: the record's tuple events keep the context's tuples (FORMAT.md 21) */
#define CX_HEAD_MAX (5 + 5 + 5 + 1 + 10 + 10 + 5 * TQ_PS_COUNT) /* ctx, tid, count, flags, t0, seq0, lengths */

#define ALLOCATING_KINDS                                                                                       \
    (1u << TQ_CALL_MALLOC | 1u << TQ_CALL_CALLOC | 1u << TQ_CALL_REALLOC | 1u << TQ_CALL_REALLOCARRAY |         \
     1u << TQ_CALL_POSIX_MEMALIGN | 1u << TQ_CALL_ALIGNED_ALLOC | 1u << TQ_CALL_MEMALIGN | 1u << TQ_CALL_VALLOC |  \
     1u << TQ_CALL_PVALLOC)

static int kind_allocates(unsigned k)
{
    return k < 16 && (ALLOCATING_KINDS >> k & 1);
}

/* glibc's chunk for a request of s bytes (16-byte steps, 32 at least), modulo 2^64: where the next chunk starts. */
static uint64_t cx_chunk(uint64_t s)
{
    uint64_t c = (s + 23) & ~(uint64_t)15;
    return c < 32 ? 32 : c;
}

static unsigned cx_class(uint64_t s)
{
    uint64_t c = cx_chunk(s) >> 4;
    return c < TQ_CTX_CLASSES ? (unsigned)c : TQ_CTX_CLASSES - 1;
}

static unsigned cx_hash(uint64_t a)
{
    return (unsigned)((a * 0x9E3779B97F4A7C15ull) >> (64 - TQ_CTX_HASH_BITS));
}

void tq_pack_ctx_init(struct tq_pack_ctx *c)
{
    memset(c, 0, sizeof *c);
}

/* Fresh: what a context is before its first event (the ring's old slots are never read: filled is 0). */
static void cx_reset(struct tq_pack_ctx *c)
{
    c->next = c->miss = c->t = c->seq = 0;
    c->pos = c->filled = c->fpos = c->ffilled = c->stack = 0;
    c->started = 1;
    memset(c->stacks, 0, sizeof c->stacks);
    memset(c->freed, 0, sizeof c->freed);
    memset(c->freed_top, 0, sizeof c->freed_top);
    memset(c->rep_kind, 0, sizeof c->rep_kind);
    c->rep_on = 0;
    c->rep_probe = 0;
}

/* Each size class's latest freed addresses are a ring of TQ_CTX_DEPTH with its top: depth d is slot (top - d) mod
 * TQ_CTX_DEPTH. The slot holding a (of the smallest depth), or -1. */
static inline __attribute__((always_inline)) int cx_class_slot(const struct tq_pack_ctx *c, unsigned cls, uint64_t a)
{
    const uint64_t *f = c->freed[cls];
    _Static_assert(TQ_CTX_DEPTH == 4, "the test below reads 4 slots");
    if (!((f[0] == a) | (f[1] == a) | (f[2] == a) | (f[3] == a))) /* usually: known without the depth order */
        return -1;
    for (unsigned d = 0; d < TQ_CTX_DEPTH; d++) {
        unsigned i = (c->freed_top[cls] - d) & (TQ_CTX_DEPTH - 1);
        if (f[i] == a)
            return (int)i;
    }
    return -1;
}

/* A freed address on top of its class's (the oldest one drops out). */
static inline __attribute__((always_inline)) void cx_class_push(struct tq_pack_ctx *c, unsigned cls, uint64_t a)
{
    c->freed_top[cls] = (uint8_t)((c->freed_top[cls] + 1) & (TQ_CTX_DEPTH - 1));
    c->freed[cls][c->freed_top[cls]] = a;
}

/* The encoder's index is 2-way: an address is in one of the two slots of its bucket (the older one is replaced). */
static inline __attribute__((always_inline)) void cx_insert(struct tq_pack_ctx *c, uint64_t a, unsigned cls, int index)
{
    c->ring[c->pos] = a;
    c->ring_cls[c->pos] = (uint8_t)cls;
    if (index) {
        uint16_t *b = &c->hash[cx_hash(a) & ~1u];
        unsigned way;
        if (b[0] && c->ring[b[0] - 1] == a) /* its older copy */
            way = 0;
        else if (b[1] && c->ring[b[1] - 1] == a)
            way = 1;
        else /* the older of the two (an empty slot is the oldest) */
            way = !b[1] || (b[0] && ((c->pos - b[1]) & (TQ_CTX_RING - 1)) > ((c->pos - b[0]) & (TQ_CTX_RING - 1)));
        b[way] = (uint16_t)(c->pos + 1);
    }
    c->pos = (c->pos + 1) & (TQ_CTX_RING - 1);
    if (c->filled < TQ_CTX_RING)
        c->filled++;
}

/* The freed ring: every freed address, in order, with the encoder's 2-way index as the ring's. */
static inline __attribute__((always_inline)) void cx_freed_insert(struct tq_pack_ctx *c, uint64_t a, int index)
{
    c->freed_ring[c->fpos] = a;
    if (index) {
        uint16_t *b = &c->fhash[(unsigned)((a * 0x9E3779B97F4A7C15ull) >> (64 - TQ_CTX_FHASH_BITS)) & ~1u];
        unsigned way;
        if (b[0] && c->freed_ring[b[0] - 1] == a)
            way = 0;
        else if (b[1] && c->freed_ring[b[1] - 1] == a)
            way = 1;
        else
            way = !b[1] || (b[0] && ((c->fpos - b[1]) & (TQ_CTX_FREED - 1)) > ((c->fpos - b[0]) & (TQ_CTX_FREED - 1)));
        b[way] = (uint16_t)(c->fpos + 1);
    }
    c->fpos = (c->fpos + 1) & (TQ_CTX_FREED - 1);
    if (c->ffilled < TQ_CTX_FREED)
        c->ffilled++;
}

static inline __attribute__((always_inline)) int cx_freed_find(const struct tq_pack_ctx *c, uint64_t a, uint32_t *age)
{
    const uint16_t *b = &c->fhash[(unsigned)((a * 0x9E3779B97F4A7C15ull) >> (64 - TQ_CTX_FHASH_BITS)) & ~1u];
    unsigned i = b[0];
    if (!i-- || i >= c->ffilled || c->freed_ring[i] != a) {
        i = b[1];
        if (!i-- || i >= c->ffilled || c->freed_ring[i] != a)
            return 0;
    }
    *age = (c->fpos - 1 - i) & (TQ_CTX_FREED - 1);
    return 1;
}

/* The encoder's lookup: a's age in the ring (0 = the latest address) and its class byte; 0 when not found. */
static inline __attribute__((always_inline)) int cx_find(const struct tq_pack_ctx *c, uint64_t a, uint32_t *age, unsigned *cls)
{
    const uint16_t *b = &c->hash[cx_hash(a) & ~1u];
    unsigned i = b[0];
    if (!i-- || i >= c->filled || c->ring[i] != a) {
        i = b[1];
        if (!i-- || i >= c->filled || c->ring[i] != a)
            return 0;
    }
    *age = (c->pos - 1 - i) & (TQ_CTX_RING - 1);
    *cls = c->ring_cls[i];
    return 1;
}

/* The stack id in front of the recent ones; its index before (TQ_CTX_STACKS when it was not among them). */
static inline __attribute__((always_inline)) unsigned cx_stack_step(struct tq_pack_ctx *c, uint32_t id)
{
    unsigned i = 0;
    while (i < TQ_CTX_STACKS && c->stacks[i] != id)
        i++;
    unsigned found = i;
    if (i == TQ_CTX_STACKS)
        i--;
    for (; i > 0; i--)
        c->stacks[i] = c->stacks[i - 1];
    c->stacks[0] = id;
    c->stack = id;
    return found;
}

/* REPEAT_EVENTS (FORMAT.md 21): an INFO event of an allocating kind without an old block, or an INFO free, is a
 * tuple (kind, its SIZE value, stack id) the context remembers in a 2-way set: its set, and its way there (-1: none). */
#define TUPLE_KINDS                                                                                                \
    (1u << TQ_CALL_FREE | 1u << TQ_CALL_MALLOC | 1u << TQ_CALL_CALLOC | 1u << TQ_CALL_POSIX_MEMALIGN |             \
     1u << TQ_CALL_ALIGNED_ALLOC | 1u << TQ_CALL_MEMALIGN | 1u << TQ_CALL_VALLOC | 1u << TQ_CALL_PVALLOC)
static inline __attribute__((always_inline)) int rep_tuple_kind(unsigned kind, unsigned kbyte)
{
    return (kbyte & (PK_INFO | PK_SIZE)) == (PK_INFO | PK_SIZE) && (TUPLE_KINDS >> kind & 1);
}

static inline __attribute__((always_inline)) unsigned rep_set(unsigned kind, uint64_t v, uint32_t stack)
{
    uint64_t h = (v * 0x9E3779B97F4A7C15ull + stack) * 0x9E3779B97F4A7C15ull + kind;
    return (unsigned)(h >> 59); /* TQ_CTX_REP_SETS = 32: the top 5 bits */
}

static inline __attribute__((always_inline)) int rep_way(const struct tq_pack_ctx *c, unsigned set, unsigned kind,
                                                         uint64_t v, uint32_t stack)
{
    for (int w = 0; w < 2; w++)
        if (c->rep_kind[set][w] == kind + 1 && c->rep_size[set][w] == v && c->rep_stack[set][w] == stack)
            return w;
    return -1;
}

/* After a tuple's event (written out or repeated): it becomes way 0 of its set (way 1 moves to 0, or a new tuple
 * pushes way 0 to 1 and way 1's out). */
static inline __attribute__((always_inline)) void rep_touch(struct tq_pack_ctx *c, unsigned set, int way,
                                                            unsigned kind, uint64_t v, uint32_t stack)
{
    if (way == 0)
        return;
    c->rep_kind[set][1] = c->rep_kind[set][0]; /* way 1's is the tuple itself, or drops out */
    c->rep_size[set][1] = c->rep_size[set][0];
    c->rep_stack[set][1] = c->rep_stack[set][0];
    c->rep_kind[set][0] = (uint8_t)(kind + 1);
    c->rep_size[set][0] = v;
    c->rep_stack[set][0] = stack;
}

/* After an event's address (and old address) are known: the context's updates, the same on both sides. hit: the
 * address came from the ring, with class byte hit_cls; old_hit likewise for the old address. */
static inline __attribute__((always_inline)) void cx_after(struct tq_pack_ctx *c, const struct tq_event *e, int hit, unsigned hit_cls, int old_hit,
                     unsigned old_cls, int slot, int index)
{
    int info = e->flags & TQ_EV_INFO; /* INFO_EVENTS: a block without an address changes no address of the context */
    if (kind_allocates(e->kind)) {
        int moved = !(e->flags & (TQ_EV_OLD_INFO | TQ_EV_OLD_FREED)) && (info || e->old_addr != e->addr);
        if (old_hit && old_cls && moved)
            cx_class_push(c, old_cls - 1, e->old_addr);
        if (kind_has_old(e->kind) && moved)
            cx_freed_insert(c, e->old_addr, index);
        if (info)
            return;
        unsigned cls = cx_class(e->size);
        if (slot >= 0) /* handed out again: it leaves its class's freed ones */
            c->freed[cls][slot] = 0;
        cx_insert(c, e->addr, cls + 1, index);
        c->next = e->addr + cx_chunk(e->size);
    } else if (e->kind == TQ_CALL_FREE) {
        if (info)
            return;
        unsigned cls = hit ? hit_cls : 0;
        if (cls)
            cx_class_push(c, cls - 1, e->addr);
        cx_freed_insert(c, e->addr, index);
        if (!hit)
            cx_insert(c, e->addr, cls, index);
    } else {
        cx_insert(c, e->addr, 0, index);
    }
}

/* The TQ_EV_* flags an event of INFO_EVENTS may have (FORMAT.md 20). */
static int info_flags_ok(const struct tq_event *e)
{
    unsigned f = e->flags, k = e->kind;
    if (f == TQ_EV_INFO || f == (TQ_EV_INFO | TQ_EV_TEMP)) /* the usual two: a named block allocated or freed */
        return kind_allocates(k) ? f == TQ_EV_INFO && e->stack_id : k == TQ_CALL_FREE && !(e->size >> 63);
    if (f & ~(TQ_EV_INFO | TQ_EV_OLD_INFO | TQ_EV_TEMP | TQ_EV_OLD_TEMP | TQ_EV_OLD_FREED))
        return 0;
    if ((f & TQ_EV_OLD_FREED) && (!kind_allocates(k) || !kind_has_old(k) || (f & TQ_EV_OLD_INFO) || e->old_addr))
        return 0;
    if (f & TQ_EV_INFO) {
        if (kind_allocates(k) ? !e->stack_id : k != TQ_CALL_FREE || e->size >> 63)
            return 0;
    }
    if ((f & TQ_EV_TEMP) && (k != TQ_CALL_FREE || !(f & TQ_EV_INFO)))
        return 0;
    if ((f & TQ_EV_OLD_INFO) && (!kind_allocates(k) || !kind_has_old(k) || !e->old_stack || e->old_addr >> 63))
        return 0;
    if ((f & TQ_EV_OLD_TEMP) && !(f & TQ_EV_OLD_INFO))
        return 0;
    return 1;
}

_Static_assert(TQ_CTX_EVENTS_BOUND(1) == TQ_REC_HEADER_SIZE + 1 + CX_HEAD_MAX + 67, "codec.h's bound is this one");
_Static_assert(TQ_CTX_EVENTS_BOUND(TQ_CTX_EVENTS_MAX) - TQ_REC_HEADER_SIZE <= TQ_REC_MAX_PAYLOAD, "a record fits");

size_t tq_rec_ctx_events_bound(size_t n)
{
    size_t per_event = 0;
    for (unsigned s = 0; s < TQ_PS_COUNT; s++)
        per_event += packed_stream_max[s];
    return TQ_REC_HEADER_SIZE + 1 + CX_HEAD_MAX + n * (per_event + 10); /* OLD may take a byte and a difference */
}

/* The streams a run of INFO events writes to, and the time and order number of the event before the run. */
struct cx_run {
    uint8_t *kind, *seq, *time, *size, *stack;
    uint64_t t, q;
    int tuples_on;         /* FORMAT.md 21: the record keeps the tuples (TUPLES) */
    size_t tuples, known;  /* its tuple events, and those whose tuple was in its set */
};

static inline __attribute__((always_inline)) uint8_t *uleb_short(uint8_t *p, uint64_t v)
{
    if (v < 0x80) {
        *p = (uint8_t)v;
        return p + 1;
    }
    return uleb_at(p, v);
}

/* Events from ev[i] on that are named by (size, stack) with no old block (most events of --stacks, and all of a
 * malloc storm's): no address, and nothing of the context but its recent stacks changes (cx_after does nothing for
 * them). Coded here, out of line, with few registers live (the general loop keeps 8 streams and the context); the
 * same bytes as that loop. Returns the index of the first other event (or n). */
static __attribute__((noinline)) size_t cx_info_run(struct tq_pack_ctx *c, const struct tq_event *ev, size_t i,
                                                    size_t n, struct cx_run *r)
{
    uint8_t *kind = r->kind, *seq = r->seq, *time = r->time, *size = r->size, *stack = r->stack;
    uint64_t t = r->t, q = r->q;
    for (; i < n; i++) {
        const struct tq_event *e = &ev[i];
        unsigned ek = e->kind, ef = e->flags;
        if (!(ef & TQ_EV_INFO) || kind_has_old(ek))
            break;
        uint64_t es = e->size, et = e->t_ns, eq = e->seq;
        uint32_t eid = e->stack_id;
        uint64_t dq = eq - q - 1, dt = et - t;
        t = et;
        q = eq;
        *kind++ = (uint8_t)(ek | (dq ? PK_SEQ : 0) | (dt ? PK_TIME : 0) | PK_SIZE | PK_INFO);
        if (dq)
            seq = uleb_at(seq, dq);
        if (dt)
            time = uleb_at(time, dt);
        uint64_t sv = kind_allocates(ek) ? es : 2 * es + !!(ef & TQ_EV_TEMP); /* a free: 2 size + temp */
        if (r->tuples_on) { /* FORMAT.md 21: every event here is a tuple event; a recent tuple's repeat: its KIND byte */
            unsigned set = rep_set(ek, sv, eid);
            int way = rep_way(c, set, ek, sv, eid);
            rep_touch(c, set, way, ek, sv, eid);
            r->tuples++;
            r->known += way >= 0;
            if (way >= 0 && !dq && !dt && c->rep_on) {
                kind[-1] = (uint8_t)(PK_REPEAT | set << 1 | (unsigned)way);
                cx_stack_step(c, eid);
                continue;
            }
        }
        size = uleb_short(size, sv);
        if (c->stacks[0] == eid) { /* cx_stack_step's first case: already in front */
            c->stack = eid;
            *stack++ = 0;
        } else {
            uint32_t prev = c->stack;
            unsigned found = cx_stack_step(c, eid);
            stack = uleb_at(stack, found < TQ_CTX_STACKS ? found : TQ_CTX_STACKS + zigzag((uint64_t)eid - prev));
        }
    }
    r->kind = kind, r->seq = seq, r->time = time, r->size = size, r->stack = stack, r->t = t, r->q = q;
    return i;
}

size_t tq_rec_put_ctx_events(uint8_t *buf, size_t cap, uint32_t ctx_no, uint32_t tid, const struct tq_event *ev,
                             size_t n, struct tq_pack_ctx *c, int fresh)
{
    if (n > TQ_CTX_EVENTS_MAX || ctx_no >= TQ_CTX_MAX || cap < tq_rec_ctx_events_bound(n))
        return 0;
    int any_info = 0;
    size_t tuples = 0, known = 0; /* tuple events, and those whose tuple was in its set */
    for (size_t i = 0; i < n; i++) {
        const struct tq_event *e = &ev[i];
        if ((e->kind >= 16) | (i > 0 && ((e->t_ns < e[-1].t_ns) | (e->seq <= e[-1].seq))))
            return 0;
        if (e->flags) {
            if (!info_flags_ok(e))
                return 0;
            any_info |= (e->flags & ~TQ_EV_OLD_FREED) != 0; /* OLD 6 is CTX_EVENTS' too (FORMAT.md 18) */
        }
    }
    if (fresh)
        cx_reset(c);
    /* FORMAT.md 21: only records flagged TUPLES keep the tuples (and may repeat them): those of a context whose last
     * flagged record found 80% of its tuples, and every 64th record with INFO events to find out (the storm's
     * tuples seldom repeat: it pays the lookups in one record of 64) */
    int tuples_on = any_info && (c->rep_on || (c->rep_probe++ & 63) == 0);
    /* the streams go into their worst-case regions after room for the head, then move down behind it */
    uint8_t *base[TQ_PS_COUNT], *at = buf + TQ_REC_HEADER_SIZE + 1 + CX_HEAD_MAX;
    size_t stream_max[TQ_PS_COUNT];
    for (unsigned s = 0; s < TQ_PS_COUNT; s++) {
        stream_max[s] = n * (packed_stream_max[s] + (s == TQ_PS_OLD ? 10u : 0u));
        base[s] = at;
        at += stream_max[s];
    }
    uint8_t *kind = base[TQ_PS_KIND], *seq = base[TQ_PS_SEQ], *time = base[TQ_PS_TIME], *amode = base[TQ_PS_AMTF];
    uint8_t *addr = base[TQ_PS_ADDR], *size = base[TQ_PS_SIZE], *stack = base[TQ_PS_STACK], *old = base[TQ_PS_OLD];
    uint64_t t0 = n ? ev[0].t_ns : c->t, q0 = n ? ev[0].seq : c->seq, t = t0, q = q0 - 1; /* the first dq is 0 */
    for (size_t i = 0; i < n; i++) {
        if ((ev[i].flags & TQ_EV_INFO) && !kind_has_old(ev[i].kind)) {
            struct cx_run r = {kind, seq, time, size, stack, t, q, tuples_on, tuples, known};
            i = cx_info_run(c, ev, i, n, &r) - 1;
            kind = r.kind, seq = r.seq, time = r.time, size = r.size, stack = r.stack, t = r.t, q = r.q;
            tuples = r.tuples, known = r.known;
            continue;
        }
        const struct tq_event *e = &ev[i];
        uint64_t dq = e->seq - q - 1, dt = e->t_ns - t;
        t = e->t_ns;
        q = e->seq;
        int info = e->flags & TQ_EV_INFO;
        int sized = e->size || e->stack_id || info, alloc = kind_allocates(e->kind);
        uint8_t kbyte = (uint8_t)(e->kind | (dq ? PK_SEQ : 0) | (dt ? PK_TIME : 0) | (sized ? PK_SIZE : 0) |
                                  (info ? PK_INFO : 0));
        *kind++ = kbyte;
        if (dq)
            seq = uleb_at(seq, dq);
        if (dt)
            time = uleb_at(time, dt);
        if (sized) {
            /* an INFO free: 2 size + temp */
            size = uleb_at(size, info && !alloc ? 2 * e->size + !!(e->flags & TQ_EV_TEMP) : e->size);
            uint32_t prev = c->stack;
            unsigned found = cx_stack_step(c, e->stack_id);
            stack = uleb_at(stack, found < TQ_CTX_STACKS ? found
                                  : TQ_CTX_STACKS + zigzag((uint64_t)e->stack_id - prev));
        }
        uint32_t age = 0, old_age = 0;
        unsigned hit_cls = 0, old_cls = 0;
        int hit = 0, old_hit = 0;
        unsigned cls = alloc ? cx_class(e->size) : 0;
        int slot = alloc && !info ? cx_class_slot(c, cls, e->addr) : -1;
        if (info) {
            /* no address: no AMODE byte */
        } else if (alloc && e->addr == c->next) {
            *amode++ = CX_NEXT;
        } else if (slot >= 0) {
            *amode++ = (uint8_t)(CX_CLASS + ((c->freed_top[cls] - (unsigned)slot) & (TQ_CTX_DEPTH - 1)));
        } else if (alloc && cx_freed_find(c, e->addr, &age)) {
            if (age < CX_FAGES) {
                *amode++ = (uint8_t)(CX_FAGE0 + age);
            } else {
                *amode++ = CX_FFAR;
                addr = uleb_at(addr, age - CX_FAGES);
            }
        } else if ((hit = cx_find(c, e->addr, &age, &hit_cls))) {
            if (age < CX_AGES) {
                *amode++ = (uint8_t)(CX_AGE0 + age);
            } else {
                *amode++ = CX_FAR;
                addr = uleb_at(addr, age - CX_AGES);
            }
        } else {
            uint64_t d = e->addr - (alloc ? c->next : c->miss);
            *amode++ = d & 15 ? CX_NEAR1 : CX_NEAR16;
            addr = uleb_at(addr, d & 15 ? zigzag(d) : zigzag((uint64_t)((int64_t)d >> 4)));
            c->miss = e->addr;
        }
        if (e->flags & TQ_EV_OLD_FREED) {
            old = uleb_at(old, CX_OLD_FREED);
        } else if (e->flags & TQ_EV_OLD_INFO) {
            old = uleb_at(old, CX_OLD_INFO);
            old = uleb_at(old, 2 * e->old_addr + !!(e->flags & TQ_EV_OLD_TEMP));
            old = uleb_at(old, zigzag((uint64_t)e->old_stack - e->stack_id));
        } else if (kind_has_old(e->kind)) {
            if (!info && e->old_addr == e->addr) {
                old = uleb_at(old, CX_OLD_SAME);
            } else if ((old_hit = cx_find(c, e->old_addr, &old_age, &old_cls))) {
                old = uleb_at(old, 1 + 2 * (uint64_t)old_age);
            } else {
                old = uleb_at(old, CX_OLD_DIFF);
                old = uleb_at(old, zigzag(e->old_addr - (info ? 0 : e->addr))); /* an INFO block: from 0 */
            }
        }
        cx_after(c, e, hit, hit_cls, old_hit, old_cls, slot, 1);
    }
    uint8_t *end[TQ_PS_COUNT] = {kind, seq, time, amode, addr, size, stack, old};
    /* the head, then the streams moved down behind it */
    uint8_t head[1 + CX_HEAD_MAX], *h = head;
    h = uleb_at(h, 1); /* one record */
    h = uleb_at(h, ctx_no);
    h = uleb_at(h, tid);
    h = uleb_at(h, n);
    h = uleb_at(h, (fresh ? CX_FLAG_FRESH : 0) | (tuples_on ? CX_FLAG_TUPLES : 0));
    h = uleb_at(h, zigzag(t0 - c->t));
    h = uleb_at(h, zigzag(q0 - c->seq));
    for (unsigned s = 0; s < TQ_PS_COUNT; s++)
        h = uleb_at(h, (uint64_t)(end[s] - base[s]));
    c->t = t;
    c->seq = n ? q + 1 : q0;
    /* A program whose tuples seldom repeat (cc1, NumPy: 35-50% of them found) compresses better with SIZE and STACK
     * written out (the set and way bytes are noise to zstd): repeat in the next record only when 80% were found. */
    if (tuples_on)
        c->rep_on = tuples && known * 5 >= tuples * 4;
    uint8_t *out = buf + TQ_REC_HEADER_SIZE;
    memcpy(out, head, (size_t)(h - head));
    out += h - head;
    for (unsigned s = 0; s < TQ_PS_COUNT; s++) {
        size_t len = (size_t)(end[s] - base[s]);
        memmove(out, base[s], len);
        out += len;
    }
    struct put w = {buf, cap, 0, 0};
    rec_open(&w, tuples_on ? TQ_REC_REPEAT_EVENTS : any_info ? TQ_REC_INFO_EVENTS : TQ_REC_CTX_EVENTS);
    w.len = (size_t)(out - buf); /* the payload is in place: at most the bound, so under 16 MiB (checked first) */
    return rec_close(&w, 0);
}

/* One record's head in a CTX_EVENTS payload. */
struct cx_head {
    uint64_t ctx, tid, count, flags, dt0, dseq0, len[TQ_PS_COUNT];
};

/* Read a head at *p (< end); -1 when it is cut short or out of range. */
static int cx_get_head(const uint8_t **p, const uint8_t *end, struct cx_head *h)
{
    int bad = 0;
    h->ctx = get_uleb(p, end, &bad);
    h->tid = get_uleb(p, end, &bad);
    h->count = get_uleb(p, end, &bad);
    h->flags = get_uleb(p, end, &bad);
    h->dt0 = get_uleb(p, end, &bad);
    h->dseq0 = get_uleb(p, end, &bad);
    for (unsigned s = 0; s < TQ_PS_COUNT; s++)
        h->len[s] = get_uleb(p, end, &bad);
    if (bad || h->ctx >= TQ_CTX_MAX || h->tid > UINT32_MAX || h->count > UINT32_MAX ||
        h->flags > (CX_FLAG_FRESH | CX_FLAG_TUPLES))
        return -1;
    for (unsigned s = 0; s < TQ_PS_COUNT; s++)
        if (h->len[s] > UINT32_MAX)
            return -1;
    return 0;
}

/* A CTX_EVENTS payload's record count, where its heads are and where its streams start; checks that the heads' lengths
 * add up to the rest of the payload. */
static int cx_group_parse(const uint8_t *pay, size_t len, uint64_t *n, const uint8_t **heads, const uint8_t **data,
                          uint64_t total[TQ_PS_COUNT])
{
    const uint8_t *p = pay, *end = pay + len;
    int bad = 0;
    *n = get_uleb(&p, end, &bad);
    if (bad || *n == 0 || *n > len) /* a head takes at least 14 bytes */
        return -1;
    *heads = p;
    memset(total, 0, TQ_PS_COUNT * sizeof total[0]);
    for (uint64_t i = 0; i < *n; i++) {
        struct cx_head h;
        if (cx_get_head(&p, end, &h))
            return -1;
        for (unsigned s = 0; s < TQ_PS_COUNT; s++)
            total[s] += h.len[s]; /* < 2^32 each, fewer than 2^24 heads: no overflow */
    }
    uint64_t sum = 0;
    for (unsigned s = 0; s < TQ_PS_COUNT; s++)
        sum += total[s];
    if (sum != (uint64_t)(end - p))
        return -1;
    *data = p;
    return 0;
}

/* PACKED_GROUP's job for CTX_EVENTS records: one record holding all of theirs, heads first, then stream by stream. */
static size_t put_ctx_group(uint8_t *buf, size_t cap, const uint8_t *recs, size_t len)
{
    uint64_t count = 0;
    uint16_t type = TQ_REC_CTX_EVENTS; /* the highest of their types: each type's records are records of the next */
    for (size_t r = 0; r < len;) { /* check them, and count their records */
        if (len - r < TQ_REC_HEADER_SIZE || !TQ_REC_IS_CTX(recs[r]) || recs[r + 1] != 0)
            return 0;
        if (recs[r] > type)
            type = recs[r];
        size_t pay = le32(recs + r + 4);
        if (pay > len - r - TQ_REC_HEADER_SIZE)
            return 0;
        uint64_t n, total[TQ_PS_COUNT];
        const uint8_t *heads, *data;
        if (cx_group_parse(recs + r + TQ_REC_HEADER_SIZE, pay, &n, &heads, &data, total))
            return 0;
        count += n;
        r += TQ_REC_HEADER_SIZE + pay;
    }
    struct put w = {buf, cap, 0, 0};
    size_t at = rec_open(&w, type);
    put_uleb(&w, count);
    for (int pass = 0; pass <= TQ_PS_COUNT; pass++) /* pass 0: the heads; then stream pass - 1 of each record */
        for (size_t r = 0; r < len; r += TQ_REC_HEADER_SIZE + le32(recs + r + 4)) {
            uint64_t n, total[TQ_PS_COUNT];
            const uint8_t *heads, *data;
            cx_group_parse(recs + r + TQ_REC_HEADER_SIZE, le32(recs + r + 4), &n, &heads, &data, total);
            if (pass == 0) {
                put_bytes(&w, heads, (size_t)(data - heads));
                continue;
            }
            for (int s = 0; s < pass - 1; s++)
                data += total[s];
            put_bytes(&w, data, total[pass - 1]);
        }
    return rec_close(&w, at);
}

int tq_rec_get_ctx_group(const struct tq_rec *rec, uint8_t *out, size_t cap, size_t *need, uint32_t *n)
{
    uint64_t count, total[TQ_PS_COUNT];
    const uint8_t *heads, *data;
    *need = 0;
    *n = 0;
    if (cx_group_parse(rec->data, rec->len, &count, &heads, &data, total) || count > UINT32_MAX)
        return -1;
    *n = (uint32_t)count;
    /* each record: header, uleb 1, its head, its streams: at most the group's bytes + 9 per record */
    *need = rec->len + (size_t)count * (TQ_REC_HEADER_SIZE + 1);
    if (*need > cap)
        return 0;
    const uint8_t *from[TQ_PS_COUNT];
    from[0] = data;
    for (unsigned s = 1; s < TQ_PS_COUNT; s++)
        from[s] = from[s - 1] + total[s - 1];
    const uint8_t *p = heads, *end = rec->data + rec->len;
    struct put w = {out, cap, 0, 0};
    for (uint64_t i = 0; i < count; i++) {
        const uint8_t *h0 = p;
        struct cx_head h;
        cx_get_head(&p, end, &h); /* checked above */
        size_t at = rec_open(&w, rec->type);
        put_uleb(&w, 1);
        put_bytes(&w, h0, (size_t)(p - h0));
        for (unsigned s = 0; s < TQ_PS_COUNT; s++) {
            put_bytes(&w, from[s], h.len[s]);
            from[s] += h.len[s];
        }
        if (!rec_close(&w, at))
            return -1; /* a record over 16 MiB */
    }
    *need = w.len;
    return w.over ? -1 : 0;
}

/* CTX_EVENTS' part of tq_rec_get_events: the record's one head and streams. */
static int ctx_events_open(const struct tq_rec *rec, struct tq_rec_events *out, struct tq_events_iter *it)
{
    uint64_t n, total[TQ_PS_COUNT];
    const uint8_t *heads, *data;
    if (cx_group_parse(rec->data, rec->len, &n, &heads, &data, total) || n != 1)
        return -1;
    struct cx_head h;
    cx_get_head(&heads, data, &h);
    memset(it, 0, sizeof *it);
    memset(out, 0, sizeof *out);
    out->tid = (uint32_t)h.tid;
    out->count = (uint32_t)h.count;
    out->ctx = (uint32_t)h.ctx;
    out->fresh = (h.flags & CX_FLAG_FRESH) != 0;
    out->body = data;
    out->body_len = (uint32_t)(rec->data + rec->len - data);
    it->info_ok = rec->type != TQ_REC_CTX_EVENTS; /* INFO blocks have no AMODE byte */
    it->repeat_ok = (h.flags & CX_FLAG_TUPLES) != 0; /* and then the tuple events keep the tuples */
    if (it->repeat_ok && rec->type != TQ_REC_REPEAT_EVENTS)
        return -1;
    if (h.len[TQ_PS_KIND] != h.count || (it->info_ok ? h.len[TQ_PS_AMTF] > h.count : h.len[TQ_PS_AMTF] != h.count))
        return -1;
    for (unsigned s = 0; s < TQ_PS_COUNT; s++) {
        it->s[s] = data;
        it->se[s] = data + h.len[s];
        data += h.len[s];
    }
    it->left = out->count;
    it->with_seq = 1;
    it->packed = 1;
    it->ctx_rec = 1;
    it->dt0 = h.dt0;
    it->dseq0 = h.dseq0;
    return 0;
}

int tq_events_use_ctx(struct tq_events_iter *it, struct tq_rec_events *out, struct tq_pack_ctx *c)
{
    if (!it->ctx_rec || it->ctx)
        return -1;
    if (out->fresh)
        cx_reset(c);
    else if (!c->started)
        return -1;
    it->ctx = c;
    out->t0_ns = it->t_ns = c->t + unzigzag(it->dt0);
    out->seq0 = it->seq = c->seq + unzigzag(it->dseq0);
    c->t = out->t0_ns;
    c->seq = out->seq0;
    return 0;
}

/* A REPEAT_EVENTS repeat byte's event (code: 2 x set + way): that tuple's INFO event, with no SEQ or TIME step. */
static int ctx_repeat(struct tq_events_iter *it, unsigned code, struct tq_event *ev, uint64_t *dq, uint64_t *dt,
                      uint64_t *sid)
{
    struct tq_pack_ctx *c = it->ctx;
    unsigned set = code >> 1;
    int way = (int)(code & 1);
    if (!c->rep_kind[set][way])
        return -1; /* a way the context never filled */
    unsigned kind = c->rep_kind[set][way] - 1u;
    uint64_t v = c->rep_size[set][way];
    uint32_t stack = c->rep_stack[set][way];
    rep_touch(c, set, way, kind, v, stack);
    cx_stack_step(c, stack);
    ev->kind = (uint8_t)kind;
    ev->flags = TQ_EV_INFO;
    ev->size = v;
    if (kind == TQ_CALL_FREE) { /* 2 size + temp */
        ev->flags |= v & 1 ? TQ_EV_TEMP : 0;
        ev->size = v >> 1;
    }
    ev->addr = ev->old_addr = 0;
    *dq = *dt = 0;
    *sid = stack;
    return 0;
}

/* The next CTX_EVENTS event's fields, decoded with its context (updated); as packed_fields. */
static int ctx_fields(struct tq_events_iter *it, struct tq_event *ev, uint64_t *dq, uint64_t *dt, uint64_t *sid)
{
    struct tq_pack_ctx *c = it->ctx;
    int bad = 0;
    if (!c || it->s[TQ_PS_KIND] >= it->se[TQ_PS_KIND])
        return -1;
    uint8_t k = *it->s[TQ_PS_KIND]++, a = 0;
    if ((k & PK_REPEAT_MASK) == PK_REPEAT && it->repeat_ok) /* FORMAT.md 21: a recent tuple's event again */
        return ctx_repeat(it, k & 63, ev, dq, dt, sid);
    int info = (k & PK_INFO) != 0;
    if (info && !it->info_ok)
        return -1; /* PK_BAD */
    ev->kind = k & 15;
    int alloc = kind_allocates(ev->kind);
    if (info && (!(k & PK_SIZE) || (!alloc && ev->kind != TQ_CALL_FREE)))
        return -1;
    if (!info) { /* an INFO block has no AMODE byte */
        if (it->s[TQ_PS_AMTF] >= it->se[TQ_PS_AMTF])
            return -1;
        a = *it->s[TQ_PS_AMTF]++;
    }
    *dq = k & PK_SEQ ? get_uleb(&it->s[TQ_PS_SEQ], it->se[TQ_PS_SEQ], &bad) : 0;
    *dt = k & PK_TIME ? get_uleb(&it->s[TQ_PS_TIME], it->se[TQ_PS_TIME], &bad) : 0;
    ev->size = 0;
    *sid = 0;
    if (k & PK_SIZE) {
        ev->size = get_uleb(&it->s[TQ_PS_SIZE], it->se[TQ_PS_SIZE], &bad);
        uint64_t v = get_uleb(&it->s[TQ_PS_STACK], it->se[TQ_PS_STACK], &bad);
        *sid = v < TQ_CTX_STACKS ? c->stacks[v] : c->stack + unzigzag(v - TQ_CTX_STACKS);
        if (bad || *sid > UINT32_MAX)
            return -1;
        cx_stack_step(c, (uint32_t)*sid);
        if (it->repeat_ok && rep_tuple_kind(ev->kind, k)) {
            unsigned set = rep_set(ev->kind, ev->size, (uint32_t)*sid);
            rep_touch(c, set, rep_way(c, set, ev->kind, ev->size, (uint32_t)*sid), ev->kind, ev->size, (uint32_t)*sid);
        }
    }
    int hit = 0, old_hit = 0;
    unsigned hit_cls = 0, old_cls = 0;
    uint64_t age = 0;
    if (info) {
        ev->flags = TQ_EV_INFO;
        if (alloc && !*sid)
            return -1; /* an INFO allocation names its stack */
        if (!alloc) { /* an INFO free: 2 size + temp */
            ev->flags |= ev->size & 1 ? TQ_EV_TEMP : 0;
            ev->size >>= 1;
        }
    }
    unsigned cls = cx_class(ev->size);
    int slot = -1;
    if (info) {
        ev->addr = 0;
    } else if (a < CX_NEAR16) {
        if (!alloc)
            return -1;
        if (a == CX_NEXT) {
            ev->addr = c->next;
        } else {
            slot = (int)((c->freed_top[cls] - (a - CX_CLASS)) & (TQ_CTX_DEPTH - 1));
            ev->addr = c->freed[cls][slot];
        }
    } else if (a == CX_NEAR16 || a == CX_NEAR1) {
        uint64_t v = unzigzag(get_uleb(&it->s[TQ_PS_ADDR], it->se[TQ_PS_ADDR], &bad));
        ev->addr = (alloc ? c->next : c->miss) + (a == CX_NEAR16 ? v << 4 : v);
        c->miss = ev->addr;
    } else if (a == CX_FFAR || a >= CX_FAGE0) {
        if (!alloc)
            return -1;
        age = a == CX_FFAR ? CX_FAGES + get_uleb(&it->s[TQ_PS_ADDR], it->se[TQ_PS_ADDR], &bad) : a - CX_FAGE0;
        if (bad || age >= c->ffilled)
            return -1; /* a slot the context never filled */
        ev->addr = c->freed_ring[(c->fpos - 1 - (unsigned)age) & (TQ_CTX_FREED - 1)];
    } else {
        age = a == CX_FAR ? CX_AGES + get_uleb(&it->s[TQ_PS_ADDR], it->se[TQ_PS_ADDR], &bad) : a - CX_AGE0;
        if (bad || age >= c->filled)
            return -1; /* a slot the context never filled */
        unsigned i = (c->pos - 1 - (unsigned)age) & (TQ_CTX_RING - 1);
        ev->addr = c->ring[i];
        hit_cls = c->ring_cls[i];
        hit = 1;
    }
    ev->old_addr = 0;
    if (kind_has_old(ev->kind)) {
        uint64_t v = get_uleb(&it->s[TQ_PS_OLD], it->se[TQ_PS_OLD], &bad);
        if (v == CX_OLD_INFO && it->info_ok && alloc) {
            uint64_t w = get_uleb(&it->s[TQ_PS_OLD], it->se[TQ_PS_OLD], &bad);
            uint64_t os = *sid + unzigzag(get_uleb(&it->s[TQ_PS_OLD], it->se[TQ_PS_OLD], &bad));
            if (bad || !os || os > UINT32_MAX)
                return -1;
            ev->flags |= TQ_EV_OLD_INFO | (w & 1 ? TQ_EV_OLD_TEMP : 0);
            ev->old_addr = w >> 1;
            ev->old_stack = (uint32_t)os;
        } else if (v == CX_OLD_FREED && alloc) {
            ev->flags |= TQ_EV_OLD_FREED; /* old_addr 0: nothing more to release */
        } else if (v == CX_OLD_SAME && !info) {
            ev->old_addr = ev->addr;
        } else if (v == CX_OLD_DIFF) {
            ev->old_addr = ev->addr + unzigzag(get_uleb(&it->s[TQ_PS_OLD], it->se[TQ_PS_OLD], &bad));
        } else if (v & 1 && (v - 1) / 2 < c->filled) {
            unsigned i = (c->pos - 1 - (unsigned)((v - 1) / 2)) & (TQ_CTX_RING - 1);
            ev->old_addr = c->ring[i];
            old_cls = c->ring_cls[i];
            old_hit = 1;
        } else {
            return -1;
        }
    }
    if (bad)
        return -1;
    if (alloc && !info && slot < 0) /* the encoder looked it up as well */
        slot = cx_class_slot(c, cls, ev->addr);
    cx_after(c, ev, hit, hit_cls, old_hit, old_cls, slot, 0);
    return 0;
}

/* ---- STACK ---- */

size_t tq_rec_put_stack(uint8_t *buf, size_t cap, uint32_t id, const uint64_t *ips, uint32_t depth)
{
    struct put w = {buf, cap, 0, 0};
    if (depth > TQ_STACK_MAX_DEPTH)
        return 0;
    size_t at = rec_open(&w, TQ_REC_STACK);
    put_u32(&w, id);
    put_u32(&w, depth);
    for (uint32_t i = 0; i < depth; i++)
        put_u64(&w, ips[i]);
    return rec_close(&w, at);
}

int tq_rec_get_stack(const struct tq_rec *rec, struct tq_rec_stack *out)
{
    struct get r = rec_reader(rec);
    out->id = get_u32(&r);
    out->depth = get_u32(&r);
    if (r.bad || out->depth > TQ_STACK_MAX_DEPTH || out->depth > (r.len - r.pos) / 8)
        return -1;
    out->ips = r.p + r.pos;
    return 0;
}

uint64_t tq_rec_stack_ip(const struct tq_rec_stack *s, uint32_t i)
{
    struct get r = {s->ips, (size_t)s->depth * 8, (size_t)i * 8, 0};
    return get_u64(&r);
}

/* ---- STACK_DELTA ---- */

size_t tq_rec_put_stack_delta(uint8_t *buf, size_t cap, uint32_t id, const uint64_t *ips, uint32_t depth,
                              uint32_t prev_id, const uint64_t *prev, uint32_t prev_depth)
{
    struct put w = {buf, cap, 0, 0};
    if (depth > TQ_STACK_MAX_DEPTH || id == 0)
        return 0;
    /* the longest run of prev's frames that is this stack's outer part, with prev's `skip` outermost frames left
     * out (a stack cut to its innermost frames by the shim's depth limit shares them shifted) */
    uint32_t shared = 0, skip = 0;
    for (uint32_t k = 0; k < prev_depth && prev_depth - k > shared; k++) {
        uint32_t n = 0, top = prev_depth - k;
        while (n < depth && n < top && ips[depth - 1 - n] == prev[top - 1 - n])
            n++;
        if (n > shared)
            shared = n, skip = k;
    }
    uint32_t fresh = depth - shared;
    size_t at = rec_open(&w, TQ_REC_STACK_DELTA);
    put_uleb(&w, zigzag((uint64_t)((int64_t)id - (int64_t)prev_id)));
    put_uleb(&w, skip);
    put_uleb(&w, shared);
    put_uleb(&w, fresh);
    for (uint32_t i = fresh; i-- > 0;) /* outermost first, each against the frame just outside it */
        put_uleb(&w, zigzag(ips[i] - (i + 1 < depth ? ips[i + 1] : 0)));
    return rec_close(&w, at);
}

int tq_rec_get_stack_delta(const struct tq_rec *rec, uint32_t prev_id, const uint64_t *prev, uint32_t prev_depth,
                           uint32_t *id, uint64_t *ips, uint32_t *depth)
{
    const uint8_t *p = rec->data, *end = rec->data + rec->len;
    int bad = 0;
    uint64_t dz = get_uleb(&p, end, &bad);
    int64_t next = dz > (1ull << 34) ? -1 : (int64_t)prev_id + (int64_t)unzigzag(dz); /* ids differ by < 2^32 */
    uint64_t skip = get_uleb(&p, end, &bad), shared = get_uleb(&p, end, &bad), fresh = get_uleb(&p, end, &bad);
    if (bad || next < 1 || next > (int64_t)UINT32_MAX || skip > prev_depth || shared > prev_depth - skip ||
        fresh > TQ_STACK_MAX_DEPTH || shared + fresh > TQ_STACK_MAX_DEPTH)
        return -1;
    uint32_t n = (uint32_t)(shared + fresh);
    memcpy(ips + fresh, prev + (prev_depth - skip - shared), (size_t)shared * sizeof *ips);
    for (uint32_t i = (uint32_t)fresh; i-- > 0;) {
        ips[i] = unzigzag(get_uleb(&p, end, &bad)) + (i + 1 < n ? ips[i + 1] : 0);
        if (bad)
            return -1;
    }
    *id = (uint32_t)next;
    *depth = n;
    return 0;
}

/* ---- MODULE ---- */

static const struct field module_fields[] = {
    FIELD(struct tq_rec_module, generation), FIELD(struct tq_rec_module, perms), FIELD(struct tq_rec_module, start),
    FIELD(struct tq_rec_module, end),        FIELD(struct tq_rec_module, offset),
};

size_t tq_rec_put_module(uint8_t *buf, size_t cap, const struct tq_rec_module *m, const char *path)
{
    struct put w = {buf, cap, 0, 0};
    size_t at = rec_open(&w, TQ_REC_MODULE);
    put_fields(&w, m, module_fields, NFIELDS(module_fields));
    put_str(&w, path);
    return rec_close(&w, at);
}

int tq_rec_get_module(const struct tq_rec *rec, struct tq_rec_module *out)
{
    struct get r = rec_reader(rec);
    get_fields(&r, out, module_fields, NFIELDS(module_fields));
    out->path = get_str(&r, &out->path_len);
    if (r.bad || out->end < out->start)
        return -1;
    return 0;
}

/* ---- AGGREGATE ---- */

#define AGG_ENTRY_SIZE 32u /* u32 stack_id, u32 reserved, u64 calls, u64 bytes, u64 peak_bytes */

size_t tq_rec_put_aggregate(uint8_t *buf, size_t cap, uint64_t heap_peak, uint64_t peak_t_ns,
                            const struct tq_agg_entry *e, uint32_t n)
{
    struct put w = {buf, cap, 0, 0};
    size_t at = rec_open(&w, TQ_REC_AGGREGATE);
    put_u32(&w, n);
    put_u32(&w, 0);
    put_u64(&w, heap_peak);
    put_u64(&w, peak_t_ns);
    for (uint32_t i = 0; i < n; i++) {
        put_u32(&w, e[i].stack_id);
        put_u32(&w, 0);
        put_u64(&w, e[i].calls);
        put_u64(&w, e[i].bytes);
        put_u64(&w, e[i].peak_bytes);
    }
    return rec_close(&w, at);
}

int tq_rec_get_aggregate(const struct tq_rec *rec, struct tq_rec_aggregate *out)
{
    struct get r = rec_reader(rec);
    out->count = get_u32(&r);
    get_u32(&r);
    out->heap_peak = get_u64(&r);
    out->peak_t_ns = get_u64(&r);
    if (r.bad || out->count > (r.len - r.pos) / AGG_ENTRY_SIZE)
        return -1;
    out->entries = r.p + r.pos;
    return 0;
}

struct tq_agg_entry tq_rec_aggregate_entry(const struct tq_rec_aggregate *a, uint32_t i)
{
    struct get r = {.p = a->entries + (size_t)i * AGG_ENTRY_SIZE, .len = AGG_ENTRY_SIZE, .pos = 0, .bad = 0};
    struct tq_agg_entry e;
    e.stack_id = get_u32(&r);
    get_u32(&r);
    e.calls = get_u64(&r);
    e.bytes = get_u64(&r);
    e.peak_bytes = get_u64(&r);
    return e;
}

/* ---- PYCODE ---- */

size_t tq_rec_put_pycode(uint8_t *buf, size_t cap, const struct tq_rec_pycode *c)
{
    struct put w = {buf, cap, 0, 0};
    size_t at = rec_open(&w, TQ_REC_PYCODE);
    put_u32(&w, c->id);
    put_u32(&w, c->python);
    put_u32(&w, (uint32_t)c->first_line);
    put_u32(&w, c->file_len);
    put_bytes(&w, c->file, c->file_len);
    put_u32(&w, c->name_len);
    put_bytes(&w, c->name, c->name_len);
    put_u32(&w, c->linetable_len);
    put_bytes(&w, c->linetable, c->linetable_len);
    return rec_close(&w, at);
}

int tq_rec_get_pycode(const struct tq_rec *rec, struct tq_rec_pycode *out)
{
    struct get r = rec_reader(rec);
    out->id = get_u32(&r);
    out->python = get_u32(&r);
    out->first_line = (int32_t)get_u32(&r);
    out->file = get_str(&r, &out->file_len);
    out->name = get_str(&r, &out->name_len);
    out->linetable = (const uint8_t *)get_str(&r, &out->linetable_len);
    if (r.bad)
        return -1;
    return 0;
}
