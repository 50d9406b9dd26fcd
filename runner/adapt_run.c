/* adapt_run.c - the adaptive runner's controller for a prepared `traceq run --adapt` (see adapt.h). */
#include "adapt.h"

#include <string.h>

#include "run_plan.h"

tq_status tq_adapt_prepare(struct tq_run_setup *s, uint64_t limit, struct tq_err *err)
{
    const struct tq_run_args *a = s->args;
    if (!a->model)
        return tq_fail(err, TQ_ERR_USAGE, "--adapt needs --model M.json (the model it corrects)");
    struct tq_model model;
    TQ_TRY(tq_model_read(a->model, s->op->name, &model, err));
    struct tq_adapt_config cfg = {.op = s->op, .params = &s->params, .model = &model, .limit = limit,
                                  .safety = a->safety, .workers = a->workers};
    memcpy(cfg.shape, s->plan->shape, sizeof cfg.shape);
    memcpy(cfg.out_shape, s->plan->out_shape, sizeof cfg.out_shape);
    for (int k = 0; k < 3; k++)
        cfg.chunk[k] = tq_box_len(&s->plan->blocks[0].out, k);
    return tq_adapt_new(&cfg, &s->adapt, err);
}
