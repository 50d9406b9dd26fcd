/* runner.c - the worker pool: fork per block (common/process.h), memory limit per slot, OOM split and retry,
 * journal, progress (see runner.h). */
#define _GNU_SOURCE /* pipe2 */
#include "runner.h"
#include "../common/alloc.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "../common/clock.h"
#include "../common/procfs.h"
#include "../common/process.h"
#include "../common/units.h"
#include "cgroup.h"
#include "watchdog.h"

#define POLL_NS (5 * 1000 * 1000) /* loop period: watchdog sampling and MPI serving both need it short */

/* A block to compute, how many splits made it and how many of its workers died of a signal (not OOM) so far. */
struct item {
    struct tq_box box;
    int level;
    int crashes;
    char id[96]; /* the plan's index, ".0"/".1" per split (--trace-blocks names traces by it) */
};

/* What a worker process sends back through its pipe before exiting. */
struct worker_msg {
    int32_t status;
    uint64_t hwm;
    double seconds;
    char text[480];
};

struct slot {
    pid_t pid; /* 0 = idle */
    int fd;    /* read end of the worker's result pipe */
    struct item item;
    tq_cgroup *cg;
    uint64_t oom_before; /* the slot cgroup's oom_kill count before this worker started */
    int wd_killed;       /* the watchdog killed this worker */
    long nth;            /* this worker's start number in the run, from 1 (test hook kill_worker) */
    double t0;
};

struct run {
    const struct tq_runner_task *task;
    const struct tq_runner_opts *opts;
    struct tq_runner_report *rep;
    const struct tq_runner_source *src; /* NULL: the list only */
    int src_done;
    int fed; /* tq_runner_run_fed: the source's blocks are the plan's */
    struct item *list; /* plan blocks still to do (after the journal) */
    size_t nlist, ilist;
    struct item *stack; /* halves of OOM-killed blocks: done first */
    size_t nstack, capstack;
    struct slot slot[TQ_RUNNER_MAX_WORKERS];
    tq_cg_root *cgroot;
    int watchdog;
    uint64_t voxels_left; /* for the ETA (list runs only) */
    double t_start, t_drawn;
    long started;         /* workers forked so far */
    tq_status failed;     /* first failure; no new blocks are started after it */
    char last_trace[PATH_MAX]; /* --trace-blocks: the main trace of the worker reaped last */
    struct tq_err *err;
};

static volatile sig_atomic_t run_signal;

static void run_on_signal(int sig)
{
    run_signal = sig;
}

int tq_runner_split(const struct tq_box *b, unsigned splittable, struct tq_box halves[2])
{
    int best = -1;
    for (int a = 0; a < 3; a++)
        if ((splittable >> a & 1u) && tq_box_len(b, a) >= 2 && (best < 0 || tq_box_len(b, a) > tq_box_len(b, best)))
            best = a;
    if (best < 0)
        return -1;
    halves[0] = halves[1] = *b;
    size_t mid = b->lo[best] + tq_box_len(b, best) / 2;
    halves[0].hi[best] = mid;
    halves[1].lo[best] = mid;
    return 0;
}

/* Record the first failure of the run (later ones are consequences and are dropped). */
static void run_fail(struct run *r, tq_status st, const char *fmt, const struct tq_box *b, const char *cause)
{
    if (r->failed)
        return;
    r->failed = st;
    tq_fail(r->err, st, fmt, b->lo[0], b->hi[0], b->lo[1], b->hi[1], b->lo[2], b->hi[2], cause);
}

static tq_status run_push(struct run *r, const struct item *it)
{
    if (r->nstack == r->capstack) {
        size_t cap = r->capstack ? 2 * r->capstack : 16;
        struct item *ns = tq_realloc(r->stack, cap * sizeof *ns);
        if (!ns)
            return tq_fail(r->err, TQ_ERR_NOMEM, "out of memory");
        r->stack = ns;
        r->capstack = cap;
    }
    r->stack[r->nstack++] = *it;
    return TQ_OK;
}

