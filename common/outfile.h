/* outfile.h - writing an output file safely: to a temporary name beside it, renamed into place when complete. */
#ifndef TQ_OUTFILE_H
#define TQ_OUTFILE_H

#include <stdbool.h>
#include <stdio.h>

#include "status.h"

/* An output being written; fp is the stream to write to. Put it on the stack; the fields are read-only. */
struct tq_outfile {
    FILE *fp;
    char path[4096]; /* the final name */
    char tmp[4200];  /* the temporary name in the same directory */
    bool force;      /* replace an existing `path` */
    bool exists;     /* set when open or commit refused because `path` exists (no --force) */
    int cleanup;     /* common/cleanup.h handle of the temporary (deleted on a signal) */
};

/* Open a temporary file beside `path` for writing. Unless `force`, refuses (TQ_ERR_USAGE, "exists; use --force")
 * when `path` already exists. Fails with TQ_ERR_USAGE on a too-long path, TQ_ERR_IO when the temporary file
 * cannot be created. On failure nothing is left on disk. */
tq_status tq_outfile_open(struct tq_outfile *of, const char *path, bool force, struct tq_err *err);

/* Flush, close and rename the temporary file to its final name. Without `force` the rename refuses to replace
 * a file that appeared meanwhile (TQ_ERR_USAGE). Fails with TQ_ERR_IO when a write failed earlier or the
 * rename fails; the temporary file is removed on every failure. */
tq_status tq_outfile_commit(struct tq_outfile *of, struct tq_err *err);

/* Close and delete the temporary file (after an error while writing). No-op when nothing is open. Can't fail. */
void tq_outfile_abort(struct tq_outfile *of);

#endif
