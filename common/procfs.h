/* procfs.h - the one reader of memory figures from /proc/PID/status (VmRSS, VmHWM, ...). */
#ifndef TQ_PROCFS_H
#define TQ_PROCFS_H

#include <stdint.h>
#include <sys/types.h>

/* The kB field `name` ("VmRSS", "VmHWM", ...) of /proc/PID/status in bytes (pid 0: the calling process).
 * Returns 0 when the file or the field cannot be read (the process is gone, or a zombie). Can't fail otherwise. */
uint64_t tq_proc_status_bytes(pid_t pid, const char *name);

#endif
