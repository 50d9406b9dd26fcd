/* massif_tree.c - a trie of the stacks held at the heap peak, innermost frame first, printed in massif's
 * "nCHILDREN: BYTES ADDRESS: function (file:line)" indented form. Like valgrind's massif (--threshold=1.0, its
 * default), a node's children below 1% of the peak are printed as one "in N places, all below massif's threshold"
 * line: the tree still sums to the peak, and a trace with thousands of stacks gives a file of a few hundred lines,
 * not hundreds of thousands (NumPy: 290k lines, 32 MB, slower to write than heaptrack_print reads its trace). */
#include "massif_tree.h"
#include "../common/alloc.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>

struct node {
    uint64_t ip, bytes;
    const struct tq_heap_site *site; /* a stack through this node, to name its frame; NULL: the mmap node */
    uint32_t frame;                  /* index of this node's frame in site->ips */
    size_t child, sibling;           /* first child, next sibling; 0 = none (node 0 is the root) */
};

struct tree {
    struct node *n;
    size_t len, cap;
};

static size_t tree_add(struct tree *t, size_t parent, const struct tq_heap_site *s, uint32_t frame)
{
    /* ip ~0 can be no frame's: the mmap node (s == NULL) never merges with a site's. */
    uint64_t ip = !s ? ~(uint64_t)0 : s->depth ? s->ips[frame] : 0;
    if (t->len == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        struct node *n = tq_realloc(t->n, cap * sizeof *n);
        if (!n)
            return 0;
        t->n = n;
        t->cap = cap;
    }
    size_t i = t->len++;
    t->n[i] = (struct node){ip, 0, s, frame, 0, t->n[parent].child};
    t->n[parent].child = i;
    return i;
}

/* Add one stack's bytes along its path from the allocation site outwards. Returns false when memory runs out. */
static bool tree_insert(struct tree *t, const struct tq_heap_site *s, uint64_t bytes)
{
    size_t cur = 0;
    t->n[0].bytes += bytes;
    for (uint32_t f = 0; f < (s->depth ? s->depth : 1); f++) {
        uint64_t ip = s->depth ? s->ips[f] : 0;
        size_t c = t->n[cur].child;
        while (c && t->n[c].ip != ip)
            c = t->n[c].sibling;
        if (!c && !(c = tree_add(t, cur, s, f)))
            return false;
        t->n[c].bytes += bytes;
        cur = c;
    }
    return true;
}

static const struct tree *sort_tree; /* qsort has no context argument */

static int by_bytes_desc(const void *a, const void *b)
{
    uint64_t x = sort_tree->n[*(const size_t *)a].bytes, y = sort_tree->n[*(const size_t *)b].bytes;
    return (x < y) - (x > y);
}

/* Whether a node's bytes reach massif's default threshold, 1% of the tree's root. */
static bool significant(const struct tree *t, size_t i)
{
    return (double)t->n[i].bytes * 100.0 >= (double)t->n[0].bytes;
}

static tq_status print_node(const struct tree *t, size_t i, int depth, struct tq_heap_replay *r, FILE *out,
                            struct tq_err *err)
{
    size_t nkids = 0, *kids = NULL, below = 0;
    uint64_t below_bytes = 0;
    for (size_t c = t->n[i].child; c; c = t->n[c].sibling)
        nkids++;
    if (nkids && !(kids = tq_malloc(nkids * sizeof *kids)))
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory for the massif tree");
    nkids = 0;
    for (size_t c = t->n[i].child; c; c = t->n[c].sibling) {
        if (significant(t, c)) {
            kids[nkids++] = c;
        } else {
            below++;
            below_bytes += t->n[c].bytes;
        }
    }
    sort_tree = t;
    if (nkids)
        qsort(kids, nkids, sizeof *kids, by_bytes_desc);
    char name[600];
    fprintf(out, "%*sn%zu: %" PRIu64 " ", depth, "", nkids + (below > 0), t->n[i].bytes);
    if (i == 0)
        fputs("(heap allocation functions) malloc/new/new[], --alloc-fns, etc.\n", out);
    else if (!t->n[i].site)
        fputs("0x0: (mmap bytes of the program's own mmap/mremap calls)\n", out);
    else if (!t->n[i].site->depth)
        fputs("0x0: ??? (allocations recorded without a stack)\n", out);
    else
        fprintf(out, "0x%" PRIx64 ": %s\n", t->n[i].ip,
                tq_heap_replay_frame(r, t->n[i].site, t->n[i].frame, 1, name, sizeof name));
    tq_status st = TQ_OK;
    for (size_t k = 0; k < nkids && !st; k++)
        st = print_node(t, kids[k], depth + 1, r, out, err);
    if (below) /* valgrind's own wording, which ms_print and massif-visualizer recognise */
        fprintf(out, "%*sn0: %" PRIu64 " in %zu place%s, all below massif's threshold (1.00%%)\n", depth + 1, "",
                below_bytes, below, below == 1 ? "" : "s");
    free(kids);
    return st;
}

tq_status tq_massif_tree_write(struct tq_heap_replay *r, uint64_t root, uint64_t mmap_bytes, FILE *out,
                               struct tq_err *err)
{
    struct tree t = {tq_calloc(256, sizeof *t.n), 1, 256};
    if (!t.n)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory for the massif tree");
    tq_status st = TQ_OK;
    for (size_t i = 0; i < tq_heap_replay_count(r) && !st; i++) {
        const struct tq_heap_site *s = tq_heap_replay_site(r, i);
        if (s->peak_bytes && !tree_insert(&t, s, s->peak_bytes))
            st = tq_fail(err, TQ_ERR_NOMEM, "out of memory for the massif tree");
    }
    size_t m;
    if (!st && mmap_bytes) {
        if ((m = tree_add(&t, 0, NULL, 0)) != 0) {
            t.n[m].bytes = mmap_bytes;
            t.n[0].bytes += mmap_bytes;
        } else {
            st = tq_fail(err, TQ_ERR_NOMEM, "out of memory for the massif tree");
        }
    }
    if (!st && root > t.n[0].bytes) /* the rest of the peak: blocks whose site held nothing recorded */
        t.n[0].bytes = root;
    if (!st)
        st = print_node(&t, 0, 0, r, out, err);
    free(t.n);
    if (!st && ferror(out))
        st = tq_fail(err, TQ_ERR_IO, "cannot write the massif file");
    return st;
}
