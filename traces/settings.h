/* settings.h - the TRACEQ_* environment settings, read the same way by the shim and by `traceq record`. */
#ifndef TQ_TRACE_SETTINGS_H
#define TQ_TRACE_SETTINGS_H

#include <stddef.h>

/* What a traced process does; every field is documented (with its variable and default) in preload/CONFIG.md. */
struct tq_settings {
    int enabled;            /* TRACEQ_ENABLED, default 1 */
    char output_dir[2048];  /* TRACEQ_OUTPUT_DIR, default "." */
    unsigned interval_ms;   /* TRACEQ_INTERVAL_MS, default 10, 1..60000 */
    unsigned flush_ms;      /* TRACEQ_FLUSH_MS, default 100, 1..100 */
    int verbose;            /* TRACEQ_VERBOSE, default 0 */
    int follow_fork;        /* TRACEQ_FOLLOW_FORK, default 1 */
    char manifest[2048];    /* TRACEQ_MANIFEST, default "" (set by `traceq record`) */
    int stacks;             /* TRACEQ_STACKS, default 0: per-allocation events with call stacks */
    int aggregate;          /* TRACEQ_AGGREGATE, default 0: per-stack totals instead of events (implies stacks) */
    int python_frames;      /* TRACEQ_PYFRAMES, default 1: with stacks, a CPython process's Python frames too */
    unsigned long sample_bytes; /* TRACEQ_SAMPLE_BYTES, default 0 (every allocation): with stacks, record one
                                 * allocation per this many bytes on average (implies stacks) */
    unsigned snapshot_permille; /* TRACEQ_SNAPSHOT_AT "80%": a SNAPSHOT record when memory first reaches this share
                                 * of the process's limit (1..1000), else 0 */
    unsigned long long snapshot_bytes; /* TRACEQ_SNAPSHOT_AT "2G": ... reaches this size, else 0 */
};

#define TQ_SETTINGS_SAMPLE_MAX (1ul << 40)

#define TQ_SETTINGS_INTERVAL_MAX 60000u
#define TQ_SETTINGS_FLUSH_MAX 100u

/* Fill s with the defaults. Can't fail. */
void tq_settings_defaults(struct tq_settings *s);

/* Apply the TRACEQ_* variables that get(name) returns (pass secure_getenv in the shim, getenv elsewhere).
 * A bad value leaves its field unchanged; the first problem is described in msg[msgsize] and -1 returned,
 * after all other variables were applied. Returns 0 when every value was valid. Allocates nothing. */
int tq_settings_from_env(struct tq_settings *s, char *(*get)(const char *), char *msg, size_t msgsize);

/* Parse a TRACEQ_SAMPLE_BYTES value ("524288", "512K", "1M"; 1..TQ_SETTINGS_SAMPLE_MAX). Returns 0 with *out
 * set, or -1. Allocates nothing. */
int tq_settings_parse_sample_bytes(const char *v, unsigned long *out);

/* Parse a boolean ("1/0, true/false, yes/no, on/off", any case). Returns 0/1, or -1 when it is none of them. */
int tq_settings_parse_bool(const char *v);

/* Export s as TRACEQ_* variables through set(name, value) (setenv with overwrite in the caller).
 * Returns 0, or the first non-zero result of set. */
int tq_settings_to_env(const struct tq_settings *s, int (*set)(const char *name, const char *value));

#endif
