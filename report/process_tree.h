/* process_tree.h - the process tree of a multi-trace report: who forked whom and which programs each process
 * exec'd, in the order it happened. */
#ifndef TQ_PROCESS_TREE_H
#define TQ_PROCESS_TREE_H

#include <stdio.h>

#include "trace_summary.h"

/* Print one line per process, indented under its parent: "pid exe -> exe2 -> exe3" for a process that exec'd.
 * Children and exec images are ordered by the time their trace started (file order breaks ties), never by the
 * order the traces were given in. Program names are escaped for the terminal (common/printable.h). Can't fail
 * (prints nothing when out of memory). */
void tq_report_print_tree(FILE *f, const struct tq_trace_summary *s, int n);

#endif
