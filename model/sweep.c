/* sweep.c - run `traceq op` once in a pinned child process (common/process.h) and measure its peaks (see sweep.h). */
#include "sweep.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../report/trace_summary.h"
#include "../report/tree_peak.h"
#include "../common/alloc.h"
#include "../common/cgroup.h"
#include "../common/cleanup.h"
#include "../common/procfs.h"
#include "../common/process.h"
#include "../common/units.h"
#include "../operators/volume.h"

tq_status tq_sweep_parse_cpus(const char *s, cpu_set_t *set, struct tq_err *err)
{
    CPU_ZERO(set);
    const char *p = s;
    while (*p) {
        char *end;
        long a = strtol(p, &end, 10), b = a;
        if (end == p || a < 0)
            return tq_fail(err, TQ_ERR_USAGE, "bad CPU list '%s' (expected e.g. 0 or 0,2 or 1-3)", s);
        p = end;
        if (*p == '-') {
            b = strtol(p + 1, &end, 10);
            if (end == p + 1 || b < a)
                return tq_fail(err, TQ_ERR_USAGE, "bad CPU range in '%s'", s);
            p = end;
        }
        if (b >= CPU_SETSIZE)
            return tq_fail(err, TQ_ERR_USAGE, "CPU %ld is beyond %d", b, CPU_SETSIZE);
        for (long c = a; c <= b; c++)
            CPU_SET((int)c, set);
        if (*p == ',')
            p++;
        else if (*p)
            return tq_fail(err, TQ_ERR_USAGE, "bad CPU list '%s' (expected e.g. 0 or 0,2 or 1-3)", s);
    }
    if (!CPU_COUNT(set))
        return tq_fail(err, TQ_ERR_USAGE, "empty CPU list");
    return TQ_OK;
}

tq_status tq_sweep_parse_param(const char *s, char name[32], size_t *values, size_t cap, size_t *n,
                               struct tq_err *err)
{
    const char *eq = strchr(s, '=');
    size_t len = eq ? (size_t)(eq - s) : 0;
    if (!eq || !len || len >= 32 || isdigit((unsigned char)s[0]))
        return tq_fail(err, TQ_ERR_USAGE, "bad --param '%s' (expected NAME=START:STOP:STEP or NAME=START:STOP:xF, "
                       "e.g. rows=1000:64000:x2)", s);
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_')
            return tq_fail(err, TQ_ERR_USAGE, "bad parameter name '%.*s' (letters, digits and _)", (int)len, s);
    memcpy(name, s, len);
    name[len] = 0;
    if (!strcmp(name, "in") || !strcmp(name, "out") || !strcmp(name, "_"))
        return tq_fail(err, TQ_ERR_USAGE, "a parameter cannot be called '%s'", name);
    struct tq_err rerr = {0};
    if (tq_parse_range(eq + 1, values, cap, n, &rerr))
        return tq_fail(err, TQ_ERR_USAGE, "--param %s: %s", name, rerr.msg);
    if (values[0] == 0)
        return tq_fail(err, TQ_ERR_USAGE, "--param %s: values must be 1 or more", name);
    return TQ_OK;
}

/* The command line: [traceq record -o DIR -i MS --] traceq op OP --synthetic IxXxS --output OUT --threads N. */
static void build_argv(const struct tq_sweep_job *job, const char *dir, const char *outpath, char bufs[3][64],
                       char **argv)
{
    int n = 0;
    snprintf(bufs[0], 64, "%zux%zux%zu", job->shape[0], job->shape[1], job->shape[2]);
    snprintf(bufs[1], 64, "%d", job->interval_ms);
    snprintf(bufs[2], 64, "%d", job->cpus ? CPU_COUNT(job->cpus) : 0);
    argv[n++] = (char *)job->exe;
    if (job->use_record) {
        /* -q: record's list of written traces must not become the failure reason (the last stderr line) */
        const char *rec[] = {"record", "-q", "-o", dir, "-i", bufs[1], "--", job->exe};
        for (size_t i = 0; i < sizeof rec / sizeof *rec; i++)
            argv[n++] = (char *)rec[i];
    }
    const char *op[] = {"op", job->op, "--synthetic", bufs[0], "--output", outpath, "--threads", bufs[2]};
    for (size_t i = 0; i < sizeof op / sizeof *op; i++)
        argv[n++] = (char *)op[i];
    argv[n] = NULL;
}

