/* compare_cgroup.c - the cgroup backend of `traceq compare`: the run in its own memory cgroup, v1 or v2. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compare_internal.h"

/* Where memory cgroups can be made here, and the file that holds the peak. */
struct cg_kind {
    const char *root;      /* the hierarchy's mount */
    const char *peak_file; /* file with the peak usage in bytes */
    const char *version;
};

static const struct cg_kind kinds[] = {
    {"/sys/fs/cgroup/memory", "memory.max_usage_in_bytes", "v1"},
    {"/sys/fs/cgroup/unified", "memory.peak", "v2"},
    {"/sys/fs/cgroup", "memory.peak", "v2"},
};

static bool file_has_word(const char *path, const char *word)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char buf[512];
    bool found = false;
    while (!found && fscanf(f, "%511s", buf) == 1)
        found = strcmp(buf, word) == 0;
    fclose(f);
    return found;
}

/* The first hierarchy where we can make a cgroup with a memory controller, or NULL with a note why not. */
static const struct cg_kind *find_kind(char *note, size_t nsize)
{
    char path[512];
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        const struct cg_kind *k = &kinds[i];
        if (!strcmp(k->version, "v1")) {
            snprintf(path, sizeof path, "%s/%s", k->root, k->peak_file);
        } else {
            /* v2 only counts memory when the controller is enabled for children of the root. */
            snprintf(path, sizeof path, "%s/cgroup.subtree_control", k->root);
            if (!file_has_word(path, "memory"))
                continue;
        }
        if (access(k->root, W_OK) == 0 && (strcmp(k->version, "v1") || access(path, R_OK) == 0))
            return k;
    }
    snprintf(note, nsize, "no writable memory cgroup (v1 %s or v2 with the memory controller enabled)%s",
             kinds[0].root, geteuid() ? "; needs root" : "");
    return NULL;
}

static tq_status read_u64(const char *path, uint64_t *v, struct tq_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return tq_fail_errno(err, TQ_ERR_IO, "cannot open %s", path);
    unsigned long long x;
    int ok = fscanf(f, "%llu", &x) == 1;
    fclose(f);
    if (!ok)
        return tq_fail(err, TQ_ERR_FORMAT, "no number in %s", path);
    *v = x;
    return TQ_OK;
}

tq_status tq_backend_cgroup(const struct backend_ctx *ctx, struct backend_sample *s, char *note, size_t nsize,
                            struct tq_err *err)
{
    const struct cg_kind *k = find_kind(note, nsize);
    if (!k)
        return TQ_OK;
    char dir[512], procs[600], peak[600], log[4200];
    snprintf(dir, sizeof dir, "%s/traceq-compare-%d-%d", k->root, (int)getpid(), ctx->run);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        snprintf(note, nsize, "cannot create a cgroup in %s: %s", k->root, strerror(errno));
        return TQ_OK;
    }
    snprintf(procs, sizeof procs, "%s/cgroup.procs", dir);
    snprintf(peak, sizeof peak, "%s/%s", dir, k->peak_file);
    snprintf(log, sizeof log, "%s/cgroup.%d.log", ctx->workdir, ctx->run);
    struct tq_spawn_opts o = {.argv = ctx->argv, .log_path = log, .cgroup_procs = procs};
    struct tq_spawn_result r;
    tq_status st = tq_spawn_run(&o, &r, err);
    if (!st)
        st = read_u64(peak, &s->peak, err);
    s->wall_s = r.wall_s;
    s->exit_status = r.status;
    /* The child is reaped, so the cgroup is empty; leftover page-cache charges do not block rmdir. */
    rmdir(dir);
    return st;
}
