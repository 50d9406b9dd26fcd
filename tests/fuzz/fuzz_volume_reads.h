/* fuzz_volume_reads.h - after a volume header is accepted, read its first and last voxels the way the runner does. */
#ifndef TQ_FUZZ_VOLUME_READS_H
#define TQ_FUZZ_VOLUME_READS_H

#include <stdlib.h>

#include "../../operators/box.h"
#include "../../operators/volume.h"

/* Read a corner box (at most 2 per axis) at the origin and at the far end with read(reader, box, dst, ...).
 * An accepted header promised the data is there, so a failing read is a finding: abort. */
#define FUZZ_READ_CORNERS(reader, shape, read_fn)                                                    \
    do {                                                                                             \
        float dst_[8];                                                                               \
        for (int far_ = 0; far_ < 2; far_++) {                                                       \
            struct tq_box b_;                                                                        \
            for (int a_ = 0; a_ < 3; a_++) {                                                         \
                size_t n_ = (shape)[a_] < 2 ? (shape)[a_] : 2;                                       \
                b_.lo[a_] = far_ ? (shape)[a_] - n_ : 0;                                             \
                b_.hi[a_] = b_.lo[a_] + n_;                                                          \
            }                                                                                        \
            struct tq_err e_ = {0};                                                                  \
            size_t bytes_ = 0;                                                                       \
            if (tq_vol_check_box((shape), &b_, &e_) != TQ_OK || read_fn((reader), &b_, dst_, &bytes_, &e_)) { \
                fprintf(stderr, "accepted header, failed corner read: %s\n", e_.msg);               \
                abort();                                                                             \
            }                                                                                        \
        }                                                                                            \
    } while (0)

#endif
