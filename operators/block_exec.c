/* block_exec.c - run an operator over one output block, streaming inline slabs from a source to a sink. */
#include "block_exec.h"
#include "../common/alloc.h"
#include "parallel.h"
#include "scratch.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define HUGE_PAGE ((size_t)2 << 20)

/* The bytes slab_alloc asks the allocator for: a buffer of 2 MiB or more is rounded up to whole huge pages. */
static size_t slab_alloc_bytes(size_t floats)
{
    size_t bytes = floats * sizeof(float);
    return bytes < HUGE_PAGE ? (bytes ? bytes : 1) : (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
}

/* Slab buffers are large and touched once per slab: back them with transparent huge pages where the kernel offers
 * them on request (THP "madvise" mode), which cuts the first-touch page faults by 512x. NULL without memory. */
static float *slab_alloc(size_t floats)
{
    size_t bytes = slab_alloc_bytes(floats);
    if (bytes < HUGE_PAGE)
        return tq_malloc(bytes);
    void *p = NULL;
    if (tq_posix_memalign(&p, HUGE_PAGE, bytes))
        return NULL;
    madvise(p, bytes, MADV_HUGEPAGE); /* advice only: failure just means 4 KiB pages */
    return p;
}

void tq_op_source_reader(struct tq_op_source *s, tq_vol_reader *r)
{
    *s = (struct tq_op_source){.reader = r};
    tq_vol_reader_shape(r, s->shape);
}

void tq_op_source_mem(struct tq_op_source *s, const size_t shape[3], const float *vol)
{
    *s = (struct tq_op_source){.shape = {shape[0], shape[1], shape[2]}, .mem = vol};
}

void tq_op_source_synth(struct tq_op_source *s, const size_t shape[3], uint64_t seed)
{
    *s = (struct tq_op_source){.shape = {shape[0], shape[1], shape[2]}, .synthetic = 1, .seed = seed};
}

void tq_op_sink_writer(struct tq_op_sink *k, tq_vol_writer *w)
{
    *k = (struct tq_op_sink){.writer = w};
}

void tq_op_sink_mem(struct tq_op_sink *k, const size_t shape[3], float *out)
{
    *k = (struct tq_op_sink){.shape = {shape[0], shape[1], shape[2]}, .mem = out};
}

/* Copy `box` of a C-order volume of shape n out of it into a packed buffer. Can't fail. */
static void box_gather(const size_t n[3], const float *vol, const struct tq_box *box, float *buf)
{
    size_t len2 = tq_box_len(box, 2);
    for (size_t i = box->lo[0]; i < box->hi[0]; i++)
        for (size_t j = box->lo[1]; j < box->hi[1]; j++, buf += len2)
            memcpy(buf, vol + (i * n[1] + j) * n[2] + box->lo[2], len2 * sizeof *buf);
}

/* Copy a packed buffer into `box` of a C-order volume of shape n. Can't fail. */
static void box_scatter(const size_t n[3], float *vol, const struct tq_box *box, const float *buf)
{
    size_t len2 = tq_box_len(box, 2);
    for (size_t i = box->lo[0]; i < box->hi[0]; i++)
        for (size_t j = box->lo[1]; j < box->hi[1]; j++, buf += len2)
            memcpy(vol + (i * n[1] + j) * n[2] + box->lo[2], buf, len2 * sizeof *buf);
}

static tq_status source_read(const struct tq_op_source *s, const struct tq_box *box, float *dst, struct tq_err *err)
{
    if (s->reader)
        return tq_vol_read_box(s->reader, box, dst, err);
    if (s->synthetic)
        return tq_synth_box(s->shape, s->seed, box, dst, err);
    box_gather(s->shape, s->mem, box, dst);
    return TQ_OK;
}

static tq_status sink_write(const struct tq_op_sink *k, const struct tq_box *box, const float *src,
                            struct tq_err *err)
{
    if (k->writer)
        return tq_vol_write_box(k->writer, box, src, err);
    box_scatter(k->shape, k->mem, box, src);
    return TQ_OK;
}

/* The output inlines of the current slab already written to the sink (by its kernel's workers, inlines_done). */
struct slab_writer {
    const struct tq_op_sink *dst;
    unsigned char *written; /* written[i]: inline out_box.lo[0] + i; each set by the one worker that reported it */
};

/* tq_block_io.inlines_done: write output inlines [lo, hi) of the slab now, from the worker that computed them. */
static tq_status slab_inlines_done(const struct tq_block_io *io, size_t lo, size_t hi, struct tq_err *err)
{
    struct slab_writer *sw = io->done_ctx;
    if (lo >= hi || lo < io->out_box.lo[0] || hi > io->out_box.hi[0])
        return tq_fail(err, TQ_ERR_USAGE, "inlines [%zu,%zu) reported done lie outside the slab [%zu,%zu)", lo, hi,
                       io->out_box.lo[0], io->out_box.hi[0]);
    struct tq_box b = io->out_box;
    b.lo[0] = lo;
    b.hi[0] = hi;
    size_t first = lo - io->out_box.lo[0];
    TQ_TRY(sink_write(sw->dst, &b, io->out + first * tq_box_len(&b, 1) * tq_box_len(&b, 2), err));
    memset(sw->written + first, 1, hi - lo);
    return TQ_OK;
}

/* tq_block_io.put_inline: write output inline x of the slab now from the worker's own plane (no output slab). */
static tq_status slab_put_inline(const struct tq_block_io *io, size_t x, const float *plane, struct tq_err *err)
{
    struct slab_writer *sw = io->done_ctx;
    if (x < io->out_box.lo[0] || x >= io->out_box.hi[0])
        return tq_fail(err, TQ_ERR_USAGE, "inline %zu handed over lies outside the slab [%zu,%zu)", x,
                       io->out_box.lo[0], io->out_box.hi[0]);
    struct tq_box b = io->out_box;
    b.lo[0] = x;
    b.hi[0] = x + 1;
    TQ_TRY(sink_write(sw->dst, &b, plane, err));
    sw->written[x - io->out_box.lo[0]] = 1;
    return TQ_OK;
}

/* After compute: write the slab's inlines its kernel did not report (all of them for a kernel that reports none),
 * one run of consecutive inlines at a time, and clear the marks for the next slab. */
static tq_status slab_write_rest(struct slab_writer *sw, const struct tq_block_io *io, struct tq_err *err)
{
    size_t n = tq_box_len(&io->out_box, 0), plane = tq_box_len(&io->out_box, 1) * tq_box_len(&io->out_box, 2);
    tq_status st = TQ_OK;
    for (size_t i = 0; i < n && !st;) {
        if (sw->written[i]) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && !sw->written[j])
            j++;
        if (!io->out) { /* put_inline is the only way out of a kernel without an output slab */
            st = tq_fail(err, TQ_ERR_USAGE, "inlines [%zu,%zu) were never handed over", io->out_box.lo[0] + i,
                         io->out_box.lo[0] + j);
            break;
        }
        struct tq_box b = io->out_box;
        b.lo[0] = io->out_box.lo[0] + i;
        b.hi[0] = io->out_box.lo[0] + j;
        st = sink_write(sw->dst, &b, io->out + i * plane, err);
        i = j;
    }
    memset(sw->written, 0, n);
    return st;
}

