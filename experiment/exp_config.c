/* exp_config.c - the experiment's list checks (see exp_config.h). */
#include "exp_config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/units.h"
#include "../model/planner.h"
#include "../operators/operator.h"

#define LIST_MAX 16

/* Split a comma list into at most LIST_MAX entries (in buf); returns the count, -1 when empty or too long. */
static int split(const char *spec, char *buf, size_t cap, char *items[LIST_MAX])
{
    if (!spec || !*spec || strlen(spec) >= cap)
        return -1;
    snprintf(buf, cap, "%s", spec);
    int n = 0;
    for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (n == LIST_MAX)
            return -1;
        items[n++] = t;
    }
    return n ? n : -1;
}

static int parse_fraction(const char *s, double lo_excl, double hi_incl, double *f)
{
    char *end;
    *f = strtod(s, &end);
    return end != s && !*end && isfinite(*f) && *f > lo_excl && *f <= hi_incl ? 0 : -1;
}

tq_status tq_exp_check_config(const struct tq_exp_config *c, struct tq_err *err)
{
    char buf[256], *items[LIST_MAX], sbuf[256], *sides[LIST_MAX];
    int n = split(c->ops, buf, sizeof buf, items);
    if (n < 0)
        return tq_fail(err, TQ_ERR_USAGE, "bad --ops '%s' (a comma list of up to %d operators)", c->ops ? c->ops : "",
                       LIST_MAX);
    for (int i = 0; i < n; i++)
        if (!tq_op_find(items[i]))
            return tq_fail(err, TQ_ERR_USAGE, "unknown operator '%s' in --ops", items[i]);

    int ns = split(c->shapes, sbuf, sizeof sbuf, sides);
    if (ns < 0)
        return tq_fail(err, TQ_ERR_USAGE, "bad --shapes '%s' (a comma list of up to %d cube sides)",
                       c->shapes ? c->shapes : "", LIST_MAX);
    for (int i = 0; i < ns; i++) {
        long side;
        struct tq_err e = {0};
        if (tq_parse_long(sides[i], TQ_EXP_MIN_SIDE, TQ_EXP_MAX_SIDE, "a --shapes side", &side, &e))
            return tq_fail(err, TQ_ERR_USAGE, "bad --shapes entry '%s': cube sides are integers in %d..%d",
                           sides[i], TQ_EXP_MIN_SIDE, TQ_EXP_MAX_SIDE);
    }

    n = split(c->limits, buf, sizeof buf, items);
    if (n < 0)
        return tq_fail(err, TQ_ERR_USAGE, "bad --limits '%s' (sizes like 1.5GB or fractions like 0.5)",
                       c->limits ? c->limits : "");
    for (int i = 0; i < n; i++) {
        double f;
        uint64_t bytes;
        if (parse_fraction(items[i], 0, 10, &f) == 0 && f < 10)
            continue;
        if (tq_parse_bytes(items[i], &bytes, NULL) != TQ_OK || bytes < TQ_EXP_MIN_LIMIT)
            return tq_fail(err, TQ_ERR_USAGE,
                           "bad --limits entry '%s': a size of at least 1 MiB (1.5GB) or a fraction in (0, 10) of "
                           "the unchunked peak (0.5)", items[i]);
    }

    n = split(c->fixed, buf, sizeof buf, items);
    if (n < 0)
        return tq_fail(err, TQ_ERR_USAGE, "bad --fixed '%s' (a comma list of up to %d fractions of the side)",
                       c->fixed ? c->fixed : "", LIST_MAX);
    for (int i = 0; i < n; i++) {
        double f;
        if (parse_fraction(items[i], 0, 1, &f))
            return tq_fail(err, TQ_ERR_USAGE, "bad --fixed entry '%s': a fraction of the side in (0, 1]", items[i]);
        for (int k = 0; k < ns; k++) {
            double side = strtod(sides[k], NULL), chunk = floor(f * side), per_axis = ceil(side / chunk);
            if (chunk < 1 || per_axis * per_axis * per_axis > TQ_PLAN_MAX_BLOCKS)
                return tq_fail(err, TQ_ERR_USAGE,
                               "--fixed %s on side %s gives chunks of %.0f voxels: %.0f blocks, more than %d (use "
                               "a larger fraction)", items[i], sides[k], chunk, chunk < 1 ? INFINITY : per_axis *
                               per_axis * per_axis, TQ_PLAN_MAX_BLOCKS);
        }
    }
    return TQ_OK;
}
