/* reader.c - streaming, bounds-checked trace reader: zstd frames in, records out (see reader.h, FORMAT.md). */
#ifndef TQ_SHIM /* the shim only writes; keep the reader (and its use of common/) out of libtraceq.so */
#include "reader.h"
#include "../common/alloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#define OUT_START (256u << 10)

struct tq_trace_reader {
    FILE *f;                 /* NULL for an in-memory trace */
    const uint8_t *mem;      /* in-memory source */
    size_t mem_len;
    ZSTD_DCtx *dctx;
    uint8_t *in;             /* file input buffer */
    size_t in_cap;
    ZSTD_inBuffer zin;
    uint8_t *out;            /* decompressed bytes not yet returned: out[pos..len) */
    size_t out_cap, pos, len;
    bool in_frame;           /* zstd is inside a frame (its last return was not 0) */
    bool eof, done, truncated;
    tq_status failed;        /* sticky failure */
    struct tq_err failed_err;
    unsigned minor;
    uint8_t *grp;            /* the PACKED_EVENTS records of the last PACKED_GROUP: grp[grp_pos..grp_len) are next */
    size_t grp_cap, grp_len, grp_pos;
    struct tq_rec_sample sample;  /* the last SAMPLE read: SAMPLE_DELTA records are relative to it */
    uint8_t sample_rec[TQ_REC_HEADER_SIZE + 128]; /* a SAMPLE_DELTA turned back into a SAMPLE */
    uint64_t stack[2][TQ_STACK_MAX_DEPTH]; /* the last stack read (stack[stack_cur]): STACK_DELTA is relative to it */
    uint32_t stack_id, stack_depth;
    unsigned stack_cur;
    uint8_t stack_rec[TQ_REC_HEADER_SIZE + 8 + 8 * TQ_STACK_MAX_DEPTH]; /* a STACK_DELTA turned back into a STACK */
    uint64_t counts[TQ_REC_SAMPLE_PRED + 1];
    uint64_t records;
};

static tq_status reader_fail(struct tq_trace_reader *r, struct tq_err *err, tq_status st, const char *fmt,
                             const char *detail)
{
    r->failed = st;
    tq_fail(&r->failed_err, st, fmt, detail, (unsigned long long)r->counts[TQ_REC_SAMPLE]);
    if (err)
        *err = r->failed_err;
    return st;
}

/* Refill zin from the file; sets eof when nothing is left. */
static tq_status reader_fill(struct tq_trace_reader *r, struct tq_err *err)
{
    if (!r->f) {
        r->eof = true;
        return TQ_OK;
    }
    size_t n = fread(r->in, 1, r->in_cap, r->f);
    if (n == 0) {
        if (ferror(r->f))
            return reader_fail(r, err, TQ_ERR_IO, "read error: %s (after %llu samples)", strerror(errno));
        r->eof = true;
    }
    r->zin = (ZSTD_inBuffer){r->in, n, 0};
    return TQ_OK;
}

/* Make room for `need` bytes in out: drop what was returned and grow if one record is larger. */
static tq_status reader_make_room(struct tq_trace_reader *r, size_t need, struct tq_err *err)
{
    memmove(r->out, r->out + r->pos, r->len - r->pos);
    r->len -= r->pos;
    r->pos = 0;
    if (need <= r->out_cap)
        return TQ_OK;
    uint8_t *grown = tq_realloc(r->out, need);
    if (!grown)
        return reader_fail(r, err, TQ_ERR_NOMEM, "out of memory for a %s record (after %llu samples)", "large");
    r->out = grown;
    r->out_cap = need;
    return TQ_OK;
}

/* Decompress until out holds `need` bytes past pos, or the input ends. */
static tq_status reader_want(struct tq_trace_reader *r, size_t need, struct tq_err *err)
{
    if (r->len - r->pos >= need)
        return TQ_OK;
    TQ_TRY(reader_make_room(r, need, err));
    while (r->len < need) {
        if (r->zin.pos == r->zin.size) {
            if (r->eof)
                return TQ_OK;
            TQ_TRY(reader_fill(r, err));
            if (r->eof)
                return TQ_OK;
        }
        ZSTD_outBuffer zout = {r->out, r->out_cap, r->len};
        size_t ret = ZSTD_decompressStream(r->dctx, &zout, &r->zin);
        if (ZSTD_isError(ret))
            return reader_fail(r, err, TQ_ERR_FORMAT, "corrupt trace: zstd says '%s' (after %llu samples)",
                               ZSTD_getErrorName(ret));
        r->len = zout.pos;
        r->in_frame = ret != 0;
    }
    return TQ_OK;
}

