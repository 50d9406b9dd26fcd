/* region.h - the part of an output volume not yet handed out, as disjoint boxes each cut into a grid of
 * chunk-sized blocks (edge blocks smaller), handed out in grid order; it can be cut again with another chunk at
 * any time without touching the blocks already handed out (the adaptive runner, adapt.h). */
#ifndef TQ_REGION_H
#define TQ_REGION_H

#include <stddef.h>

#include "../common/status.h"
#include "../operators/box.h"

typedef struct tq_region tq_region;

/* The region `whole`, cut into `chunk`-sized blocks (every length >= 1). Fails with TQ_ERR_USAGE for a zero
 * length, TQ_ERR_NOMEM. */
tq_status tq_region_new(const struct tq_box *whole, const size_t chunk[3], tq_region **out, struct tq_err *err);

/* Leave box `done` out (a block an earlier run finished); only before the first tq_region_next. Fails with
 * TQ_ERR_NOMEM. */
tq_status tq_region_subtract(tq_region *r, const struct tq_box *done, struct tq_err *err);

/* The next block: returns 1 and fills *box, or 0 when everything was handed out. Can't fail. */
int tq_region_next(tq_region *r, struct tq_box *box);

/* Cut what was not handed out yet into `chunk`-sized blocks. Fails with TQ_ERR_USAGE for a zero length,
 * TQ_ERR_NOMEM (the region is then unchanged). */
tq_status tq_region_recut(tq_region *r, const size_t chunk[3], struct tq_err *err);

/* Blocks not handed out yet. Can't fail. */
size_t tq_region_left(const tq_region *r);

void tq_region_free(tq_region *r);

#endif