/* One read of a slab's input cut into `pieces` runs of inlines, each read by its own worker. */
struct slab_read {
    const struct tq_op_source *src;
    struct tq_box box;
    float *dst;
    size_t plane, pieces;
};

static tq_status slab_read_piece(void *ctx, size_t item, int worker, struct tq_err *err)
{
    (void)worker;
    const struct slab_read *r = ctx;
    size_t n = tq_box_len(&r->box, 0), lo = n * item / r->pieces, hi = n * (item + 1) / r->pieces;
    if (lo == hi)
        return TQ_OK;
    struct tq_box b = r->box;
    b.lo[0] = r->box.lo[0] + lo;
    b.hi[0] = r->box.lo[0] + hi;
    return source_read(r->src, &b, r->dst + lo * r->plane, err);
}

/* Read `box` into dst on `threads` threads, each a run of inlines: the read (the copy out of the page cache, and the
 * first touch of the slab buffer) is otherwise the one serial step left between two slabs' computes. Every source
 * may be read from several threads at once (volume.h, tq_synth_box). */
static tq_status source_read_parallel(const struct tq_op_source *src, const struct tq_box *box, float *dst,
                                      int threads, struct tq_err *err)
{
    struct slab_read r = {.src = src, .box = *box, .dst = dst, .plane = tq_box_len(box, 1) * tq_box_len(box, 2)};
    int nw = tq_par_workers(threads, tq_box_len(box, 0));
    r.pieces = (size_t)nw;
    return tq_par_for(nw, r.pieces, slab_read_piece, &r, err);
}

