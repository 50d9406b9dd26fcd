/* sweep_guard.c - stop a sweep whose first runs all fail alike; never exit 0 when every run failed
 * (see sweep_guard.h). */
#include "sweep_guard.h"

#include <string.h>

void tq_sweep_guard_init(struct tq_sweep_guard *g, const char *dataset)
{
    memset(g, 0, sizeof *g);
    g->dataset = dataset;
}

static tq_status flush_held(struct tq_sweep_guard *g, struct tq_err *err)
{
    for (size_t i = 0; i < g->held; i++)
        TQ_TRY(tq_dataset_append(g->dataset, &g->held_rows[i], err));
    g->held = 0;
    return TQ_OK;
}

tq_status tq_sweep_guard_add(struct tq_sweep_guard *g, const struct tq_dataset_row *row, struct tq_err *err)
{
    row->ok ? g->ok++ : g->failed++;
    if (!g->decided && !row->ok && (!g->held || !strcmp(row->reason, g->held_rows[0].reason))) {
        g->held_rows[g->held++] = *row;
        if (g->held < TQ_SWEEP_GUARD_RUNS)
            return TQ_OK;
        g->held = 0; /* written by none: a rerun after the fix measures these shapes */
        return tq_fail(err, TQ_ERR_CHILD,
                       "the first %d runs all failed: %s; stopping (nothing was added to %s; fix the cause and "
                       "run the sweep again)",
                       TQ_SWEEP_GUARD_RUNS, row->reason[0] ? row->reason : "no reason given", g->dataset);
    }
    g->decided = 1;
    TQ_TRY(flush_held(g, err));
    return tq_dataset_append(g->dataset, row, err);
}

tq_status tq_sweep_guard_finish(struct tq_sweep_guard *g, struct tq_err *err)
{
    TQ_TRY(flush_held(g, err));
    if (g->failed && !g->ok)
        return tq_fail(err, TQ_ERR_CHILD, "all %zu runs failed (see the reason column of %s)", g->failed,
                       g->dataset);
    return TQ_OK;
}
