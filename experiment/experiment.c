/* experiment.c - the chunking-strategy experiment: for each operator, volume and memory limit, run every chunking
 * strategy (none, dask-like auto, the original's seed planner, ours, ours with --adapt, and a sweep of fixed chunk
 * sizes) with the same runner (runner/run_job.h, in this process), several times, and report wall time, OOM kills, retries and peaks. */
#define _GNU_SOURCE /* mkostemp, pipe2 */
#include "experiment.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/alloc.h"
#include "../common/cleanup.h"
#include "../common/csv.h"
#include "../common/process.h"
#include "../common/units.h"
#include "../runner/journal.h"
#include "../runner/cgroup.h"
#include "../runner/run_job.h"
#include "../plot/plot.h"

#define EXP_MAX 16
#define EXP_CASES 32

/* Median, min and max wall time of every strategy of every case, for the plot (NaN: no successful run). */
struct tq_exp_results {
    int ncases, nstrat;
    char label[EXP_CASES][64];
    char strat[EXP_MAX + 5][32];
    double med[EXP_CASES][EXP_MAX + 5], lo[EXP_CASES][EXP_MAX + 5], hi[EXP_CASES][EXP_MAX + 5];
    /* The goals over all cases: traceq's runs and OOM kills; cases compared with a fixed size / with auto, and
     * how many of them met the goal (within 10% of the best fixed size, at least 30% faster than auto). */
    long tq_runs, tq_kills, tq_failed, vs_fixed, fixed_met, vs_auto, auto_met, auto_failed_cases;
};

/* One strategy's results over its runs. */
struct exp_stats {
    char strategy[32];
    int runs, ok, failed, correct, refused, threads;
    double wall[64], cpu[64]; /* wall and CPU (user + sys of the runner and its workers) seconds of ok runs */
    char block[48];           /* the plan's first (largest) block, output voxels */
    long blocks, oom_kills, retries;
    uint64_t peak_rss, peak_cg;
    char note[200];
};

/* Run argv (argv[0] a path) through the process module, its stdout thrown away and its stderr into *err
 * (malloc'd, may be NULL; a command that cannot start says why there). Returns the exit status, 128+N for a
 * signal, 127 when it cannot start, -1 when no temporary file can be made. */
static int exp_exec(char *const argv[], char **err)
{
    char tmpl[] = "/tmp/traceq-exp-XXXXXX";
    int efd = mkostemp(tmpl, O_CLOEXEC);
    *err = NULL;
    if (efd < 0)
        return -1;
    unlink(tmpl);
    /* a signal stops the child too */
    struct tq_proc_spec spec = {.argv = argv, .log_path = "/dev/null", .err_fd = efd, .stop_on_signal = 1};
    struct tq_proc child;
    struct tq_err perr = {0};
    tq_status st = tq_proc_spawn(&spec, &child, &perr);
    int status = 0;
    if (st == TQ_OK) {
        st = tq_proc_wait(child.pid, &status, NULL, &perr);
        tq_cleanup_forget(child.cleanup);
    }
    if (st) {
        size_t len = strlen(perr.msg) + 2;
        if ((*err = tq_malloc(len)))
            snprintf(*err, len, "%s\n", perr.msg);
    } else {
        off_t len = lseek(efd, 0, SEEK_END);
        *err = tq_calloc(1, (size_t)len + 1);
        if (*err && pread(efd, *err, (size_t)len, 0) < 0)
            (*err)[0] = 0;
    }
    close(efd);
    return st ? 127 : tq_proc_exit_code(status);
}

/* On a signal, remove what a `traceq run` writing `out` leaves: out, its journal and the writer's temporary
 * (.BASE.tmp.XXXXXX beside it), which an interrupted run keeps for --resume. Three handles into h. */
static void exp_output_guard(const char *out, int h[3])
{
    char journal[PATH_MAX + 16], dir[PATH_MAX], prefix[256];
    const char *slash = strrchr(out, '/');
    snprintf(journal, sizeof journal, "%s.journal", out);
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - out) : 1, slash ? out : ".");
    snprintf(prefix, sizeof prefix, ".%s.tmp.", slash ? slash + 1 : out);
    h[0] = tq_cleanup_add_file(out);
    h[1] = tq_cleanup_add_file(journal);
    h[2] = tq_cleanup_add_prefix(dir, prefix);
}

