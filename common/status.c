/* status.c - formatting of traceq error values (see status.h). */
#include "status.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *tq_strerror(tq_status st)
{
    switch (st) {
    case TQ_OK: return "success";
    case TQ_ERR_USAGE: return "usage error";
    case TQ_ERR_IO: return "input/output error";
    case TQ_ERR_NOMEM: return "out of memory";
    case TQ_ERR_FORMAT: return "corrupt or unsupported format";
    case TQ_ERR_TRUNCATED: return "truncated input";
    case TQ_ERR_RANGE: return "value out of range";
    case TQ_ERR_LIMIT: return "memory limit cannot be met";
    case TQ_ERR_CHILD: return "child process failed";
    case TQ_ERR_INTERNAL: return "internal error";
    }
    return "unknown error";
}

static void vfill(struct tq_err *err, tq_status st, const char *suffix, const char *fmt, va_list ap)
{
    if (!err)
        return;
    err->status = st;
    int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    if (suffix && n >= 0 && (size_t)n < sizeof err->msg)
        snprintf(err->msg + n, sizeof err->msg - (size_t)n, ": %s", suffix);
}

tq_status tq_fail(struct tq_err *err, tq_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfill(err, st, NULL, fmt, ap);
    va_end(ap);
    return st;
}

tq_status tq_fail_errno(struct tq_err *err, tq_status st, const char *fmt, ...)
{
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    vfill(err, st, strerror(saved), fmt, ap);
    va_end(ap);
    return st;
}

int tq_status_is_bad_input(tq_status st)
{
    switch (st) {
    case TQ_ERR_USAGE:
    case TQ_ERR_FORMAT:
    case TQ_ERR_TRUNCATED:
    case TQ_ERR_RANGE:
    case TQ_ERR_IO:
    case TQ_ERR_LIMIT:
        return 1;
    default:
        return 0;
    }
}
