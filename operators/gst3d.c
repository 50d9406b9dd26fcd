/* gst3d.c - gradient-structure-tensor dip (the original's gst3d.py in C), streamed one inline plane at a time.
 *
 * Gradients: g_a = [-0.5, 0, 0.5] along axis a and [0.178947, 0.642105, 0.178947] along the two others ('reflect'
 * at the input's faces). Trimmed output (default, like the original) drops one gradient voxel per face BEFORE the
 * 3x3x3 box smoothing, whose 'reflect' then acts at the trimmed faces, exactly as the original's trim-then-
 * uniform_filter does. Per voxel: the eigenvector v of the largest eigenvalue of [[g0g0 g0g1 g0g2] ...], and
 * dip = degrees(arccos(|v_2|)) (v_2 = sample-axis component): 0 = flat layers, 90 = vertical.
 *
 * A worker walks a run of output planes keeping the box-smoothed (along axes 1, 2) products of three planes; each
 * new plane needs three input planes, so memory is a few planes per thread whatever the volume. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filter1d.h"
#include "../common/alloc.h"
#include "kernels.h"
#include "parallel.h"
#include "scratch.h"

enum { NPROD = 6 }; /* g0g0, g1g1, g2g2, g0g1, g0g2, g1g2 */

static const double deriv_w[3] = {-0.5, 0.0, 0.5};
static const double smooth_w[3] = {0.178947, 0.642105, 0.178947};
static const double box_w[3] = {1.0 / 3, 1.0 / 3, 1.0 / 3};

struct gst_scratch {
    float *d0, *s0, *tmp, *g[3], *prod, *tmpb, *win[3], *ten, *ext;
    float *outp; /* the output plane handed to io->put_inline when there is no io->out (else NULL) */
    size_t key[3]; /* output-plane index whose smoothed products win[k] holds; SIZE_MAX = none */
    const float *rows[3];
};

struct gst_ctx {
    const struct tq_block_io *io;
    struct tq_taps deriv, smooth, box;
    size_t trim, m[3];          /* m = output volume shape */
    size_t in_n[3], out_n[3];
    size_t rlo[3], rn[3];       /* product region (output coordinates) along axes 1, 2 */
    size_t elo[3], en[3];       /* input region (input coordinates) the gradients read along axes 1, 2 */
    size_t nchunks;
    struct gst_scratch *scr;
    struct tq_op_scratch own; /* the blocks, when the caller passes no io->scratch */
};

void tq_gst3d_halo(const struct tq_op_params *p, size_t halo[3])
{
    (void)p;
    halo[0] = halo[1] = halo[2] = 2; /* 1 for the gradient kernels + 1 for the box */
}

size_t tq_gst3d_trim(const struct tq_op_params *p)
{
    return p->full_size ? 0 : 1;
}

static const float *in_row(const struct gst_ctx *c, size_t g0, size_t g1, size_t g2)
{
    const struct tq_box *b = &c->io->in_box;
    return c->io->in + ((g0 - b->lo[0]) * c->in_n[1] + (g1 - b->lo[1])) * c->in_n[2] + (g2 - b->lo[2]);
}

/* dst (rows x n) = correlation across three source planes, row by row. */
static void across_planes(const struct tq_taps *tp, const float *const pl[3], size_t rows, size_t stride, size_t n,
                          float *dst)
{
    for (size_t j = 0; j < rows; j++) {
        const float *rw[3] = {pl[0] + j * stride, pl[1] + j * stride, pl[2] + j * stride};
        tq_f1d_rows(tp, rw, n, dst + j * n);
    }
}

/* Axis-1 pass over the E region (input coordinates) into the R rows, then the axis-2 pass into dst (R1 x R2). */
static void gst_inplane(struct gst_ctx *c, struct gst_scratch *s, const struct tq_taps *t1, const struct tq_taps *t2,
                        const float *src, float *dst)
{
    const size_t *vs = c->io->vol_shape;
    for (size_t j = 0; j < c->rn[1]; j++) {
        long long g = (long long)(c->rlo[1] + j + c->trim);
        for (int q = 0; q < 3; q++)
            s->rows[q] = src + (tq_reflect(g - 1 + q, vs[1]) - c->elo[1]) * c->en[2];
        tq_f1d_rows(t1, s->rows, c->en[2], s->tmp + j * c->en[2]);
    }
    for (size_t j = 0; j < c->rn[1]; j++)
        tq_f1d_line(t2, s->tmp + j * c->en[2], c->elo[2], vs[2], c->rlo[2] + c->trim, c->rn[2], s->ext, s->rows,
                    dst + j * c->rn[2]);
}

typedef float v8f __attribute__((vector_size(32)));

/* out[v] = a[v] * b[v], 8 lanes at a time (GCC -O2 left this loop scalar: 10% of GST3D's time); a product is
 * correctly rounded in any lane, so the bits are those of the scalar loop. */
