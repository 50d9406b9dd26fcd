/* cmdjob.h - a user's command over one volume file as a runner task (runner.h): each worker process writes its
 * block's input box (output box grown by the halo, clamped) to a private temporary .npy, runs the command on it
 * (the command is the worker's child, so it is in the worker's cgroup and dies with it), checks the command's
 * output and copies the block's core into the shared output.
 *
 * Temporaries live in one private directory per run, OUT.cmdtmp (mode 0700, beside the output so they are on
 * disk, not in a tmpfs charged to the worker's memory): blk-PID.in.npy, blk-PID.out.npy, blk-PID.log, PID being
 * the worker's. The worker removes its own; the runner removes those of a worker that was killed (the task's
 * reaped hook), and the whole directory at the end of the run; a directory left by a killed runner is emptied
 * when the next run on the same output starts (--resume, --force). */
#ifndef TQ_CMDJOB_H
#define TQ_CMDJOB_H

#include <stddef.h>
#include <sys/types.h>

#include "../common/status.h"
#include "../operators/box.h"
#include "../operators/operator.h"
#include "../operators/usercmd.h"
#include "../operators/volume.h"

struct tq_cmdjob {
    const struct tq_ucmd *cmd;      /* the template, with {in} and {out}; borrowed */
    const struct tq_op *op;         /* its pseudo-operator (tq_ucmd_op); borrowed */
    struct tq_op_params params;     /* cmd_halo, cmd_trim */
    const char *input;              /* input volume path; borrowed */
    size_t in_shape[3];
    tq_vol_writer *writer;          /* the output (created before the workers fork); borrowed */
    char tmpdir[4096];              /* filled by tq_cmdjob_tmpdir_open */
};

/* Make the run's private temporary directory OUT.cmdtmp (0700), first emptying one a killed run left (only
 * blk-* files; a symlink or a non-directory under that name is refused). Fails with TQ_ERR_IO. */
tq_status tq_cmdjob_tmpdir_open(struct tq_cmdjob *job, const char *output, struct tq_err *err);
/* Remove the directory and whatever blk-* files are still in it. Can't fail (best effort). */
void tq_cmdjob_tmpdir_close(struct tq_cmdjob *job);

/* Runner compute callback (ctx is a struct tq_cmdjob): run the command for output box `out` and write its core.
 * A command killed by SIGKILL (its cgroup's OOM killer) makes the worker kill itself with SIGKILL too, so the
 * runner sees an OOM kill and splits the block. Fails with TQ_ERR_CHILD when the command cannot start, exits
 * non-zero or dies of another signal (the message quotes its last output lines), TQ_ERR_FORMAT when it wrote
 * nothing, not a float32 .npy, or the wrong shape; TQ_ERR_IO on the temporaries. */
tq_status tq_cmdjob_block(void *ctx, const struct tq_box *out, struct tq_err *err);

/* Runner reaped hook: remove the temporaries of worker `pid` (after a kill). Can't fail. */
void tq_cmdjob_reaped(void *ctx, pid_t pid);

#endif
