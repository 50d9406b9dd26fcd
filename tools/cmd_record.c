/* cmd_record.c - `traceq record [-o DIR] [-i MS] -- CMD [ARGS...]`: run CMD under libtraceq.so, report its traces. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../record/config.h"
#include "../traces/mem_limit.h"
#include "../traces/settings.h"
#include "../common/alloc.h"
#include "../common/process.h"
#include "../common/cleanup.h"
#include "../common/printable.h"
#include "../common/units.h"
#include "cli.h"
#include "../record/record_check.h"

struct record_opts {
    const char *config, *out, *interval, *flush, *sample, *snapshot;
    int no_follow, verbose, quiet, stacks, aggregate, no_python;
};

const struct tq_cli_command cli_record = {
    .name = "record",
    .opts = TQ_OPTIONS(
        TQ_OPT_SHORT('o', "output-dir", "DIR", "where traces go (created if missing)", ".",
                     TQ_STORE_STR(struct record_opts, out)),
        TQ_OPT_SHORT('i', "interval", "MS", "sampling interval in ms, 1..60000", "10",
                     TQ_STORE_STR(struct record_opts, interval)),
        TQ_OPT('F', "flush-ms", "MS", "write a zstd frame at least this often, 1..100", "100",
               TQ_STORE_STR(struct record_opts, flush)),
        TQ_OPT('N', "no-follow-fork", NULL, "forked children write no trace", "they do",
               TQ_STORE_FLAG(struct record_opts, no_follow)),
        TQ_OPT('S', "stacks", NULL,
               "record every allocation with its call stack (for report --top, diff, export --format folded)", "off",
               TQ_STORE_FLAG(struct record_opts, stacks)),
        TQ_OPT('A', "aggregate", NULL,
               "with stacks, keep per-stack totals in the process and write them with each flush instead of every "
               "event (long runs)",
               "off", TQ_STORE_FLAG(struct record_opts, aggregate)),
        TQ_OPT('B', "sample-bytes", "N",
               "with stacks, record one heap allocation per N bytes on average (K, M, G: powers of 1024), chosen by a "
               "Poisson process over bytes; reports weigh them into unbiased estimates with errors",
               "every one", TQ_STORE_STR(struct record_opts, sample)),
        TQ_OPT('Y', "no-python-frames", NULL,
               "with stacks, leave a CPython process's Python frames (file, function, line) out of its stacks",
               "they are in", TQ_STORE_FLAG(struct record_opts, no_python)),
        TQ_OPT('P', "snapshot-at", "N%|SIZE",
               "write a snapshot marker the first time the process's memory reaches N% of its limit (its cgroup's "
               "memory.max / memory.limit_in_bytes or RLIMIT_AS; a percentage needs one) or SIZE (K, M, G, T); with "
               "--stacks, report lists the sites live then",
               "off", TQ_STORE_STR(struct record_opts, snapshot)),
        TQ_OPT_SHORT('c', "config", "FILE", "read this traceq.toml", "see above",
                     TQ_STORE_STR(struct record_opts, config)),
        TQ_OPT_SHORT('q', "quiet", NULL, "do not list the trace files", "list them",
                     TQ_STORE_FLAG(struct record_opts, quiet)),
        TQ_OPT_SHORT('v', "verbose", NULL, "the shim says what it does on stderr", "off",
                     TQ_STORE_FLAG(struct record_opts, verbose))),
    .usage = "traceq record [OPTIONS] -- CMD [ARGS...]",
    .about = "Run CMD with libtraceq.so preloaded; stdin/stdout/stderr pass through. Every process of the run\n"
             "(forked children and exec'd programs too) writes DIR/traceq.<exe>.<pid>.tq; the list goes to stderr.\n"
             "Exits with CMD's exit status, or 128+N when CMD was killed by signal N.\n"
             "Settings: defaults < traceq.toml (--config, $TRACEQ_CONFIG or ./traceq.toml) < TRACEQ_* < options\n"
             "(all documented in preload/CONFIG.md). Trace files are never overwritten: a taken name gets .N.",
    .stop_at_operand = 1,
};

/* The child's environment additions: tq_settings_to_env's callback has no context, so they gather here. */
static struct {
    char *entry[64];
    int n, failed;
} child_env;

