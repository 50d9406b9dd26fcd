/* settings.c - parse and export the TRACEQ_* environment settings (see settings.h, preload/CONFIG.md). */
#include "settings.h"
#include "mem_limit.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

void tq_settings_defaults(struct tq_settings *s)
{
    memset(s, 0, sizeof *s);
    s->enabled = 1;
    strcpy(s->output_dir, ".");
    s->interval_ms = 10;
    s->flush_ms = 100;
    s->follow_fork = 1;
    s->python_frames = 1;
}

int tq_settings_parse_bool(const char *v)
{
    static const char *const yes[] = {"1", "true", "yes", "on"}, *const no[] = {"0", "false", "no", "off"};
    for (unsigned i = 0; i < 4; i++) {
        if (!strcasecmp(v, yes[i]))
            return 1;
        if (!strcasecmp(v, no[i]))
            return 0;
    }
    return -1;
}

/* Decimal in [lo, hi] without strtoul's locale or errno games; -1 on anything else. */
static long parse_uint(const char *v, long lo, long hi)
{
    long x = 0;
    if (!*v)
        return -1;
    for (; *v; v++) {
        if (*v < '0' || *v > '9' || x > hi)
            return -1;
        x = x * 10 + (*v - '0');
    }
    return x < lo || x > hi ? -1 : x;
}

static void note(int *bad, char *msg, size_t n, const char *var, const char *val, const char *want)
{
    if (!*bad && msg && n)
        snprintf(msg, n, "%s='%.64s' is not valid (%s)", var, val, want);
    *bad = 1;
}

static void env_bool(int *field, const char *var, char *(*get)(const char *), int *bad, char *msg, size_t n)
{
    const char *v = get(var);
    if (!v)
        return;
    int b = tq_settings_parse_bool(v);
    if (b < 0)
        note(bad, msg, n, var, v, "use 1 or 0");
    else
        *field = b;
}

static void env_uint(unsigned *field, const char *var, long hi, char *(*get)(const char *), int *bad, char *msg,
                     size_t n)
{
    const char *v = get(var);
    if (!v)
        return;
    long x = parse_uint(v, 1, hi);
    if (x < 0)
        note(bad, msg, n, var, v, hi == TQ_SETTINGS_FLUSH_MAX ? "an integer 1..100" : "an integer 1..60000");
    else
        *field = (unsigned)x;
}

static void env_path(char *field, size_t cap, const char *var, char *(*get)(const char *), int *bad, char *msg,
                     size_t n)
{
    const char *v = get(var);
    if (!v)
        return;
    if (strlen(v) >= cap)
        note(bad, msg, n, var, v, "path too long");
    else
        strcpy(field, v);
}

/* A byte count "N", "NK", "NM" or "NG" (powers of 1024) in [1, TQ_SETTINGS_SAMPLE_MAX]; 0 when invalid. */
static unsigned long parse_bytes(const char *v)
{
    size_t n = strlen(v);
    unsigned long mult = 1;
    char digits[24];
    if (n && strchr("KkMmGg", v[n - 1])) {
        char u = v[n - 1] | 0x20;
        mult = u == 'k' ? 1ul << 10 : u == 'm' ? 1ul << 20 : 1ul << 30;
        n--;
    }
    if (n == 0 || n >= sizeof digits)
        return 0;
    memcpy(digits, v, n);
    digits[n] = 0;
    long x = parse_uint(digits, 1, (long)(TQ_SETTINGS_SAMPLE_MAX / mult));
    return x < 0 ? 0 : (unsigned long)x * mult;
}

int tq_settings_parse_sample_bytes(const char *v, unsigned long *out)
{
    unsigned long b = parse_bytes(v);
    if (!b)
        return -1;
    *out = b;
    return 0;
}

