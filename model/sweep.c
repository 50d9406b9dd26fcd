/* sweep.c - run `traceq op` once in a pinned child process (common/process.h) and measure its peaks (see sweep.h). */
#include "sweep.h"

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
#include "../common/cleanup.h"
#include "../common/procfs.h"
#include "../common/process.h"

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

/* tq_proc_run's poll: the run's VmRSS into the peak so far (ctx: uint64_t). */
static void sample_rss(pid_t pid, double t, void *ctx)
{
    (void)t;
    uint64_t *peak = ctx, rss = tq_proc_status_bytes(pid, "VmRSS");
    *peak = rss > *peak ? rss : *peak;
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

/* The trace in dir with the highest sampled peak (the operator's process) into the row. */
static int read_traces(const char *dir, struct tq_dataset_row *row)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int found = 0;
    while (d && (de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len < 4 || strcmp(de->d_name + len - 3, ".tq"))
            continue;
        char path[2048];
        snprintf(path, sizeof path, "%.1700s/%.255s", dir, de->d_name);
        struct tq_trace_summary s;
        if (tq_trace_summarize(path, &s, NULL))
            continue;
        if (!found || s.peak_rss > row->peak_rss_bytes) {
            row->peak_rss_bytes = s.peak_rss;
            row->vmhwm_bytes = s.vm_hwm ? s.vm_hwm : s.ru_maxrss;
            row->peak_heap_bytes = s.peak_heap;
            row->peak_mmap_bytes = s.peak_mmap;
            snprintf(row->trace, sizeof row->trace, "%.1000s", path);
            found = 1;
        }
        tq_trace_summary_clear(&s);
    }
    if (d)
        closedir(d);
    return found;
}

static void row_init(const struct tq_sweep_job *job, struct tq_dataset_row *row)
{
    memset(row, 0, sizeof *row);
    snprintf(row->op, sizeof row->op, "%s", job->op);
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

tq_status tq_sweep_run(const struct tq_sweep_job *job, struct tq_dataset_row *row, struct tq_err *err)
{
    char dir[2048], outdir[2048], outpath[2100], errpath[2100], bufs[3][64];
    const char *tmp = getenv("TMPDIR");
    snprintf(outdir, sizeof outdir, "%.2000s/traceq-sweep-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    char *argv[24];
    row_init(job, row);
    snprintf(dir, sizeof dir, "%s/%s-%zux%zux%zu-r%d.XXXXXX", job->trace_root, job->op, job->shape[0],
             job->shape[1], job->shape[2], job->run);
    /* Until the run is measured, a signal removes its trace folder (no row will point to it) and the output
     * folder; tq_proc_run stops the child first (common/cleanup.h). Signals wait while a folder is made and
     * registered. */
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
    snprintf(errpath, sizeof errpath, "%s/stderr.txt", dir);
    build_argv(job, dir, outpath, bufs, argv);
    snprintf(row->trace, sizeof row->trace, "%.1000s", dir);
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (devnull < 0) {
        tq_status e = tq_fail_errno(err, TQ_ERR_IO, "cannot open /dev/null");
        rmdir(outdir);
        tq_cleanup_forget(clean_out);
        tq_cleanup_forget(clean_dir);
        return e;
    }
    /* stdout to /dev/null, stderr to the run's file (for the failure reason), pinned when asked */
    struct tq_proc_spec spec = {.argv = argv, .log_path = errpath, .out_fd = devnull, .cpus = job->cpus};
    struct tq_proc_result res;
    uint64_t sampled = 0;
    tq_status st = tq_proc_run(&spec, job->use_record ? 0 : job->interval_ms / 1000.0, sample_rss, &sampled, &res,
                               err);
    close(devnull);
    row->wall_s = res.wall_s;
    unlink(outpath); /* outputs can be hundreds of MiB; only the measurement is kept */
    rmdir(outdir);
    tq_cleanup_forget(clean_out);
    if (st) {
        tq_cleanup_forget(clean_dir);
        return st;
    }
    row_status(res.status, errpath, row);
    /* wait4's ru_maxrss covers the child and the descendants it waited for: the operator's high-water mark */
    row->vmhwm_bytes = (uint64_t)res.ru.ru_maxrss * 1024;
    /* a run shorter than one interval may never be sampled: its high-water mark is the best figure left */
    row->peak_rss_bytes = sampled ? sampled : row->vmhwm_bytes;
    if (job->use_record && row->ok && !read_traces(dir, row)) {
        row->ok = 0;
        snprintf(row->reason, sizeof row->reason, "no readable trace in %.200s", dir);
    }
    tq_cleanup_forget(clean_dir);
    return TQ_OK;
}
