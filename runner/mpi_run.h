/* mpi_run.h - `traceq run --mpi`: the same runner on every MPI rank. Rank 0 hands plan blocks out one at a time
 * (a dynamic queue, so slower ranks take fewer), every rank runs its own memory-limited worker pool, and all ranks
 * write their blocks into one output file (rank 0 creates it; the others reopen its temporary; pwrite at disjoint
 * offsets, so a filesystem shared by the ranks is all that is needed). Built only where mpicc exists. */
#ifndef TQ_MPI_RUN_H
#define TQ_MPI_RUN_H

#include <stddef.h>

#include "../common/status.h"
#include "run_job.h"
#include "runner.h"
#include "../operators/volume.h"

/* MPI_Init. Fails with TQ_ERR_CHILD when MPI cannot start. */
tq_status tq_mpi_start(struct tq_err *err);
/* This process's rank. Can't fail (0 before tq_mpi_start). */
int tq_mpi_rank(void);
/* MPI_Finalize. Can't fail. */
void tq_mpi_stop(void);

/* Collective: agree that every rank prepared well (`st` is this rank's status so far), then give every rank a
 * writer on rank 0's output: rank 0 already holds *w (created), the others reopen its temporary. Fails with the
 * local failure, TQ_ERR_CHILD when another rank failed, or the reopen error. */
tq_status tq_mpi_share_output(const char *output, const size_t out_shape[3], int force, tq_vol_writer **w,
                              tq_status st, struct tq_err *err);

/* Collective: run `blocks` over all ranks (see above). On rank 0 (*is_root = 1) rep holds the whole run: the
 * sums over ranks and every rank's workers; other ranks print their own failures on stderr. Fails on every rank
 * when any rank failed (rank 0 names its own failure, or says that another rank failed). */
tq_status tq_mpi_run(const struct tq_runner_task *task, const struct tq_box *blocks, size_t nblocks,
                     const struct tq_runner_opts *opts, struct tq_runner_report *rep, int *is_root,
                     struct tq_err *err);

/* The functions above as a run's spread (run_job.h): tq_run_args.spread for `traceq run --mpi`. */
extern const struct tq_run_spread tq_mpi_spread;

#endif