static tq_status reader_init(struct tq_trace_reader *r, struct tq_err *err)
{
    r->dctx = ZSTD_createDCtx();
    r->out = tq_malloc(OUT_START);
    r->out_cap = OUT_START;
    if (r->f) {
        r->in_cap = ZSTD_DStreamInSize();
        r->in = tq_malloc(r->in_cap);
    }
    if (!r->dctx || !r->out || (r->f && !r->in))
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory opening a trace");
    /* A damaged window size must not make the reader allocate gigabytes (FORMAT.md: window <= 8 MiB). */
    ZSTD_DCtx_setParameter(r->dctx, ZSTD_d_windowLogMax, 23);
    uint8_t pre[TQ_TRACE_PREAMBLE_SIZE];
    size_t got;
    if (r->f) {
        got = fread(pre, 1, sizeof pre, r->f);
        r->zin = (ZSTD_inBuffer){r->in, 0, 0};
    } else {
        got = r->mem_len < sizeof pre ? r->mem_len : sizeof pre;
        memcpy(pre, r->mem, got);
        r->zin = (ZSTD_inBuffer){r->mem, r->mem_len, got};
    }
    if (got == 0)
        return tq_fail(err, TQ_ERR_FORMAT, "empty file, not a traceq trace");
    unsigned major = 0;
    int chk = tq_trace_check_preamble(pre, got, &major, &r->minor);
    if (chk == -2)
        return tq_fail(err, TQ_ERR_FORMAT, "trace format version %u is not supported (this reader: %u)", major,
                       TQ_TRACE_VERSION_MAJOR);
    if (chk < 0 && got < sizeof pre && memcmp(pre, "\x5e\x2a\x4d\x18", got < 4 ? got : 4) == 0)
        return tq_fail(err, TQ_ERR_TRUNCATED, "truncated trace: only %zu bytes, the preamble alone is %u", got,
                       TQ_TRACE_PREAMBLE_SIZE);
    if (chk < 0)
        return tq_fail(err, TQ_ERR_FORMAT, "not a traceq trace (bad magic)");
    return TQ_OK;
}

static tq_status reader_start(struct tq_trace_reader *r, struct tq_trace_reader **out, struct tq_err *err)
{
    tq_status st = reader_init(r, err);
    if (st) {
        tq_trace_close(r);
        return st;
    }
    *out = r;
    return TQ_OK;
}

tq_status tq_trace_open(const char *path, struct tq_trace_reader **out, struct tq_err *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return tq_fail_errno(err, TQ_ERR_IO, "cannot open trace '%s'", path);
    struct tq_trace_reader *r = tq_calloc(1, sizeof *r);
    if (!r) {
        fclose(f);
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory opening '%s'", path);
    }
    r->f = f;
    tq_status st = reader_start(r, out, err);
    if (st && err) {
        char msg[sizeof err->msg];
        memcpy(msg, err->msg, sizeof msg);
        tq_fail(err, st, "%.200s: %.300s", path, msg);
    }
    return st;
}

tq_status tq_trace_open_mem(const void *buf, size_t len, struct tq_trace_reader **out, struct tq_err *err)
{
    *out = NULL;
    struct tq_trace_reader *r = tq_calloc(1, sizeof *r);
    if (!r)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory opening a trace");
    r->mem = buf;
    r->mem_len = len;
    return reader_start(r, out, err);
}

static tq_status reader_end(struct tq_trace_reader *r, bool *done)
{
    /* Leftover bytes or an unfinished frame mean the writer was cut off (FORMAT.md "Crash safety"). */
    r->truncated = r->in_frame || r->len > r->pos;
    r->done = true;
    *done = true;
    return TQ_OK;
}