static int add_child_env(const char *name, const char *value)
{
    size_t len = strlen(name) + strlen(value) + 2;
    char *e = child_env.n < (int)(sizeof child_env.entry / sizeof *child_env.entry) - 1 ? tq_malloc(len) : NULL;
    if (!e) {
        child_env.failed = 1;
        return -1;
    }
    snprintf(e, len, "%s=%s", name, value);
    child_env.entry[child_env.n++] = e;
    return 0;
}

static void free_child_env(void)
{
    while (child_env.n)
        free(child_env.entry[--child_env.n]);
}

/* Returns -1 to go on, else the exit code. */
static int parse_opts(int argc, char **argv, struct record_opts *o)
{
    int rc = tq_cli_parse(&cli_record, argc, argv, o);
    if (rc >= 0)
        return rc;
    if (optind >= argc)
        return tq_cli_usage_error("record", "give the command to run after --");
    return -1;
}

/* defaults < file < environment < options. */
static int build_settings(const struct record_opts *o, struct tq_settings *s)
{
    struct tq_err err = {0};
    char msg[256];
    tq_settings_defaults(s);
    if (tq_config_load(o->config, s, &err))
        return tq_cli_fail("record", &err);
    if (tq_settings_from_env(s, getenv, msg, sizeof msg))
        return tq_cli_usage_error("record", "%s", msg);
    long v;
    if (o->interval) {
        if (tq_parse_long(o->interval, 1, TQ_SETTINGS_INTERVAL_MAX, "--interval", &v, &err))
            return tq_cli_fail("record", &err);
        s->interval_ms = (unsigned)v;
    }
    if (o->flush) {
        if (tq_parse_long(o->flush, 1, TQ_SETTINGS_FLUSH_MAX, "--flush-ms", &v, &err))
            return tq_cli_fail("record", &err);
        s->flush_ms = (unsigned)v;
    }
    if (o->out)
        snprintf(s->output_dir, sizeof s->output_dir, "%s", o->out);
    if (o->no_follow)
        s->follow_fork = 0;
    if (o->verbose)
        s->verbose = 1;
    if (o->stacks || o->aggregate)
        s->stacks = 1;
    if (o->aggregate)
        s->aggregate = 1;
    if (o->no_python)
        s->python_frames = 0;
    if (o->sample) {
        if (o->aggregate)
            return tq_cli_usage_error("record", "--sample-bytes and --aggregate do not combine (aggregate totals are "
                                      "exact)");
        if (tq_settings_parse_sample_bytes(o->sample, &s->sample_bytes))
            return tq_cli_usage_error("record", "--sample-bytes takes bytes from 1 to 1T (e.g. 524288 or 512K), not "
                                      "'%s'", o->sample);
        s->stacks = 1;
    }
    if (o->snapshot) {
        uint64_t bytes;
        unsigned permille, kind;
        if (tq_snapshot_parse(o->snapshot, &permille, &bytes))
            return tq_cli_usage_error("record", "--snapshot-at takes a share of the memory limit from 0.1%% to 100%% "
                                      "or a size (e.g. 80%% or 2G), not '%s'", o->snapshot);
        uint64_t limit;
        if (permille && tq_mem_limit(&limit, &kind))
            return tq_cli_usage_error("record", "--snapshot-at %s: no memory limit is known for this process (no "
                                      "cgroup memory.max or memory.limit_in_bytes, no RLIMIT_AS); give a size "
                                      "instead, e.g. --snapshot-at 2G", o->snapshot);
        s->snapshot_permille = permille;
        s->snapshot_bytes = bytes;
    }
    if (mkdir(s->output_dir, 0755) && errno != EEXIST)
        return tq_cli_usage_error("record", "cannot create output directory '%s': %s", s->output_dir,
                                  strerror(errno));
    char abs[PATH_MAX];
    if (!realpath(s->output_dir, abs) || strlen(abs) >= sizeof s->output_dir)
        return tq_cli_usage_error("record", "bad output directory '%s': %s", s->output_dir, strerror(errno));
    strcpy(s->output_dir, abs);
    char why[PATH_MAX + 200];
    if (tq_record_check_outdir(s->output_dir, why, sizeof why))
        return tq_cli_usage_error("record", "%s", why);
    return 0;
}

