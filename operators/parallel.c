/* parallel.c - run a kernel's items on pthreads with an atomic item counter (see parallel.h). */
#include "parallel.h"
#include "../common/alloc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

struct par_job {
    tq_par_fn fn;
    void *ctx;
    size_t n;
    atomic_size_t next;
    atomic_int failed;
};

struct par_worker {
    struct par_job *job;
    int index;
    tq_status st;
    struct tq_err err;
};

static void *par_run(void *arg)
{
    struct par_worker *w = arg;
    struct par_job *job = w->job;
    for (;;) {
        if (atomic_load_explicit(&job->failed, memory_order_relaxed))
            break;
        size_t item = atomic_fetch_add(&job->next, 1);
        if (item >= job->n)
            break;
        w->st = job->fn(job->ctx, item, w->index, &w->err);
        if (w->st) {
            atomic_store(&job->failed, 1);
            break;
        }
    }
    return NULL;
}

int tq_par_workers(int threads, size_t n)
{
    if (threads < 1)
        threads = 1;
    if (n < (size_t)threads)
        threads = n ? (int)n : 1;
    return threads;
}

tq_status tq_par_for(int threads, size_t n, tq_par_fn fn, void *ctx, struct tq_err *err)
{
    int nw = tq_par_workers(threads, n);
    struct par_job job = {.fn = fn, .ctx = ctx, .n = n};
    atomic_init(&job.next, 0);
    atomic_init(&job.failed, 0);
    struct par_worker *ws = tq_calloc((size_t)nw, sizeof *ws);
    pthread_t *tids = tq_calloc((size_t)nw, sizeof *tids);
    char *started = tq_calloc((size_t)nw, 1);
    if (!ws || !tids || !started) {
        free(ws);
        free(tids);
        free(started);
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory starting %d threads", nw);
    }
    for (int i = 0; i < nw; i++)
        ws[i] = (struct par_worker){.job = &job, .index = i};
    for (int i = 1; i < nw; i++)
        started[i] = pthread_create(&tids[i], NULL, par_run, &ws[i]) == 0;
    par_run(&ws[0]);
    for (int i = 1; i < nw; i++)
        if (started[i])
            pthread_join(tids[i], NULL);
    tq_status st = TQ_OK;
    for (int i = 0; i < nw && !st; i++)
        if (ws[i].st) {
            st = ws[i].st;
            if (err)
                *err = ws[i].err;
        }
    free(ws);
    free(tids);
    free(started);
    return st;
}
