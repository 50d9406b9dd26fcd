/* scratch.c - per-thread kernel scratch kept across the slabs of one run (see scratch.h). */
#include "scratch.h"

#include "../common/alloc.h"

#include <stdlib.h>
#include <sys/mman.h>

/* Straight from mmap, not malloc: glibc's heap did not give plane-sized blocks back the same way every time (its
 * mmap threshold moves with the sizes freed), which made the peak RSS drift with the slab count. */
void *tq_op_scratch_get(struct tq_op_scratch *s, int w, size_t bytes)
{
    size_t need = (size_t)w + 1;
    if (need > s->n) {
        void **b = tq_realloc(s->block, need * sizeof *b);
        if (!b)
            return NULL;
        s->block = b;
        size_t *l = tq_realloc(s->bytes, need * sizeof *l);
        if (!l)
            return NULL;
        s->bytes = l;
        for (size_t k = s->n; k < need; k++) {
            s->block[k] = NULL;
            s->bytes[k] = 0;
        }
        s->n = need;
    }
    if (s->block[w] && s->bytes[w] >= bytes)
        return s->block[w];
    if (s->block[w])
        munmap(s->block[w], s->bytes[w]);
    s->block[w] = NULL;
    s->bytes[w] = 0;
    void *p = mmap(NULL, bytes ? bytes : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    madvise(p, bytes, MADV_HUGEPAGE); /* advice only: 4 KiB pages otherwise */
    s->block[w] = p;
    s->bytes[w] = bytes ? bytes : 1;
    return p;
}

size_t tq_op_scratch_layout(size_t n, const size_t len[], size_t off[])
{
    size_t used = 0;
    for (size_t k = 0; k < n; k++) {
        off[k] = used;
        used += (len[k] + 63) / 64 * 64;
    }
    return used;
}

tq_status tq_op_scratch_carve(struct tq_op_scratch *pool, int nw, tq_op_carve_fn carve, void *kernel, const char *who,
                              struct tq_err *err)
{
    for (int w = 0; w < nw; w++) {
        char *block = tq_op_scratch_get(pool, w, carve(kernel, w, NULL));
        if (!block)
            return tq_fail(err, TQ_ERR_NOMEM, "%s: out of memory for thread scratch", who);
        carve(kernel, w, block);
    }
    return TQ_OK;
}

void tq_op_scratch_release(struct tq_op_scratch *s)
{
    for (size_t k = 0; k < s->n; k++)
        if (s->block[k])
            munmap(s->block[k], s->bytes[k]);
    free(s->block);
    free(s->bytes);
    *s = (struct tq_op_scratch){0};
}