int tq_settings_from_env(struct tq_settings *s, char *(*get)(const char *), char *msg, size_t msgsize)
{
    int bad = 0;
    env_bool(&s->enabled, "TRACEQ_ENABLED", get, &bad, msg, msgsize);
    env_bool(&s->verbose, "TRACEQ_VERBOSE", get, &bad, msg, msgsize);
    env_bool(&s->follow_fork, "TRACEQ_FOLLOW_FORK", get, &bad, msg, msgsize);
    env_bool(&s->stacks, "TRACEQ_STACKS", get, &bad, msg, msgsize);
    env_bool(&s->aggregate, "TRACEQ_AGGREGATE", get, &bad, msg, msgsize);
    env_bool(&s->python_frames, "TRACEQ_PYFRAMES", get, &bad, msg, msgsize);
    const char *sb = get("TRACEQ_SAMPLE_BYTES");
    if (sb && tq_settings_parse_sample_bytes(sb, &s->sample_bytes))
        note(&bad, msg, msgsize, "TRACEQ_SAMPLE_BYTES", sb, "bytes 1..1T, e.g. 524288 or 512K");
    if (s->aggregate || s->sample_bytes)
        s->stacks = 1;
    const char *snap = get("TRACEQ_SNAPSHOT_AT");
    uint64_t snap_bytes = 0;
    if (snap && tq_snapshot_parse(snap, &s->snapshot_permille, &snap_bytes))
        note(&bad, msg, msgsize, "TRACEQ_SNAPSHOT_AT", snap, "a share of the memory limit 0.1%..100% or a size, e.g. "
             "80% or 2G");
    else if (snap)
        s->snapshot_bytes = snap_bytes;
    env_uint(&s->interval_ms, "TRACEQ_INTERVAL_MS", TQ_SETTINGS_INTERVAL_MAX, get, &bad, msg, msgsize);
    env_uint(&s->flush_ms, "TRACEQ_FLUSH_MS", TQ_SETTINGS_FLUSH_MAX, get, &bad, msg, msgsize);
    env_path(s->output_dir, sizeof s->output_dir, "TRACEQ_OUTPUT_DIR", get, &bad, msg, msgsize);
    if (!s->output_dir[0])
        strcpy(s->output_dir, ".");
    env_path(s->manifest, sizeof s->manifest, "TRACEQ_MANIFEST", get, &bad, msg, msgsize);
    return bad ? -1 : 0;
}

int tq_settings_to_env(const struct tq_settings *s, int (*set)(const char *name, const char *value))
{
    char a[16], b[16], c[24], d[32];
    if (s->snapshot_permille)
        snprintf(d, sizeof d, "%u.%u%%", s->snapshot_permille / 10, s->snapshot_permille % 10);
    else
        snprintf(d, sizeof d, "%llu", s->snapshot_bytes);
    snprintf(c, sizeof c, "%lu", s->sample_bytes);
    snprintf(a, sizeof a, "%u", s->interval_ms);
    snprintf(b, sizeof b, "%u", s->flush_ms);
    int rc;
    if ((rc = set("TRACEQ_ENABLED", s->enabled ? "1" : "0")) || (rc = set("TRACEQ_OUTPUT_DIR", s->output_dir)) ||
        (rc = set("TRACEQ_INTERVAL_MS", a)) || (rc = set("TRACEQ_FLUSH_MS", b)) ||
        (rc = set("TRACEQ_VERBOSE", s->verbose ? "1" : "0")) ||
        (rc = set("TRACEQ_FOLLOW_FORK", s->follow_fork ? "1" : "0")) ||
        (rc = set("TRACEQ_STACKS", s->stacks ? "1" : "0")) || (rc = set("TRACEQ_AGGREGATE", s->aggregate ? "1" : "0")) ||
        (s->sample_bytes && (rc = set("TRACEQ_SAMPLE_BYTES", c))) ||
        (!s->python_frames && (rc = set("TRACEQ_PYFRAMES", "0"))) ||
        ((s->snapshot_permille || s->snapshot_bytes) && (rc = set("TRACEQ_SNAPSHOT_AT", d))))
        return rc;
    return s->manifest[0] ? set("TRACEQ_MANIFEST", s->manifest) : 0;
}
