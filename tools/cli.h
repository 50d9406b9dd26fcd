/* cli.h - what every `traceq` subcommand shares: the command table, exit codes, usage errors, and the option tables
 * from which both the parser and the --help text of each command are generated (tools/cli_options.c). */
#ifndef TQ_CLI_H
#define TQ_CLI_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../common/status.h"

/* Exit codes of every subcommand, documented in `traceq --help`. */
enum { TQ_EXIT_OK = 0, TQ_EXIT_FAIL = 1, TQ_EXIT_USAGE = 2 };

/* ---- Option tables (git's parse-options is the model). A command declares each option once, in its table; the
 * parser (getopt_long's long options and short-option string) and the option lines of `--help` are generated from
 * it, so the two cannot drift. `-h, --help` is added to every table.
 *
 *   const struct tq_cli_command cli_x = {
 *       .name = "x",
 *       .opts = TQ_OPTIONS(
 *           TQ_OPT_SHORT('s', "size", "N", "how big", "1"),
 *           TQ_OPT_FORCE('f', "FILE")),
 *       .usage = ...
 *   };
 */
enum {
    TQ_CLI_TESTING = 1, /* a test hook: exists (in the parser and the help) only in builds with -DTQ_TESTING */
    TQ_CLI_HIDDEN = 2,  /* parsed but not listed in the help */
};

/* How tq_cli_parse stores an option's value (TQ_STORE_*). */
enum tq_cli_kind {
    TQ_CLI_NONE,  /* returned to the caller's tq_cli_next loop */
    TQ_CLI_STR,   /* const char *: the value itself */
    TQ_CLI_FLAG,  /* int: set to 1 */
    TQ_CLI_LONG,  /* long: tq_parse_long within [min, max] */
    TQ_CLI_INT,   /* int: the same */
    TQ_CLI_BYTES, /* uint64_t: tq_parse_bytes */
    TQ_CLI_SHAPE, /* size_t[3]: tq_parse_shape */
    TQ_CLI_POSITIVE, /* double: strtod, > 0 and at most max_real */
    TQ_CLI_CHOICE, /* int or enum: the value of the named choice */
    TQ_CLI_CALL,  /* the option's call */
};

/* One accepted value of a TQ_STORE_CHOICE option: its name on the command line, and what is stored. */
struct tq_cli_choice {
    const char *name;
    int value;
};

struct tq_cli_command;
typedef int (*tq_cli_call)(const struct tq_cli_command *cmd, int key, const char *value, void *opts);

struct tq_cli_opt {
    int key;          /* what tq_cli_next returns for this option: > 0, unique in the table, not 'h', '?' or ':' */
    int short_name;   /* also accepted as -short_name (then equal to key), or 0 for a long option only */
    const char *name; /* the long name, without "--"; NULL ends the table */
    const char *arg;  /* placeholder of the value in the help ("FILE", "N"), or NULL when the option takes none */
    const char *help; /* one sentence, wrapped to the terminal width of the help; '\n' forces a new line */
    const char *def;  /* shown as "[Default: DEF]" after the help, or NULL */
    unsigned flags;   /* TQ_CLI_TESTING, TQ_CLI_HIDDEN */
    /* Where tq_cli_parse stores the value (one of the TQ_STORE_* below); all zero for tq_cli_next's own loops. */
    enum tq_cli_kind kind;
    size_t offset;      /* of the destination in the command's options struct */
    long min, max;      /* TQ_CLI_LONG, TQ_CLI_INT: the accepted range */
    double max_real;    /* TQ_CLI_POSITIVE: the largest value accepted */
    const struct tq_cli_choice *choices; /* TQ_CLI_CHOICE: the accepted values, ended by a NULL name */
    tq_cli_call call;   /* TQ_CLI_CALL */
};