/* Next item to start: split halves first, then the list, then the source. 1 = got one, 0 = not now, -1 = none. */
static int run_next(struct run *r, struct item *it)
{
    if (r->nstack) {
        *it = r->stack[--r->nstack];
        return 1;
    }
    if (r->ilist < r->nlist) {
        *it = r->list[r->ilist++];
        return 1;
    }
    if (!r->src || r->src_done)
        return -1;
    int got = r->src->next(r->src->ctx, &it->box);
    it->level = it->crashes = 0;
    snprintf(it->id, sizeof it->id, "%ld", r->started);
    if (got < 0)
        r->src_done = 1;
    if (got > 0 && r->fed)
        r->rep->blocks_total++;
    return got;
}

/* What a worker process is given: the run, its slot, the write end of its pipe and the runner's pid. */
struct worker_ctx {
    const struct run *r;
    const struct slot *s;
    int fd;
    pid_t runner;
};

/* Body of a worker process (tq_proc_fork): join the cgroup, compute one block, report through the pipe; returns
 * the exit code. */
static int worker_main(void *ctx)
{
    const struct worker_ctx *w = ctx;
    const struct run *r = w->r;
    const struct slot *s = w->s;
    int fd = w->fd;
    /* A runner killed with SIGKILL takes its workers along (the next runner removes their cgroups). */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != w->runner)
        return 1;
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    struct worker_msg m = {0};
    struct tq_err err = {0};
    double t0 = tq_clock_now();
    tq_status st = s->cg ? tq_cg_attach(s->cg, 0, &err) : TQ_OK;
    char *pad = NULL;
    size_t padn = (size_t)(r->opts->pad_per_voxel * tq_box_voxels(&s->item.box));
    if (st == TQ_OK && padn) {
        pad = tq_malloc(padn);
        for (size_t i = 0; pad && i < padn; i += 4096)
            pad[i] = 1;
        if (!pad)
            st = tq_fail(&err, TQ_ERR_NOMEM, "cannot allocate %zu bytes of padding", padn);
    }
    if (st == TQ_OK)
        st = r->task->compute(r->task->ctx, &s->item.box, &err);
    const struct tq_runner_opts *o = r->opts;
    if (o->kill_worker && s->nth >= o->kill_worker && s->nth - o->kill_worker < o->kill_count)
        raise(SIGKILL); /* test hook: the block is written, its result never reported */
    m.status = (int32_t)st;
    m.hwm = tq_proc_status_bytes(0, "VmHWM");
    struct rusage ru; /* a task's child processes (a user's command) count as the block's peak too */
    if (getrusage(RUSAGE_CHILDREN, &ru) == 0 && (uint64_t)ru.ru_maxrss * 1024 > m.hwm)
        m.hwm = (uint64_t)ru.ru_maxrss * 1024;
    m.seconds = tq_clock_now() - t0;
    snprintf(m.text, sizeof m.text, "%.479s", st ? err.msg : "");
    ssize_t wrote = write(fd, &m, sizeof m);
    free(pad);
    return wrote == (ssize_t)sizeof m && st == TQ_OK ? 0 : 1;
}

/* Fork a worker for item on slot s. */
static tq_status run_spawn(struct run *r, struct slot *s, const struct item *it)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC))
        return tq_fail_errno(r->err, TQ_ERR_IO, "cannot create a pipe");
    s->item = *it;
    s->wd_killed = 0;
    s->oom_before = 0;
    s->nth = ++r->started;
    struct tq_cg_stats st;
    if (s->cg && tq_cg_read(s->cg, &st, NULL) == TQ_OK)
        s->oom_before = st.oom_kills;
    if (s->cg)
        tq_cg_reset_peak(s->cg); /* v1: the peak read when it ends is this worker's */
    struct worker_ctx w = {r, s, p[1], getpid()};
    struct tq_proc child;
    struct tq_err ferr = {0};
    tq_status fst = tq_proc_fork(worker_main, &w, &child, &ferr);
    close(p[1]);
    if (fst) {
        close(p[0]);
        return tq_fail(r->err, fst, "cannot start a worker: %s", ferr.msg);
    }
    s->pid = child.pid;
    s->fd = p[0];
    s->t0 = child.t0;
    return TQ_OK;
}

