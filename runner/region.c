/* region.c - disjoint boxes cut into grids of blocks, handed out in grid order and re-cuttable (see region.h). */
#include "region.h"
#include "../common/alloc.h"

#include <stdlib.h>
#include <string.h>

/* One box of the region and how far its grid was handed out. */
struct part {
    struct tq_box box;
    size_t n[3];  /* grid cells per axis */
    size_t next;  /* cells handed out (grid order: axis 2 fastest) */
};

struct tq_region {
    size_t chunk[3];
    struct part *part;
    size_t npart, cap, first; /* parts before `first` are used up */
};

static size_t part_cells(const struct part *p)
{
    return p->n[0] * p->n[1] * p->n[2];
}

/* Fill p's grid for chunk. */
static void part_grid(struct part *p, const size_t chunk[3])
{
    for (int a = 0; a < 3; a++)
        p->n[a] = (tq_box_len(&p->box, a) + chunk[a] - 1) / chunk[a];
    p->next = 0;
}

static tq_status parts_push(struct part **v, size_t *n, size_t *cap, const struct tq_box *b, struct tq_err *err)
{
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 16;
        struct part *nv = tq_realloc(*v, c * sizeof *nv);
        if (!nv)
            return tq_fail(err, TQ_ERR_NOMEM, "out of memory");
        *v = nv;
        *cap = c;
    }
    (*v)[(*n)++] = (struct part){.box = *b};
    return TQ_OK;
}

static tq_status check_chunk(const size_t chunk[3], struct tq_err *err)
{
    for (int a = 0; a < 3; a++)
        if (!chunk[a])
            return tq_fail(err, TQ_ERR_USAGE, "a block length is 0");
    return TQ_OK;
}

tq_status tq_region_new(const struct tq_box *whole, const size_t chunk[3], tq_region **out, struct tq_err *err)
{
    *out = NULL;
    TQ_TRY(check_chunk(chunk, err));
    tq_region *r = tq_calloc(1, sizeof *r);
    if (!r)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory");
    memcpy(r->chunk, chunk, sizeof r->chunk);
    if (tq_box_voxels(whole) && parts_push(&r->part, &r->npart, &r->cap, whole, err)) {
        free(r);
        return TQ_ERR_NOMEM;
    }
    if (r->npart)
        part_grid(&r->part[0], chunk);
    *out = r;
    return TQ_OK;
}

/* Push b minus d (up to 6 boxes: below and above d along axis 0, then 1, then 2) onto v. */
static tq_status push_difference(struct part **v, size_t *n, size_t *cap, const struct tq_box *b,
                                 const struct tq_box *d, struct tq_err *err)
{
    int meets = 1;
    for (int a = 0; a < 3; a++)
        meets &= d->lo[a] < b->hi[a] && b->lo[a] < d->hi[a];
    if (!meets)
        return parts_push(v, n, cap, b, err);
    struct tq_box rest = *b;
    for (int a = 0; a < 3; a++) {
        if (rest.lo[a] < d->lo[a]) {
            struct tq_box below = rest;
            below.hi[a] = d->lo[a];
            TQ_TRY(parts_push(v, n, cap, &below, err));
            rest.lo[a] = d->lo[a];
        }
        if (d->hi[a] < rest.hi[a]) {
            struct tq_box above = rest;
            above.lo[a] = d->hi[a];
            TQ_TRY(parts_push(v, n, cap, &above, err));
            rest.hi[a] = d->hi[a];
        }
    }
    return TQ_OK;
}

tq_status tq_region_subtract(tq_region *r, const struct tq_box *done, struct tq_err *err)
{
    struct part *v = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = r->first; i < r->npart; i++)
        if (push_difference(&v, &n, &cap, &r->part[i].box, done, err)) {
            free(v);
            return TQ_ERR_NOMEM;
        }
    for (size_t i = 0; i < n; i++)
        part_grid(&v[i], r->chunk);
    free(r->part);
    r->part = v;
    r->npart = n;
    r->cap = cap;
    r->first = 0;
    return TQ_OK;
}

