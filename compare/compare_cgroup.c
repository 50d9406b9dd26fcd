/* compare_cgroup.c - the cgroup backend of `traceq compare`: the run alone in a memory cgroup made with the
 * runner's cgroup module (runner/cgroup.h: v2 with the memory controller, else v1), its peak read after exit. */
#include <stdint.h>
#include <stdio.h>

#include "../runner/cgroup.h"
#include "compare_internal.h"

tq_status tq_backend_cgroup(const struct backend_ctx *ctx, struct backend_sample *s, char *note, size_t nsize,
                            struct tq_err *err)
{
    tq_cg_root *root = NULL;
    struct tq_err why;
    if (tq_cg_root_create(&root, &why)) {
        snprintf(note, nsize, "no usable memory cgroup: %s", why.msg);
        return TQ_OK;
    }
    /* No real limit: the kernel clamps INT64_MAX to "unlimited" in both versions. */
    tq_cgroup *cg = NULL;
    char name[32], procs[4200], log[4200];
    snprintf(name, sizeof name, "compare-%d", ctx->run);
    tq_status st = tq_cg_create(root, name, INT64_MAX, &cg, err);
    if (!st) {
        snprintf(procs, sizeof procs, "%s/cgroup.procs", tq_cg_path(cg));
        snprintf(log, sizeof log, "%s/cgroup.%d.log", ctx->workdir, ctx->run);
        struct tq_proc_spec o = {.argv = ctx->argv, .log_path = log, .null_stdin = 1, .cgroup_procs = procs};
        struct tq_proc_result r;
        struct tq_cg_stats stats;
        st = tq_proc_run(&o, 0, NULL, NULL, &r, err);
        if (!st)
            st = tq_cg_read(cg, &stats, err);
        if (!st && stats.peak == 0)
            snprintf(note, nsize, "this kernel keeps no cgroup memory peak (memory.peak needs Linux 5.19)");
        s->peak = st ? 0 : stats.peak;
        s->wall_s = r.wall_s;
        s->exit_status = r.code;
    }
    tq_cg_free(cg);
    tq_cg_root_free(root);
    return st;
}
