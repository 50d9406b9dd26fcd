/* test_stress_tree.c - a 50-process tree (fork, exec, _exit, abort, exit, return): one readable trace per process
 * image with the right pid and parent, the right ending, and `traceq report` drawing the same tree. */
#include "rel_util.h"

struct proc {
    int pid, ppid;
    char kind[16];
};

/* Parse proc_tree's "PID PPID KIND" lines; returns the count. */
static size_t parse_procs(char *out, struct proc *p, size_t cap)
{
    size_t n = 0;
    for (char *line = strtok(out, "\n"); line && n < cap; line = strtok(NULL, "\n"))
        if (sscanf(line, "%d %d %15s", &p[n].pid, &p[n].ppid, p[n].kind) == 3)
            n++;
    return n;
}

/* Check the "process tree" section of the report: every process is indented one level under its parent. */
static void check_report_tree(const char *report, const struct proc *p, size_t n)
{
    const char *tree = strstr(report, "process tree");
    cr_assert_not_null(tree, "report has no process tree:\n%s", report);
    int stack[64] = {0}, lines = 0;
    for (const char *l = strchr(tree, '\n'); l && l[1]; l = strchr(l + 1, '\n')) {
        const char *q = l + 1;
        int indent = 0;
        while (q[indent] == ' ')
            indent++;
        int pid;
        if (indent < 2 || sscanf(q + indent, "%d", &pid) != 1)
            break;
        int depth = (indent - 2) / 2;
        cr_assert_lt(depth, 63);
        stack[depth] = pid;
        lines++;
        for (size_t i = 0; i < n; i++)
            if (p[i].pid == pid && depth > 0)
                cr_expect_eq(stack[depth - 1], p[i].ppid, "report puts %d under %d, its parent is %d", pid,
                             stack[depth - 1], p[i].ppid);
    }
    cr_expect_eq(lines, 51, "the tree shows %d processes, want 51", lines);
}

Test(stress_tree, fifty_processes_one_trace_each, .timeout = 120)
{
    char *dir = tq_tmpdir(), cmd[8192], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s record -q -o %s -- %s", tq_build_path("traceq"), dir,
             tq_build_path("progs/proc_tree"));
    cr_assert_eq(tq_run(cmd, &out, NULL), 0, "%s failed", cmd);
    struct proc p[128];
    size_t np = parse_procs(out, p, 128);
    cr_assert_eq(np, 61, "%zu lines from proc_tree: 50 processes, 10 exec'd leaves and the root", np);
    struct tq_trace_summary *s;
    size_t ns = rel_load_all(dir, &s);
    cr_expect_eq(ns, 61, "%zu traces: want one per process image (51 processes + 10 exec'd images)", ns);
    for (size_t i = 0; i < np; i++) {
        /* The traces of this pid: the image that forked, and for "exec" also the image it became. */
        const struct tq_trace_summary *first = NULL, *after_exec = NULL;
        for (size_t j = 0; j < ns; j++) {
            if ((int)s[j].pid != p[i].pid)
                continue;
            if (s[j].argc >= 2 && strcmp(s[j].argv[1], "leaf") == 0)
                after_exec = &s[j];
            else
                first = &s[j];
        }
        if (strcmp(p[i].kind, "leaf") == 0) {
            cr_assert_not_null(after_exec, "no trace for exec'd leaf %d", p[i].pid);
            cr_expect_eq((int)after_exec->ppid, p[i].ppid);
            cr_expect_eq(after_exec->ending, TQ_ENDED_EXIT);
            continue;
        }
        cr_assert_not_null(first, "no trace for %s process %d", p[i].kind, p[i].pid);
        cr_expect_eq((int)first->ppid, p[i].ppid, "pid %d: trace says parent %u, really %d", p[i].pid,
                     first->ppid, p[i].ppid);
        /* An aborted process loses what it did after its last flush (FORMAT.md); the root only forks. */
        if (strcmp(p[i].kind, "abort") != 0 && strcmp(p[i].kind, "root") != 0)
            cr_expect_eq(first->calls_total, 2, "pid %d: %llu calls counted, it made 2", p[i].pid,
                         (unsigned long long)first->calls_total);
        if (strcmp(p[i].kind, "exec") == 0) {
            cr_expect_eq(first->ending, TQ_ENDED_EXEC, "pid %d: ending %d, %llu samples, truncated %d", p[i].pid,
                         (int)first->ending, (unsigned long long)first->samples, (int)first->truncated);
        } else if (strcmp(p[i].kind, "_exit") == 0) {
            cr_expect_eq(first->ending, TQ_ENDED_UEXIT, "pid %d", p[i].pid);
        } else if (strcmp(p[i].kind, "abort") == 0) {
            cr_expect_eq(first->ending, TQ_ENDED_UNKNOWN, "pid %d", p[i].pid);
            cr_expect(first->truncated, "pid %d: an aborted process's trace says it was cut short", p[i].pid);
        } else {
            cr_expect_eq(first->ending, TQ_ENDED_EXIT, "pid %d (%s)", p[i].pid, p[i].kind);
            cr_expect_eq(first->exit_status, strcmp(p[i].kind, "exit") == 0 ? 3 : 0, "pid %d", p[i].pid);
        }
    }
    char *report = NULL;
    snprintf(cmd, sizeof cmd, "%s report %s/traceq.*.tq", tq_build_path("traceq"), dir);
    cr_assert_eq(tq_run(cmd, &report, NULL), 0, "%s failed", cmd);
    check_report_tree(report, p, np);
    free(report);
    rel_free_all(s, ns);
    free(out);
    tq_rmtree(dir);
    free(dir);
}