/* Return the next record of the group being expanded (grp_pos < grp_len); the codec built them, whole. */
static tq_status group_next(struct tq_trace_reader *r, struct tq_rec *rec)
{
    const uint8_t *h = r->grp + r->grp_pos;
    rec->type = (uint16_t)(h[0] | h[1] << 8);
    rec->len = (uint32_t)h[4] | (uint32_t)h[5] << 8 | (uint32_t)h[6] << 16 | (uint32_t)h[7] << 24;
    rec->data = h + TQ_REC_HEADER_SIZE;
    r->grp_pos += TQ_REC_HEADER_SIZE + (size_t)rec->len;
    r->records++;
    r->counts[rec->type]++; /* PACKED_EVENTS, CTX_EVENTS, INFO_EVENTS or REPEAT_EVENTS */
    return TQ_OK;
}

/* A PACKED_GROUP (or a CTX_EVENTS group) just read into *rec: expand it into its PACKED_EVENTS records (FORMAT.md
 * 16; CTX_EVENTS records of one record each, FORMAT.md 18); readers see those. */
static tq_status group_expand(struct tq_trace_reader *r, const struct tq_rec *rec, struct tq_err *err)
{
    size_t need;
    uint32_t n;
    int (*expand)(const struct tq_rec *, uint8_t *, size_t, size_t *, uint32_t *) =
        TQ_REC_IS_CTX(rec->type) ? tq_rec_get_ctx_group : tq_rec_get_packed_group;
    const char *name = rec->type == TQ_REC_REPEAT_EVENTS ? "REPEAT_EVENTS"
                       : rec->type == TQ_REC_INFO_EVENTS ? "INFO_EVENTS"
                       : rec->type == TQ_REC_CTX_EVENTS ? "CTX_EVENTS"
                                                        : "PACKED_GROUP";
    if (expand(rec, r->grp, r->grp_cap, &need, &n))
        return reader_fail(r, err, TQ_ERR_FORMAT, "corrupt trace: a %s record does not decode (after %llu samples)",
                           name);
    if (need > r->grp_cap) {
        uint8_t *grown = tq_realloc(r->grp, need);
        if (!grown)
            return reader_fail(r, err, TQ_ERR_NOMEM, "out of memory for a %s record (after %llu samples)", "group");
        r->grp = grown;
        r->grp_cap = need;
        if (expand(rec, r->grp, r->grp_cap, &need, &n))
            return reader_fail(r, err, TQ_ERR_FORMAT, "corrupt trace: a %s record does not decode (after %llu "
                               "samples)", name);
    }
    r->grp_len = need;
    r->grp_pos = 0;
    return TQ_OK;
}

/* A SAMPLE_DELTA or SAMPLE_PRED just read into *rec: make *rec the SAMPLE it stands for (FORMAT.md 17, 22); readers
 * see that. */
static tq_status sample_from_delta(struct tq_trace_reader *r, struct tq_rec *rec, struct tq_err *err)
{
    int pred = rec->type == TQ_REC_SAMPLE_PRED;
    if ((pred ? tq_rec_get_sample_pred : tq_rec_get_sample_delta)(rec, &r->sample, &r->sample))
        return reader_fail(r, err, TQ_ERR_FORMAT, "corrupt trace: a %s record does not decode (after %llu samples)",
                           pred ? "SAMPLE_PRED" : "SAMPLE_DELTA");
    size_t n = tq_rec_put_sample(r->sample_rec, sizeof r->sample_rec, &r->sample);
    rec->type = TQ_REC_SAMPLE;
    rec->len = (uint32_t)(n - TQ_REC_HEADER_SIZE);
    rec->data = r->sample_rec + TQ_REC_HEADER_SIZE;
    return TQ_OK;
}

/* A STACK_DELTA just read into *rec: make *rec the STACK it stands for (FORMAT.md 19); readers see that. A STACK
 * read is remembered too: the next STACK_DELTA may be relative to it. */
static tq_status stack_from_delta(struct tq_trace_reader *r, struct tq_rec *rec, struct tq_err *err)
{
    unsigned next = !r->stack_cur;
    uint32_t id, depth;
    if (rec->type == TQ_REC_STACK) {
        struct tq_rec_stack s;
        if (tq_rec_get_stack(rec, &s)) /* its readers say it is bad; the last good stack stays */
            return TQ_OK;
        for (uint32_t i = 0; i < s.depth; i++)
            r->stack[next][i] = tq_rec_stack_ip(&s, i);
        id = s.id;
        depth = s.depth;
    } else {
        if (tq_rec_get_stack_delta(rec, r->stack_id, r->stack[r->stack_cur], r->stack_depth, &id, r->stack[next],
                                   &depth))
            return reader_fail(r, err, TQ_ERR_FORMAT, "corrupt trace: a %s record does not decode (after %llu "
                               "samples)", "STACK_DELTA");
        size_t n = tq_rec_put_stack(r->stack_rec, sizeof r->stack_rec, id, r->stack[next], depth);
        rec->type = TQ_REC_STACK;
        rec->len = (uint32_t)(n - TQ_REC_HEADER_SIZE);
        rec->data = r->stack_rec + TQ_REC_HEADER_SIZE;
    }
    r->stack_cur = next;
    r->stack_id = id;
    r->stack_depth = depth;
    return TQ_OK;
}

