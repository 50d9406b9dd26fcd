/* runner.h - execute a chunk plan: a pool of forked workers, each held to a memory limit by its own cgroup (or an
 * RSS watchdog where none can be made), computing blocks; a block whose worker is OOM-killed is split in two and
 * retried, one whose worker dies of another signal is rerun whole; finished blocks go to a journal so a killed run
 * can resume.
 *
 * The runner knows nothing about operators or files: a task's compute() runs in the worker process for one output
 * box and writes that box itself. Every block runs in a fresh fork (so one block's heap never inflates the next),
 * placed in its worker slot's cgroup before compute() starts. */
#ifndef TQ_RUNNER_H
#define TQ_RUNNER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../common/status.h"
#include "../operators/box.h"
#include "block_traces.h"
#include "journal.h"

#define TQ_RUNNER_MAX_WORKERS 64
#define TQ_RUNNER_NSIG 65 /* signals 1..64 */

/* What to compute. */
struct tq_runner_task {
    /* Compute and write output box `out`; runs in a worker process. Its failure message is reported as the
     * block's cause. */
    tq_status (*compute)(void *ctx, const struct tq_box *out, struct tq_err *err);
    void *ctx;
    unsigned splittable;     /* bit a: axis a may be cut when a block is OOM-killed */
    size_t bytes_per_voxel;  /* output bytes per voxel, for the MiB/s shown (4 for float32) */
    /* Optional: called in the runner after a worker process `pid` of this task was reaped, however it ended (a
     * task that keeps per-worker temporaries removes a killed worker's here). NULL = nothing to do. */
    void (*reaped)(void *ctx, pid_t pid);
    /* 1: compute() starts child processes (a user's command); the watchdog then sums the resident size of the
     * worker and all its descendants. */
    int spawns;
};

/* How a block's worker ended, as a source's ended() hears it. */
enum tq_runner_outcome {
    TQ_RUNNER_DONE, /* computed and written (journaled when there is a journal) */
    TQ_RUNNER_OOM,  /* OOM-killed (cgroup or watchdog); its halves are queued first, or the run fails */
    TQ_RUNNER_RERUN /* died of another signal; rerun whole, or the run fails */
};

struct tq_runner_block_end {
    struct tq_box box;
    enum tq_runner_outcome outcome;
    uint64_t rss_peak; /* the worker's VmHWM (its command's too); for an OOM kill the watchdog's sample or 0 */
    uint64_t cg_peak;  /* the slot cgroup's peak after the block (a running maximum on v2), 0 without a cgroup */
    double seconds;    /* the worker's compute time (0 unless done) */
};

/* Where blocks come from; the plan's list by default, a queue on MPI rank 0 for other ranks, the adaptive cutter
 * (adapt.h). */
struct tq_runner_source {
    /* Fill *box and return 1; return 0 when none is available yet (ask again later), -1 when none will come. */
    int (*next)(void *ctx, struct tq_box *box);
    /* Called every turn of the runner's loop (about every 5 ms); may be NULL. */
    void (*poll)(void *ctx);
    void *ctx;
    /* Called after every worker ended, whatever block it ran (split halves and reruns too); may be NULL. */
    void (*ended)(void *ctx, const struct tq_runner_block_end *e);
};

enum tq_enforce {
    TQ_ENFORCE_AUTO,     /* a cgroup where one can be made, else the watchdog */
    TQ_ENFORCE_CGROUP,   /* a cgroup or fail */
    TQ_ENFORCE_WATCHDOG, /* the RSS watchdog even where cgroups work (tests, comparisons) */
};

struct tq_runner_opts {
    int workers;                /* worker processes at once, 1..TQ_RUNNER_MAX_WORKERS */
    uint64_t memory_per_worker; /* bytes; 0 = no limit (nothing enforced) */
    /* How many times one block may be retried, both kinds counted together: a split after an OOM kill (each half
     * inherits its block's count) and a rerun of the same block after its worker died of another signal. A worker
     * that exits with a non-zero status (an error) is never retried. */
    int retries;
    enum tq_enforce enforce;
    /* 1: the blocks were sized by a model of cgroup-charged memory (tq_plan_needs_cgroup); with a memory limit the
     * run then refuses the RSS watchdog (TQ_ERR_USAGE) instead of killing blocks whose RSS counts shared pages. */
    int needs_cgroup;
    tq_journal *journal;        /* may be NULL; blocks found in it are skipped, finished ones appended */
    int progress;               /* draw blocks done, MiB/s and ETA on stderr */
    /* Testing only: each worker also allocates and touches this many bytes per output voxel of its block before
     * computing it, to make a block outgrow its limit on purpose. */
    uint64_t pad_per_voxel;
    /* Testing only: worker starts number kill_worker .. kill_worker + kill_count - 1 of this run (counted from 1
     * in the order they are forked) raise SIGKILL on themselves after computing their block, before reporting it
     * (so the block is written but not known done). 0 = none. */
    long kill_worker, kill_count;
    /* --trace-blocks: every worker runs under libtraceq.so (tq_block_traces_start ran); after each worker is reaped
     * its traces are filed as block-ID-aN.tqt, with a KILLED record after an OOM kill. NULL = not traced. Block ids
     * are the plan's indices from 0, ".0"/".1" appended for the halves of a split block. */
    struct tq_block_traces *traces;
};

