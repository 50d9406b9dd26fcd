/* cli.c - the messages and exit codes every `traceq` subcommand shares (cli.h). */
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "cli.h"

int tq_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "traceq %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'traceq %s --help'.\n", cmd);
    va_end(ap);
    return TQ_EXIT_USAGE;
}

int tq_cli_fail(const char *cmd, const struct tq_err *err)
{
    fprintf(stderr, "traceq %s: %s\n", cmd, err->msg[0] ? err->msg : tq_strerror(err->status));
    return tq_status_is_bad_input(err->status) ? TQ_EXIT_USAGE : TQ_EXIT_FAIL;
}

int tq_cli_self_exe(char *buf, size_t cap)
{
    ssize_t n = readlink("/proc/self/exe", buf, cap - 1);
    if (n <= 0 || (size_t)n >= cap - 1) /* readlink does not say when it cut the name short */
        return -1;
    buf[n] = 0;
    return 0;
}