/* Start CMD with the shim preloaded and the settings in its environment. Returns 0, or the exit code for a command
 * that cannot start (127 when it is not found, 126 otherwise, as a shell says) after saying why. */
static int start_child(char **cmd, const struct tq_settings *s, const char *shim, struct tq_proc *p)
{
    char preload[PATH_MAX * 2];
    const char *old = getenv("LD_PRELOAD");
    snprintf(preload, sizeof preload, "%s%s%s", shim, old && *old ? ":" : "", old && *old ? old : "");
    struct tq_err err = {0};
    if (tq_settings_to_env(s, add_child_env) || add_child_env("LD_PRELOAD", preload) || child_env.failed) {
        free_child_env();
        fprintf(stderr, "traceq record: cannot set the environment: %s\n", strerror(errno));
        return 126;
    }
    struct tq_proc_spec spec = {.argv = cmd, .env = child_env.entry, .stop_on_signal = 1};
    tq_status st = tq_proc_spawn(&spec, p, &err);
    free_child_env();
    if (st == TQ_OK)
        return 0;
    char why[1200];
    if (p->child_errno) /* the command itself could not be run: say why in words (not found, not executable) */
        tq_record_exec_error(cmd[0], p->child_errno, why, sizeof why);
    fprintf(stderr, "traceq record: %s\n", p->child_errno ? why : err.msg);
    return p->child_errno == ENOENT ? 127 : 126;
}

/* List the traces the shim named in the manifest. */
static void list_traces(const char *manifest, int quiet)
{
    FILE *f = fopen(manifest, "r");
    if (!f)
        return;
    char line[PATH_MAX + 2], text[4 * PATH_MAX + 8];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (!quiet)
            fprintf(stderr, "%s%s\n", n == 0 ? "traceq record: wrote\n  " : "  ",
                    tq_printable(line, text, sizeof text));
        n++;
    }
    fclose(f);
}

int cmd_record(int argc, char **argv)
{
    struct record_opts o = {0};
    int rc = parse_opts(argc, argv, &o);
    if (rc >= 0)
        return rc;
    struct tq_settings s;
    if ((rc = build_settings(&o, &s)))
        return rc;
    char shim[PATH_MAX];
    if (tq_record_find_shim(shim, sizeof shim))
        return tq_cli_usage_error("record", "cannot find libtraceq.so (looked for '%s'; set TRACEQ_LIB)", shim);
    const char *tmp = getenv("TMPDIR");
    snprintf(s.manifest, sizeof s.manifest, "%s/traceq-run.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int mfd = mkstemp(s.manifest);
    if (mfd < 0)
        return tq_cli_usage_error("record", "cannot create a run manifest: %s", strerror(errno));
    close(mfd);
    int clean_manifest = tq_cleanup_add_file(s.manifest);
    fflush(NULL);
    struct tq_proc child;
    if ((rc = start_child(argv + optind, &s, shim, &child))) {
        unlink(s.manifest);
        tq_cleanup_forget(clean_manifest);
        return rc;
    }
    /* SIGTERM or SIGHUP to record stops CMD too (stop_on_signal; and removes the manifest); the traces stay. */
    /* Like system(): the terminal's ^C / ^\ are for CMD; we stay to report its traces. */
    struct sigaction ign = {.sa_handler = SIG_IGN}, old_int, old_quit;
    sigaction(SIGINT, &ign, &old_int);
    sigaction(SIGQUIT, &ign, &old_quit);
    int status = 0;
    struct tq_err err = {0};
    tq_status st = tq_proc_wait(child.pid, &status, NULL, &err);
    tq_cleanup_forget(child.cleanup);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGQUIT, &old_quit, NULL);
    list_traces(s.manifest, o.quiet);
    tq_record_report_untraced(s.manifest, child.pid, argv[optind]); /* even with -q: a missed process is a problem */
    unlink(s.manifest);
    tq_cleanup_forget(clean_manifest);
    if (st)
        return tq_cli_fail("record", &err);
    return tq_proc_exit_code(status);
}
