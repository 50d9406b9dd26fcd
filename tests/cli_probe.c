/* cli_probe.c - the option parser of tools/cli_options.c around a small table, for test_cli_options: prints each
 * option it parses ("key=K arg=A"), then the operands, and exits as a command would. The Makefile builds it twice:
 * as the test build compiles tools/ (cli_probe, with -DTQ_TESTING) and as a user build does (cli_probe_user). */
#include <stdio.h>

#include "../tools/cli.h"

static const struct tq_cli_opt probe_opts[] = {
    TQ_OPT_SHORT('o', "output", "FILE", "where the result goes", "stdout"),
    TQ_OPT('f', "force", NULL, "replace an existing FILE", "refuse"),
    TQ_OPT('l', "long-winded", "WORDS",
           "a help text long enough to be wrapped onto a second line by the generator of the help, which keeps the "
           "default in one piece",
           "a default of several words"),
    TQ_OPT_FLAGS('x', "hook", "N", "a test hook", NULL, TQ_CLI_TESTING),
    TQ_OPT_FLAGS('s', "secret", NULL, "parsed, never listed", NULL, TQ_CLI_HIDDEN),
    TQ_OPT_END,
};

static const struct tq_cli_command cli_probe = {
    .name = "probe",
    .usage = "traceq probe [OPTIONS] ARG...",
    .about = "Print what the parser returns.",
    .opts = probe_opts,
    .epilog = "The end.",
};

int main(int argc, char **argv)
{
    int c;
    optind = 1;
    while ((c = tq_cli_next(&cli_probe, argc, argv)) > 0)
        printf("key=%c arg=%s\n", c, optarg ? optarg : "-");
    if (c != TQ_CLI_END)
        return tq_cli_exit_code(c);
    for (int i = optind; i < argc; i++)
        printf("operand=%s\n", argv[i]);
    return TQ_EXIT_OK;
}
