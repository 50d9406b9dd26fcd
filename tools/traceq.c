/* traceq.c - the `traceq` command: dispatches to the subcommands listed in cli.h (one row per command). */
#include <stdio.h>
#include <string.h>

#include "../common/cleanup.h"
#include "cli.h"

#define TQ_CMD_ROW(name, summary) {#name, cmd_##name, &cli_##name, summary},
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

static const struct tq_cli_opt version_opts[] = {TQ_OPT_END};
const struct tq_cli_command cli_version = {
    .name = "version",
    .usage = "traceq version",
    .about = "Print the version of traceq.",
    .opts = version_opts,
};

int cmd_version(int argc, char **argv)
{
    int c;
    optind = 1;
    while ((c = tq_cli_next(&cli_version, argc, argv)) > 0)
        ;
    if (c != TQ_CLI_END)
        return tq_cli_exit_code(c);
    if (optind < argc)
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
#ifdef TQ_TESTING
    /* For the tests (tests/test_cli_options.c): the option table of a command, as its parser knows it. */
    if (!strcmp(argv[1], "--dump-options") && argc == 3)
        for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
            if (!strcmp(argv[2], cmds[i].name)) {
                tq_cli_dump_options(cmds[i].cli, stdout);
                return TQ_EXIT_OK;
            }
#endif
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
