/* scratch.c - per-thread kernel scratch kept across the slabs of one run (see scratch.h). */
#include "scratch.h"

#include "../common/alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define HUGE_PAGE ((size_t)2 << 20)

/* The bytes a block of `bytes` maps: 2 MiB or more is rounded up to whole huge pages (as block_exec.c's slab
 * buffers are), less is rounded up to whole pages. */
static size_t scratch_map_bytes(size_t bytes)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (bytes >= HUGE_PAGE)
        return (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    return bytes ? (bytes + page - 1) / page * page : page;
}

/* An anonymous mapping of `bytes` (scratch_map_bytes) starting on a 2 MiB boundary when it is 2 MiB or more, with
 * transparent huge pages requested: the kernel backs only the whole aligned 2 MiB ranges of a mapping with huge
 * pages, and it places a mapping whose length is not a multiple of 2 MiB anywhere, so GST3D's 20 MB blocks at 400^3
 * had a 4 KiB-page head and tail (about 700 of its 1.2k page faults). Mapped with 2 MiB to spare, the spare cut
 * off again. MAP_FAILED without memory. */
static void *scratch_map(size_t bytes)
{
    if (bytes < HUGE_PAGE)
        return mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *p = mmap(NULL, bytes + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return p;
    size_t head = (HUGE_PAGE - (uintptr_t)p % HUGE_PAGE) % HUGE_PAGE;
    if (head)
        munmap(p, head);
    munmap(p + head + bytes, HUGE_PAGE - head);
    madvise(p + head, bytes, MADV_HUGEPAGE); /* advice only: 4 KiB pages otherwise */
    return p + head;
}

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
    size_t map = scratch_map_bytes(bytes);
    void *p = scratch_map(map);
    if (p == MAP_FAILED)
        return NULL;
    s->block[w] = p;
    s->bytes[w] = map;
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
