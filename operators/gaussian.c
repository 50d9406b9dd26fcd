/* gaussian.c - scipy.ndimage.gaussian_filter in C: separable 1-D correlations along axes 0, 1, 2 in that order
 * (scipy's order), float32 between passes like scipy, 'reflect' at the volume's faces, one output plane at a time. */
#include <stdlib.h>

#include "filter1d.h"
#include "../common/alloc.h"
#include "kernels.h"
#include "parallel.h"
#include "scratch.h"

/* Per-thread scratch: `group` planes after the axis-0 pass, one after the axis-1 pass, a padded line, row pointers. */
struct gauss_scratch {
    float *plane0, *plane1, *ext;
    const float **rows;
};

struct gauss_ctx {
    const struct tq_block_io *io;
    struct tq_taps taps[3];
    struct tq_box need;
    size_t in_n[3], out_n[3], need_n[3];
    size_t group; /* output inlines per work item: their axis-0 passes share the input rows while in cache */
    size_t *refl[2]; /* refl[a][k]: the in-volume index standing for index out_box.lo[a] - r_a + k on axis a */
    struct gauss_scratch *scr;
    struct tq_op_scratch own; /* the blocks, when the caller passes no io->scratch */
};

void tq_gaussian_halo(const struct tq_op_params *p, size_t halo[3])
{
    for (int a = 0; a < 3; a++)
        halo[a] = tq_op_gauss_radius(p, a);
}

static const float *in_row(const struct gauss_ctx *c, size_t g0, size_t g1, size_t g2)
{
    const struct tq_box *b = &c->io->in_box;
    return c->io->in + ((g0 - b->lo[0]) * c->in_n[1] + (g1 - b->lo[1])) * c->in_n[2] + (g2 - b->lo[2]);
}

/* Axis-1 then axis-2 pass of one output inline from its axis-0 result p0 into out. */
static void gauss_inplane(struct gauss_ctx *c, struct gauss_scratch *s, const float *p0, float *out)
{
    const struct tq_box *ob = &c->io->out_box, *nb = &c->need;
    const size_t *vs = c->io->vol_shape;
    size_t r1 = c->taps[1].r;
    for (size_t j = ob->lo[1]; j < ob->hi[1]; j++) {
        const size_t *ix = c->refl[1] + (j - ob->lo[1]);
        for (size_t q = 0; q <= 2 * r1; q++)
            s->rows[q] = p0 + (ix[q] - nb->lo[1]) * c->need_n[2];
        tq_f1d_rows(&c->taps[1], s->rows, c->need_n[2], s->plane1 + (j - ob->lo[1]) * c->need_n[2]);
    }
    for (size_t j = 0; j < c->out_n[1]; j++)
        tq_f1d_line(&c->taps[2], s->plane1 + j * c->need_n[2], nb->lo[2], vs[2], ob->lo[2], c->out_n[2], s->ext,
                    s->rows, out + j * c->out_n[2]);
}

/* Output inlines [item * group, ...) (output = input coordinates): the axis-0 pass row by row for the whole group
 * (consecutive inlines read nearly the same input rows, so they are read from cache once), then per inline the
 * axis-1 and axis-2 passes. */
static tq_status gauss_group(void *ctx, size_t item, int worker, struct tq_err *err)
{
    struct gauss_ctx *c = ctx;
    struct gauss_scratch *s = &c->scr[worker];
    const struct tq_box *nb = &c->need;
    size_t first = item * c->group, n = c->out_n[0] - first < c->group ? c->out_n[0] - first : c->group;
    size_t r0 = c->taps[0].r, pn = c->need_n[1] * c->need_n[2];
    for (size_t j = nb->lo[1]; j < nb->hi[1]; j++)
        for (size_t g = 0; g < n; g++) {
            const size_t *ix = c->refl[0] + first + g;
            for (size_t q = 0; q <= 2 * r0; q++)
                s->rows[q] = in_row(c, ix[q], j, nb->lo[2]);
            tq_f1d_rows(&c->taps[0], s->rows, c->need_n[2], s->plane0 + g * pn + (j - nb->lo[1]) * c->need_n[2]);
        }
    for (size_t g = 0; g < n; g++)
        gauss_inplane(c, s, s->plane0 + g * pn, c->io->out + (first + g) * c->out_n[1] * c->out_n[2]);
    size_t lo = c->io->out_box.lo[0] + first; /* written while the other workers compute */
    return c->io->inlines_done ? c->io->inlines_done(c->io, lo, lo + n, err) : TQ_OK;
}

