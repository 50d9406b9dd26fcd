/* record_check.c - find the processes of a `traceq record` run the shim never got into (static binaries,
 * setuid programs, programs that scrub LD_PRELOAD) and say so instead of silently missing them. */
#include "record_check.h"
#include "../common/alloc.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/printable.h"
#include "../report/trace_summary.h"
#include "../traces/writer.h"

/* Summaries of the manifest's readable traces (malloc'd array, caller clears each and frees); *nomem is set when
 * memory ran out before all were read. */
static int load_manifest(const char *manifest, struct tq_trace_summary **out, bool *nomem)
{
    *out = NULL;
    FILE *f = fopen(manifest, "r");
    if (!f)
        return 0;
    int n = 0, cap = 0;
    struct tq_trace_summary *s = NULL;
    char line[PATH_MAX + 2];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (n == cap) {
            struct tq_trace_summary *t = tq_realloc(s, (size_t)(cap = cap ? 2 * cap : 16) * sizeof *s);
            if ((*nomem = !t))
                break;
            s = t;
        }
        struct tq_err err = {0};
        tq_status st = tq_trace_summarize(line, &s[n], &err);
        if (st == TQ_OK)
            n++;
        else if ((*nomem = st == TQ_ERR_NOMEM))
            break;
    }
    fclose(f);
    *out = s;
    return n;
}

/* True when a trace other than s[skip] belongs to pid and started no earlier than `after`. */
static int has_trace(const struct tq_trace_summary *s, int n, int skip, uint32_t pid, uint64_t after)
{
    for (int i = 0; i < n; i++)
        if (i != skip && s[i].pid == pid && s[i].start_unix_ns >= after)
            return 1;
    return 0;
}

static void say_untraced(unsigned pid, const char *what)
{
    char name[1024];
    fprintf(stderr, "traceq record: no trace was written for %u (%s): static binary, setuid, or LD_PRELOAD removed\n",
            pid, tq_printable(what, name, sizeof name));
}

int tq_record_report_untraced(const char *manifest, pid_t child, const char *cmd)
{
    struct tq_trace_summary *s;
    bool nomem = false;
    int n = load_manifest(manifest, &s, &nomem), reported = 0;
    if (nomem) /* a trace not read is not a process missed: say nothing wrong */
        fprintf(stderr, "traceq record: out of memory reading the traces: cannot check for untraced processes\n");
    else if (!has_trace(s, n, -1, (uint32_t)child, 0)) {
        say_untraced((unsigned)child, cmd);
        reported++;
    }
    for (int i = 0; !nomem && i < n; i++)
        if (s[i].ending == TQ_ENDED_EXEC && !has_trace(s, n, i, s[i].pid, s[i].start_unix_ns)) {
            say_untraced(s[i].pid, s[i].exec_path ? s[i].exec_path : "exec'd program");
            reported++;
        }
    for (int i = 0; i < n; i++)
        tq_trace_summary_clear(&s[i]);
    free(s);
    return reported;
}

void tq_record_exec_error(const char *cmd, int err, char *msg, size_t cap)
{
    char name[1024];
    tq_printable(cmd, name, sizeof name);
    if (err == ENOENT)
        snprintf(msg, cap, "cannot run '%s': %s", name,
                 strchr(cmd, '/') ? "no such file" : "command not found (not in PATH)");
    else if (err == EACCES)
        snprintf(msg, cap, "cannot run '%s': not an executable file, or no permission to run it", name);
    else
        snprintf(msg, cap, "cannot run '%s': %s", name, strerror(err));
}

int tq_record_check_outdir(const char *dir, char *msg, size_t cap)
{
    struct stat st;
    char name[1024];
    if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
        snprintf(msg, cap, "output directory '%s' is not a directory", tq_printable(dir, name, sizeof name));
        return -1;
    }
    unsigned owner = 0;
    int safe = tq_trace_dir_check(dir, &owner);
    if (safe < 0)
        snprintf(msg, cap, "cannot examine output directory '%s': %s", dir, strerror(-safe));
    else if (safe == TQ_DIR_FOREIGN)
        snprintf(msg, cap, "output directory '%s' belongs to uid %u, not to you: refusing to write traces there "
                 "(its owner could replace or redirect them)", dir, owner);
    else if (safe == TQ_DIR_SHARED)
        snprintf(msg, cap, "output directory '%s' is writable by every user and not sticky: refusing to write "
                 "traces there (they could replace them)", dir);
    return safe == TQ_DIR_OK ? 0 : -1;
}

int tq_record_find_shim(char *out, size_t cap)
{
    const char *env = getenv("TRACEQ_LIB");
    if (env) {
        snprintf(out, cap, "%s", env);
        return access(out, R_OK);
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0 || (size_t)n >= sizeof self - 1 - 16) { /* readlink does not say when it cut the name short */
        snprintf(out, cap, "%s", "libtraceq.so");
        return -1;
    }
    self[n] = 0;
    *strrchr(self, '/') = 0;
    snprintf(out, cap, "%s/libtraceq.so", self);
    return access(out, R_OK);
}
