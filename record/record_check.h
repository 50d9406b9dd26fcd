/* record_check.h - after `traceq record`: name every process image of the run that wrote no trace. */
#ifndef TQ_RECORD_CHECK_H
#define TQ_RECORD_CHECK_H

#include <stddef.h>
#include <sys/types.h>

/* Read the traces listed in the run's manifest (one path a line) and print to stderr one line
 * "traceq record: no trace was written for PID (CMD): static binary, setuid, or LD_PRELOAD removed"
 * for the started command `child` (argv0 `cmd`) when none of the traces is its, and for every exec'd image
 * (a trace ending in EXEC) with no trace of its own after it. Returns how many it reported. Can't fail:
 * an unreadable manifest or trace counts as nothing written. */
int tq_record_report_untraced(const char *manifest, pid_t child, const char *cmd);

/* Why the command `cmd` could not be started (its exec failed with errno err): "command not found (not in PATH)",
 * "no such file", "not an executable file, or no permission to run it", or strerror. Into msg[cap], with cmd
 * escaped for the terminal. Can't fail. */
void tq_record_exec_error(const char *cmd, int err, char *msg, size_t cap);

/* Check that traces may safely go into directory dir (tq_trace_dir_check), which must be a directory: owned by the caller (or root) and not
 * writable by every user unless sticky (/tmp-like), else another user could rename, delete or replace them. Returns 0, or -1 with the
 * reason in msg[cap] (also when dir cannot be examined). */
int tq_record_check_outdir(const char *dir, char *msg, size_t cap);

/* Where libtraceq.so is: $TRACEQ_LIB, else beside the running traceq executable. Writes the path into out[cap]
 * (also when it is missing, for the message). Returns 0 when it is readable, else -1. */
int tq_record_find_shim(char *out, size_t cap);

#endif
