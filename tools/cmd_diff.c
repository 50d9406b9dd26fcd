/* cmd_diff.c - `traceq diff A.tq B.tq`: which allocation sites grew and shrank between two --stacks runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../report/sites.h"
#include "../common/alloc.h"
#include "../common/units.h"
#include "cli.h"

const struct tq_cli_command cli_diff = {
    .name = "diff",
    .opts = TQ_OPTIONS(
        TQ_OPT_SHORT('n', "top", "N", "list at most N sites", "20"),
        TQ_OPT('b', "by", "WHAT",
               "peak (heap held at the peak), allocated, calls, leaked (never freed) or temporary (freed with no "
               "allocation in between)",
               "peak")),
    .usage = "traceq diff [OPTIONS] A.tq B.tq",
    .about = "Compare two traces recorded with --stacks (or --aggregate): the totals (heap at the peak, bytes\n"
             "allocated, allocation calls, leaks, temporary allocations) and every allocation site (function,\n"
             "file:line) whose figures changed, biggest change first. Sites are matched by name, so the two runs\n"
             "may load code at other addresses.",
    .stop_at_operand = 1,
};

struct change {
    const char *key;
    int64_t d_peak, d_alloc, d_calls, d_leak, d_temp;
    uint64_t b_peak, b_alloc, b_calls;
};

static const char *const by_names[] = {"peak", "allocated", "calls", "leaked", "temporary"};

static int64_t weight(const struct change *c, int by)
{
    int64_t v = by == 0 ? c->d_peak : by == 1 ? c->d_alloc : by == 2 ? c->d_calls : by == 3 ? c->d_leak : c->d_temp;
    return v < 0 ? -v : v;
}

static int g_by;
static int by_change(const void *a, const void *b)
{
    int64_t x = weight(a, g_by), y = weight(b, g_by);
    return x != y ? (x < y ? 1 : -1) : strcmp(((const struct change *)a)->key, ((const struct change *)b)->key);
}

/* Signed byte figure: "+1.00 MiB" / "-512 B". */
static const char *sbytes(int64_t v, char *buf)
{
    char t[32];
    tq_format_bytes((uint64_t)(v < 0 ? -v : v), t, sizeof t);
    snprintf(buf, 40, "%s%s", v < 0 ? "-" : v > 0 ? "+" : "", t);
    return buf;
}

static void print_totals(const struct tq_sites *a, const struct tq_sites *b)
{
    char x[40], y[40], z[40];
    printf("%-22s %14s %14s %14s\n", "totals", "A", "B", "B - A");
    printf("%-22s %14s %14s %14s\n", "heap at the peak", tq_format_bytes(a->peak, x, 32),
               tq_format_bytes(b->peak, y, 32), sbytes((int64_t)b->peak - (int64_t)a->peak, z));
    printf("%-22s %14s %14s %14s\n", "bytes allocated", tq_format_bytes(a->allocated, x, 32),
           tq_format_bytes(b->allocated, y, 32), sbytes((int64_t)b->allocated - (int64_t)a->allocated, z));
    printf("%-22s %14llu %14llu %+14lld\n", "allocation calls", (unsigned long long)a->calls,
           (unsigned long long)b->calls, (long long)b->calls - (long long)a->calls);
    if (a->aggregated || b->aggregated)
        return; /* --aggregate traces keep no events: no leaks or temporaries */
    printf("%-22s %14s %14s %14s\n", "leaked", tq_format_bytes(a->leaked, x, 32), tq_format_bytes(b->leaked, y, 32),
           sbytes((int64_t)b->leaked - (int64_t)a->leaked, z));
    printf("%-22s %14llu %14llu %+14lld\n", "temporary allocations", (unsigned long long)a->temporary,
           (unsigned long long)b->temporary, (long long)b->temporary - (long long)a->temporary);
}