/* ... is where the value goes: one TQ_STORE_* (nothing for a table parsed with tq_cli_next). */
#define TQ_OPT(key_, name_, arg_, help_, def_, ...) TQ_OPT_FLAGS(key_, name_, arg_, help_, def_, 0, __VA_ARGS__)
#define TQ_OPT_SHORT(letter, name_, arg_, help_, def_, ...)                                                   \
    {.key = (letter), .short_name = (letter), .name = (name_), .arg = (arg_), .help = (help_), .def = (def_), \
     __VA_ARGS__}
#define TQ_OPT_FLAGS(key_, name_, arg_, help_, def_, flags_, ...)                                                  \
    {.key = (key_), .name = (name_), .arg = (arg_), .help = (help_), .def = (def_), .flags = (flags_), __VA_ARGS__}
#define TQ_OPT_END {.name = NULL}

/* The offset of MEMBER in TYPE, refused at compile time unless MEMBER has type T. */
#define TQ_CLI_MEMBER(type, member, T) _Generic(((type *)0)->member, T: offsetof(type, member))
/* Destinations: a member of the command's options struct TYPE. */
#define TQ_STORE_STR(type, member) .kind = TQ_CLI_STR, .offset = TQ_CLI_MEMBER(type, member, const char *)
#define TQ_STORE_FLAG(type, member) .kind = TQ_CLI_FLAG, .offset = TQ_CLI_MEMBER(type, member, int)
#define TQ_STORE_LONG(type, member, lo, hi) \
    .kind = TQ_CLI_LONG, .offset = TQ_CLI_MEMBER(type, member, long), .min = (lo), .max = (hi)
#define TQ_STORE_INT(type, member, lo, hi) \
    .kind = TQ_CLI_INT, .offset = TQ_CLI_MEMBER(type, member, int), .min = (lo), .max = (hi)
#define TQ_STORE_BYTES(type, member) .kind = TQ_CLI_BYTES, .offset = TQ_CLI_MEMBER(type, member, uint64_t)
#define TQ_STORE_SHAPE(type, member) .kind = TQ_CLI_SHAPE, .offset = TQ_CLI_MEMBER(type, member[0], size_t)
/* A number > 0 and <= hi (HUGE_VAL: no bound) into a double member; any other is refused as "--NAME must be a
 * number > 0, not 'V'" (or "a number in (0, HI]"). */
#define TQ_STORE_POSITIVE(type, member, hi) \
    .kind = TQ_CLI_POSITIVE, .offset = TQ_CLI_MEMBER(type, member, double), .max_real = (hi)
/* One of named values, e.g. TQ_STORE_CHOICE(struct x, mode, {"fast", MODE_FAST}, {"safe", MODE_SAFE}): stores the
 * value of the name given into an int or enum member; any other is refused as "--NAME must be fast or safe, not 'V'".
 */
#define TQ_STORE_CHOICE(type, member, ...)                                                                        \
    .kind = TQ_CLI_CHOICE,                                                                                         \
    .offset = _Generic(((type *)0)->member, int: offsetof(type, member), unsigned: offsetof(type, member)),       \
    .choices = (const struct tq_cli_choice[]){__VA_ARGS__, {NULL, 0}}
/* A special case: fn(cmd, key, value, opts) checks and stores it; returns -1 to go on, else the exit code. */
#define TQ_STORE_CALL(fn) .kind = TQ_CLI_CALL, .call = (fn)

/* A command's table (tq_cli_command.opts), TQ_OPT_END added: .opts = TQ_OPTIONS(TQ_OPT(...), TQ_OPT(...)). */
#define TQ_OPTIONS(...) ((const struct tq_cli_opt[]){__VA_ARGS__, TQ_OPT_END})

/* Options several commands share, each defined here once: its name, key, placeholder, help and default. */
#define TQ_OPT_OUTPUT(arg, what, def, ...) TQ_OPT_SHORT('o', "output", arg, what, def, __VA_ARGS__)
#define TQ_OPT_FORCE(key, what, ...) TQ_OPT(key, "force", NULL, "replace " what " if it exists", "refuse", __VA_ARGS__)
#define TQ_OPT_JSON(what, ...) \
    TQ_OPT('j', "json", NULL, "print " what " as one JSON object on stdout", "text", __VA_ARGS__)