/* A copy of `planes` planes from src to dst (disjoint) cut into `pieces` runs of planes, one per worker. */
struct slab_copy {
    float *dst;
    const float *src;
    size_t plane, planes, pieces;
};

static tq_status slab_copy_piece(void *ctx, size_t item, int worker, struct tq_err *err)
{
    (void)worker;
    (void)err;
    const struct slab_copy *k = ctx;
    size_t lo = k->planes * item / k->pieces, hi = k->planes * (item + 1) / k->pieces;
    memcpy(k->dst + lo * k->plane, k->src + lo * k->plane, (hi - lo) * k->plane * sizeof(float));
    return TQ_OK;
}

/* Move `planes` planes from src down to dst (dst < src) within one buffer: on `threads` threads when the two
 * ranges do not overlap (the slab advanced by at least the planes kept: 102 inlines against the Gaussian's 24 at
 * 400^3), else one memmove. */
static void slab_keep(float *dst, const float *src, size_t planes, size_t plane, int threads)
{
    if ((size_t)(src - dst) < planes * plane) {
        memmove(dst, src, planes * plane * sizeof(float));
        return;
    }
    struct slab_copy k = {.dst = dst, .src = src, .plane = plane, .planes = planes};
    int nw = tq_par_workers(threads, planes);
    k.pieces = (size_t)nw;
    if (tq_par_for(nw, k.pieces, slab_copy_piece, &k, NULL)) /* only without threads: copy here then */
        memcpy(dst, src, planes * plane * sizeof(float));
}

/* Bring the input of the next slab into `in`: keep the planes it shares with the previous slab's input `prev`
 * (slabs advance along axis 0, so the shared planes are a suffix of prev and a prefix of next), read the rest on
 * `threads` threads. */
static tq_status slab_input(const struct tq_op_source *src, const struct tq_box *prev, int have_prev,
                            const struct tq_box *next, float *in, int threads, struct tq_err *err)
{
    size_t plane = tq_box_len(next, 1) * tq_box_len(next, 2);
    size_t keep_lo = next->lo[0], keep_hi = next->lo[0];
    if (have_prev && prev->hi[0] > next->lo[0] && prev->lo[0] <= next->lo[0]) {
        keep_hi = prev->hi[0] < next->hi[0] ? prev->hi[0] : next->hi[0];
        slab_keep(in, in + (next->lo[0] - prev->lo[0]) * plane, keep_hi - keep_lo, plane, threads);
    }
    if (keep_hi >= next->hi[0])
        return TQ_OK;
    struct tq_box rest = *next;
    rest.lo[0] = keep_hi;
    return source_read_parallel(src, &rest, in + (keep_hi - next->lo[0]) * plane, threads, err);
}

static size_t slab_planes(const struct tq_op_params *p, const struct tq_box *out_box)
{
    size_t plane = tq_box_len(out_box, 1) * tq_box_len(out_box, 2) * sizeof(float);
    size_t t = (p->slab_bytes ? p->slab_bytes : TQ_OP_SLAB_BYTES) / plane;
    size_t min = p->slab_bytes ? 1 : 4 * (size_t)tq_op_threads(p);
    t = t < min ? min : t;
    return t < tq_box_len(out_box, 0) ? t : tq_box_len(out_box, 0);
}

/* Inlines per slab (*t) and the floats of the input and output slab buffers of tq_op_run over out_box. */
static void slab_sizes(const struct tq_op *op, const struct tq_op_params *p, const size_t src_shape[3],
                       const struct tq_box *out_box, size_t *t, size_t *in_floats, size_t *out_floats)
{
    struct tq_box in_box;
    size_t halo[3];
    *t = slab_planes(p, out_box);
    tq_op_input_box(op, p, src_shape, out_box, &in_box);
    op->halo(p, halo);
    /* A slab's input is at most t + 2 * halo inlines (fewer where clamped at a face) of the block's input rows. */
    size_t planes = halo[0] == TQ_HALO_WHOLE || *t + 2 * halo[0] > src_shape[0] ? src_shape[0] : *t + 2 * halo[0];
    *in_floats = planes * tq_box_len(&in_box, 1) * tq_box_len(&in_box, 2);
    *out_floats = op->put_inlines ? 0 : *t * tq_box_len(out_box, 1) * tq_box_len(out_box, 2);
}

