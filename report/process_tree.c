/* process_tree.c - the report's fork/exec tree, ordered by start time (see process_tree.h). */
#include "process_tree.h"

#include <stdlib.h>

#include "../common/alloc.h"
#include "../common/printable.h"

struct tree {
    const struct tq_trace_summary *s;
    int n;
    const int *order; /* trace indexes by start time */
    char *done;
};

static const struct tq_trace_summary *sort_base;

static int by_start(const void *a, const void *b)
{
    int i = *(const int *)a, j = *(const int *)b;
    uint64_t ti = sort_base[i].start_unix_ns, tj = sort_base[j].start_unix_ns;
    return ti != tj ? (ti < tj ? -1 : 1) : i - j;
}

static int is_child(const struct tq_trace_summary *s, int n, int i)
{
    for (int j = 0; j < n; j++)
        if (s[j].pid == s[i].ppid && j != i)
            return 1;
    return 0;
}

/* The processes whose parent is ppid (an exec chain of one pid on one line), depth-first, oldest first. */
static void print_level(FILE *f, struct tree *t, uint32_t ppid, int depth)
{
    char name[1024];
    for (int oi = 0; oi < t->n; oi++) {
        int i = t->order[oi];
        if (t->done[i] || t->s[i].ppid != ppid)
            continue;
        fprintf(f, "%*s%u %s", 2 * depth + 2, "", t->s[i].pid, tq_printable(t->s[i].exe, name, sizeof name));
        t->done[i] = 1;
        for (int oj = oi + 1; oj < t->n; oj++) { /* the images this pid exec'd keep its parent: same line */
            int j = t->order[oj];
            if (!t->done[j] && t->s[j].pid == t->s[i].pid && t->s[j].ppid == ppid) {
                fprintf(f, " -> %s", tq_printable(t->s[j].exe, name, sizeof name));
                t->done[j] = 1;
            }
        }
        fprintf(f, "\n");
        if (t->s[i].pid != ppid)
            print_level(f, t, t->s[i].pid, depth + 1);
    }
}

void tq_report_print_tree(FILE *f, const struct tq_trace_summary *s, int n)
{
    int *order = tq_malloc((size_t)(n > 0 ? n : 1) * sizeof *order);
    char *done = tq_calloc((size_t)(n > 0 ? n : 1), 1);
    if (order && done) {
        for (int i = 0; i < n; i++)
            order[i] = i;
        sort_base = s;
        qsort(order, (size_t)n, sizeof *order, by_start);
        struct tree t = {s, n, order, done};
        for (int oi = 0; oi < n; oi++) {
            int i = order[oi];
            if (!done[i] && !is_child(s, n, i))
                print_level(f, &t, s[i].ppid, 0);
        }
    }
    free(order);
    free(done);
}