/* Describe how a worker ended, for the failure message. */
static void describe_end(int status, const struct worker_msg *m, int got, char *buf, size_t size)
{
    char how[128];
    if (got && m->status)
        snprintf(buf, size, "%s", m->text);
    else if (tq_proc_exit_code(status))
        snprintf(buf, size, "worker ended: %s%s", tq_proc_describe(status, how, sizeof how),
                 tq_proc_killed_by(status) == SIGKILL ? " without an OOM kill in its cgroup (system out of memory?)"
                                                      : "");
    else
        snprintf(buf, size, "worker sent no result");
}

/* Retries left for item: splits and crash reruns share opts->retries. */
static int run_retries_left(const struct run *r, const struct item *it)
{
    return r->opts->retries - it->level - it->crashes;
}

/* An OOM-killed block: split it and queue the halves, or fail when the retries are used up. */
static void run_retry(struct run *r, const struct item *it)
{
    struct tq_box half[2];
    char cause[1400], lim[32];
    tq_format_bytes(r->opts->memory_per_worker, lim, sizeof lim);
    int left = run_retries_left(r, it);
    if (left <= 0 || tq_runner_split(&it->box, r->task->splittable, half)) {
        snprintf(cause, sizeof cause, "still over the %s limit after %d split(s)%s%s%s%.1000s", lim, it->level,
                 it->crashes ? " and crash rerun(s)" : "", left > 0 ? " and cannot be split further" : "",
                 r->last_trace[0] ? "; what held the memory: traceq report " : "", r->last_trace);
        run_fail(r, TQ_ERR_LIMIT, "block [%zu:%zu, %zu:%zu, %zu:%zu] was OOM-killed: %s", &it->box, cause);
        return;
    }
    r->rep->splits++;
    for (int h = 1; h >= 0; h--) { /* pushed in reverse so the first half runs first */
        struct item sub = {half[h], it->level + 1, it->crashes, ""};
        snprintf(sub.id, sizeof sub.id, "%.90s.%c", it->id, h ? '1' : '0');
        if (run_push(r, &sub))
            r->failed = TQ_ERR_NOMEM;
    }
}

/* A block finished well: journal it and count it. */
static void run_done(struct run *r, struct slot *s, const struct worker_msg *m)
{
    struct tq_runner_worker_stats *ws = &r->rep->worker[s - r->slot];
    struct tq_err jerr = {0};
    if (r->opts->journal && tq_journal_append(r->opts->journal, &s->item.box, &jerr)) {
        if (!r->failed) {
            r->failed = jerr.status;
            *r->err = jerr;
        }
    }
    uint64_t vox = tq_box_voxels(&s->item.box);
    ws->blocks++;
    ws->busy_s += m->seconds;
    r->rep->blocks_run++;
    r->rep->bytes_out += vox * r->task->bytes_per_voxel;
    r->voxels_left = r->voxels_left > vox ? r->voxels_left - vox : 0;
}

/* A worker died of signal sig without an OOM kill (killed from outside, crashed): run the same block again (first,
 * from the stack), or fail naming the block, the signal and the attempts when the retries are used up. */