/* A user's command line: traceq record -q -o DIR -i MS -- <the template with its placeholders filled>. The
 * expanded words are owned by *words (free with tq_ucmd_argv_free); argv borrows them. */
static tq_status build_cmd_argv(const struct tq_sweep_job *job, const char *dir, const char *inpath,
                                const char *outpath, char *ms, char ***words, char **argv, size_t cap,
                                struct tq_err *err)
{
    const char *names[3], *values[3];
    char vals[3][32];
    size_t n = 0;
    if (job->nparams) {
        for (size_t i = 0; i < job->nparams && i < 3; i++) {
            snprintf(vals[i], sizeof vals[i], "%zu", job->shape[i]);
            names[n] = job->params[i];
            values[n++] = vals[i];
        }
    } else {
        names[0] = "in";
        names[1] = "out";
        values[0] = inpath;
        values[1] = outpath;
        n = 2;
    }
    TQ_TRY(tq_ucmd_expand(job->cmd, names, values, n, words, err));
    const char *rec[] = {job->exe, "record", "-q", "-o", dir, "-i", ms, "--"};
    size_t k = 0;
    for (size_t i = 0; i < sizeof rec / sizeof *rec; i++)
        argv[k++] = (char *)rec[i];
    for (size_t i = 0; (*words)[i] && k + 1 < cap; i++)
        argv[k++] = (*words)[i];
    argv[k] = NULL;
    return TQ_OK;
}

/* What tq_proc_run's poll samples: the run's VmRSS (the proc backend) and its cgroup's charged memory. */
struct run_samples {
    int rss;              /* sample VmRSS */
    uint64_t rss_peak;
    tq_cgroup *cg;        /* sample the charged memory of this group (NULL: none) */
    uint64_t charged_peak;
};

/* tq_proc_run's poll: the samples into their peaks so far (ctx: struct run_samples). */
static void sample_run(pid_t pid, double t, void *ctx)
{
    (void)t;
    struct run_samples *s = ctx;
    uint64_t v;
    if (s->rss && (v = tq_proc_status_bytes(pid, "VmRSS")) > s->rss_peak)
        s->rss_peak = v;
    if (s->cg && !tq_cg_read_charged(s->cg, &v, NULL) && v > s->charged_peak)
        s->charged_peak = v;
}

/* A fresh, unlimited memory cgroup for one run (its parent group is the sweep's "traceq-<pid>"), or NULL with
 * *root NULL when none can be made here (no writable memory cgroup: the row's charged figure stays 0). */
static tq_cgroup *run_cgroup(tq_cg_root **root)
{
    tq_cgroup *cg = NULL;
    if (tq_cg_root_create(root, NULL))
        return NULL;
    if (tq_cg_create(*root, "sweep-run", UINT64_MAX, &cg, NULL)) {
        tq_cg_root_free(*root);
        *root = NULL;
        return NULL;
    }
    return cg;
}

/* The charged peak of a finished run: the highest sampled anonymous + shmem charge, or, when higher, the group's
 * peak usage less what it still holds after the run ended (page cache of the files it wrote or first read). The
 * page cache only grows while the run goes on (nothing reclaims it without a limit), so that difference is never
 * above the anonymous peak: both are lower bounds, the second one catches peaks shorter than a sampling interval. */
static uint64_t charged_peak(const tq_cgroup *cg, uint64_t sampled)
{
    struct tq_cg_stats st;
    if (tq_cg_read(cg, &st, NULL))
        return sampled;
    uint64_t after = st.peak > st.usage ? st.peak - st.usage : 0;
    return after > sampled ? after : sampled;
}

/* Last non-empty line of a small text file into buf, skipping "Try '... --help'." hints. */
static void last_line(const char *path, char *buf, size_t cap)
{
    char line[512];
    FILE *f = fopen(path, "r");
    buf[0] = 0;
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (line[0] && strncmp(line, "Try '", 5))
            snprintf(buf, cap, "%.199s", line);
    }
    if (f)
        fclose(f);
}

