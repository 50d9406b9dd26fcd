/* cli.h - what every `traceq` subcommand shares: the command table entry, exit codes and usage errors. */
#ifndef TQ_CLI_H
#define TQ_CLI_H

#include <getopt.h>

#include "../common/status.h"

/* Exit codes of every subcommand, documented in `traceq --help`. */
enum { TQ_EXIT_OK = 0, TQ_EXIT_FAIL = 1, TQ_EXIT_USAGE = 2 };

struct tq_cmd {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name; returns the exit code */
    const char *summary;
};

/* Print "traceq CMD: MESSAGE" and a hint to use --help on stderr; returns TQ_EXIT_USAGE. */
int tq_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Print "traceq CMD: " + err->msg on stderr; returns TQ_EXIT_USAGE for TQ_ERR_USAGE (and bad input files:
 * TQ_ERR_FORMAT, TQ_ERR_TRUNCATED, TQ_ERR_RANGE, TQ_ERR_IO on open), else TQ_EXIT_FAIL. */
int tq_cli_fail(const char *cmd, const struct tq_err *err);

/* getopt_long for subcommand `cmd` with getopt's own messages turned off. Returns the next option as getopt_long
 * does and -1 after the last one; on an unknown option or a missing value it prints one usage line
 * ("unknown option '--x'", "option '--x' needs a value") and returns '?', and the caller returns TQ_EXIT_USAGE.
 * Set optind = 1 before the first call. A leading '+' in shortopts stops at the first operand. */
int tq_cli_getopt(const char *cmd, int argc, char **argv, const char *shortopts, const struct option *longopts);

/* The path of the running traceq executable (from /proc/self/exe) into buf; 0 on success, -1 when it cannot be
 * read or does not fit in cap bytes. */
int tq_cli_self_exe(char *buf, size_t cap);

/* Subcommands: one row per command here, one tools/cmd_<name>.c each defining int cmd_<name>(int, char **). */
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

#define TQ_DECLARE_CMD(name, summary) int cmd_##name(int argc, char **argv);
TQ_COMMANDS(TQ_DECLARE_CMD)
#undef TQ_DECLARE_CMD

#endif