static void run_rerun(struct run *r, const struct item *it, int sig)
{
    char how[128], cause[400];
    if (run_retries_left(r, it) <= 0) {
        snprintf(cause, sizeof cause, "worker %s on attempt %d, retries used up (%d rerun(s)%s, --retries %d)%s",
                 tq_proc_describe(tq_proc_signal_status(sig), how, sizeof how), it->crashes + 1, it->crashes,
                 it->level ? " after OOM splits" : "", r->opts->retries,
                 sig == SIGKILL ? "; no OOM kill was counted (killed from outside, or the system ran out of memory?)" : "");
        run_fail(r, TQ_ERR_CHILD, "block [%zu:%zu, %zu:%zu, %zu:%zu] failed: %s", &it->box, cause);
        return;
    }
    r->rep->crash_retries++;
    if (sig > 0 && sig < TQ_RUNNER_NSIG)
        r->rep->crash_signal[sig]++;
    struct item again = *it;
    again.crashes++;
    if (run_push(r, &again))
        r->failed = TQ_ERR_NOMEM;
}

/* Tell the source how a block ended (after the runner queued its halves or rerun). */
static void run_ended(struct run *r, const struct tq_runner_block_end *e)
{
    if (r->src && r->src->ended)
        r->src->ended(r->src->ctx, e);
}

/* --trace-blocks: file the traces of the worker pid just reaped; an OOM kill is appended to them. */
static void run_file_traces(struct run *r, const struct slot *s, pid_t pid, int oom)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tq_rec_killed k = {.unix_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec,
                              .cause = s->wd_killed ? TQ_KILLED_OOM_WATCHDOG : TQ_KILLED_OOM_CGROUP,
                              .signal = SIGKILL,
                              .limit = r->opts->memory_per_worker,
                              .worker_pid = (uint32_t)pid};
    const char *where = s->cg && !s->wd_killed ? tq_cg_path(s->cg) : "";
    tq_block_traces_collect(r->opts->traces, pid, s->item.id, s->item.crashes + 1, oom ? &k : NULL, where,
                            r->last_trace, sizeof r->last_trace);
    if (oom && r->last_trace[0] && r->rep->nkilled_traces < TQ_BLOCK_TRACES_KEEP)
        snprintf(r->rep->killed_trace[r->rep->nkilled_traces++], sizeof r->rep->killed_trace[0], "%.1000s",
                 r->last_trace);
}

/* Collect a worker that ended with `status`. */
static void run_reap(struct run *r, struct slot *s, int status)
{
    struct worker_msg m = {0};
    int got = read(s->fd, &m, sizeof m) == (ssize_t)sizeof m;
    close(s->fd);
    if (r->task->reaped)
        r->task->reaped(r->task->ctx, s->pid);
    pid_t pid = s->pid;
    s->pid = 0;
    struct tq_runner_worker_stats *ws = &r->rep->worker[s - r->slot];
    if (got && m.hwm > ws->rss_peak)
        ws->rss_peak = m.hwm;
    struct tq_cg_stats st = {0};
    int cg_oom = 0;
    if (s->cg && tq_cg_read(s->cg, &st, NULL) == TQ_OK) {
        cg_oom = st.oom_kills > s->oom_before;
        if (st.peak > ws->cg_peak)
            ws->cg_peak = st.peak;
    }
    int sig = tq_proc_killed_by(status);
    if (r->opts->traces)
        run_file_traces(r, s, pid, sig == SIGKILL && (cg_oom || s->wd_killed));
    struct tq_runner_block_end e = {.box = s->item.box, .cg_peak = st.peak};
    if (tq_proc_exit_code(status) == 0 && got) {
        run_done(r, s, &m);
        e = (struct tq_runner_block_end){s->item.box, TQ_RUNNER_DONE, m.hwm, st.peak, m.seconds};
        run_ended(r, &e);
    } else if (sig == SIGKILL && (cg_oom || s->wd_killed)) {
        r->rep->oom_kills++;
        e.outcome = TQ_RUNNER_OOM;
        e.rss_peak = s->wd_killed ? ws->rss_peak : 0;
        run_retry(r, &s->item);
        run_ended(r, &e);
    } else if (sig && !run_signal) {
        /* While interrupted, a worker may have died of the same Ctrl-C: that is no crash to rerun. */
        run_rerun(r, &s->item, sig);
        e.outcome = TQ_RUNNER_RERUN;
        run_ended(r, &e);
    } else {
        char cause[512];
        describe_end(status, &m, got, cause, sizeof cause);
        run_fail(r, TQ_ERR_CHILD, "block [%zu:%zu, %zu:%zu, %zu:%zu] failed: %s", &s->item.box, cause);
    }
}

