/* procfs.h - the one reader of memory figures from /proc/PID/status (VmRSS, VmHWM, ...) and /proc/PID/statm. */
#ifndef TQ_PROCFS_H
#define TQ_PROCFS_H

#include <stdint.h>
#include <sys/types.h>

#include "status.h"

/* The kB field `name` ("VmRSS", "VmHWM", ...) of /proc/PID/status in bytes (pid 0: the calling process).
 * Returns 0 when the file or the field cannot be read (the process is gone, or a zombie). Can't fail otherwise. */
uint64_t tq_proc_status_bytes(pid_t pid, const char *name);

/* Resident bytes of pid from /proc/PID/statm (resident pages x page size). Fails with TQ_ERR_IO when the file
 * cannot be opened or read (the process is gone) or does not hold two numbers. */
tq_status tq_proc_statm_rss(pid_t pid, uint64_t *rss, struct tq_err *err);

#endif
