/* cleanup.h - what a command leaves behind when SIGINT, SIGTERM, SIGHUP or SIGQUIT ends it: nothing. A static
 * registry of this process's temporary files, temporary folders and child processes, and a handler that stops the
 * children, deletes the temporaries and then dies of the same signal (so the exit status still says "killed by
 * signal N"). Registering and the handler are async-signal-safe (no locks, no allocation). */
#ifndef TQ_CLEANUP_H
#define TQ_CLEANUP_H

#include <signal.h>
#include <sys/types.h>

/* Remember a temporary file (unlinked on a signal). Returns a handle > 0 for tq_cleanup_forget, or 0 when the
 * registry is full or the path too long (the file is then simply not cleaned up: never a failure). */
int tq_cleanup_add_file(const char *path);
/* Remember a temporary folder: on a signal it is removed with everything in it (a few levels deep, links are
 * removed, never followed). Same return as tq_cleanup_add_file. */
int tq_cleanup_add_dir(const char *path);
/* Remember files a child makes under names we cannot know (a temporary's random suffix): on a signal every
 * file in folder `dir` whose name starts with `prefix` is unlinked (after the children stopped). Same return. */
int tq_cleanup_add_prefix(const char *dir, const char *prefix);
/* Remember a child process: on a signal it gets SIGTERM and is waited for (SIGKILL after 10 s) before the
 * temporaries are removed, so it cannot write into a folder being deleted. Same return. */
int tq_cleanup_add_child(pid_t pid);
/* Drop a handle (the file was committed, the folder removed, the child reaped). 0 is a no-op. */
void tq_cleanup_forget(int handle);

/* Block the cleanup signals (saving the old mask in *old) around fork + tq_cleanup_add_child, so no signal lands
 * between them; the child restores *old before it execs. tq_cleanup_release restores *old. */
void tq_cleanup_hold(sigset_t *old);
void tq_cleanup_release(const sigset_t *old);

/* Install the handler for SIGINT, SIGTERM, SIGHUP and SIGQUIT (once per program, from main); a signal ignored
 * when the program starts (nohup, a script's background job) stays ignored. Entries registered by another
 * process (a forked worker inherits the registry) are left alone. Can't fail. */
void tq_cleanup_on_signals(void);

#endif