#define TREE_PIDS 256 /* processes of one command's tree summed (more are left out) */

/* Per-process peaks of a command's tree: a process that exec'd has several traces (one per program), which ran
 * one after the other: its peak is their maximum; the tree's is the sum over processes. */
struct tree_peaks {
    size_t n;
    uint32_t pid[TREE_PIDS];
    uint64_t rss[TREE_PIDS], hwm[TREE_PIDS], heap[TREE_PIDS], mmap[TREE_PIDS];
};

static void tree_add(struct tree_peaks *t, const struct tq_trace_summary *s)
{
    size_t i = 0;
    while (i < t->n && t->pid[i] != s->pid)
        i++;
    if (i == t->n) {
        if (t->n == TREE_PIDS)
            return;
        t->pid[t->n] = s->pid;
        t->rss[i] = t->hwm[i] = t->heap[i] = t->mmap[i] = 0;
        t->n++;
    }
    uint64_t hwm = s->vm_hwm ? s->vm_hwm : s->ru_maxrss;
    t->rss[i] = s->peak_rss > t->rss[i] ? s->peak_rss : t->rss[i];
    t->hwm[i] = hwm > t->hwm[i] ? hwm : t->hwm[i];
    t->heap[i] = s->peak_heap > t->heap[i] ? s->peak_heap : t->heap[i];
    t->mmap[i] = s->peak_mmap > t->mmap[i] ? s->peak_mmap : t->mmap[i];
}

static void tree_sum(const struct tree_peaks *t, struct tq_dataset_row *row)
{
    row->peak_rss_bytes = row->vmhwm_bytes = row->peak_heap_bytes = row->peak_mmap_bytes = 0;
    for (size_t i = 0; i < t->n; i++) {
        row->peak_rss_bytes += t->rss[i];
        row->vmhwm_bytes += t->hwm[i];
        row->peak_heap_bytes += t->heap[i];
        row->peak_mmap_bytes += t->mmap[i];
    }
}

/* A command's traces summarized with their samples, for its RSS at once (report/tree_peak.h). */
struct tree_traces {
    struct tq_trace_summary *v;
    size_t n, cap;
    int failed; /* out of memory: the sum of peaks stays */
};

/* Keep s (taken over: *s is zeroed), or clear it when there is no room. */
static void tree_traces_add(struct tree_traces *p, struct tq_trace_summary *s)
{
    if (!p->failed && p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 16;
        struct tq_trace_summary *v = tq_realloc(p->v, cap * sizeof *v);
        if (!v)
            p->failed = 1;
        else {
            p->v = v;
            p->cap = cap;
        }
    }
    if (p->failed) {
        tq_trace_summary_clear(s);
        return;
    }
    p->v[p->n++] = *s;
    memset(s, 0, sizeof *s);
}

/* The tree's sampled RSS peak becomes the highest sum of its processes' RSS at one moment, not the sum of their
 * own peaks (a script's steps run one after another); VmHWM, heap and mmap stay sums of per-process peaks. */
static void tree_rss_at_once(const struct tree_traces *p, struct tq_dataset_row *row)
{
    struct tq_tree_peak tp;
    if (!p->failed && p->n > 1 && !tq_tree_timeline(p->v, p->n, TQ_TREE_RSS, NULL, NULL, &tp, NULL, &(struct tq_err){0}))
        row->peak_rss_bytes = tp.peak;
}

static void tree_traces_free(struct tree_traces *p)
{
    for (size_t i = 0; i < p->n; i++)
        tq_trace_summary_clear(&p->v[i]);
    free(p->v);
}

/* The trace in dir with the highest sampled peak (the operator's process) into the row, or with `tree` the
 * figures of a command's tree (tree_sum, tree_rss_at_once). */
