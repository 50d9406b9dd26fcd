/* compare_internal.h - what compare.c shares with the backend files (compare_proc.c, compare_cgroup.c, ...). */
#ifndef TQ_COMPARE_INTERNAL_H
#define TQ_COMPARE_INTERNAL_H

#include "compare.h"
#include "../common/process.h"

/* Everything one backend run needs. */
struct backend_ctx {
    char *const *argv;   /* the profiled command */
    const char *workdir; /* a folder for this run's files */
    const char *traceq;  /* the traceq executable or NULL */
    double interval_s;
    int run;             /* 0-based run number */
};

/* One measurement. The backend fills peak and wall; a timeline when it has one (malloc'd, moved into the row). */
struct backend_sample {
    uint64_t peak;
    double wall_s;
    int exit_status;
    double *t, *v;
    size_t nt, cap;
    char remark[400]; /* which processes the figure is for, when the backend knows (into the row's note) */
};

/* A backend: measure once. Returns TQ_OK with *skip_note set (non-empty) when the backend cannot run here.
 * Other failures are real errors of that backend (reported in its row, the comparison goes on). */
typedef tq_status (*backend_fn)(const struct backend_ctx *ctx, struct backend_sample *s, char *skip_note,
                                size_t note_size, struct tq_err *err);

tq_status tq_backend_shim(const struct backend_ctx *, struct backend_sample *, char *, size_t, struct tq_err *);
tq_status tq_backend_statm(const struct backend_ctx *, struct backend_sample *, char *, size_t, struct tq_err *);
tq_status tq_backend_hwm(const struct backend_ctx *, struct backend_sample *, char *, size_t, struct tq_err *);
tq_status tq_backend_cgroup(const struct backend_ctx *, struct backend_sample *, char *, size_t, struct tq_err *);
tq_status tq_backend_massif(const struct backend_ctx *, struct backend_sample *, char *, size_t, struct tq_err *);
tq_status tq_backend_heaptrack(const struct backend_ctx *, struct backend_sample *, char *, size_t,
                               struct tq_err *);

/* Append (t, v) to a sample's timeline. Fails with TQ_ERR_NOMEM. */
tq_status tq_backend_push(struct backend_sample *s, double t, double v, struct tq_err *err);

/* Is `prog` an executable in PATH? Can't fail. */
bool tq_backend_have(const char *prog);

#endif