tq_status tq_trace_next(struct tq_trace_reader *r, struct tq_rec *rec, bool *done, struct tq_err *err)
{
    *done = false;
    if (!r->failed && r->grp_pos < r->grp_len)
        return group_next(r, rec);
    if (r->failed) {
        if (err)
            *err = r->failed_err;
        return r->failed;
    }
    if (r->done) {
        *done = true;
        return TQ_OK;
    }
    TQ_TRY(reader_want(r, TQ_REC_HEADER_SIZE, err));
    if (r->len - r->pos < TQ_REC_HEADER_SIZE)
        return reader_end(r, done);
    const uint8_t *h = r->out + r->pos;
    uint16_t type = (uint16_t)(h[0] | h[1] << 8);
    uint32_t len = (uint32_t)h[4] | (uint32_t)h[5] << 8 | (uint32_t)h[6] << 16 | (uint32_t)h[7] << 24;
    if (type == 0)
        return reader_fail(r, err, TQ_ERR_FORMAT, "corrupt trace: record of type %s (after %llu samples)", "0");
    if (len > TQ_REC_MAX_PAYLOAD)
        return reader_fail(r, err, TQ_ERR_FORMAT, "corrupt trace: record %s over 16 MiB (after %llu samples)",
                           "length");
    if (r->records == 0 && type != TQ_REC_PROCESS)
        return reader_fail(r, err, TQ_ERR_FORMAT, "corrupt trace: first record is %s PROCESS (after %llu samples)",
                           "not");
    TQ_TRY(reader_want(r, TQ_REC_HEADER_SIZE + (size_t)len, err));
    if (r->len - r->pos < TQ_REC_HEADER_SIZE + (size_t)len)
        return reader_end(r, done);
    rec->type = type;
    rec->len = len;
    rec->data = r->out + r->pos + TQ_REC_HEADER_SIZE;
    r->pos += TQ_REC_HEADER_SIZE + (size_t)len;
    if ((type == TQ_REC_PACKED_GROUP || (TQ_REC_IS_CTX(type) && (len == 0 || rec->data[0] != 1))) &&
        r->records > 0) { /* a CTX_EVENTS of one record (uleb 1 first) is returned as it is */
        TQ_TRY(group_expand(r, rec, err));
        return group_next(r, rec); /* its first record (a group holds at least one) */
    }
    if (type == TQ_REC_SAMPLE_DELTA || type == TQ_REC_SAMPLE_PRED)
        TQ_TRY(sample_from_delta(r, rec, err));
    else if (type == TQ_REC_STACK_DELTA || type == TQ_REC_STACK)
        TQ_TRY(stack_from_delta(r, rec, err));
    else if (type == TQ_REC_SAMPLE) {
        struct tq_rec_sample s;
        if (tq_rec_get_sample(rec, &s) == 0) /* a corrupt one leaves the last good one (its readers say it is bad) */
            r->sample = s;
    }
    r->records++;
    if (rec->type < sizeof r->counts / sizeof r->counts[0])
        r->counts[rec->type]++;
    return TQ_OK;
}

bool tq_trace_truncated(const struct tq_trace_reader *r)
{
    return r->truncated;
}

uint64_t tq_trace_count(const struct tq_trace_reader *r, unsigned type)
{
    return type < sizeof r->counts / sizeof r->counts[0] ? r->counts[type] : 0;
}

unsigned tq_trace_minor_version(const struct tq_trace_reader *r)
{
    return r->minor;
}

void tq_trace_close(struct tq_trace_reader *r)
{
    if (!r)
        return;
    if (r->f)
        fclose(r->f);
    ZSTD_freeDCtx(r->dctx);
    free(r->in);
    free(r->out);
    free(r->grp);
    free(r);
}
#endif