static void exp_output_forget(const int h[3])
{
    for (int i = 0; i < 3; i++)
        tq_cleanup_forget(h[i]);
}

/* The 1-minute load average (-1 when unknown). */
static double exp_load(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f && fscanf(f, "%lf", &l) != 1)
        l = -1;
    if (f)
        fclose(f);
    return l;
}

/* Byte-compare two files. */
static int exp_same(const char *a, const char *b)
{
    FILE *x = fopen(a, "rb"), *y = fopen(b, "rb");
    int same = x && y;
    while (same) {
        int c = fgetc(x), d = fgetc(y);
        same = c == d;
        if (c == EOF)
            break;
    }
    if (x)
        fclose(x);
    if (y)
        fclose(y);
    return same;
}

/* One chunked run in this process (runner/run_job.h; the runner forks its workers). *cpu gets the user + system
 * seconds of this process and of the workers it reaped during the run. A run stopped by a signal stops the
 * experiment: the signal is raised again once the runner has handed it back, and the cleanup handler removes the
 * registered outputs and dies of it. */
static tq_status exp_run(const struct tq_run_args *ra, struct tq_run_outcome *o, double *cpu, struct tq_err *err)
{
    struct rusage self0 = {0}, kids0 = {0}, self1 = {0}, kids1 = {0};
    getrusage(RUSAGE_SELF, &self0);
    getrusage(RUSAGE_CHILDREN, &kids0);
    tq_status st = tq_run_job(ra, o, err);
    getrusage(RUSAGE_SELF, &self1);
    getrusage(RUSAGE_CHILDREN, &kids1);
    if (o->ran && o->rep.interrupted)
        raise(o->rep.interrupted);
    const struct rusage *r[4] = {&self1, &kids1, &self0, &kids0};
    *cpu = 0;
    for (int i = 0; i < 4; i++)
        *cpu += (i < 2 ? 1 : -1) * ((double)r[i]->ru_utime.tv_sec + r[i]->ru_utime.tv_usec * 1e-6 +
                                    (double)r[i]->ru_stime.tv_sec + r[i]->ru_stime.tv_usec * 1e-6);
    return st;
}

/* Fold one run's outcome into st: st_run is its status, err its failure. */
static void exp_take_run(struct exp_stats *st, const struct tq_run_outcome *o, tq_status st_run,
                         const struct tq_err *err, double cpu)
{
    if (!o->ran) {
        st->failed++;
        snprintf(st->note, sizeof st->note, "%.190s", err->msg[0] ? err->msg : tq_strerror(st_run));
        return;
    }
    const struct tq_runner_report *rep = &o->rep;
    st->blocks = (long)rep->blocks_total;
    st->oom_kills += (long)rep->oom_kills;
    st->retries += (long)rep->splits;
    for (int i = 0; i < rep->workers; i++) {
        st->peak_rss = rep->worker[i].rss_peak > st->peak_rss ? rep->worker[i].rss_peak : st->peak_rss;
        st->peak_cg = rep->worker[i].cg_peak > st->peak_cg ? rep->worker[i].cg_peak : st->peak_cg;
    }
    size_t b[3];
    tq_run_outcome_block(o, b);
    if (o->setup.plan && o->setup.plan->nblocks)
        snprintf(st->block, sizeof st->block, "%zux%zux%zu", b[0], b[1], b[2]);
    st->threads = o->setup.params.threads;
    if (st_run == TQ_OK) {
        st->cpu[st->ok] = cpu;
        st->wall[st->ok++] = rep->wall_s;
    } else {
        st->failed++;
        snprintf(st->note, sizeof st->note, "%.190s", err->msg);
    }
}

/* How one strategy plans: --chunks CHUNKS, or --planner PLANNER with the model (and --adapt: adapt). */
struct exp_plan {
    const char *chunks, *planner;
    int adapt;
};

