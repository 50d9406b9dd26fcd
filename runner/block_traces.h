/* block_traces.h - `traceq run --trace-blocks DIR`: every block's worker runs under libtraceq.so, and each block
 * attempt leaves its traces in DIR named by block id and attempt (block-ID-aN.tqt); a worker that was OOM-killed
 * gets a KILLED record appended to its traces (traces/FORMAT.md), so `traceq report` says what killed it.
 *
 * How: the runner runs itself again (exec, same pid) with the shim preloaded, following forks, writing into a
 * private staging folder DIR/.traceq-staging.XXXXXX; every worker is a fork of the runner, so it writes its own
 * trace there, and so does a user's command (--cmd) it starts. After reaping a worker the runner moves the traces
 * of that worker and its descendants (PROCESS pid/ppid) to their final names, never overwriting. */
#ifndef TQ_BLOCK_TRACES_H
#define TQ_BLOCK_TRACES_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../common/status.h"
#include "../traces/codec.h"

#define TQ_BLOCK_TRACES_KEEP 8 /* traces of killed attempts remembered for the report */

struct tq_block_traces {
    char dir[PATH_MAX];     /* DIR, absolute */
    char staging[PATH_MAX]; /* where the shim writes: DIR/.traceq-staging.XXXXXX */
    size_t written;         /* traces moved into DIR */
    size_t killed;          /* attempts that were OOM-killed */
    char killed_trace[TQ_BLOCK_TRACES_KEEP][PATH_MAX]; /* the first ones' main traces */
};

/* Called first by `traceq run --trace-blocks DIR [--stacks]`. Outside the shim: check DIR (not a symbolic link;
 * a directory of this user that only its owner may write to, created with mode 0700 when missing), make the
 * staging folder, and exec /proc/self/exe with the nargs arguments args ("run" ...) again with libtraceq.so
 * preloaded: returns only on failure
 * (TQ_ERR_USAGE for a bad DIR or a missing shim, TQ_ERR_IO). Under the shim (the exec'd runner): check the staging
 * folder the environment names (inside DIR, this user's, not a link) and fill *bt; TQ_ERR_USAGE when it does not
 * check out. */
tq_status tq_block_traces_start(const char *dir, int stacks, int nargs, char **args, struct tq_block_traces *bt,
                                struct tq_err *err);

/* After worker `worker` of block `id`'s attempt `attempt` (from 1) was reaped: move its traces and those of its
 * descendants into DIR as block-ID-aN.tqt (the worker's) and block-ID-aN.PID.tqt (its children's: a --cmd
 * command); a fork child's trace that only ends in EXEC (the command's own follows) is dropped. With `killed`
 * (an OOM kill), a KILLED record is appended to every one of those traces that ends without exit. The attempt's
 * main trace (a command's when there is one, else the worker's) goes to main[cap] ("" when none was found). Can't fail: a trace that cannot be moved stays in
 * the staging folder and is moved by tq_block_traces_finish. */
void tq_block_traces_collect(struct tq_block_traces *bt, pid_t worker, const char *id, int attempt,
                             const struct tq_rec_killed *killed, const char *killed_where, char *main, size_t cap);

/* At the end of the run: drop the runner's own trace, move any trace left into DIR under its own name, remove the
 * staging folder. Can't fail. */
void tq_block_traces_finish(struct tq_block_traces *bt);

#endif
