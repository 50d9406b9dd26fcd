/* mpi_run.c - dynamic block queue on rank 0, a worker pool per rank, one shared output (see mpi_run.h). */
#include "mpi_run.h"

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

enum { TAG_REQ = 1, TAG_WORK = 2, TAG_DONE = 3 };
enum { REQ_WANT = 0, REQ_QUIT = 1 };

/* Rank 0's queue and what it knows of the other ranks. */
struct mpi_queue {
    const struct tq_box *blocks;
    size_t n, next;
    int size, finished; /* ranks other than 0 that were told "done" or quit */
};

/* What a rank > 0 knows. */
struct mpi_client {
    int got_done;
};

static int mpi_rank_now(void)
{
    int inited = 0, rank = 0;
    MPI_Initialized(&inited);
    if (inited)
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    return rank;
}

tq_status tq_mpi_start(struct tq_err *err)
{
    if (MPI_Init(NULL, NULL) != MPI_SUCCESS)
        return tq_fail(err, TQ_ERR_CHILD, "MPI_Init failed");
    return TQ_OK;
}

int tq_mpi_rank(void)
{
    return mpi_rank_now();
}

void tq_mpi_stop(void)
{
    MPI_Finalize();
}

/* 1 when any rank passes a nonzero flag. */
static int mpi_any(int flag)
{
    int any = 0;
    MPI_Allreduce(&flag, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return any;
}

tq_status tq_mpi_share_output(const char *output, const size_t out_shape[3], int force, tq_vol_writer **w,
                              tq_status st, struct tq_err *err)
{
    if (mpi_any(st != TQ_OK))
        return st ? st : tq_fail(err, TQ_ERR_CHILD, "another MPI rank failed to prepare the run");
    char tmp[4096] = "";
    int rank = mpi_rank_now();
    if (rank == 0)
        snprintf(tmp, sizeof tmp, "%s", tq_vol_writer_tmp_path(*w));
    MPI_Bcast(tmp, sizeof tmp, MPI_CHAR, 0, MPI_COMM_WORLD);
    if (rank != 0)
        st = tq_vol_writer_reopen(output, tmp, out_shape, force, w, err);
    if (mpi_any(st != TQ_OK))
        return st ? st : tq_fail(err, TQ_ERR_CHILD, "another MPI rank could not open the output");
    return TQ_OK;
}

/* Answer one request from a rank > 0: the next block, or "done". */
static void queue_answer(struct mpi_queue *q, int src, int code, int give)
{
    if (code == REQ_QUIT) {
        q->finished++;
        return;
    }
    if (give && q->next < q->n) {
        const struct tq_box *b = &q->blocks[q->next++];
        uint64_t v[6] = {b->lo[0], b->lo[1], b->lo[2], b->hi[0], b->hi[1], b->hi[2]};
        MPI_Send(v, 6, MPI_UINT64_T, src, TAG_WORK, MPI_COMM_WORLD);
    } else {
        MPI_Send(NULL, 0, MPI_UINT64_T, src, TAG_DONE, MPI_COMM_WORLD);
        q->finished++;
    }
}

/* Serve every request waiting now (called each turn of rank 0's runner loop). */
static void queue_poll(void *ctx)
{
    struct mpi_queue *q = ctx;
    int flag = 1;
    while (flag) {
        MPI_Status s;
        MPI_Iprobe(MPI_ANY_SOURCE, TAG_REQ, MPI_COMM_WORLD, &flag, &s);
        if (flag) {
            int code;
            MPI_Recv(&code, 1, MPI_INT, s.MPI_SOURCE, TAG_REQ, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            queue_answer(q, s.MPI_SOURCE, code, 1);
        }
    }
}

/* Rank 0's own next block; it finishes only when every other rank has been told "done". */
static int queue_next(void *ctx, struct tq_box *box)
{
    struct mpi_queue *q = ctx;
    if (q->next < q->n) {
        *box = q->blocks[q->next++];
        return 1;
    }
    return q->finished == q->size - 1 ? -1 : 0;
}

/* After rank 0's pool stopped (done or failed): tell every rank still asking that there is nothing more. */
static void queue_drain(struct mpi_queue *q)
{
    while (q->finished < q->size - 1) {
        MPI_Status s;
        int code;
        MPI_Recv(&code, 1, MPI_INT, MPI_ANY_SOURCE, TAG_REQ, MPI_COMM_WORLD, &s);
        queue_answer(q, s.MPI_SOURCE, code, 0);
    }
}

/* A rank > 0 asks rank 0 for its next block (blocking: rank 0 answers within one loop period). */
static int client_next(void *ctx, struct tq_box *box)
{
    struct mpi_client *c = ctx;
    if (c->got_done)
        return -1;
    int code = REQ_WANT;
    uint64_t v[6];
    MPI_Status s;
    MPI_Send(&code, 1, MPI_INT, 0, TAG_REQ, MPI_COMM_WORLD);
    MPI_Recv(v, 6, MPI_UINT64_T, 0, MPI_ANY_TAG, MPI_COMM_WORLD, &s);
    if (s.MPI_TAG == TAG_DONE) {
        c->got_done = 1;
        return -1;
    }
    for (int a = 0; a < 3; a++) {
        box->lo[a] = (size_t)v[a];
        box->hi[a] = (size_t)v[3 + a];
    }
    return 1;
}

/* Rank 0 gathers every rank's counters and worker stats into rep. */
static void mpi_merge_reports(struct tq_runner_report *rep, int size, int rank)
{
    enum { NSUM = 5 + TQ_RUNNER_NSIG };
    unsigned long long mine[NSUM] = {rep->blocks_run, rep->splits, rep->oom_kills, rep->bytes_out,
                                     rep->crash_retries},
                       sum[NSUM];
    for (int sig = 0; sig < TQ_RUNNER_NSIG; sig++)
        mine[5 + sig] = rep->crash_signal[sig];
    MPI_Reduce(mine, sum, NSUM, MPI_UNSIGNED_LONG_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
    int per = rep->workers;
    struct tq_runner_worker_stats all[TQ_RUNNER_MAX_WORKERS * 8];
    int fits = size * per <= (int)(sizeof all / sizeof all[0]);
    if (fits)
        MPI_Gather(rep->worker, (int)(per * sizeof *rep->worker), MPI_BYTE, all, (int)(per * sizeof *rep->worker),
                   MPI_BYTE, 0, MPI_COMM_WORLD);
    if (rank != 0)
        return;
    rep->blocks_run = sum[0], rep->splits = sum[1], rep->oom_kills = sum[2], rep->bytes_out = sum[3];
    rep->crash_retries = sum[4];
    for (int sig = 0; sig < TQ_RUNNER_NSIG; sig++)
        rep->crash_signal[sig] = sum[5 + sig];
    int n = fits ? (size * per < TQ_RUNNER_MAX_WORKERS ? size * per : TQ_RUNNER_MAX_WORKERS) : per;
    if (fits)
        memcpy(rep->worker, all, (size_t)n * sizeof *rep->worker);
    rep->workers = n;
    size_t len = strlen(rep->mechanism);
    snprintf(rep->mechanism + len, sizeof rep->mechanism - len, "; on each of %d MPI ranks (%d workers each)", size,
             per);
}

static double mpi_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

tq_status tq_mpi_run(const struct tq_runner_task *task, const struct tq_box *blocks, size_t nblocks,
                     const struct tq_runner_opts *opts, struct tq_runner_report *rep, int *is_root,
                     struct tq_err *err)
{
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    *is_root = rank == 0;
    struct tq_runner_opts o = *opts;
    o.progress = opts->progress && rank == 0;
    struct mpi_queue q = {blocks, nblocks, 0, size, 0};
    struct mpi_client c = {0};
    struct tq_runner_source src = rank == 0 ? (struct tq_runner_source){queue_next, queue_poll, &q, NULL}
                                            : (struct tq_runner_source){client_next, NULL, &c, NULL};
    double t0 = mpi_now();
    tq_status st = tq_runner_run_source(task, &src, &o, rep, err);
    if (rank == 0)
        queue_drain(&q);
    else if (!c.got_done) {
        int code = REQ_QUIT;
        MPI_Send(&code, 1, MPI_INT, 0, TAG_REQ, MPI_COMM_WORLD);
    }
    if (st && rank != 0)
        fprintf(stderr, "traceq run (MPI rank %d): %s\n", rank, err->msg);
    /* Every rank has written its blocks once all are past this point: only then may rank 0 commit. */
    int failed = mpi_any(st != TQ_OK);
    mpi_merge_reports(rep, size, rank);
    rep->blocks_total = nblocks;
    rep->wall_s = mpi_now() - t0;
    if (failed && st == TQ_OK)
        st = tq_fail(err, TQ_ERR_CHILD, "a block failed on another MPI rank (its message is above)");
    return st;
}

const struct tq_run_spread tq_mpi_spread = {.start = tq_mpi_start, .rank = tq_mpi_rank, .stop = tq_mpi_stop,
                                            .share_output = tq_mpi_share_output, .run = tq_mpi_run};
