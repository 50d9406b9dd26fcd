/* vol_tmp.c - recognising a volume writer's own temporary (".<name>.tmp.XXXXXX" beside the output, made by
 * mkostemp) before anything reopens or removes a file that a journal or another process named (see volume.h). */
#define _GNU_SOURCE
#include "volume.h"
#include "../common/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Does name (a bare file name) match "." + base + ".tmp." + six letters or digits? */
static int tmp_name_matches(const char *name, const char *base)
{
    size_t bl = strlen(base);
    if (name[0] != '.' || strncmp(name + 1, base, bl) || strncmp(name + 1 + bl, ".tmp.", 5))
        return 0;
    const char *x = name + 1 + bl + 5;
    if (strlen(x) != 6)
        return 0;
    for (int i = 0; i < 6; i++)
        if (!((x[i] >= 'a' && x[i] <= 'z') || (x[i] >= 'A' && x[i] <= 'Z') || (x[i] >= '0' && x[i] <= '9')))
            return 0;
    return 1;
}

/* Open the folder part of p ("." when none) as a directory; *name points at p's last component. */
static int open_parent(const char *p, const char **name)
{
    const char *slash = strrchr(p, '/');
    *name = slash ? slash + 1 : p;
    if (!slash)
        return open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    char *dir = tq_strndup(p, slash == p ? 1 : (size_t)(slash - p));
    if (!dir)
        return -1;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    return fd;
}

tq_status tq_vol_tmp_open(const char *path, const char *tmp, int flags, int *fd, struct tq_err *err)
{
    *fd = -1;
    const char *base, *name;
    int out_dir = open_parent(path, &base);
    if (out_dir < 0)
        return tq_fail_errno(err, TQ_ERR_IO, "cannot open the folder of '%s'", path);
    int tmp_dir = open_parent(tmp, &name);
    struct stat a, b, f;
    tq_status st = TQ_OK;
    if (tmp_dir < 0)
        st = tq_fail_errno(err, TQ_ERR_FORMAT, "'%s' is not in a folder that exists", tmp);
    else if (!tmp_name_matches(name, base))
        st = tq_fail(err, TQ_ERR_FORMAT, "'%s' is not named like a temporary of '%s' (.%s.tmp.XXXXXX)", tmp, path,
                     base);
    else if (fstat(out_dir, &a) || fstat(tmp_dir, &b) || a.st_dev != b.st_dev || a.st_ino != b.st_ino)
        st = tq_fail(err, TQ_ERR_FORMAT, "'%s' is not in the folder of '%s'", tmp, path);
    if (st == TQ_OK) {
        *fd = openat(tmp_dir, name, flags | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        if (*fd < 0)
            st = tq_fail_errno(err, errno == ELOOP ? TQ_ERR_FORMAT : TQ_ERR_IO, "cannot open '%s'%s", tmp,
                               errno == ELOOP ? " (a symbolic link: never followed)" : "");
        else if (fstat(*fd, &f) || !S_ISREG(f.st_mode))
            st = tq_fail(err, TQ_ERR_FORMAT, "'%s' is not a regular file", tmp);
        else if (f.st_uid != geteuid())
            st = tq_fail(err, TQ_ERR_FORMAT, "'%s' belongs to another user (uid %ld)", tmp, (long)f.st_uid);
        else if (f.st_nlink != 1)
            st = tq_fail(err, TQ_ERR_FORMAT, "'%s' has %ld hard links: not a temporary of ours", tmp,
                         (long)f.st_nlink);
        if (st == TQ_OK && fcntl(*fd, F_SETFL, fcntl(*fd, F_GETFL) & ~O_NONBLOCK) != 0)
            st = tq_fail_errno(err, TQ_ERR_IO, "cannot use '%s'", tmp);
        if (st && *fd >= 0) {
            close(*fd);
            *fd = -1;
        }
    }
    if (tmp_dir >= 0)
        close(tmp_dir);
    close(out_dir);
    return st;
}

tq_status tq_vol_tmp_remove(const char *path, const char *tmp, struct tq_err *err)
{
    int fd;
    tq_status st = tq_vol_tmp_open(path, tmp, O_RDONLY, &fd, err);
    if (st == TQ_ERR_IO && errno == ENOENT)
        return TQ_OK;
    if (st)
        return st;
    close(fd);
    const char *name;
    int dir = open_parent(tmp, &name);
    if (dir < 0 || (unlinkat(dir, name, 0) && errno != ENOENT))
        st = tq_fail_errno(err, TQ_ERR_IO, "cannot remove the unfinished output '%s'", tmp);
    if (dir >= 0)
        close(dir);
    return st;
}
