/* report_top.c - the biggest allocation sites of a --stacks trace (report --top N), as text or JSON. */
#include "report_top.h"

#include <stdio.h>

#include "../common/units.h"

/* The caller path that goes with a ranking: the stack that weighs most by that figure. */
static const char *callers_for(const struct tq_site *x, enum tq_site_order order)
{
    return order == TQ_SITES_BY_ALLOCATED ? x->callers_allocated : order == TQ_SITES_BY_CALLS ? x->callers_calls
                                                                                               : x->callers;
}

static void print_rows(FILE *out, const struct tq_sites *s, int n, enum tq_site_order order)
{
    char a[32];
    for (size_t i = 0; i < s->n && i < (size_t)n; i++) {
        const struct tq_site *x = &s->v[i];
        uint64_t fig = order == TQ_SITES_BY_PEAK ? x->peak : order == TQ_SITES_BY_ALLOCATED ? x->allocated : x->calls;
        if (fig == 0)
            break;
        if (order == TQ_SITES_BY_CALLS)
            fprintf(out, "  %12llu  ", (unsigned long long)fig);
        else
            fprintf(out, "  %12s  ", tq_format_bytes(fig, a, sizeof a));
        fprintf(out, "%s", x->key);
        if (*x->module)
            fprintf(out, "  [%s]", x->module);
        if (*callers_for(x, order))
            fprintf(out, "\n                from %s", callers_for(x, order));
        fprintf(out, "\n");
    }
}

void tq_report_top_print(FILE *out, struct tq_sites *s, int n)
{
    char a[32];
    tq_sites_sort(s, TQ_SITES_BY_PEAK);
    fprintf(out, "top %d sites by heap held at the peak (%s at %.3f s%s):\n", n,
            tq_format_bytes(s->peak, a, sizeof a), s->peak_t_ns / 1e9,
            s->aggregated ? ", totals kept by the shim: --aggregate" : "");
    print_rows(out, s, n, TQ_SITES_BY_PEAK);
    tq_sites_sort(s, TQ_SITES_BY_ALLOCATED);
    fprintf(out, "top %d sites by bytes allocated (%s in total):\n", n, tq_format_bytes(s->allocated, a, sizeof a));
    print_rows(out, s, n, TQ_SITES_BY_ALLOCATED);
    tq_sites_sort(s, TQ_SITES_BY_CALLS);
    fprintf(out, "top %d sites by allocation calls (%llu in total):\n", n, (unsigned long long)s->calls);
    print_rows(out, s, n, TQ_SITES_BY_CALLS);
    fprintf(out, "\n");
}

static json_t *rows_json(struct tq_sites *s, int n, enum tq_site_order order)
{
    tq_sites_sort(s, order);
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < s->n && i < (size_t)n; i++) {
        const struct tq_site *x = &s->v[i];
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:I, s:I, s:I}", "site", x->key, "module", x->module,
                                             "callers", callers_for(x, order), "peak_bytes", (json_int_t)x->peak,
                                             "allocated_bytes", (json_int_t)x->allocated, "calls",
                                             (json_int_t)x->calls));
    }
    return arr;
}

json_t *tq_report_top_json(struct tq_sites *s, int n)
{
    json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:b}", "peak_bytes", (json_int_t)s->peak, "peak_t_ns",
                          (json_int_t)s->peak_t_ns, "allocated_bytes", (json_int_t)s->allocated, "calls",
                          (json_int_t)s->calls, "aggregated", s->aggregated);
    if (!o)
        return NULL;
    json_object_set_new(o, "peak", rows_json(s, n, TQ_SITES_BY_PEAK));
    json_object_set_new(o, "allocated", rows_json(s, n, TQ_SITES_BY_ALLOCATED));
    json_object_set_new(o, "calls", rows_json(s, n, TQ_SITES_BY_CALLS));
    return o;
}