/* Has a running worker ended (without reaping it)? */
static int run_any_exited(struct run *r)
{
    for (int i = 0; i < r->opts->workers; i++)
        if (r->slot[i].pid && tq_proc_ended(r->slot[i].pid))
            return 1;
    return 0;
}

/* One pass over the running workers: reap the ended ones, let the watchdog sample the others. */
static void run_check_workers(struct run *r)
{
    for (int i = 0; i < r->opts->workers; i++) {
        struct slot *s = &r->slot[i];
        if (!s->pid)
            continue;
        int status, ended = 0;
        tq_proc_wait_for(s->pid, 0, &ended, &status, NULL, NULL);
        if (ended)
            run_reap(r, s, status);
        else if (r->watchdog && r->opts->memory_per_worker &&
                 (r->task->spawns ? tq_watchdog_check_tree : tq_watchdog_check)(
                     s->pid, r->opts->memory_per_worker, &r->rep->worker[i].rss_peak))
            s->wd_killed = 1;
    }
}

/* Start workers on idle slots. Returns how many are running afterwards; *none_left = no more work will come. */
static int run_dispatch(struct run *r, int *none_left)
{
    int running = 0;
    *none_left = 0;
    for (int i = 0; i < r->opts->workers; i++) {
        struct slot *s = &r->slot[i];
        if (!s->pid && !r->failed && !run_signal && !*none_left) {
            struct item it;
            int got = run_next(r, &it);
            if (got < 0)
                *none_left = 1;
            else if (got > 0) {
                tq_status st = run_spawn(r, s, &it);
                if (st)
                    r->failed = st;
            }
        }
        running += s->pid != 0;
    }
    if (r->failed || run_signal)
        *none_left = 1;
    return running;
}

/* Draw "blocks done, MiB/s, ETA" on stderr at most 4 times a second. */
static void run_progress(struct run *r, int final)
{
    double t = tq_clock_now();
    if (!r->opts->progress || (!final && t - r->t_drawn < 0.25))
        return;
    r->t_drawn = t;
    double el = t - r->t_start, mibs = el > 0 ? (double)r->rep->bytes_out / 1048576.0 / el : 0;
    double vps = el > 0 ? (double)r->rep->bytes_out / (double)r->task->bytes_per_voxel / el : 0;
    size_t done = r->rep->blocks_run + r->rep->blocks_skipped;
    fprintf(stderr, "\r\033[Kblocks %zu done (%zu planned, %zu splits, %zu OOM kills, %zu crash reruns)  %.1f MiB/s",
            done, r->rep->blocks_total, r->rep->splits, r->rep->oom_kills, r->rep->crash_retries, mibs);
    if (vps > 0 && !r->src)
        fprintf(stderr, "  ETA %.0f s", (double)r->voxels_left / vps);
    if (final)
        fputc('\n', stderr);
}