static void gauss_free(struct gauss_ctx *c)
{
    tq_op_scratch_release(&c->own);
    free(c->scr);
    free(c->refl[0]);
    free(c->refl[1]);
    for (int a = 0; a < 3; a++)
        tq_taps_free(&c->taps[a]);
}

/* Carve worker w's scratch out of `block` (or, with block NULL, just count); every piece starts on a 64-byte
 * boundary. Returns the bytes used (a tq_op_carve_fn). */
static size_t gauss_carve(void *kernel, int w, char *block)
{
    struct gauss_ctx *c = kernel;
    struct gauss_scratch *s = &c->scr[w];
    size_t rmax = c->taps[0].r;
    for (int a = 1; a < 3; a++)
        rmax = c->taps[a].r > rmax ? c->taps[a].r : rmax;
    size_t len[] = {c->group * c->need_n[1] * c->need_n[2] * sizeof(float), c->out_n[1] * c->need_n[2] * sizeof(float),
                    (c->out_n[2] + 2 * c->taps[2].r) * sizeof(float), (2 * rmax + 1) * sizeof *s->rows};
    size_t off[4], used = tq_op_scratch_layout(4, len, off);
    if (block) {
        s->plane0 = (float *)(void *)(block + off[0]);
        s->plane1 = (float *)(void *)(block + off[1]);
        s->ext = (float *)(void *)(block + off[2]);
        s->rows = (const float **)(void *)(block + off[3]);
    }
    return used;
}

/* Per-thread scratch from io->scratch (kept across tq_op_run's slabs: fresh plane-sized mallocs per slab were
 * mapped and faulted in again every slab, 11k page faults at 400^3) or else mapped for this call. */
static tq_status gauss_alloc(struct gauss_ctx *c, int nw, struct tq_err *err)
{
    /* reflect() divides; the row passes would call it 2r + 1 times per row, so look the indices up instead */
    for (int a = 0; a < 2; a++) {
        size_t r = c->taps[a].r, len = c->out_n[a] + 2 * r;
        if (!(c->refl[a] = tq_malloc(len * sizeof *c->refl[a])))
            return tq_fail(err, TQ_ERR_NOMEM, "gaussian: out of memory for index tables");
        for (size_t k = 0; k < len; k++)
            c->refl[a][k] = tq_reflect((long long)c->io->out_box.lo[a] - (long long)r + (long long)k,
                                       c->io->vol_shape[a]);
    }
    c->scr = tq_calloc((size_t)nw, sizeof *c->scr);
    if (!c->scr)
        return tq_fail(err, TQ_ERR_NOMEM, "gaussian: out of memory for thread scratch");
    return tq_op_scratch_carve(c->io->scratch ? c->io->scratch : &c->own, nw, gauss_carve, c, "gaussian", err);
}

tq_status tq_gaussian_compute(const struct tq_op_params *p, const struct tq_block_io *io, struct tq_err *err)
{
    const struct tq_op *op = tq_op_find("gaussian");
    TQ_TRY(tq_op_params_check(op, p, err));
    TQ_TRY(tq_op_check_io(op, p, io, err));
    struct gauss_ctx c = {.io = io};
    tq_op_input_box(op, p, io->vol_shape, &io->out_box, &c.need);
    for (int a = 0; a < 3; a++) {
        c.in_n[a] = tq_box_len(&io->in_box, a);
        c.out_n[a] = tq_box_len(&io->out_box, a);
        c.need_n[a] = tq_box_len(&c.need, a);
    }
    int nw = tq_par_workers(tq_op_threads(p), c.out_n[0]);
    /* up to 8 inlines per item, but at least two items per worker so the threads stay balanced */
    c.group = c.out_n[0] / (2 * (size_t)nw);
    c.group = c.group < 1 ? 1 : c.group > 8 ? 8 : c.group;
    size_t items = (c.out_n[0] + c.group - 1) / c.group;
    tq_status st = TQ_OK;
    for (int a = 0; a < 3 && !st; a++)
        st = tq_taps_gauss(p->sigma[a], tq_op_gauss_radius(p, a), &c.taps[a], err);
    if (!st)
        st = gauss_alloc(&c, nw, err);
    if (!st)
        st = tq_par_for(nw, items, gauss_group, &c, err);
    gauss_free(&c);
    return st;
}