#define TQ_OPT_MODEL(key, what, ...) \
    TQ_OPT(key, "model", "M.json", "memory model from `traceq fit`" what, NULL, __VA_ARGS__)
#define TQ_OPT_FULL_SIZE(key, ...)                                                                                 \
    TQ_OPT(key, "full-size", NULL, "GST3D: keep the input shape instead of trimming one voxel per face", "trimmed", \
           __VA_ARGS__)
#define TQ_OPT_WORKERS(what, def, ...) TQ_OPT('w', "workers", "N", what, def, __VA_ARGS__)
/* A volume operator's input volume (`op`, `run`), its threads, and a synthetic volume's seed (`op`, `synth`). */
#define TQ_OPT_INPUT(arg, what, ...) TQ_OPT('i', "input", arg, what, NULL, __VA_ARGS__)
#define TQ_OPT_THREADS(what, type, member) \
    TQ_OPT('t', "threads", "N", what, "0", TQ_STORE_INT(type, member, 0, 1024))
#define TQ_OPT_SEED(what, type, member) \
    TQ_OPT('S', "seed", "S", what, "1", TQ_STORE_LONG(type, member, 0, __LONG_MAX__))
/* A user's command's block contract (`run --cmd`, `plan --op cmd`): --halo, --trim, --split-axes, stored as strings
 * in the members halo, trim and split_axes of TYPE. */
#define TQ_OPT_CMD_CONTRACT(split_key, type)                                                                \
    TQ_OPT('H', "halo", "H|H,H,H", "a user's command: voxels of context it needs per axis, or whole", "0",   \
           TQ_STORE_STR(type, halo)),                                                                       \
    TQ_OPT('T', "trim", "T", "a user's command: its output is its input less T voxels per face", "0",        \
           TQ_STORE_STR(type, trim)),                                                                       \
    TQ_OPT(split_key, "split-axes", "A,B|none", "a user's command: axes blocks may be cut along", "all not whole", \
           TQ_STORE_STR(type, split_axes))

/* One subcommand's command line: its help is "usage: USAGE", ABOUT, MORE's text, the generated option lines and
 * EPILOG, in that order. */
struct tq_cli_command {
    const char *name;              /* the subcommand, as in "traceq NAME: message" */
    const char *usage;             /* "traceq NAME ..." (several lines allowed) */
    const char *about;             /* what the command does, paragraphs separated by "\n\n" */
    void (*more)(FILE *f);         /* prints more of the description (e.g. a list from a table), or NULL */
    const struct tq_cli_opt *opts; /* the options, ended by TQ_OPT_END */
    const char *epilog;            /* text after the options, or NULL */
    int stop_at_operand;           /* 1: options end at the first operand (what follows is a command or files) */
};

/* Return codes of tq_cli_next, the same in every command:
 *   > 0          the key of the next option; optarg is its value (NULL for an option that takes none)
 *   TQ_CLI_END   no more options; argv[optind] is the first operand
 *   TQ_CLI_HELP  -h/--help was given and the help is printed on stdout: the command returns TQ_EXIT_OK
 *   TQ_CLI_BAD   an unknown option or a missing value, already reported on stderr ("unknown option '--x'",
 *                "option '--x' needs a value"): the command returns TQ_EXIT_USAGE
 * tq_cli_exit_code() turns the last two into the command's exit code. So every command parses with
 *
 *   optind = 1;
 *   while ((c = tq_cli_next(&cmd, argc, argv)) > 0)
 *       switch (c) { ... }
 *   if (c != TQ_CLI_END)
 *       return tq_cli_exit_code(c);
 *
 * Commands that parse in a helper function let it return -1 to go on, else the exit code. */
enum { TQ_CLI_END = -1, TQ_CLI_HELP = -2, TQ_CLI_BAD = -3 };

/* getopt_long over cmd's table, with getopt's own messages turned off. Set optind = 1 before the first call. */
int tq_cli_next(const struct tq_cli_command *cmd, int argc, char **argv);