int tq_region_next(tq_region *r, struct tq_box *box)
{
    while (r->first < r->npart && r->part[r->first].next >= part_cells(&r->part[r->first]))
        r->first++;
    if (r->first == r->npart)
        return 0;
    struct part *p = &r->part[r->first];
    size_t k = p->next++, idx[3] = {k / (p->n[1] * p->n[2]), k / p->n[2] % p->n[1], k % p->n[2]};
    for (int a = 0; a < 3; a++) {
        box->lo[a] = p->box.lo[a] + idx[a] * r->chunk[a];
        box->hi[a] = box->lo[a] + r->chunk[a] < p->box.hi[a] ? box->lo[a] + r->chunk[a] : p->box.hi[a];
    }
    return 1;
}

/* Push what is left of part p (its first p->next cells handed out) as up to three boxes: the rest of the current
 * row along axis 2, the rest of the current plane along axis 1, the planes after it along axis 0 (fewer when the
 * next cell starts a row or a plane: those merge). */
static tq_status push_rest(struct part **v, size_t *n, size_t *cap, const struct part *p, const size_t chunk[3],
                           struct tq_err *err)
{
    if (!p->next)
        return parts_push(v, n, cap, &p->box, err);
    size_t k = p->next, i = k / (p->n[1] * p->n[2]), j = k / p->n[2] % p->n[1], l = k % p->n[2];
    if (k >= part_cells(p))
        return TQ_OK;
    const struct tq_box *b = &p->box;
    size_t i0 = b->lo[0] + i * chunk[0], i1 = i0 + chunk[0] < b->hi[0] ? i0 + chunk[0] : b->hi[0];
    size_t j0 = b->lo[1] + j * chunk[1], j1 = j0 + chunk[1] < b->hi[1] ? j0 + chunk[1] : b->hi[1];
    if (l == 0 && j == 0) { /* at the start of a plane: the rest is one box */
        struct tq_box rest = {{i0, b->lo[1], b->lo[2]}, {b->hi[0], b->hi[1], b->hi[2]}};
        return parts_push(v, n, cap, &rest, err);
    }
    if (l == 0) /* at the start of a row: the row and the rest of its plane are one box */
        j1 = b->hi[1];
    struct tq_box row = {{i0, j0, b->lo[2] + l * chunk[2]}, {i1, j1, b->hi[2]}};
    TQ_TRY(parts_push(v, n, cap, &row, err));
    if (j1 < b->hi[1]) {
        struct tq_box plane = {{i0, j1, b->lo[2]}, {i1, b->hi[1], b->hi[2]}};
        TQ_TRY(parts_push(v, n, cap, &plane, err));
    }
    if (i1 < b->hi[0]) {
        struct tq_box after = {{i1, b->lo[1], b->lo[2]}, {b->hi[0], b->hi[1], b->hi[2]}};
        TQ_TRY(parts_push(v, n, cap, &after, err));
    }
    return TQ_OK;
}

tq_status tq_region_recut(tq_region *r, const size_t chunk[3], struct tq_err *err)
{
    TQ_TRY(check_chunk(chunk, err));
    struct part *v = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = r->first; i < r->npart; i++)
        if (push_rest(&v, &n, &cap, &r->part[i], r->chunk, err)) {
            free(v);
            return TQ_ERR_NOMEM;
        }
    for (size_t i = 0; i < n; i++)
        part_grid(&v[i], chunk);
    free(r->part);
    r->part = v;
    r->npart = n;
    r->cap = cap;
    r->first = 0;
    memcpy(r->chunk, chunk, sizeof r->chunk);
    return TQ_OK;
}

size_t tq_region_left(const tq_region *r)
{
    size_t left = 0;
    for (size_t i = r->first; i < r->npart; i++)
        left += part_cells(&r->part[i]) - r->part[i].next;
    return left;
}

void tq_region_free(tq_region *r)
{
    if (!r)
        return;
    free(r->part);
    free(r);
}