static int read_traces(const char *dir, int tree, struct tq_dataset_row *row)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int found = 0;
    static struct tree_peaks t;
    struct tree_traces traces = {0};
    t.n = 0;
    while (d && (de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len < 4 || strcmp(de->d_name + len - 3, ".tq"))
            continue;
        char path[2048];
        snprintf(path, sizeof path, "%.1700s/%.255s", dir, de->d_name);
        struct tq_trace_summary s; /* a tree's: with its samples (the trace is read once) */
        if ((tree ? tq_trace_summarize_samples : tq_trace_summarize)(path, &s, NULL))
            continue;
        if (tree)
            tree_add(&t, &s);
        if (!found || s.peak_rss > row->peak_rss_bytes) {
            row->peak_rss_bytes = s.peak_rss;
            row->vmhwm_bytes = s.vm_hwm ? s.vm_hwm : s.ru_maxrss;
            row->peak_heap_bytes = s.peak_heap;
            row->peak_mmap_bytes = s.peak_mmap;
            snprintf(row->trace, sizeof row->trace, "%.1000s", path);
            found = 1;
        }
        if (tree)
            tree_traces_add(&traces, &s);
        else
            tq_trace_summary_clear(&s);
    }
    if (d)
        closedir(d);
    if (tree && found) {
        tree_sum(&t, row);
        tree_rss_at_once(&traces, row);
        snprintf(row->trace, sizeof row->trace, "%.1000s", dir);
    }
    tree_traces_free(&traces);
    return found;
}

static void row_init(const struct tq_sweep_job *job, struct tq_dataset_row *row)
{
    memset(row, 0, sizeof *row);
    snprintf(row->op, sizeof row->op, "%s", job->op);
    if (job->cmd)
        snprintf(row->command, sizeof row->command, "%s", job->cmd->text);
    for (size_t i = 0; job->cmd && job->nparams && i < 3; i++)
        snprintf(row->axes[i], sizeof row->axes[i], "%s", i < job->nparams ? job->params[i] : "_");
    memcpy(row->shape, job->shape, sizeof row->shape);
    row->run = job->run;
}

/* Turn the wait status into ok / failed-with-reason. Under `traceq record`, an exit code 128+N is the run's death
 * by signal N passed on. */
static void row_status(int status, const char *errpath, struct tq_dataset_row *row)
{
    char tail[200], how[128];
    last_line(errpath, tail, sizeof tail);
    int code = tq_proc_exit_code(status);
    if (code == 0) {
        row->ok = 1;
        return;
    }
    if (!tq_proc_killed_by(status) && code > 128 && code < 128 + 65)
        status = tq_proc_signal_status(code - 128);
    snprintf(row->reason, sizeof row->reason, "%s%s%s", tq_proc_describe(status, how, sizeof how),
             tail[0] ? ": " : "", tail);
}

/* A volume command's synthetic input, written into its private temporary folder (parameter commands have none). */
static tq_status cmd_input(const struct tq_sweep_job *job, const char *inpath, struct tq_err *err)
{
    return job->nparams ? TQ_OK : tq_synth_write_file(inpath, job->shape, 1, 0, err);
}

/* Remove the temporaries of a command's run: its input, whatever it wrote as {out}, the directory. */
static void cmd_cleanup(const char *tmpdir, const char *inpath, const char *outpath)
{
    unlink(inpath);
    unlink(outpath);
    rmdir(tmpdir);
}

