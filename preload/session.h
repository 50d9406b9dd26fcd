/* session.h - the state of the one trace a traced process writes (shared by session.c and sampler.c). */
#ifndef TQ_SESSION_H
#define TQ_SESSION_H

#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>

#include "../traces/settings.h"
#include "../traces/writer.h"
#include "shim.h"

struct tq_session {
    struct tq_settings set;
    pthread_mutex_t lock;      /* guards w, finished and the fields below it */
    struct tq_trace_writer w;
    int active;                /* a trace is open in this process */
    int finished;              /* END written */
    int exec_pending;          /* EXEC written, execve under way: the sampler must not write after it */
    _Atomic int stop;          /* the sampler thread should end */
    pid_t pid;
    uint64_t t0;               /* CLOCK_MONOTONIC at trace start */
    uint64_t last_flush;
    uint64_t rss_peak, rss_peak_t;
    struct tq_rec_sample last_sample; /* the previous SAMPLE written (SAMPLE_PRED is relative to it; 0 at start) */
    int statm_fd;              /* read and written with __atomic (the descriptor hooks read it without the lock) */
    unsigned long long statm_dev, statm_ino;
    int creds_noted;           /* a GAP UNREACHABLE was written for the current credentials */
    long page;
    int argc;
    char **argv;
    char exe[1024];
    char path[4096];
};

extern struct tq_session tq_sess;

/* Append a CALLS record (lock held). Can't fail. */
void tq_session_put_calls_locked(void);

#endif