/* The choices of one experiment run: `traceq run`'s defaults, the experiment's workers and retries. */
static struct tq_run_args exp_run_args(const struct tq_exp_config *a, const char *op, const char *in,
                                       const char *out)
{
    return (struct tq_run_args){.op = op, .input = in, .output = out, .workers = a->workers, .retries = a->retries,
                                .safety = 0.8, .sigma = 3.0, .force = 1, .json = 1};
}

/* One run of a strategy. A refused plan (bad input, no plan fits) is not retried. */
static void exp_once(const struct tq_exp_config *a, const char *op, const char *in, const char *ref, uint64_t limit,
                     const char *model, const struct exp_plan *plan, struct exp_stats *st)
{
    if (st->refused || st->runs >= 64)
        return;
    char out[PATH_MAX];
    snprintf(out, sizeof out, "%.3900s/out-%.31s.npy", a->out, st->strategy);
    struct tq_run_args ra = exp_run_args(a, op, in, out);
    ra.memory = limit;
    ra.memory_given = 1;
    ra.chunks = plan->chunks;
    ra.planner = plan->planner;
    ra.model = plan->planner ? model : NULL;
    ra.adapt = plan->adapt;
    struct tq_run_outcome o;
    struct tq_err err = {0};
    double cpu = 0;
    int guard[3];
    exp_output_guard(out, guard);
    tq_status rs = exp_run(&ra, &o, &cpu, &err);
    if (rs == TQ_OK && !st->ok)
        st->correct = exp_same(out, ref);
    st->runs++;
    exp_take_run(st, &o, rs, &err, cpu);
    st->refused = !o.ran && tq_status_is_bad_input(rs);
    tq_run_outcome_free(&o);
    unlink(out);
    /* A failed run keeps its journal and partial output for --resume; the experiment starts over instead. */
    char journal[PATH_MAX + 16];
    snprintf(journal, sizeof journal, "%s.journal", out);
    tq_journal_discard(journal, out, NULL);
    exp_output_forget(guard);
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* Median of v[0..n); sorts v. */
static double exp_median_of(double *v, int n)
{
    if (!n)
        return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Median wall time of the ok runs; leaves st->wall sorted (wall[0] the min, wall[ok - 1] the max). */
static double exp_median(struct exp_stats *st)
{
    return exp_median_of(st->wall, st->ok);
}

/* The sweep grid of the experiment's models: 3 sides per axis up to the largest cube of --shapes (a quarter of it,
 * five eighths, all of it). The operators stream slabs of inlines, so their peak bends from growing with the
 * volume to growing with the inline plane (MODELS.md, `knee`); a grid that stops short of the planned plane sizes
 * cannot see that bend, and its model mispredicts the blocks the planners make. */
static void exp_grid(const struct tq_exp_config *a, char *grid, size_t size)
{
    size_t hi = 0;
    char list[256];
    snprintf(list, sizeof list, "%s", a->shapes);
    for (char *save, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        size_t v = strtoull(t, NULL, 10);
        hi = v > hi ? v : hi;
    }
    hi = hi < 16 ? 16 : hi;
    size_t lo = hi / 4, step = (hi - lo) / 2;
    snprintf(grid, size, "%zu:%zu:%zu", lo, lo + 2 * step, step);
}

/* The model of op: DIR/op.model.json from --models, or swept and fitted once into the results folder. */
static int exp_model(const struct tq_exp_config *a, const char *op, char *model, size_t size)
{
    if (a->models) {
        snprintf(model, size, "%s/%s.model.json", a->models, op);
        return access(model, R_OK) == 0 ? 0 : (fprintf(a->diag, "traceq experiment: no %s\n", model), -1);
    }
    snprintf(model, size, "%s/%s.model.json", a->out, op);
    if (access(model, R_OK) == 0)
        return 0;
    char ds[PATH_MAX], grid[64], *e = NULL;
    snprintf(ds, sizeof ds, "%s/%s.dataset.csv", a->out, op);
    exp_grid(a, grid, sizeof grid);
    fprintf(a->report, "experiment: profiling %s on the grid %s (every axis) and fitting its model (once)\n", op,
            grid);
    fflush(a->report);
    char *sweep[] = {(char *)a->self, "sweep", "--op", (char *)op, "--grid", grid, "--runs", "1",
                     "--backend", "proc", "-o", ds, NULL};
    char *fit[] = {(char *)a->self, "fit", ds, "--op", (char *)op, "-o", model, "--force", NULL};
    int rc = exp_exec(sweep, &e);
    if (rc == 0) {
        free(e);
        rc = exp_exec(fit, &e);
    }
    if (rc)
        fprintf(a->diag, "traceq experiment: cannot make the %s model: %s", op, e ? e : "\n");
    free(e);
    return rc ? -1 : 0;
}

/* The synthetic cube and its unchunked reference output; *peak gets the reference run's peak RSS. */
static int exp_reference(const struct tq_exp_config *a, const char *op, size_t side, char *in, char *ref,
                         uint64_t *peak)
{
    char shape[64], *e = NULL;
    snprintf(shape, sizeof shape, "%zux%zux%zu", side, side, side);
    snprintf(in, PATH_MAX, "%s/vol-%zu.npy", a->out, side);
    snprintf(ref, PATH_MAX, "%s/ref-%s-%zu.npy", a->out, op, side);
    char *synth[] = {(char *)a->self, "synth", "--shape", shape, "-o", in, NULL};
    if (access(in, R_OK) && exp_exec(synth, &e)) {
        fprintf(a->diag, "traceq experiment: cannot write %s: %s", in, e ? e : "\n");
        free(e);
        return -1;
    }
    free(e);
    struct tq_run_args ra = exp_run_args(a, op, in, ref);
    ra.chunks = "none";
    ra.workers = 1;
    struct tq_run_outcome o;
    struct tq_err err = {0};
    struct exp_stats st = {0};
    double cpu;
    tq_status rs = exp_run(&ra, &o, &cpu, &err);
    exp_take_run(&st, &o, rs, &err, cpu);
    tq_run_outcome_free(&o);
    *peak = st.peak_rss;
    if (rs)
        fprintf(a->diag, "traceq experiment: the unchunked %s run failed: %s\n", op, st.note);
    return rs ? -1 : 0;
}

/* The columns of results.csv; tq_exp_replot_read reads op, side, limit_bytes, strategy, ok and the wall times. */
enum exp_column {
    COL_OP, COL_SIDE, COL_LIMIT, COL_STRATEGY, COL_BLOCKS, COL_BLOCK, COL_THREADS, COL_RUNS, COL_OK, COL_FAILED,
    COL_WALL_MEDIAN, COL_WALL_MIN, COL_WALL_MAX, COL_CPU_MEDIAN, COL_OOM_KILLS, COL_RETRIES, COL_PEAK_RSS,
    COL_PEAK_CGROUP, COL_CORRECT, COL_LOAD_START, COL_LOAD_END, COL_NOTE, EXP_NCOLS
};

static const char *const exp_columns[EXP_NCOLS] = {
    "op", "side", "limit_bytes", "strategy", "blocks", "block", "threads_per_block", "runs", "ok", "failed",
    "wall_median_s", "wall_min_s", "wall_max_s", "cpu_median_s", "oom_kills", "retries", "peak_rss_bytes",
    "peak_cgroup_bytes", "correct", "load1_start", "load1_end", "note"};

static void exp_csv_row(FILE *csv, const char *op, size_t side, uint64_t limit, struct exp_stats *s,
                        const double load[2])
{
    double med = exp_median(s), cpu = exp_median_of(s->cpu, s->ok);
    char num[EXP_NCOLS][32];
    const char *f[EXP_NCOLS];
    for (int i = 0; i < EXP_NCOLS; i++)
        f[i] = num[i];
    f[COL_OP] = op;
    snprintf(num[COL_SIDE], 32, "%zu", side);
    snprintf(num[COL_LIMIT], 32, "%llu", (unsigned long long)limit);
    f[COL_STRATEGY] = s->strategy;
    snprintf(num[COL_BLOCKS], 32, "%ld", s->blocks);
    f[COL_BLOCK] = s->block;
    snprintf(num[COL_THREADS], 32, "%d", s->threads);
    snprintf(num[COL_RUNS], 32, "%d", s->runs);
    snprintf(num[COL_OK], 32, "%d", s->ok);
    snprintf(num[COL_FAILED], 32, "%d", s->failed);
    snprintf(num[COL_WALL_MEDIAN], 32, "%.3f", med);
    snprintf(num[COL_WALL_MIN], 32, "%.3f", s->ok ? s->wall[0] : 0);
    snprintf(num[COL_WALL_MAX], 32, "%.3f", s->ok ? s->wall[s->ok - 1] : 0);
    snprintf(num[COL_CPU_MEDIAN], 32, "%.3f", cpu);
    snprintf(num[COL_OOM_KILLS], 32, "%ld", s->oom_kills);
    snprintf(num[COL_RETRIES], 32, "%ld", s->retries);
    snprintf(num[COL_PEAK_RSS], 32, "%llu", (unsigned long long)s->peak_rss);
    snprintf(num[COL_PEAK_CGROUP], 32, "%llu", (unsigned long long)s->peak_cg);
    snprintf(num[COL_CORRECT], 32, "%d", s->correct);
    snprintf(num[COL_LOAD_START], 32, "%.2f", load[0]);
    snprintf(num[COL_LOAD_END], 32, "%.2f", load[1]);
    f[COL_NOTE] = s->note;
    tq_csv_write(csv, f, EXP_NCOLS, NULL);
    fflush(csv);
}

static void exp_print_row(FILE *report, struct exp_stats *s, double med)
{
    char p[32];
    fprintf(report, "  %-10s %6ld %-13s %3d/%-3d %8.2f %6.2f %6.2f %6.2f %5ld %7ld %10s  %s%s\n", s->strategy,
            s->blocks, s->block, s->ok, s->runs, med, s->ok ? s->wall[0] : 0, s->ok ? s->wall[s->ok - 1] : 0,
            exp_median_of(s->cpu, s->ok), s->oom_kills, s->retries, tq_format_bytes(s->peak_rss, p, sizeof p),
            s->ok ? (s->correct ? "yes" : "NO") : "-", s->failed && s->note[0] ? "  (failed)" : "");
}

/* What the goals ask: 0 OOM kills for traceq, within 10% of the best fixed size, 30% faster than auto. */
static void exp_headline(const struct tq_exp_config *a, struct exp_stats *st, int n, struct tq_exp_results *pl)
{
    struct exp_stats *tq = NULL, *autos = NULL, *best = NULL;
    for (int i = 0; i < n; i++) {
        if (!strcmp(st[i].strategy, "traceq"))
            tq = &st[i];
        else if (!strcmp(st[i].strategy, "auto"))
            autos = &st[i];
        else if (!strncmp(st[i].strategy, "fixed", 5) && st[i].ok == st[i].runs && st[i].ok &&
                 (!best || exp_median(&st[i]) < exp_median(best)))
            best = &st[i];
    }
    if (tq) {
        pl->tq_runs += tq->runs;
        pl->tq_kills += tq->oom_kills;
        pl->tq_failed += tq->failed;
    }
    if (!tq || !tq->ok) {
        fprintf(a->report, "  traceq did not complete%s%s\n", tq && tq->note[0] ? ": " : "", tq ? tq->note : "");
        return;
    }
    double t = exp_median(tq);
    fprintf(a->report, "  traceq: %ld OOM kills in %d runs", tq->oom_kills, tq->runs);
    if (best) {
        double r = t / exp_median(best) - 1;
        fprintf(a->report, "; %+.0f%% time vs the best fixed size (%s)", 100 * r, best->strategy);
        pl->vs_fixed++;
        pl->fixed_met += r <= 0.10;
    }
    if (autos && autos->ok == autos->runs && autos->ok) {
        double r = t / exp_median(autos) - 1;
        fprintf(a->report, "; %+.0f%% time vs auto", 100 * r);
        pl->vs_auto++;
        pl->auto_met += r <= -0.30;
    } else if (autos) {
        fprintf(a->report, "; auto failed %d of %d runs", autos->failed, autos->runs);
        pl->auto_failed_cases++;
    }
    fprintf(a->report, "\n");
}

/* The plot's category of a strategy: by name, fixed sizes by their share of the side (fixed-C -> "fixed 0.5 x
 * side"), so that cases of other sizes line up. */
static void exp_strategy_label(const char *strategy, size_t side, char *label, size_t size)
{
    if (strncmp(strategy, "fixed-", 6))
        snprintf(label, size, "%s", strategy);
    else
        snprintf(label, size, "fixed %g x side", (double)strtoull(strategy + 6, NULL, 10) / (double)side);
}

/* All strategies for one operator, cube and limit. */
static void exp_case(const struct tq_exp_config *a, struct tq_exp_results *pl, FILE *csv, const char *op, size_t side,
                     uint64_t limit, uint64_t peak, const char *in, const char *ref, const char *model)
{
    char l[32], p[32], fixed[EXP_MAX][64];
    double load[2] = {exp_load(), 0};
    fprintf(a->report, "\n%s %zu^3, %s per worker (unchunked peak %s), %d workers, %d runs each, load %.1f\n", op,
            side, tq_format_bytes(limit, l, sizeof l), tq_format_bytes(peak, p, sizeof p), a->workers, a->runs,
            load[0]);
    fflush(a->report);
    struct exp_stats st[EXP_MAX + 5] = {0};
    struct exp_plan plans[EXP_MAX + 5] = {{"none", NULL, 0}, {"auto", NULL, 0}, {NULL, "seed", 0},
                                          {NULL, "traceq", 0}, {NULL, "traceq", 1}};
    static const char *first[] = {"none", "auto", "seed", "traceq", "adapt"};
    int n = 5;
    for (int i = 0; i < n; i++)
        snprintf(st[i].strategy, sizeof st[i].strategy, "%s", first[i]);
    char list[256];
    snprintf(list, sizeof list, "%s", a->fixed);
    for (char *save, *f = strtok_r(list, ",", &save); f && n - 5 < EXP_MAX; f = strtok_r(NULL, ",", &save), n++) {
        int k = n - 5;
        size_t c = (size_t)(atof(f) * (double)side);
        c = c ? c : 1;
        /* Envelope keeps whole traces: its fixed chunks never cut samples. */
        snprintf(fixed[k], sizeof fixed[k], "%zu,%zu,%zu", c, c, strcmp(op, "envelope") ? c : side);
        snprintf(st[n].strategy, sizeof st[n].strategy, "fixed-%zu", c);
        plans[n].chunks = fixed[k];
    }
    /* Round-robin over the strategies, run by run, so drifting load on the machine hits them all alike. */
    for (int r = 0; r < a->runs; r++)
        for (int i = 0; i < n; i++)
            exp_once(a, op, in, ref, limit, model, &plans[i], &st[i]);
    load[1] = exp_load();
    fprintf(a->report, "  %-10s %6s %-13s %-7s %8s %6s %6s %6s %5s %7s %10s  %s   (load at the end %.1f)\n",
            "strategy", "blocks", "block", "ok/runs", "median s", "min s", "max s", "cpu s", "OOM", "retries",
            "peak RSS", "correct", load[1]);
    int c = pl->ncases < EXP_CASES ? pl->ncases++ : EXP_CASES - 1;
    snprintf(pl->label[c], sizeof pl->label[c], "%s %zu^3, %s", op, side, l);
    pl->nstrat = n;
    for (int i = 0; i < n; i++) {
        double med = exp_median(&st[i]);
        exp_print_row(a->report, &st[i], med);
        exp_csv_row(csv, op, side, limit, &st[i], load);
        /* Fixed sizes are named by their share of the side so that cases of other sizes line up. */
        exp_strategy_label(st[i].strategy, side, pl->strat[i], sizeof pl->strat[i]);
        pl->med[c][i] = st[i].ok ? med : NAN;
        pl->lo[c][i] = st[i].ok ? st[i].wall[0] : NAN;
        pl->hi[c][i] = st[i].ok ? st[i].wall[st[i].ok - 1] : NAN;
    }
    exp_headline(a, st, n, pl);
    fflush(a->report);
}

/* Each limit of --limits for a case: an absolute size, or a fraction (< 10) of the unchunked peak. */
static int exp_limits(const char *spec, uint64_t peak, uint64_t *out, int cap)
{
    char list[256];
    snprintf(list, sizeof list, "%s", spec);
    int n = 0;
    for (char *save, *t = strtok_r(list, ",", &save); t && n < cap; t = strtok_r(NULL, ",", &save)) {
        char *end;
        double f = strtod(t, &end);
        if (!*end && f > 0 && f < 10)
            out[n++] = (uint64_t)(f * (double)peak);
        else if (tq_parse_bytes(t, &out[n], NULL) == TQ_OK)
            n++;
        else
            return -1;
    }
    return n;
}

/* Every case of one operator. */
static int exp_op(const struct tq_exp_config *a, struct tq_exp_results *pl, FILE *csv, const char *op)
{
    char model[PATH_MAX], in[PATH_MAX], ref[PATH_MAX], list[256];
    if (exp_model(a, op, model, sizeof model))
        return -1;
    snprintf(list, sizeof list, "%s", a->shapes);
    for (char *save, *s = strtok_r(list, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
        size_t side = strtoull(s, NULL, 10);
        uint64_t peak, limits[EXP_MAX];
        int guard[3]; /* the reference output lives until this side's cases are done */
        snprintf(ref, sizeof ref, "%s/ref-%s-%zu.npy", a->out, op, side);
        exp_output_guard(ref, guard);
        if (!side || exp_reference(a, op, side, in, ref, &peak)) {
            exp_output_forget(guard);
            return -1;
        }
        int nl = exp_limits(a->limits, peak, limits, EXP_MAX);
        for (int i = 0; i < nl; i++)
            exp_case(a, pl, csv, op, side, limits[i], peak, in, ref, model);
        unlink(ref);
        exp_output_forget(guard);
    }
    return 0;
}

/* Fold one row of results.csv into pl; *key is the case of the previous row, *i the strategy's index in its case.
 * Returns 1 when the row opens a case beyond EXP_CASES (reading stops). */
static int exp_replot_row(char *const *fld, struct tq_exp_results *pl, char key[128], int *i)
{
    char k[128], l[32];
    snprintf(k, sizeof k, "%.40s %.40s %.40s", fld[COL_OP], fld[COL_SIDE], fld[COL_LIMIT]);
    if (strcmp(k, key)) {
        if (pl->ncases == EXP_CASES)
            return 1;
        snprintf(key, 128, "%s", k);
        snprintf(pl->label[pl->ncases++], sizeof pl->label[0], "%.30s %.20s^3, %s", fld[COL_OP], fld[COL_SIDE],
                 tq_format_bytes(strtoull(fld[COL_LIMIT], NULL, 10), l, sizeof l));
        *i = 0;
    }
    int c = pl->ncases - 1, ok = atoi(fld[COL_OK]);
    if (*i >= EXP_MAX + 5)
        return 0;
    if (*i >= pl->nstrat) {
        exp_strategy_label(fld[COL_STRATEGY], strtoull(fld[COL_SIDE], NULL, 10), pl->strat[*i],
                           sizeof pl->strat[*i]);
        for (int cc = 0; cc < EXP_CASES; cc++)
            pl->med[cc][*i] = pl->lo[cc][*i] = pl->hi[cc][*i] = NAN;
        pl->nstrat = *i + 1;
    }
    pl->med[c][*i] = ok ? atof(fld[COL_WALL_MEDIAN]) : NAN;
    pl->lo[c][*i] = ok ? atof(fld[COL_WALL_MIN]) : NAN;
    pl->hi[c][*i] = ok ? atof(fld[COL_WALL_MAX]) : NAN;
    (*i)++;
    return 0;
}

tq_status tq_exp_replot_read(const char *path, struct tq_exp_results *pl, struct tq_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return tq_fail(err, TQ_ERR_FORMAT, "cannot read experiment rows from %s", path);
    char key[128] = "";
    int i = 0;
    struct tq_csv_row row = {0};
    tq_status st;
    pl->ncases = 0;
    /* Header lines (of concatenated files) and rows too short to be experiment rows are skipped. */
    while ((st = tq_csv_read(f, path, &row, err)) == TQ_OK && row.n)
        if (row.n > COL_WALL_MAX && strcmp(row.field[COL_OP], "op") && exp_replot_row(row.field, pl, key, &i))
            break;
    tq_csv_row_free(&row);
    fclose(f);
    /* A row cut short by an interrupted experiment ends the table; anything else unreadable is an error. */
    if (st && st != TQ_ERR_TRUNCATED) {
        char why[sizeof err->msg];
        snprintf(why, sizeof why, "%s", err->msg); /* it names the file and the line */
        return tq_fail(err, st == TQ_ERR_NOMEM ? st : TQ_ERR_FORMAT, "%.300s (not an experiment's results.csv)",
                       why);
    }
    return pl->ncases ? TQ_OK : tq_fail(err, TQ_ERR_FORMAT, "cannot read experiment rows from %s", path);
}

tq_status tq_exp_write_plot(const struct tq_exp_results *pl, const char *dir, FILE *report, struct tq_err *err)
{
    if (!pl->ncases)
        return TQ_OK;
    char path[PATH_MAX];
    const char *cats[EXP_MAX + 5];
    for (int i = 0; i < pl->nstrat; i++)
        cats[i] = pl->strat[i];
    struct tq_plot *p = tq_plot_new_bars("traceq experiment: wall time per chunking strategy (median, min..max)",
                                         "wall time", TQ_AXIS_SECONDS, cats, (size_t)pl->nstrat);
    tq_status st = p ? TQ_OK : tq_fail(err, TQ_ERR_NOMEM, "%s", tq_strerror(TQ_ERR_NOMEM));
    for (int c = 0; c < pl->ncases && st == TQ_OK; c++)
        st = tq_plot_add_bars(p, pl->label[c], pl->med[c], pl->lo[c], pl->hi[c], err);
    snprintf(path, sizeof path, "%.4000s/results.svg", dir);
    if (st == TQ_OK)
        st = tq_plot_write(p, path, true, err);
    if (st == TQ_OK)
        fprintf(report, "plot: %s\n", path);
    tq_plot_free(p);
    tq_plot_shutdown();
    return st;
}

struct tq_exp_results *tq_exp_results_new(void)
{
    return tq_calloc(1, sizeof(struct tq_exp_results));
}

void tq_exp_results_free(struct tq_exp_results *r)
{
    free(r);
}

tq_status tq_exp_make_dir(const char *dir, struct tq_err *err)
{
    if (mkdir(dir, 0755) && errno != EEXIST)
        return tq_fail(err, TQ_ERR_IO, "cannot create %s: %s", dir, strerror(errno));
    return TQ_OK;
}

tq_status tq_exp_run(const struct tq_exp_config *a, struct tq_exp_results *pl, struct tq_err *err)
{
    if (a->scope_argv) /* the runs' workers get memory cgroups where systemd can delegate some (cgroup.h) */
        tq_cg_reexec_in_scope(a->scope_argc, a->scope_argv);
    TQ_TRY(tq_exp_make_dir(a->out, err));
    char path[PATH_MAX], ops[256];
    snprintf(path, sizeof path, "%s/results.csv", a->out);
    int fresh = access(path, F_OK) != 0;
    FILE *csv = fopen(path, "a");
    if (!csv)
        return tq_fail(err, TQ_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    if (fresh)
        tq_csv_write(csv, exp_columns, EXP_NCOLS, NULL);
    tq_status st = TQ_OK;
    snprintf(ops, sizeof ops, "%s", a->ops);
    for (char *save, *op = strtok_r(ops, ",", &save); op; op = strtok_r(NULL, ",", &save))
        if (exp_op(a, pl, csv, op))
            st = tq_fail(err, TQ_ERR_CHILD, "the %s experiment failed", op);
    fclose(csv);
    fprintf(a->report, "\ngoals over %d case(s): traceq had %ld OOM kills and %ld failed runs in %ld runs; within "
            "10%% of the best fixed size in %ld of %ld; at least 30%% faster than auto in %ld of %ld where auto "
            "completed (auto failed in %ld)\n", pl->ncases, pl->tq_kills, pl->tq_failed, pl->tq_runs, pl->fixed_met,
            pl->vs_fixed, pl->auto_met, pl->vs_auto, pl->auto_failed_cases);
    fprintf(a->report, "results: %s\n", path);
    return st;
}