struct tq_runner_worker_stats {
    size_t blocks;      /* blocks this slot finished */
    uint64_t cg_peak;   /* highest cgroup peak of the slot (includes the page cache the worker's I/O charged) */
    uint64_t rss_peak;  /* highest VmHWM a worker process reported (or the watchdog sampled) */
    double busy_s;      /* time spent computing */
};

struct tq_runner_report {
    double wall_s;
    size_t blocks_total;   /* blocks handed in (plan blocks) */
    size_t blocks_skipped; /* finished by an earlier run (journal) */
    size_t blocks_run;     /* worker processes that finished a block now, split pieces included */
    size_t splits;         /* retries: blocks split in two after an OOM kill */
    size_t oom_kills;      /* workers killed by their cgroup's OOM killer or the watchdog */
    size_t crash_retries;  /* blocks rerun whole because their worker died of a signal without an OOM kill */
    size_t crash_signal[TQ_RUNNER_NSIG]; /* those reruns by the signal that killed the worker */
    uint64_t bytes_out;    /* output bytes written now */
    uint64_t limit;        /* memory_per_worker */
    char mechanism[600];   /* how the limit was enforced, in words */
    int workers;
    struct tq_runner_worker_stats worker[TQ_RUNNER_MAX_WORKERS];
    int interrupted;       /* the signal that stopped the run (SIGINT, SIGTERM, SIGHUP), else 0 */
    /* --trace-blocks: the folder (empty when not traced), the traces filed there, and the main traces of the first
     * OOM-killed attempts (what held the memory: `traceq report PATH`). */
    char trace_dir[1024];
    size_t traces_written;
    size_t nkilled_traces;
    char killed_trace[TQ_BLOCK_TRACES_KEEP][1024];
};

/* Run `task` over `blocks` (output boxes) with opts. The report is filled on success and on failure. Fails with
 * TQ_ERR_LIMIT when a block is still OOM-killed after opts->retries retries (or cannot be split), TQ_ERR_CHILD
 * naming the block and cause when its worker still dies of a signal after opts->retries retries, when a worker
 * exits with an error or a non-zero status, or when the run is interrupted by a signal (every worker is
 * killed and every cgroup removed first), TQ_ERR_LIMIT when enforce = CGROUP and no cgroup can be made,
 * TQ_ERR_USAGE when needs_cgroup and the limit would be enforced by the watchdog, and
 * TQ_ERR_IO when the journal cannot be written. */
tq_status tq_runner_run(const struct tq_runner_task *task, const struct tq_box *blocks, size_t nblocks,
                        const struct tq_runner_opts *opts, struct tq_runner_report *rep, struct tq_err *err);

/* Like tq_runner_run with blocks taken from `src` instead of a list (MPI ranks). Journals are not used here. */
tq_status tq_runner_run_source(const struct tq_runner_task *task, const struct tq_runner_source *src,
                               const struct tq_runner_opts *opts, struct tq_runner_report *rep, struct tq_err *err);

/* Like tq_runner_run_source, but finished blocks are journaled in opts->journal (the source skips what the
 * journal holds itself): the adaptive runner. rep->blocks_total counts the source's blocks (not split halves). */
tq_status tq_runner_run_fed(const struct tq_runner_task *task, const struct tq_runner_source *src,
                            const struct tq_runner_opts *opts, struct tq_runner_report *rep, struct tq_err *err);

/* Cut b in two halves across its longest axis among `splittable` (lowest axis on ties). Returns 0 and fills
 * halves, or -1 when no allowed axis is 2 voxels or longer. Can't fail otherwise. */
int tq_runner_split(const struct tq_box *b, unsigned splittable, struct tq_box halves[2]);

/* The report as a JSON object (new reference), or NULL when out of memory. */
json_t *tq_runner_report_json(const struct tq_runner_report *rep);

#endif
