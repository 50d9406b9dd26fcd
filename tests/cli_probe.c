/* cli_probe.c - the option parser of tools/cli_options.c around a small table, for test_cli_options: prints each
 * option it parses ("key=K arg=A"), then the operands, and exits as a command would. `cli_probe store ...` parses
 * with tq_cli_parse into a struct (every TQ_STORE_* kind) and prints the struct. The Makefile builds it twice:
 * as the test build compiles tools/ (cli_probe, with -DTQ_TESTING) and as a user build does (cli_probe_user). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

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

enum store_mode { MODE_NONE, MODE_FAST = 7, MODE_SAFE = 9 };

struct store_opts {
    const char *name, *pick;
    int flag, small;
    enum store_mode mode;
    double ratio;
    long count;
    uint64_t size;
    size_t shape[3];
};

static int store_pick(const struct tq_cli_command *cmd, int key, const char *value, void *opts)
{
    if (strcmp(value, "a") && strcmp(value, "b"))
        return tq_cli_usage_error(cmd->name, "--pick must be a or b, not '%s' (key %c)", value, key);
    ((struct store_opts *)opts)->pick = value;
    return -1;
}

static const struct tq_cli_command cli_store = {
    .name = "store",
    .usage = "traceq store [OPTIONS]",
    .about = "Print what tq_cli_parse stored.",
    .opts = TQ_OPTIONS(TQ_OPT_SHORT('n', "name", "S", "a string", NULL, TQ_STORE_STR(struct store_opts, name)),
                       TQ_OPT('f', "flag", NULL, "a flag", NULL, TQ_STORE_FLAG(struct store_opts, flag)),
                       TQ_OPT('c', "count", "N", "a long in 1..10", NULL, TQ_STORE_LONG(struct store_opts, count, 1, 10)),
                       TQ_OPT('m', "small", "N", "an int in 0..3", NULL, TQ_STORE_INT(struct store_opts, small, 0, 3)),
                       TQ_OPT('s', "size", "SIZE", "bytes", NULL, TQ_STORE_BYTES(struct store_opts, size)),
                       TQ_OPT('S', "shape", "IxXxS", "a shape", NULL, TQ_STORE_SHAPE(struct store_opts, shape)),
                       TQ_OPT('p', "pick", "a|b", "a call", NULL, TQ_STORE_CALL(store_pick)),
                       TQ_OPT('M', "mode", "fast|safe", "a choice", NULL,
                              TQ_STORE_CHOICE(struct store_opts, mode, {"fast", MODE_FAST}, {"safe", MODE_SAFE})),
                       TQ_OPT('r', "ratio", "F", "a number in (0, 1]", NULL,
                              TQ_STORE_POSITIVE(struct store_opts, ratio, 1))),
};

static int store_main(int argc, char **argv)
{
    struct store_opts o = {.count = 5};
    int rc = tq_cli_parse(&cli_store, argc, argv, &o);
    if (rc >= 0)
        return rc;
    printf("name=%s flag=%d count=%ld small=%d size=%" PRIu64 " shape=%zux%zux%zu pick=%s mode=%d ratio=%g\n",
           o.name ? o.name : "-", o.flag, o.count, o.small, o.size, o.shape[0], o.shape[1], o.shape[2],
           o.pick ? o.pick : "-", (int)o.mode, o.ratio);
    for (int i = optind; i < argc; i++)
        printf("operand=%s\n", argv[i]);
    return TQ_EXIT_OK;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "store"))
        return store_main(argc - 1, argv + 1);
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