__attribute__((target_clones("avx2", "default"))) static void mul_planes(const float *a, const float *b, size_t n,
                                                                         float *out)
{
    size_t v = 0;
    for (; v + 8 <= n; v += 8) {
        v8f x, y;
        memcpy(&x, a + v, sizeof x);
        memcpy(&y, b + v, sizeof y);
        x = x * y;
        memcpy(out + v, &x, sizeof x);
    }
    for (; v < n; v++)
        out[v] = a[v] * b[v];
}

/* Fill s->win[slot] with the six gradient products of output plane u, box-smoothed along axes 1 and 2. */
static void gst_window(struct gst_ctx *c, struct gst_scratch *s, size_t u, int slot)
{
    const size_t *vs = c->io->vol_shape;
    long long g0 = (long long)(u + c->trim);
    const float *pl[3];
    for (int q = 0; q < 3; q++)
        pl[q] = in_row(c, tq_reflect(g0 - 1 + q, vs[0]), c->elo[1], c->elo[2]);
    size_t stride = c->in_n[2];
    across_planes(&c->deriv, pl, c->en[1], stride, c->en[2], s->d0);
    across_planes(&c->smooth, pl, c->en[1], stride, c->en[2], s->s0);
    gst_inplane(c, s, &c->smooth, &c->smooth, s->d0, s->g[0]);
    gst_inplane(c, s, &c->deriv, &c->smooth, s->s0, s->g[1]);
    gst_inplane(c, s, &c->smooth, &c->deriv, s->s0, s->g[2]);
    size_t rv = c->rn[1] * c->rn[2], on = c->out_n[1] * c->out_n[2];
    static const int pa[NPROD] = {0, 1, 2, 0, 0, 1}, pb[NPROD] = {0, 1, 2, 1, 2, 2};
    for (int k = 0; k < NPROD; k++) {
        float *pr = s->prod;
        mul_planes(s->g[pa[k]], s->g[pb[k]], rv, pr);
        const struct tq_box *ob = &c->io->out_box;
        for (size_t j = 0; j < c->out_n[1]; j++) {
            long long o = (long long)(ob->lo[1] + j);
            for (int q = 0; q < 3; q++)
                s->rows[q] = pr + (tq_reflect(o - 1 + q, c->m[1]) - c->rlo[1]) * c->rn[2];
            tq_f1d_rows(&c->box, s->rows, c->rn[2], s->tmpb + j * c->rn[2]);
        }
        float *w = s->win[slot] + (size_t)k * on;
        for (size_t j = 0; j < c->out_n[1]; j++)
            tq_f1d_line(&c->box, s->tmpb + j * c->rn[2], c->rlo[2], c->m[2], ob->lo[2], c->out_n[2], s->ext, s->rows,
                        w + j * c->out_n[2]);
    }
    s->key[slot] = u;
}

/* The window slot holding plane u, computing it into a slot not needed by `keep` when missing. */
static const float *gst_window_get(struct gst_ctx *c, struct gst_scratch *s, size_t u, const size_t keep[3])
{
    for (int k = 0; k < 3; k++)
        if (s->key[k] == u)
            return s->win[k];
    int slot = 0;
    for (int k = 0; k < 3; k++)
        if (s->key[k] != keep[0] && s->key[k] != keep[1] && s->key[k] != keep[2]) {
            slot = k;
            break;
        }
    gst_window(c, s, u, slot);
    return s->win[slot];
}

static void gst_plane(struct gst_ctx *c, struct gst_scratch *s, size_t x, float *out)
{
    size_t need[3], on = c->out_n[1] * c->out_n[2];
    for (int q = 0; q < 3; q++)
        need[q] = tq_reflect((long long)x - 1 + q, c->m[0]);
    const float *w[3];
    for (int q = 0; q < 3; q++)
        w[q] = gst_window_get(c, s, need[q], need);
    for (int k = 0; k < NPROD; k++) {
        const float *rw[3] = {w[0] + (size_t)k * on, w[1] + (size_t)k * on, w[2] + (size_t)k * on};
        tq_f1d_rows(&c->box, rw, on, s->ten + (size_t)k * on);
    }
    tq_gst3d_dip_plane(s->ten, on, out);
}

/* One run of consecutive output planes (chunk `item` of nchunks). */
static tq_status gst_chunk(void *ctx, size_t item, int worker, struct tq_err *err)
{
    struct gst_ctx *c = ctx;
    const struct tq_block_io *io = c->io;
    size_t n0 = c->out_n[0], a = n0 * item / c->nchunks, b = n0 * (item + 1) / c->nchunks;
    struct gst_scratch *s = &c->scr[worker];
    for (size_t x = a; x < b; x++) {
        float *dst = io->out ? io->out + x * c->out_n[1] * c->out_n[2] : s->outp;
        gst_plane(c, s, io->out_box.lo[0] + x, dst);
        if (!io->out) /* no output slab: this worker's plane is written out at once */
            TQ_TRY(io->put_inline(io, io->out_box.lo[0] + x, dst, err));
        else if (io->inlines_done) /* written while the other workers compute */
            TQ_TRY(io->inlines_done(io, io->out_box.lo[0] + x, io->out_box.lo[0] + x + 1, err));
    }
    return TQ_OK;
}