/* Make the memory limit enforceable: a cgroup per slot, or the watchdog. Fills rep->mechanism. */
static tq_status run_setup_limits(struct run *r)
{
    const struct tq_runner_opts *o = r->opts;
    char lim[32], why[512] = "";
    tq_format_bytes(o->memory_per_worker, lim, sizeof lim);
    if (!o->memory_per_worker) {
        snprintf(r->rep->mechanism, sizeof r->rep->mechanism, "none (no memory limit given)");
        return TQ_OK;
    }
    struct tq_err cerr = {0};
    if (o->enforce != TQ_ENFORCE_WATCHDOG && tq_cg_root_create(&r->cgroot, &cerr) == TQ_OK) {
        for (int i = 0; i < o->workers; i++) {
            char name[32];
            snprintf(name, sizeof name, "worker%d", i);
            TQ_TRY(tq_cg_create(r->cgroot, name, o->memory_per_worker, &r->slot[i].cg, r->err));
        }
        int v2 = tq_cg_root_version(r->cgroot) == TQ_CG_V2;
        snprintf(r->rep->mechanism, sizeof r->rep->mechanism, "cgroup %s (%s = %s per worker, swap included)",
                 v2 ? "v2" : "v1", v2 ? "memory.max" : "memory.limit_in_bytes", lim);
        return TQ_OK;
    }
    if (o->enforce == TQ_ENFORCE_CGROUP)
        return tq_fail(r->err, TQ_ERR_LIMIT, "%s", cerr.msg);
    if (o->needs_cgroup)
        return tq_fail(r->err, TQ_ERR_USAGE, "the plan was sized by a model of cgroup-charged memory "
                       "(charged_peak_bytes), but this run would enforce the limit with the RSS watchdog (%.300s), "
                       "which counts shared library pages the cgroup does not: plan with a model of peak_rss_bytes "
                       "(traceq fit --target peak_rss_bytes) or run where memory cgroups can be made",
                       o->enforce == TQ_ENFORCE_WATCHDOG ? "--enforce watchdog" : cerr.msg);
    if (o->enforce == TQ_ENFORCE_WATCHDOG)
        snprintf(why, sizeof why, "asked for");
    else
        snprintf(why, sizeof why, "%.500s", cerr.msg);
    r->watchdog = 1;
    snprintf(r->rep->mechanism, sizeof r->rep->mechanism,
             "RSS watchdog (statm sampled every 5 ms, SIGKILL above %s; page cache not counted): %.480s", lim, why);
    return TQ_OK;
}

/* Kill and collect every running worker (interrupt or failure cleanup after the loop). */
static void run_kill_all(struct run *r)
{
    for (int i = 0; i < r->opts->workers; i++) {
        struct slot *s = &r->slot[i];
        if (!s->pid)
            continue;
        int status;
        kill(s->pid, SIGKILL);
        tq_proc_wait(s->pid, &status, NULL, NULL);
        close(s->fd);
        if (r->task->reaped)
            r->task->reaped(r->task->ctx, s->pid);
        s->pid = 0;
    }
}

/* Sleep until a worker's result pipe hangs up (it exited: the pipe is close-on-exec and never handed on) or the
 * loop period passes, whichever is first. */
static void run_wait(struct run *r)
{
    struct pollfd fds[TQ_RUNNER_MAX_WORKERS];
    nfds_t n = 0;
    for (int i = 0; i < r->opts->workers; i++)
        if (r->slot[i].pid)
            fds[n++] = (struct pollfd){.fd = r->slot[i].fd, .events = 0};
    if (poll(fds, n, POLL_NS / 1000000) > 0)
        for (int tries = 0; tries < 1000 && !run_any_exited(r); tries++)
            nanosleep(&(struct timespec){0, 20000}, NULL); /* hung up, not yet a zombie: a few microseconds */
}

/* The loop: dispatch, reap, sample, draw, until no work is left and no worker runs. */
static void run_loop(struct run *r)
{
    for (;;) {
        if (r->src && r->src->poll)
            r->src->poll(r->src->ctx);
        int none_left, running = run_dispatch(r, &none_left);
        if (run_signal)
            break;
        if (!running && none_left)
            break;
        run_check_workers(r);
        run_progress(r, 0);
        run_wait(r);
    }
    run_kill_all(r);
    run_progress(r, 1);
}