tq_status tq_sweep_run(const struct tq_sweep_job *job, struct tq_dataset_row *row, struct tq_err *err)
{
    char dir[2048], outdir[2048], outpath[2100], inpath[2100] = "", errpath[2100], bufs[3][64];
    const char *tmp = getenv("TMPDIR");
    snprintf(outdir, sizeof outdir, "%.2000s/traceq-sweep-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    char *argv[64 + 16], **words = NULL;
    row_init(job, row);
    if (job->cmd && !job->use_record)
        return tq_fail(err, TQ_ERR_USAGE, "a command is swept under `traceq record` only (--backend record)");
    snprintf(dir, sizeof dir, "%s/%s-%zux%zux%zu-r%d.XXXXXX", job->trace_root, job->op, job->shape[0],
             job->shape[1], job->shape[2], job->run);
    /* Until the run is measured, a signal removes its trace folder (no row will point to it) and the temporary
     * folder (a command's input and output, an operator's output); tq_proc_run stops the child first
     * (common/cleanup.h). Signals wait while a folder is made and registered. */
    sigset_t mask;
    tq_cleanup_hold(&mask);
    int clean_dir = mkdtemp(dir) ? tq_cleanup_add_dir(dir) : -1, clean_out = -1;
    if (clean_dir >= 0)
        clean_out = mkdtemp(outdir) ? tq_cleanup_add_dir(outdir) : -1;
    tq_cleanup_release(&mask);
    if (clean_dir < 0)
        return tq_fail_errno(err, TQ_ERR_IO, "cannot make a trace directory under %s", job->trace_root);
    if (clean_out < 0) {
        tq_status st = tq_fail_errno(err, TQ_ERR_IO, "cannot make a temporary directory %s", outdir);
        rmdir(dir);
        tq_cleanup_forget(clean_dir);
        return st;
    }
    snprintf(outpath, sizeof outpath, "%s/out.npy", outdir);
    tq_status st = TQ_OK;
    if (job->cmd) {
        snprintf(inpath, sizeof inpath, "%s/in.npy", outdir);
        snprintf(bufs[1], 64, "%d", job->interval_ms);
        st = cmd_input(job, inpath, err);
        if (!st)
            st = build_cmd_argv(job, dir, inpath, outpath, bufs[1], &words, argv, sizeof argv / sizeof *argv, err);
    } else {
        build_argv(job, dir, outpath, bufs, argv);
    }
    int devnull = st ? -1 : open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (!st && devnull < 0)
        st = tq_fail_errno(err, TQ_ERR_IO, "cannot open /dev/null");
    if (st) {
        tq_ucmd_argv_free(words);
        cmd_cleanup(outdir, inpath, outpath);
        rmdir(dir);
        tq_cleanup_forget(clean_out);
        tq_cleanup_forget(clean_dir);
        return st;
    }
    snprintf(errpath, sizeof errpath, "%s/stderr.txt", dir);
    snprintf(row->trace, sizeof row->trace, "%.1000s", dir);
    /* stdout to /dev/null, stderr to the run's file (for the failure reason), pinned when asked */
    struct tq_proc_spec spec = {.argv = argv, .log_path = errpath, .out_fd = devnull, .cpus = job->cpus};
    struct tq_proc_result res;
    tq_cg_root *cg_root = NULL;
    struct run_samples samples = {.rss = !job->use_record, .cg = job->charged ? run_cgroup(&cg_root) : NULL};
    char procs[2200];
    if (samples.cg) {
        snprintf(procs, sizeof procs, "%.2000s/cgroup.procs", tq_cg_path(samples.cg));
        spec.cgroup_procs = procs;
    }
    int poll = samples.rss || samples.cg;
    st = tq_proc_run(&spec, poll ? job->interval_ms / 1000.0 : 0, poll ? sample_run : NULL, &samples, &res, err);
    if (samples.cg && !st)
        row->charged_peak_bytes = charged_peak(samples.cg, samples.charged_peak);
    tq_cg_free(samples.cg);
    tq_cg_root_free(cg_root);
    close(devnull);
    tq_ucmd_argv_free(words);
    row->wall_s = res.wall_s;
    cmd_cleanup(outdir, inpath, outpath); /* outputs can be hundreds of MiB; only the measurement is kept */
    tq_cleanup_forget(clean_out);
    if (st) {
        tq_cleanup_forget(clean_dir);
        return st;
    }
    row_status(res.status, errpath, row);
    /* wait4's ru_maxrss covers the child and the descendants it waited for: the operator's high-water mark */
    row->vmhwm_bytes = (uint64_t)res.ru.ru_maxrss * 1024;
    /* a run shorter than one interval may never be sampled: its high-water mark is the best figure left */
    row->peak_rss_bytes = samples.rss_peak ? samples.rss_peak : row->vmhwm_bytes;
    if (job->use_record && row->ok && !read_traces(dir, job->cmd != NULL, row)) {
        row->ok = 0;
        snprintf(row->reason, sizeof row->reason, "no readable trace in %.200s", dir);
    }
    tq_cleanup_forget(clean_dir);
    return TQ_OK;
}
