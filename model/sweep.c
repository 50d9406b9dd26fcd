/* sweep.c - run `traceq op` once in a pinned child process and measure its peaks (see sweep.h). */
#include "sweep.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../report/trace_summary.h"
#include "../common/cleanup.h"
#include "../common/clock.h"
#include "../common/procfs.h"

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

/* Child side: pin, send stdout to /dev/null and stderr to errpath, exec. Never returns. */
static void child_exec(const struct tq_sweep_job *job, char **argv, const char *errpath)
{
    if (job->cpus && sched_setaffinity(0, sizeof *job->cpus, job->cpus))
        _exit(126);
    int out = open("/dev/null", O_WRONLY), e = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0 || e < 0 || dup2(out, 1) < 0 || dup2(e, 2) < 0)
        _exit(126);
    execv(job->exe, argv);
    fprintf(stderr, "cannot run %s: %s\n", job->exe, strerror(errno));
    _exit(127);
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

/* Wait for pid, sampling its VmRSS every interval when sample is set; returns the wait status and rusage. */
static int wait_sampling(pid_t pid, int interval_ms, int sample, uint64_t *peak, struct rusage *ru)
{
    int status = 0;
    struct timespec ts = {interval_ms / 1000, (long)(interval_ms % 1000) * 1000000L};
    *peak = 0;
    for (;;) {
        pid_t r = wait4(pid, &status, sample ? WNOHANG : 0, ru);
        if (r == pid)
            return status;
        if (r < 0 && errno != EINTR)
            return -1;
        if (sample) {
            uint64_t rss = tq_proc_status_bytes(pid, "VmRSS");
            *peak = rss > *peak ? rss : *peak;
            nanosleep(&ts, NULL);
        }
    }
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

/* Turn the wait status into ok / failed-with-reason. */
static void row_status(int status, const char *errpath, struct tq_dataset_row *row)
{
    char tail[200];
    last_line(errpath, tail, sizeof tail);
    if (status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        row->ok = 1;
        return;
    }
    if (status >= 0 && WIFSIGNALED(status))
        snprintf(row->reason, sizeof row->reason, "killed by signal %d (%s)%s%s", WTERMSIG(status),
                 strsignal(WTERMSIG(status)), tail[0] ? ": " : "", tail);
    else if (status >= 0 && WEXITSTATUS(status) > 128)
        snprintf(row->reason, sizeof row->reason, "killed by signal %d%s%s", WEXITSTATUS(status) - 128,
                 tail[0] ? ": " : "", tail);
    else
        snprintf(row->reason, sizeof row->reason, "exit status %d%s%s", status >= 0 ? WEXITSTATUS(status) : -1,
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
    /* Until the run is measured, a signal removes its trace folder (no row will point to it), the output
     * folder, and stops the child first (common/cleanup.h). Signals wait while a folder is made and registered. */
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
    double t0 = tq_clock_now();
    tq_cleanup_hold(&mask);
    pid_t pid = fork();
    if (pid == 0) {
        tq_cleanup_release(&mask);
        child_exec(job, argv, errpath);
    }
    int clean_child = tq_cleanup_add_child(pid);
    tq_cleanup_release(&mask);
    if (pid < 0) {
        tq_status st = tq_fail_errno(err, TQ_ERR_CHILD, "cannot fork");
        rmdir(outdir);
        rmdir(dir);
        tq_cleanup_forget(clean_out);
        tq_cleanup_forget(clean_dir);
        return st;
    }
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    uint64_t sampled;
    int status = wait_sampling(pid, job->interval_ms, !job->use_record, &sampled, &ru);
    row->wall_s = tq_clock_now() - t0;
    tq_cleanup_forget(clean_child);
    unlink(outpath); /* outputs can be hundreds of MiB; only the measurement is kept */
    rmdir(outdir);
    tq_cleanup_forget(clean_out);
    row_status(status, errpath, row);
    /* wait4's ru_maxrss covers the child and the descendants it waited for: the operator's high-water mark */
    row->vmhwm_bytes = (uint64_t)ru.ru_maxrss * 1024;
    /* a run shorter than one interval may never be sampled: its high-water mark is the best figure left */
    row->peak_rss_bytes = sampled ? sampled : row->vmhwm_bytes;
    snprintf(row->trace, sizeof row->trace, "%.1000s", dir);
    if (job->use_record && row->ok && !read_traces(dir, row)) {
        row->ok = 0;
        snprintf(row->reason, sizeof row->reason, "no readable trace in %.200s", dir);
    }
    tq_cleanup_forget(clean_dir);
    return TQ_OK;
}
