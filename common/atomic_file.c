/* atomic_file.c - publish a finished temporary file under its final name without clobbering (see atomic_file.h). */
#define _GNU_SOURCE
#include "atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

int tq_atomic_file_set_mode(int fd)
{
    /* umask can only be read by setting it; put it straight back. */
    mode_t mask = umask(0);
    umask(mask);
    return fchmod(fd, 0666 & ~mask);
}

int tq_atomic_file_publish(const char *tmp, const char *path, bool force)
{
    if (force)
        return rename(tmp, path);
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
    /* link() fails with EEXIST instead of replacing, which is the guarantee wanted here. */
    if (link(tmp, path) != 0)
        return -1;
    unlink(tmp);
    return 0;
}
