/* outfile.c - temporary-name-then-rename output files that never clobber unless forced (see outfile.h). */
#define _GNU_SOURCE
#include "outfile.h"
#include "atomic_file.h"
#include "cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

tq_status tq_outfile_open(struct tq_outfile *of, const char *path, bool force, struct tq_err *err)
{
    memset(of, 0, sizeof *of);
    if (!path || !*path)
        return tq_fail(err, TQ_ERR_USAGE, "empty output path");
    if (strlen(path) >= sizeof of->path)
        return tq_fail(err, TQ_ERR_USAGE, "output path too long: %s", path);
    struct stat st;
    if (!force && stat(path, &st) == 0) {
        of->exists = true;
        return tq_fail(err, TQ_ERR_USAGE, "%s exists; use --force to replace it", path);
    }
    snprintf(of->path, sizeof of->path, "%s", path);
    snprintf(of->tmp, sizeof of->tmp, "%s.tmp.XXXXXX", path);
    sigset_t mask; /* no signal between creating the temporary and registering it for cleanup */
    tq_cleanup_hold(&mask);
    int fd = mkstemp(of->tmp);
    if (fd >= 0)
        of->cleanup = tq_cleanup_add_file(of->tmp);
    tq_cleanup_release(&mask);
    if (fd < 0)
        return tq_fail_errno(err, TQ_ERR_IO, "cannot create a temporary file for %s", path);
    /* mkstemp makes the file 0600; outputs are ordinary files, so give them the usual umask-based mode. */
    tq_atomic_file_set_mode(fd);
    of->fp = fdopen(fd, "w");
    if (!of->fp) {
        tq_status s = tq_fail_errno(err, TQ_ERR_IO, "cannot open %s", of->tmp);
        close(fd);
        unlink(of->tmp);
        tq_cleanup_forget(of->cleanup);
        return s;
    }
    of->force = force;
    return TQ_OK;
}

tq_status tq_outfile_commit(struct tq_outfile *of, struct tq_err *err)
{
    if (!of->fp)
        return tq_fail(err, TQ_ERR_INTERNAL, "output file is not open");
    int bad = ferror(of->fp) | fflush(of->fp) | fsync(fileno(of->fp));
    bad |= fclose(of->fp);
    of->fp = NULL;
    if (bad) {
        tq_status s = tq_fail_errno(err, TQ_ERR_IO, "cannot write %s", of->path);
        unlink(of->tmp);
        tq_cleanup_forget(of->cleanup);
        return s;
    }
    if (tq_atomic_file_publish(of->tmp, of->path, of->force) != 0) {
        of->exists = errno == EEXIST;
        tq_status s = errno == EEXIST ? tq_fail(err, TQ_ERR_USAGE, "%s exists; use --force to replace it", of->path)
                                      : tq_fail_errno(err, TQ_ERR_IO, "cannot rename to %s", of->path);
        unlink(of->tmp);
        tq_cleanup_forget(of->cleanup);
        return s;
    }
    tq_cleanup_forget(of->cleanup);
    return TQ_OK;
}

void tq_outfile_abort(struct tq_outfile *of)
{
    if (!of || !of->fp)
        return;
    fclose(of->fp);
    of->fp = NULL;
    unlink(of->tmp);
    tq_cleanup_forget(of->cleanup);
}
