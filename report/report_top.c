/* report_top.c - the biggest allocation sites of a --stacks trace (report --top N), its leaks (--leaks) and
 * temporary allocations (--temporary), as text or JSON. */
#include "report_top.h"

#include <stdio.h>

#include "../common/units.h"

static void print_rows(FILE *out, const struct tq_sites *s, int n, enum tq_site_order order)
{
    char a[32];
    for (size_t i = 0; i < s->n && i < (size_t)n; i++) {
        const struct tq_site *x = &s->v[i];
        uint64_t fig = order == TQ_SITES_BY_PEAK        ? x->peak
                       : order == TQ_SITES_BY_ALLOCATED ? x->allocated
                       : order == TQ_SITES_BY_LEAKED    ? x->leaked
                       : order == TQ_SITES_BY_TEMPORARY ? x->temporary
                                                        : x->calls;
        if (fig == 0)
            break;
        if (order == TQ_SITES_BY_CALLS)
            fprintf(out, "  %12llu  ", (unsigned long long)fig);
        else if (order == TQ_SITES_BY_LEAKED)
            fprintf(out, "  %12s in %llu block%s  ", tq_format_bytes(fig, a, sizeof a),
                    (unsigned long long)x->leaked_blocks, x->leaked_blocks == 1 ? "" : "s");
        else if (order == TQ_SITES_BY_TEMPORARY)
            fprintf(out, "  %12llu of %llu calls (%s)  ", (unsigned long long)fig, (unsigned long long)x->calls,
                    tq_format_bytes(x->temporary_bytes, a, sizeof a));
        else
            fprintf(out, "  %12s  ", tq_format_bytes(fig, a, sizeof a));
        double e = order == TQ_SITES_BY_PEAK ? x->peak_err : order == TQ_SITES_BY_ALLOCATED ? x->allocated_err
                   : order == TQ_SITES_BY_LEAKED ? x->leaked_err : 0;
        if (s->sample_bytes && e > 0)
            fprintf(out, "+- %s  ", tq_format_bytes((uint64_t)e, a, sizeof a));
        fprintf(out, "%s", x->key);
        if (*x->module)
            fprintf(out, "  [%s]", x->module);
        if (*tq_site_callers(x, order))
            fprintf(out, "\n                from %s", tq_site_callers(x, order));
        fprintf(out, "\n");
    }
}

void tq_report_top_print(FILE *out, struct tq_sites *s, int n)
{
    char a[32];
    if (s->python_unsupported)
        fprintf(out, "note: CPython %u.%u: Python frames were not recorded (traceq reads CPython 3.11's)\n",
                s->python_unsupported >> 24, (s->python_unsupported >> 16) & 255);
    if (s->sample_bytes)
        fprintf(out, "sampled: one allocation per %s on average; figures are estimates, +- one standard error\n",
                tq_format_bytes(s->sample_bytes, a, sizeof a));
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

void tq_report_leaks_print(FILE *out, struct tq_sites *s, int n)
{
    char a[32];
    tq_sites_sort(s, TQ_SITES_BY_LEAKED);
    fprintf(out, "%s: %s in %llu block%s%s; top %d sites:\n",
            s->at_snapshot ? "live at the snapshot"
            : s->ended     ? "leaks (never freed before exit)"
            : s->killed    ? "live at the last flush before the OOM kill"
                           : "live when the trace ends (no exit record: killed?)",
            tq_format_bytes(s->leaked, a, sizeof a), (unsigned long long)s->leaked_blocks,
            s->leaked_blocks == 1 ? "" : "s", s->leaked ? "" : ", none", n);
    print_rows(out, s, n, TQ_SITES_BY_LEAKED);
    fprintf(out, "\n");
}

void tq_report_temporary_print(FILE *out, struct tq_sites *s, int n)
{
    char a[32];
    tq_sites_sort(s, TQ_SITES_BY_TEMPORARY);
    fprintf(out, "temporary allocations (freed with no allocation in between): %llu of %llu calls (%.1f%%, %s); "
                 "top %d sites:\n",
            (unsigned long long)s->temporary, (unsigned long long)s->calls,
            s->calls ? 100.0 * (double)s->temporary / (double)s->calls : 0.0,
            tq_format_bytes(s->temporary_bytes, a, sizeof a), n);
    print_rows(out, s, n, TQ_SITES_BY_TEMPORARY);
    fprintf(out, "\n");
}

static json_t *rows_json(struct tq_sites *s, int n, enum tq_site_order order)
{
    tq_sites_sort(s, order);
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < s->n && i < (size_t)n; i++) {
        const struct tq_site *x = &s->v[i];
        if (order == TQ_SITES_BY_LEAKED && !x->leaked)
            break;
        if (order == TQ_SITES_BY_TEMPORARY && !x->temporary)
            break;
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "site", x->key,
                                             "module", x->module, "callers", tq_site_callers(x, order), "peak_bytes",
                                             (json_int_t)x->peak, "allocated_bytes", (json_int_t)x->allocated,
                                             "calls", (json_int_t)x->calls, "leaked_bytes", (json_int_t)x->leaked,
                                             "leaked_blocks", (json_int_t)x->leaked_blocks, "temporary_calls",
                                             (json_int_t)x->temporary, "temporary_bytes",
                                             (json_int_t)x->temporary_bytes));
        if (s->sample_bytes) {
            json_t *row = json_array_get(arr, json_array_size(arr) - 1);
            json_object_set_new(row, "peak_bytes_err", json_real(x->peak_err));
            json_object_set_new(row, "allocated_bytes_err", json_real(x->allocated_err));
            json_object_set_new(row, "leaked_bytes_err", json_real(x->leaked_err));
        }
    }
    return arr;
}

json_t *tq_report_leaks_json(struct tq_sites *s, int n)
{
    json_t *o = json_pack("{s:I, s:I, s:b}", "leaked_bytes", (json_int_t)s->leaked, "leaked_blocks",
                          (json_int_t)s->leaked_blocks, "trace_ended", s->ended);
    if (o) {
        json_object_set_new(o, "killed", json_boolean(s->killed));
        json_object_set_new(o, "at_snapshot", json_boolean(s->at_snapshot));
    }
    if (o)
        json_object_set_new(o, "sites", rows_json(s, n, TQ_SITES_BY_LEAKED));
    return o;
}

json_t *tq_report_temporary_json(struct tq_sites *s, int n)
{
    json_t *o = json_pack("{s:I, s:I, s:I}", "temporary_calls", (json_int_t)s->temporary, "temporary_bytes",
                          (json_int_t)s->temporary_bytes, "calls", (json_int_t)s->calls);
    if (o)
        json_object_set_new(o, "sites", rows_json(s, n, TQ_SITES_BY_TEMPORARY));
    return o;
}

json_t *tq_report_top_json(struct tq_sites *s, int n)
{
    json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:b, s:I}", "peak_bytes", (json_int_t)s->peak, "peak_t_ns",
                          (json_int_t)s->peak_t_ns, "allocated_bytes", (json_int_t)s->allocated, "calls",
                          (json_int_t)s->calls, "aggregated", s->aggregated, "sample_bytes",
                          (json_int_t)s->sample_bytes);
    if (!o)
        return NULL;
    json_object_set_new(o, "peak", rows_json(s, n, TQ_SITES_BY_PEAK));
    json_object_set_new(o, "allocated", rows_json(s, n, TQ_SITES_BY_ALLOCATED));
    json_object_set_new(o, "calls", rows_json(s, n, TQ_SITES_BY_CALLS));
    return o;
}
