/* box.h - axis-aligned regions of a 3-D volume ([lo, hi) per axis) and the arithmetic the chunking needs. */
#ifndef TQ_BOX_H
#define TQ_BOX_H

#include <stddef.h>

/* A region [lo[a], hi[a]) on each axis a of a (inlines, xlines, samples) volume. Axis 2 (samples) is fastest. */
struct tq_box {
    size_t lo[3];
    size_t hi[3];
};

/* Number of voxels in the box (0 when any axis is empty). Can't fail. */
static inline size_t tq_box_voxels(const struct tq_box *b)
{
    size_t n = 1;
    for (int a = 0; a < 3; a++)
        n *= b->hi[a] > b->lo[a] ? b->hi[a] - b->lo[a] : 0;
    return n;
}

/* Extent of the box along axis a. Can't fail. */
static inline size_t tq_box_len(const struct tq_box *b, int a)
{
    return b->hi[a] - b->lo[a];
}

#endif
