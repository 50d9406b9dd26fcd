/* status.h - error values shared by every traceq module: a status code plus a caller-owned message. */
#ifndef TQ_STATUS_H
#define TQ_STATUS_H

#include <stddef.h>

/* Every fallible function returns one of these; TQ_OK is 0 so `if (st)` tests for failure. */
typedef enum tq_status {
    TQ_OK = 0,
    TQ_ERR_USAGE,    /* bad argument or option from the caller */
    TQ_ERR_IO,       /* open/read/write failed (errno text is in the message) */
    TQ_ERR_NOMEM,    /* an allocation failed */
    TQ_ERR_FORMAT,   /* input is not what it claims to be (bad magic, bad JSON, bad header) */
    TQ_ERR_TRUNCATED,/* input ends early */
    TQ_ERR_RANGE,    /* value out of the allowed range (shape, block, limit) */
    TQ_ERR_LIMIT,    /* a memory limit cannot be met */
    TQ_ERR_CHILD,    /* a child process failed */
    TQ_ERR_INTERNAL  /* a bug: an invariant was broken */
} tq_status;

/* Caller-owned error message; functions that fail fill it with one line, no trailing newline. */
struct tq_err {
    tq_status status;
    char msg[512];
};

/* Short name of a status ("corrupt or unsupported format", ...). Can't fail. */
const char *tq_strerror(tq_status st);

/* 1 when st blames the caller's input (usage, a bad or short file, a value out of range, an unreadable file, a
 * limit no plan can meet: commands exit 2), 0 for failures of the work itself (1). Can't fail. */
int tq_status_is_bad_input(tq_status st);

/* Record `st` and a printf-style message in `err` (which may be NULL) and return `st`. */
tq_status tq_fail(struct tq_err *err, tq_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like tq_fail, and appends ": strerror(errno)" for the errno saved at entry. */
tq_status tq_fail_errno(struct tq_err *err, tq_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Pass a failure straight up: TQ_TRY(read_header(f, &h, err)); */
#define TQ_TRY(expr)                         \
    do {                                     \
        tq_status tq_try_st_ = (expr);       \
        if (tq_try_st_ != TQ_OK)             \
            return tq_try_st_;               \
    } while (0)

#endif
