/* traceq.c - the `traceq` command: dispatches to the subcommands listed in cli.h (one row per command). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "cli.h"

#define TQ_CMD_ROW(name, summary) {#name, cmd_##name, summary},
static const struct tq_cmd cmds[] = {TQ_COMMANDS(TQ_CMD_ROW)};
#undef TQ_CMD_ROW

static void print_help(FILE *f)
{
    fprintf(f, "usage: traceq COMMAND [OPTIONS] [ARGS]\n\n"
               "traceq measures how much memory a program really needs, learns how it grows with the input\n"
               "shape, and cuts array work into chunks that fit a memory limit.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        fprintf(f, "  %-12s %s\n", cmds[i].name, cmds[i].summary);
    fprintf(f, "\nRun 'traceq COMMAND --help' for the options of one command.\n"
               "Exit codes: 0 success, 1 failure, 2 usage error or bad input; `record` exits with the\n"
               "profiled command's status (128+N when it was killed by signal N).\n");
}

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

int tq_cli_getopt(const char *cmd, int argc, char **argv, const char *shortopts, const struct option *longopts)
{
    /* A ':' right after the optional '+' makes getopt return ':' (not '?') for a missing value, so the two
     * mistakes get their own messages. */
    char spec[64];
    int plus = shortopts[0] == '+';
    snprintf(spec, sizeof spec, "%s:%s", plus ? "+" : "", shortopts + plus);
    opterr = 0;
    int c = getopt_long(argc, argv, spec, longopts, NULL);
    if (c == ':')
        tq_cli_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
    else if (c == '?')
        tq_cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
    return c == ':' ? '?' : c;
}

int tq_cli_self_exe(char *buf, size_t cap)
{
    ssize_t n = readlink("/proc/self/exe", buf, cap - 1);
    if (n <= 0 || (size_t)n >= cap - 1) /* readlink does not say when it cut the name short */
        return -1;
    buf[n] = 0;
    return 0;
}

int tq_cli_fail(const char *cmd, const struct tq_err *err)
{
    fprintf(stderr, "traceq %s: %s\n", cmd, err->msg[0] ? err->msg : tq_strerror(err->status));
    switch (err->status) {
    case TQ_ERR_USAGE:
    case TQ_ERR_FORMAT:
    case TQ_ERR_TRUNCATED:
    case TQ_ERR_RANGE:
    case TQ_ERR_IO:
    case TQ_ERR_LIMIT:
        return TQ_EXIT_USAGE;
    default:
        return TQ_EXIT_FAIL;
    }
}

int cmd_version(int argc, char **argv)
{
    (void)argv;
    if (argc > 1)
        return tq_cli_usage_error("version", "takes no arguments");
    printf("traceq %s\n", TQ_VERSION);
    return TQ_EXIT_OK;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_help(stderr);
        return TQ_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        print_help(stdout);
        return TQ_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version"))
        return cmd_version(1, argv + 1);
    /* Every command's temporaries (common/cleanup.h) go when SIGINT, SIGTERM, SIGHUP or SIGQUIT ends it. */
    tq_cleanup_on_signals();
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(argv[1], cmds[i].name))
            return cmds[i].run(argc - 1, argv + 1);
    fprintf(stderr, "traceq: unknown command '%s'\nTry 'traceq --help'.\n", argv[1]);
    return TQ_EXIT_USAGE;
}
