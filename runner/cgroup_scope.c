/* cgroup_scope.c - getting a delegated cgroup v2 subtree without root: run the command again inside
 * `systemd-run --user --scope -p Delegate=yes` when the runner has no memory cgroup of its own (see cgroup.h). */
#define _GNU_SOURCE
#include "cgroup.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/alloc.h"
#include "../common/process.h"

#define SCOPE_MARK "TRACEQ_DELEGATED"

void tq_cg_reexec_in_scope(int nargs, char **args)
{
    if (secure_getenv(SCOPE_MARK) || getenv(SCOPE_MARK))
        return; /* already asked systemd once: never loop */
    tq_cg_root *root = NULL;
    if (tq_cg_root_create(&root, NULL) == TQ_OK) {
        tq_cg_root_free(root);
        return; /* a memory cgroup is at hand */
    }
    /* Is a user manager there to make the scope? A probe costs one short child. */
    char *probe[] = {"systemd-run", "--user", "--scope", "-p", "Delegate=yes", "--quiet", "--", "true", NULL};
    struct tq_proc_spec po = {.argv = probe, .null_stdin = 1, .log_path = "/dev/null"};
    struct tq_proc_result pr;
    struct tq_err err = {0};
    if (tq_proc_run(&po, 0, NULL, NULL, &pr, &err) != TQ_OK || pr.code != 0)
        return;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return;
    exe[n] = 0;
    char **nargv = tq_calloc((size_t)nargs + 9, sizeof *nargv);
    if (!nargv)
        return;
    int k = 0;
    for (int i = 0; i < 7; i++)
        nargv[k++] = probe[i];
    nargv[k++] = exe;
    for (int i = 0; i < nargs; i++)
        nargv[k++] = args[i];
    nargv[k] = NULL;
    char *mark[] = {SCOPE_MARK "=1", NULL};
    tq_proc_exec(NULL, nargv, mark, NULL); /* returns only when it failed: go on as before (the watchdog) */
    free(nargv);
}