static void gst_free(struct gst_ctx *c)
{
    tq_op_scratch_release(&c->own);
    free(c->scr);
    tq_taps_free(&c->deriv);
    tq_taps_free(&c->smooth);
    tq_taps_free(&c->box);
}

/* Carve the planes of worker w's scratch out of its block (or, with block NULL, just count); every plane starts on
 * a 64-byte boundary, and no plane of smoothed products is held yet. Returns the bytes used (a tq_op_carve_fn). */
static size_t gst_carve(void *kernel, int w, char *block)
{
    struct gst_ctx *c = kernel;
    struct gst_scratch *s = &c->scr[w];
    size_t e = c->en[1] * c->en[2], r = c->rn[1] * c->rn[2], on = c->out_n[1] * c->out_n[2];
    size_t ext = (c->en[2] > c->rn[2] ? c->en[2] : c->rn[2]) + 2;
    float **dst[] = {&s->d0, &s->s0, &s->tmp, &s->prod, &s->tmpb, &s->ten, &s->ext, &s->g[0], &s->g[1], &s->g[2],
                     &s->win[0], &s->win[1], &s->win[2], &s->outp};
    size_t floats[] = {e, e, c->rn[1] * c->en[2], r, c->out_n[1] * c->rn[2], NPROD * on, ext, r, r, r,
                       NPROD * on, NPROD * on, NPROD * on, c->io->out ? 0 : on};
    enum { N = sizeof floats / sizeof floats[0] };
    size_t len[N], off[N];
    for (size_t k = 0; k < N; k++)
        len[k] = floats[k] * sizeof(float);
    size_t used = tq_op_scratch_layout(N, len, off);
    if (block) {
        for (size_t k = 0; k < N; k++)
            *dst[k] = floats[k] ? (float *)(void *)(block + off[k]) : NULL;
        for (int k = 0; k < 3; k++)
            s->key[k] = SIZE_MAX;
    }
    return used;
}

/* One block per thread holding all its planes, from io->scratch (kept across tq_op_run's slabs: mapping and
 * faulting in fresh scratch for every slab cost a third of the CPU time at 400^3) or else mapped for this call. */
static tq_status gst_alloc(struct gst_ctx *c, int nw, struct tq_err *err)
{
    c->scr = tq_calloc((size_t)nw, sizeof *c->scr);
    if (!c->scr)
        return tq_fail(err, TQ_ERR_NOMEM, "gst3d: out of memory for thread scratch");
    return tq_op_scratch_carve(c->io->scratch ? c->io->scratch : &c->own, nw, gst_carve, c, "gst3d", err);
}

static tq_status gst_taps(struct gst_ctx *c, struct tq_err *err)
{
    TQ_TRY(tq_taps_from(deriv_w, 1, &c->deriv, err));
    TQ_TRY(tq_taps_from(smooth_w, 1, &c->smooth, err));
    return tq_taps_from(box_w, 1, &c->box, err);
}

tq_status tq_gst3d_compute(const struct tq_op_params *p, const struct tq_block_io *io, struct tq_err *err)
{
    const struct tq_op *op = tq_op_find("gst3d");
    TQ_TRY(tq_op_params_check(op, p, err));
    TQ_TRY(tq_op_check_io(op, p, io, err));
    struct gst_ctx c = {.io = io, .trim = tq_gst3d_trim(p)};
    TQ_TRY(tq_op_output_shape(op, p, io->vol_shape, c.m, err));
    for (int a = 0; a < 3; a++) {
        c.in_n[a] = tq_box_len(&io->in_box, a);
        c.out_n[a] = tq_box_len(&io->out_box, a);
        /* products are needed one voxel around the block (box radius), clamped: reflection stays inside */
        c.rlo[a] = io->out_box.lo[a] > 0 ? io->out_box.lo[a] - 1 : 0;
        size_t rhi = io->out_box.hi[a] < c.m[a] ? io->out_box.hi[a] + 1 : c.m[a];
        c.rn[a] = rhi - c.rlo[a];
        /* gradients there read one more input voxel each side, clamped to the volume */
        size_t g = c.rlo[a] + c.trim;
        c.elo[a] = g > 0 ? g - 1 : 0;
        size_t ehi = rhi + c.trim < io->vol_shape[a] ? rhi + c.trim + 1 : io->vol_shape[a];
        c.en[a] = ehi - c.elo[a];
    }
    int nw = tq_par_workers(tq_op_threads(p), c.out_n[0]);
    c.nchunks = (size_t)nw;
    tq_status st = gst_taps(&c, err);
    if (!st)
        st = gst_alloc(&c, nw, err);
    if (!st)
        st = tq_par_for(nw, c.nchunks, gst_chunk, &c, err);
    gst_free(&c);
    return st;
}