/* Walk both site lists (sorted by key) together. */
static size_t collect(const struct tq_sites *a, const struct tq_sites *b, struct change *out)
{
    size_t i = 0, j = 0, n = 0;
    while (i < a->n || j < b->n) {
        int c = i >= a->n ? 1 : j >= b->n ? -1 : strcmp(a->v[i].key, b->v[j].key);
        const struct tq_site *x = c <= 0 ? &a->v[i] : NULL, *y = c >= 0 ? &b->v[j] : NULL;
        struct change ch = {.key = x ? x->key : y->key};
        ch.b_peak = y ? y->peak : 0;
        ch.b_alloc = y ? y->allocated : 0;
        ch.b_calls = y ? y->calls : 0;
        ch.d_peak = (int64_t)ch.b_peak - (int64_t)(x ? x->peak : 0);
        ch.d_alloc = (int64_t)ch.b_alloc - (int64_t)(x ? x->allocated : 0);
        ch.d_calls = (int64_t)ch.b_calls - (int64_t)(x ? x->calls : 0);
        if (!a->aggregated && !b->aggregated) { /* --aggregate keeps no events: no leaks or temporaries to compare */
            ch.d_leak = (int64_t)(y ? y->leaked : 0) - (int64_t)(x ? x->leaked : 0);
            ch.d_temp = (int64_t)(y ? y->temporary : 0) - (int64_t)(x ? x->temporary : 0);
        }
        if (ch.d_peak || ch.d_alloc || ch.d_calls || ch.d_leak || ch.d_temp)
            out[n++] = ch;
        i += c <= 0;
        j += c >= 0;
    }
    return n;
}

static void print_sites(struct change *v, size_t n, int top, int by)
{
    g_by = by;
    qsort(v, n, sizeof *v, by_change);
    static const char *const what[] = {"heap held at the peak", "bytes allocated", "calls", "bytes leaked",
                                       "temporary allocations"};
    printf("\n%zu sites changed; by %s:\n", n, what[by]);
    printf("%14s %14s %14s %12s %14s %11s  %s\n", "peak B - A", "alloc B - A", "peak in B", "calls B - A",
           "leaked B - A", "temp B - A", "site");
    for (size_t i = 0; i < n && i < (size_t)top; i++) {
        char p[40], a[40], b[32], l[40];
        printf("%14s %14s %14s %+12lld %14s %+11lld  %s\n", sbytes(v[i].d_peak, p), sbytes(v[i].d_alloc, a),
               tq_format_bytes(v[i].b_peak, b, sizeof b), (long long)v[i].d_calls, sbytes(v[i].d_leak, l),
               (long long)v[i].d_temp, v[i].key);
    }
}

int cmd_diff(int argc, char **argv)
{
    int c, top = 20, by = -1;
    optind = 1;
    while ((c = tq_cli_next(&cli_diff, argc, argv)) > 0) {
        struct tq_err err = {0};
        long v;
        if (c == 'n') {
            if (tq_parse_long(optarg, 1, 1000000, "--top", &v, &err))
                return tq_cli_usage_error("diff", "%s", err.msg);
            top = (int)v;
        } else if (c == 'b') {
            by = -2;
            for (int k = 0; k < (int)(sizeof by_names / sizeof *by_names); k++)
                if (!strcmp(optarg, by_names[k]))
                    by = k;
            if (by == -2)
                return tq_cli_usage_error("diff", "--by takes peak, allocated, calls, leaked or temporary, not '%s'",
                                          optarg);
        }
    }
    if (c != TQ_CLI_END)
        return tq_cli_exit_code(c);
    if (argc - optind != 2)
        return tq_cli_usage_error("diff", "give two trace files (A.tq B.tq)");
    struct tq_sites a, b;
    struct tq_err err = {0};
    if (tq_sites_load(argv[optind], &a, &err))
        return tq_cli_fail("diff", &err);
    if (tq_sites_load(argv[optind + 1], &b, &err)) {
        tq_sites_clear(&a);
        return tq_cli_fail("diff", &err);
    }
    if (by < 0)
        by = 0;
    if (by >= 3 && (a.aggregated || b.aggregated)) {
        tq_sites_clear(&a);
        tq_sites_clear(&b);
        return tq_cli_usage_error("diff", "--by %s needs traces recorded with --stacks alone: --aggregate keeps no "
                                  "events", by_names[by]);
    }
    struct change *v = tq_malloc((a.n + b.n + 1) * sizeof *v);
    if (!v) {
        tq_sites_clear(&a);
        tq_sites_clear(&b);
        return tq_cli_fail("diff", &(struct tq_err){TQ_ERR_NOMEM, "out of memory"});
    }
    printf("A: %s\nB: %s\n\n", argv[optind], argv[optind + 1]);
    print_totals(&a, &b);
    tq_sites_sort(&a, TQ_SITES_BY_KEY);
    tq_sites_sort(&b, TQ_SITES_BY_KEY);
    size_t n = collect(&a, &b, v);
    print_sites(v, n, top, by);
    free(v);
    tq_sites_clear(&a);
    tq_sites_clear(&b);
    return TQ_EXIT_OK;
}