/* Parse all of argv's options into opts (the struct the table's TQ_STORE_* name), reporting bad values the way
 * every command does (tq_cli_fail: "traceq CMD: --folds ..."). Returns -1 to go on, argv[optind] being the first
 * operand, else the command's exit code (TQ_EXIT_OK after --help). So most commands parse with no switch:
 *
 *   int rc = tq_cli_parse(&cli_x, argc, argv, &opts);
 *   if (rc >= 0)
 *       return rc; */
int tq_cli_parse(const struct tq_cli_command *cmd, int argc, char **argv, void *opts);

/* TQ_EXIT_OK for TQ_CLI_HELP, TQ_EXIT_USAGE for TQ_CLI_BAD (and anything else). */
int tq_cli_exit_code(int c);

/* Write cmd's whole --help text to f. */
void tq_cli_help(const struct tq_cli_command *cmd, FILE *f);

/* Write cmd's table for the tests, one option a line: "--NAME<TAB>-S or -<TAB>ARG or -<TAB>FLAGS<TAB>KEY" (FLAGS:
 * "testing", "hidden" or "-"; KEY in decimal); only the options that this build parses. */
void tq_cli_dump_options(const struct tq_cli_command *cmd, FILE *f);

/* ---- Messages and exits. */

/* Print "traceq CMD: MESSAGE" and a hint to use --help on stderr; returns TQ_EXIT_USAGE. */
int tq_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Print "traceq CMD: " + err->msg on stderr; returns TQ_EXIT_USAGE for TQ_ERR_USAGE (and bad input files:
 * TQ_ERR_FORMAT, TQ_ERR_TRUNCATED, TQ_ERR_RANGE, TQ_ERR_IO on open), else TQ_EXIT_FAIL. */
int tq_cli_fail(const char *cmd, const struct tq_err *err);

/* The path of the running traceq executable (from /proc/self/exe) into buf; 0 on success, -1 when it cannot be
 * read or does not fit in cap bytes. */
int tq_cli_self_exe(char *buf, size_t cap);

/* ---- Subcommands: one row per command here, one tools/cmd_<name>.c each defining int cmd_<name>(int, char **)
 * and its command line, const struct tq_cli_command cli_<name>. */
#define TQ_COMMANDS(X)                                                                        \
    X(version, "print the version of traceq")                                                 \
    X(record, "run a command under the shim and write its traces")                            \
    X(report, "summarize traces: peaks, calls, samples, fork tree, top allocation sites")     \
    X(diff, "what grew and what shrank between two --stacks traces, by site and in totals")   \
    X(export, "convert a trace to massif, folded stacks, Chrome trace JSON or CSV")           \
    X(plot, "draw RSS, heap and mmap of traces over time to an SVG or PNG")                   \
    X(compare, "run a command under several memory profilers and compare their peaks")        \
    X(synth, "write a deterministic synthetic seismic volume (.npy or SEG-Y)")                \
    X(op, "run envelope, gaussian or gst3d on a volume, whole or block by block")             \
    X(sweep, "profile an operator over a grid of synthetic shapes into a dataset CSV")        \
    X(fit, "fit memory models to a sweep dataset and keep the safest accurate one")           \
    X(predict, "predict an operator's peak memory for an input shape")                        \
    X(plan, "cut an operator's work into chunks that fit a memory limit")                     \
    X(run, "compute an operator block by block with memory-limited workers (chunk plans)")    \
    X(experiment, "compare chunking strategies (none, auto, seed, traceq, fixed) with the same runner")

struct tq_cmd {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name; returns the exit code */
    const struct tq_cli_command *cli;  /* its options and help */
    const char *summary;
};

#define TQ_DECLARE_CMD(name, summary)       \
    int cmd_##name(int argc, char **argv); \
    extern const struct tq_cli_command cli_##name;
TQ_COMMANDS(TQ_DECLARE_CMD)
#undef TQ_DECLARE_CMD

#endif