/* Install the interrupt handlers for the run (no SA_RESTART: nanosleep returns and the loop sees the flag). */
static void run_signals(int install, struct sigaction old[3])
{
    static const int sigs[3] = {SIGINT, SIGTERM, SIGHUP};
    struct sigaction sa = {0};
    sa.sa_handler = run_on_signal;
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < 3; i++) {
        if (install)
            sigaction(sigs[i], &sa, &old[i]);
        else
            sigaction(sigs[i], &old[i], NULL);
    }
}

static tq_status run_main(struct run *r)
{
    const struct tq_runner_opts *o = r->opts;
    if (o->workers < 1 || o->workers > TQ_RUNNER_MAX_WORKERS)
        return tq_fail(r->err, TQ_ERR_USAGE, "workers must be 1..%d", TQ_RUNNER_MAX_WORKERS);
    if (o->retries < 0)
        return tq_fail(r->err, TQ_ERR_USAGE, "retries must be 0 or more");
    r->rep->workers = o->workers;
    r->rep->limit = o->memory_per_worker;
    if (o->traces)
        snprintf(r->rep->trace_dir, sizeof r->rep->trace_dir, "%.1000s", o->traces->dir);
    r->t_start = tq_clock_now();
    tq_status st = run_setup_limits(r);
    if (st == TQ_OK) {
        struct sigaction old[3];
        run_signal = 0;
        run_signals(1, old);
        run_loop(r);
        run_signals(0, old);
        r->rep->interrupted = run_signal;
        /* Also over a failure: a terminal's Ctrl-C reaches the workers too, and one may die of it first. */
        if (run_signal)
            r->failed = tq_fail(r->err, TQ_ERR_CHILD, "interrupted by %s; finished blocks are kept in the journal "
                                "(--resume continues)", strsignal(run_signal));
        st = r->failed;
    }
    for (int i = 0; i < o->workers; i++)
        tq_cg_free(r->slot[i].cg);
    tq_cg_root_free(r->cgroot);
    r->rep->wall_s = tq_clock_now() - r->t_start;
    if (o->traces)
        r->rep->traces_written = o->traces->written;
    free(r->stack);
    return st;
}

/* Journal-aware expansion of one plan block: skip it when done, else queue what is left of it (the pieces of a
 * block split in an earlier run are found by splitting the same way). */
static tq_status run_plan_block(struct run *r, const struct tq_box *b, const char *id, int level, size_t *cap)
{
    const tq_journal *j = r->opts->journal;
    if (j && tq_journal_has(j, b)) {
        r->rep->blocks_skipped += level == 0;
        return TQ_OK;
    }
    /* Split only towards a finished box strictly inside b; anything else in the journal that merely overlaps b
     * did not come from splitting b and b is recomputed whole (this also bounds the recursion). */
    int inside = 0;
    for (size_t i = 0; j && i < tq_journal_count(j) && !inside; i++) {
        const struct tq_box *d = tq_journal_box(j, i);
        inside = 1;
        for (int a = 0; a < 3; a++)
            inside &= b->lo[a] <= d->lo[a] && d->hi[a] <= b->hi[a];
    }
    struct tq_box half[2];
    if (inside && tq_runner_split(b, r->task->splittable, half) == 0) {
        char sub[96];
        snprintf(sub, sizeof sub, "%.90s.0", id);
        TQ_TRY(run_plan_block(r, &half[0], sub, level + 1, cap));
        snprintf(sub, sizeof sub, "%.90s.1", id);
        return run_plan_block(r, &half[1], sub, level + 1, cap);
    }
    if (r->nlist == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        struct item *nl = tq_realloc(r->list, *cap * sizeof *nl);
        if (!nl)
            return tq_fail(r->err, TQ_ERR_NOMEM, "out of memory");
        r->list = nl;
    }
    r->list[r->nlist] = (struct item){*b, level, 0, ""};
    snprintf(r->list[r->nlist++].id, sizeof r->list[0].id, "%s", id);
    r->voxels_left += tq_box_voxels(b);
    return TQ_OK;
}

