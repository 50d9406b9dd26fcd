/* fit_plot.h - the chart of `traceq fit --plot`: measured points, the model's fit and its bound against volume. */
#ifndef TQ_FIT_PLOT_H
#define TQ_FIT_PLOT_H

#include <stdbool.h>
#include <stddef.h>

#include "../common/status.h"
#include "fit.h"

/* Draw the n dataset points (x = volume, y = target) and the model's prediction and bound along cubes whose volume
 * spans the points' range (a solid and a dashed line). For kinds that depend on more than the volume (knee, shape)
 * the prediction at each measured shape is drawn as points too, since a line along cubes cannot show it.
 * `target` names the dataset column; "wall_s" draws seconds, anything else bytes. The file is SVG or PNG by its
 * extension, written to a temporary name and renamed; an existing file is kept unless `force`.
 * Fails with TQ_ERR_USAGE when n == 0, on another extension or an existing file without force; TQ_ERR_NOMEM;
 * TQ_ERR_IO when writing fails. */
tq_status tq_fit_plot(const char *path, bool force, const char *op, const char *target, const struct tq_fit_model *m,
                      const struct tq_fit_bound *b, const struct tq_fit_point *pts, size_t n, struct tq_err *err);

#endif
