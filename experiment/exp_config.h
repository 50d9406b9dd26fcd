/* exp_config.h - checking an experiment's lists before anything runs: a side of 0 or a fixed fraction of 0 would
 * start a run of ~110,000 one-voxel workers, a limit of 0 bytes runs cases nobody can pass. */
#ifndef TQ_EXP_CONFIG_H
#define TQ_EXP_CONFIG_H

#include "../common/status.h"
#include "experiment.h"

#define TQ_EXP_MIN_SIDE 3       /* GST3D trims a voxel per face: smaller cubes have no output */
#define TQ_EXP_MAX_SIDE 4096    /* a 4096^3 float32 volume is 256 GiB */
#define TQ_EXP_MIN_LIMIT (1u << 20) /* no process runs in less than 1 MiB */

/* Check c->ops (known operators), c->shapes (integers in TQ_EXP_MIN_SIDE..TQ_EXP_MAX_SIDE), c->limits (fractions
 * in (0, 10) of the unchunked peak, or sizes of at least 1 MiB) and c->fixed (fractions in (0, 1] whose cube on
 * every side gives at least one voxel and at most TQ_PLAN_MAX_BLOCKS blocks), at most 16 entries each. Fails with
 * TQ_ERR_USAGE naming the option and the entry. */
tq_status tq_exp_check_config(const struct tq_exp_config *c, struct tq_err *err);

#endif