tq_status tq_runner_run(const struct tq_runner_task *task, const struct tq_box *blocks, size_t nblocks,
                        const struct tq_runner_opts *opts, struct tq_runner_report *rep, struct tq_err *err)
{
    memset(rep, 0, sizeof *rep);
    struct run r = {.task = task, .opts = opts, .rep = rep, .err = err};
    rep->blocks_total = nblocks;
    size_t cap = 0;
    tq_status st = TQ_OK;
    for (size_t i = 0; i < nblocks && st == TQ_OK; i++) {
        char id[32];
        snprintf(id, sizeof id, "%zu", i);
        st = run_plan_block(&r, &blocks[i], id, 0, &cap);
    }
    if (st == TQ_OK)
        st = run_main(&r);
    free(r.list);
    return st;
}

tq_status tq_runner_run_source(const struct tq_runner_task *task, const struct tq_runner_source *src,
                               const struct tq_runner_opts *opts, struct tq_runner_report *rep, struct tq_err *err)
{
    memset(rep, 0, sizeof *rep);
    struct tq_runner_opts o = *opts;
    o.journal = NULL;
    struct run r = {.task = task, .opts = &o, .rep = rep, .err = err, .src = src};
    return run_main(&r);
}

tq_status tq_runner_run_fed(const struct tq_runner_task *task, const struct tq_runner_source *src,
                            const struct tq_runner_opts *opts, struct tq_runner_report *rep, struct tq_err *err)
{
    memset(rep, 0, sizeof *rep);
    struct run r = {.task = task, .opts = opts, .rep = rep, .err = err, .src = src, .fed = 1};
    return run_main(&r);
}

json_t *tq_runner_report_json(const struct tq_runner_report *rep)
{
    json_t *workers = json_array();
    for (int i = 0; workers && i < rep->workers; i++) {
        const struct tq_runner_worker_stats *w = &rep->worker[i];
        json_array_append_new(workers, json_pack("{s:i, s:I, s:I, s:I, s:f}", "worker", i, "blocks",
                                                 (json_int_t)w->blocks, "cgroup_peak_bytes", (json_int_t)w->cg_peak,
                                                 "rss_peak_bytes", (json_int_t)w->rss_peak, "busy_s", w->busy_s));
    }
    json_t *traces = NULL;
    if (rep->trace_dir[0]) {
        json_t *killed = json_array();
        for (size_t i = 0; killed && i < rep->nkilled_traces; i++)
            json_array_append_new(killed, json_string(rep->killed_trace[i]));
        traces = json_pack("{s:s, s:I, s:o}", "dir", rep->trace_dir, "written", (json_int_t)rep->traces_written,
                           "oom_killed", killed ? killed : json_null());
    }
    json_t *sigs = json_object();
    for (int sig = 1; sigs && sig < TQ_RUNNER_NSIG; sig++)
        if (rep->crash_signal[sig]) {
            char name[32];
            tq_proc_signal_name(sig, name, sizeof name);
            json_object_set_new(sigs, name, json_integer((json_int_t)rep->crash_signal[sig]));
        }
    json_t *o = json_pack("{s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:i, s:o, s:i, s:I, s:o}", "wall_s", rep->wall_s,
                     "blocks_total", (json_int_t)rep->blocks_total, "blocks_skipped",
                     (json_int_t)rep->blocks_skipped, "blocks_run", (json_int_t)rep->blocks_run, "retries",
                     (json_int_t)rep->splits, "oom_kills", (json_int_t)rep->oom_kills, "bytes_out",
                     (json_int_t)rep->bytes_out, "memory_per_worker_bytes", (json_int_t)rep->limit, "enforcement",
                     rep->mechanism, "workers", rep->workers, "per_worker", workers, "interrupted",
                     rep->interrupted, "crash_retries", (json_int_t)rep->crash_retries, "crash_signals", sigs);
    if (o && traces)
        json_object_set_new(o, "block_traces", traces);
    else
        json_decref(traces);
    return o;
}
