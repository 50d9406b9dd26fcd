/* config.c - traceq.toml -> struct tq_settings: libinih reads the TOML subset ([section], key = "value"). */
#include "config.h"

#include <fcntl.h>
#include <ini.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct ctx {
    struct tq_settings *s;
    struct tq_err *err;
    const char *name;
    tq_status st;
};

/* The value without TOML quotes or a trailing "# comment", into out[cap]. */
static void unquote(const char *v, char *out, size_t cap)
{
    size_t n;
    const char *close;
    if ((v[0] == '"' || v[0] == '\'') && (close = strchr(v + 1, v[0]))) {
        v++;
        n = (size_t)(close - v);
    } else {
        const char *hash = strstr(v, " #");
        n = hash ? (size_t)(hash - v) : strlen(v);
        while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
            n--;
    }
    if (n >= cap)
        n = cap - 1;
    memcpy(out, v, n);
    out[n] = 0;
}

static int bad(struct ctx *c, const char *sec, const char *key, const char *why)
{
    c->st = tq_fail(c->err, TQ_ERR_USAGE, "%s: %s%s%s%s: %s", c->name, *sec ? "[" : "", sec, *sec ? "] " : "", key,
                    why);
    return 0;
}

/* Each item of a comma list must be one of `known` (NULL-terminated). *has gets whether `want` is listed. */
static int check_list(const char *v, const char *const *known, const char *want, int *has)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", v);
    *has = 0;
    for (char *save, *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        int ok = 0;
        for (int i = 0; known[i]; i++)
            ok |= !strcmp(tok, known[i]);
        if (!ok)
            return -1;
        *has |= want && !strcmp(tok, want);
    }
    return 0;
}

static int set_ms(unsigned *field, const char *v, unsigned max)
{
    char *end;
    long x = strtol(v, &end, 10);
    if (!*v || *end || x < 1 || x > (long)max)
        return -1;
    *field = (unsigned)x;
    return 0;
}

static int set_bool(int *field, const char *v)
{
    int b = tq_settings_parse_bool(v);
    if (b < 0)
        return -1;
    *field = b;
    return 0;
}

static int on_profiler(struct ctx *c, const char *key, const char *v)
{
    static const char *const metrics[] = {"memory_usage", "time", "execution_time", NULL};
    if (!strcmp(key, "precision")) { /* the original slept 10^-precision s between samples */
        char *end;
        long p = strtol(v, &end, 10);
        if (!*v || *end || p < 0 || p > 3)
            return bad(c, "profiler", key, "expected 0..3 (sampling every 10^-precision s)");
        c->s->interval_ms = (unsigned)lround(1000.0 / pow(10.0, (double)p));
        return 1;
    }
    if (!strcmp(key, "enabled_metrics")) {
        int mem;
        if (check_list(v, metrics, "memory_usage", &mem))
            return bad(c, "profiler", key, "expected a list of memory_usage, time");
        c->s->enabled = mem;
        return 1;
    }
    if (!strcmp(key, "session_id") || !strcmp(key, "sign_traces") || !strcmp(key, "depth"))
        return 1; /* accepted for compatibility, no effect (CONFIG.md) */
    return bad(c, "profiler", key, "unknown key");
}

static int on_memory(struct ctx *c, const char *key, const char *v)
{
    static const char *const backends[] = {"kernel", "psutil", "resource", "tracemalloc", NULL};
    if (!strcmp(key, "enabled_backends")) {
        int unused;
        if (check_list(v, backends, NULL, &unused))
            return bad(c, "profiler.memory_usage", key, "expected a list of kernel, psutil, resource, tracemalloc");
        return 1; /* every backend's figure is always recorded (CONFIG.md) */
    }
    if (!strcmp(key, "sampling_interval")) {
        char *end;
        double sec = strtod(v, &end);
        if (!*v || *end || !(sec >= 0.001 && sec <= 60.0))
            return bad(c, "profiler.memory_usage", key, "expected seconds in 0.001..60");
        c->s->interval_ms = (unsigned)lround(sec * 1000.0);
        return 1;
    }
    return bad(c, "profiler.memory_usage", key, "unknown key");
}

static int on_record(struct ctx *c, const char *key, const char *v)
{
    int rc = -2;
    if (!strcmp(key, "interval_ms"))
        rc = set_ms(&c->s->interval_ms, v, TQ_SETTINGS_INTERVAL_MAX);
    else if (!strcmp(key, "flush_ms"))
        rc = set_ms(&c->s->flush_ms, v, TQ_SETTINGS_FLUSH_MAX);
    else if (!strcmp(key, "verbose"))
        rc = set_bool(&c->s->verbose, v);
    else if (!strcmp(key, "follow_fork"))
        rc = set_bool(&c->s->follow_fork, v);
    else if (!strcmp(key, "enabled"))
        rc = set_bool(&c->s->enabled, v);
    if (rc == -2)
        return bad(c, "record", key, "unknown key");
    return rc ? bad(c, "record", key, "bad value (see preload/CONFIG.md)") : 1;
}

static int on_item(void *user, const char *section, const char *key, const char *raw)
{
    struct ctx *c = user;
    if (c->st)
        return 0;
    char v[sizeof c->s->output_dir];
    unquote(raw ? raw : "", v, sizeof v);
    if (!*section) {
        if (!strcmp(key, "output_dir")) {
            if (!*v)
                return bad(c, "", key, "empty");
            snprintf(c->s->output_dir, sizeof c->s->output_dir, "%s", v);
            return 1;
        }
        return bad(c, "", key, "unknown key");
    }
    if (!strcmp(section, "profiler"))
        return on_profiler(c, key, v);
    if (!strcmp(section, "profiler.memory_usage"))
        return on_memory(c, key, v);
    if (!strcmp(section, "record"))
        return on_record(c, key, v);
    if (!strcmp(section, "logger"))
        return 1; /* the original's logger keys: accepted, no effect */
    return bad(c, section, key, "unknown section");
}

static tq_status finish(struct ctx *c, int rc)
{
    if (c->st)
        return c->st;
    if (rc > 0)
        return tq_fail(c->err, TQ_ERR_USAGE, "%s:%d: not a [section] or key = value line", c->name, rc);
    if (rc < 0)
        return tq_fail(c->err, TQ_ERR_IO, "cannot read %s", c->name);
    return TQ_OK;
}

tq_status tq_config_parse_string(const char *text, const char *name, struct tq_settings *s, struct tq_err *err)
{
    struct ctx c = {s, err, name, TQ_OK};
    return finish(&c, ini_parse_string(text, on_item, &c));
}

tq_status tq_config_load(const char *path, struct tq_settings *s, struct tq_err *err)
{
    if (!path)
        path = getenv("TRACEQ_CONFIG");
    if (!path) {
        if (access("traceq.toml", F_OK) != 0)
            return TQ_OK;
        path = "traceq.toml";
    }
    /* O_NONBLOCK: a FIFO (or a device) named traceq.toml must not hang record; only regular files are read. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return tq_fail_errno(err, TQ_ERR_IO, "cannot open config '%s'", path);
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        return tq_fail(err, TQ_ERR_IO, "config '%s' is not a regular file", path);
    }
    FILE *f = fdopen(fd, "r");
    if (!f) {
        close(fd);
        return tq_fail_errno(err, TQ_ERR_IO, "cannot open config '%s'", path);
    }
    struct ctx c = {s, err, path, TQ_OK};
    int rc = ini_parse_file(f, on_item, &c);
    fclose(f);
    return finish(&c, rc);
}