uint64_t tq_op_slab_buffer_bytes(const struct tq_op *op, const struct tq_op_params *p, const size_t shape[3])
{
    size_t out_shape[3], halo[3];
    if (tq_op_params_check(op, p, NULL) || tq_op_output_shape(op, p, shape, out_shape, NULL))
        return 0;
    for (int a = 0; a < 3; a++)
        if (!out_shape[a])
            return 0;
    struct tq_box whole = {{0, 0, 0}, {out_shape[0], out_shape[1], out_shape[2]}}, in_box;
    tq_op_input_box(op, p, shape, &whole, &in_box);
    op->halo(p, halo);
    /* slab_sizes with the slab's inline count t not rounded down: the exact sizes step down by up to one plane
     * where t changes, this envelope does not */
    double plane_out = (double)out_shape[1] * (double)out_shape[2];
    double plane_in = (double)tq_box_len(&in_box, 1) * (double)tq_box_len(&in_box, 2);
    double cap = (double)(p->slab_bytes ? p->slab_bytes : TQ_OP_SLAB_BYTES) / sizeof(float);
    double min = p->slab_bytes ? 1 : 4.0 * tq_op_threads(p), t = fmax(cap / plane_out, min);
    double out_planes = fmin((double)out_shape[0], t);
    double in_planes = halo[0] == TQ_HALO_WHOLE ? (double)shape[0] : fmin((double)shape[0], t + 2.0 * halo[0]);
    return (uint64_t)slab_alloc_bytes((size_t)ceil(in_planes * plane_in)) +
           (op->put_inlines ? 0 : slab_alloc_bytes((size_t)ceil(out_planes * plane_out)));
}

tq_status tq_op_run(const struct tq_op *op, const struct tq_op_params *p, const struct tq_op_source *src,
                    const struct tq_op_sink *dst, const struct tq_box *out_box, struct tq_err *err)
{
    size_t out_shape[3];
    TQ_TRY(tq_op_params_check(op, p, err));
    TQ_TRY(tq_op_output_shape(op, p, src->shape, out_shape, err));
    for (int a = 0; a < 3; a++)
        if (out_box->lo[a] >= out_box->hi[a] || out_box->hi[a] > out_shape[a])
            return tq_fail(err, TQ_ERR_RANGE, "block [%zu,%zu) on axis %d is empty or outside the output (size %zu)",
                           out_box->lo[a], out_box->hi[a], a, out_shape[a]);
    size_t t, in_cap, out_cap;
    struct tq_block_io io = {.vol_shape = {src->shape[0], src->shape[1], src->shape[2]}, .out_box = *out_box};
    slab_sizes(op, p, src->shape, out_box, &t, &in_cap, &out_cap);
    /* an operator that hands over its output inline by inline (put_inlines) gets no output slab */
    float *in = slab_alloc(in_cap), *out = out_cap ? slab_alloc(out_cap) : NULL;
    struct slab_writer sw = {.dst = dst, .written = tq_calloc(t, 1)};
    tq_status st = in && (out || !out_cap) && sw.written
                       ? TQ_OK
                       : tq_fail(err, TQ_ERR_NOMEM, "%s: out of memory for a slab of %zu inlines", op->name, t);
    struct tq_box prev = {{0}, {0}};
    struct tq_op_scratch scratch = {0};
    io.scratch = &scratch;
    io.inlines_done = slab_inlines_done;
    io.put_inline = out_cap ? NULL : slab_put_inline;
    io.done_ctx = &sw;
    for (size_t a0 = out_box->lo[0]; !st && a0 < out_box->hi[0]; a0 += t) {
        io.out_box.lo[0] = a0;
        io.out_box.hi[0] = a0 + t < out_box->hi[0] ? a0 + t : out_box->hi[0];
        tq_op_input_box(op, p, src->shape, &io.out_box, &io.in_box);
        st = slab_input(src, &prev, a0 > out_box->lo[0], &io.in_box, in, tq_op_threads(p), err);
        prev = io.in_box;
        io.in = in;
        io.out = out;
        if (!st)
            st = op->compute(p, &io, err);
        if (!st)
            st = slab_write_rest(&sw, &io, err);
    }
    tq_op_scratch_release(&scratch);
    free(sw.written);
    free(in);
    free(out);
    return st;
}

tq_status tq_op_run_block(const struct tq_op *op, const struct tq_op_params *p, tq_vol_reader *r, tq_vol_writer *w,
                          const struct tq_box *out_box, struct tq_err *err)
{
    struct tq_op_source src;
    struct tq_op_sink dst;
    tq_op_source_reader(&src, r);
    tq_op_sink_writer(&dst, w);
    return tq_op_run(op, p, &src, &dst, out_box, err);
}
