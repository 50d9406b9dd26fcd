/* atomic_file.h - the last steps of every "write to a temporary name, rename when complete" output: file mode and publish. */
#ifndef TQ_ATOMIC_FILE_H
#define TQ_ATOMIC_FILE_H

#include <stdbool.h>

/* Give a file made by mkstemp (mode 0600) the mode a plain creat(0666) would have under the current umask.
 * Returns 0, or -1 with errno from fchmod. */
int tq_atomic_file_set_mode(int fd);

/* Move the finished temporary file `tmp` to `path`. With `force` an existing path is replaced (rename); without
 * it an existing path is never replaced, also one that appeared while tmp was being written: renameat2
 * (RENAME_NOREPLACE), or link+unlink on file systems without it. Returns 0, or -1 with errno (EEXIST when path
 * exists and !force); tmp is left in place on failure. */
int tq_atomic_file_publish(const char *tmp, const char *path, bool force);

#endif
