/* units.c - checked parsing and printing of byte sizes, shapes and ranges (see units.h). */
#include "units.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct unit {
    const char *name;
    double factor;
};

static const struct unit units[] = {
    {"", 1.0},           {"b", 1.0},
    {"k", 1024.0},       {"kib", 1024.0},       {"kb", 1e3},
    {"m", 1048576.0},    {"mib", 1048576.0},    {"mb", 1e6},
    {"g", 1073741824.0}, {"gib", 1073741824.0}, {"gb", 1e9},
    {"t", 1099511627776.0}, {"tib", 1099511627776.0}, {"tb", 1e12},
};

tq_status tq_parse_bytes(const char *s, uint64_t *out, struct tq_err *err)
{
    if (!s || !*s)
        return tq_fail(err, TQ_ERR_USAGE, "empty memory size");
    const char *p = s;
    while (isspace((unsigned char)*p))
        p++;
    if (!isdigit((unsigned char)*p) && *p != '.')
        return tq_fail(err, TQ_ERR_USAGE, "invalid memory size '%s' (expected e.g. 4GiB, 512MiB, 3GB)", s);
    errno = 0;
    char *end;
    double v = strtod(p, &end);
    if (errno || end == p || !isfinite(v) || v < 0)
        return tq_fail(err, TQ_ERR_USAGE, "invalid memory size '%s'", s);
    while (isspace((unsigned char)*end))
        end++;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcasecmp(end, units[i].name) == 0) {
            double bytes = v * units[i].factor;
            if (bytes >= 18446744073709551615.0)
                return tq_fail(err, TQ_ERR_USAGE, "memory size '%s' is too large", s);
            *out = (uint64_t)llround(bytes);
            return TQ_OK;
        }
    }
    return tq_fail(err, TQ_ERR_USAGE, "unknown unit in memory size '%s' (use B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)",
                   s);
}

char *tq_format_bytes(uint64_t bytes, char *buf, size_t bufsize)
{
    static const char *names[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)bytes;
    size_t u = 0;
    while (v >= 1024.0 && u + 1 < sizeof names / sizeof names[0]) {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, bufsize, "%llu B", (unsigned long long)bytes);
    else
        snprintf(buf, bufsize, "%.*f %s", v < 10 ? 2 : v < 100 ? 1 : 0, v, names[u]);
    return buf;
}

/* Parse one unsigned decimal at *p, advancing it; fails on no digits or overflow past `max`. */
static int parse_size(const char **p, size_t max, size_t *out)
{
    if (!isdigit((unsigned char)**p))
        return -1;
    size_t v = 0;
    while (isdigit((unsigned char)**p)) {
        v = v * 10 + (size_t)(**p - '0');
        if (v > max)
            return -1;
        (*p)++;
    }
    *out = v;
    return 0;
}

tq_status tq_parse_shape(const char *s, size_t shape[3], struct tq_err *err)
{
    const size_t max = (size_t)1 << 40;
    const char *p = s ? s : "";
    for (int a = 0; a < 3; a++) {
        if (a > 0) {
            if (*p != 'x' && *p != 'X' && *p != ',')
                return tq_fail(err, TQ_ERR_USAGE, "invalid shape '%s' (expected INLINESxXLINESxSAMPLES, e.g. 200x200x400)", s);
            p++;
        }
        if (parse_size(&p, max, &shape[a]) != 0 || shape[a] == 0)
            return tq_fail(err, TQ_ERR_USAGE, "invalid shape '%s' (each axis must be an integer in 1..2^40)", s);
    }
    if (*p)
        return tq_fail(err, TQ_ERR_USAGE, "invalid shape '%s' (expected exactly three axes)", s);
    return TQ_OK;
}

tq_status tq_parse_long(const char *s, long min, long max, const char *what, long *out, struct tq_err *err)
{
    if (!s || !*s)
        return tq_fail(err, TQ_ERR_USAGE, "missing value for %s", what);
    errno = 0;
    char *end;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s)
        return tq_fail(err, TQ_ERR_USAGE, "invalid %s '%s' (expected an integer)", what, s);
    if (v < min || v > max)
        return tq_fail(err, TQ_ERR_USAGE, "%s must be between %ld and %ld, got %ld", what, min, max, v);
    *out = v;
    return TQ_OK;
}

tq_status tq_parse_seconds(const char *s, const char *what, double *out, struct tq_err *err)
{
    if (!s || !*s)
        return tq_fail(err, TQ_ERR_USAGE, "missing value for %s", what);
    char *end;
    errno = 0;
    double v = strtod(s, &end), unit = 1;
    if (end != s && *end && !end[1])
        unit = *end == 's' ? 1 : *end == 'm' ? 60 : *end == 'h' ? 3600 : 0;
    else if (end != s && *end)
        unit = 0;
    if (end == s || errno || !unit || !isfinite(v) || v < 0 || isdigit((unsigned char)*end) ||
        !isdigit((unsigned char)s[0]))
        return tq_fail(err, TQ_ERR_USAGE, "invalid %s '%s' (expected seconds, e.g. 90, 90s, 2m or 1h)", what, s);
    *out = v * unit;
    return TQ_OK;
}

/* The geometric tail of a range "start:stop:xF": start, start*F, start*F^2, ... (rounded, <= stop). */
static tq_status parse_geometric(const char *s, const char *f, size_t start, size_t stop, size_t *values,
                                 size_t cap, size_t *n, struct tq_err *err)
{
    char *end;
    double factor = strtod(f, &end);
    if (end == f || *end || !(factor > 1.0 && factor <= 1e6) || start == 0 || start > stop)
        return tq_fail(err, TQ_ERR_USAGE, "invalid range '%s' (a geometric range is START:STOP:xF with START >= 1 "
                       "and a factor F > 1, e.g. 1000:64000:x2)", s);
    size_t count = 0;
    for (double v = (double)start; v <= (double)stop + 0.5; v *= factor) {
        size_t x = (size_t)(v + 0.5);
        if (count && x == values[count - 1])
            continue;
        if (count == cap)
            return tq_fail(err, TQ_ERR_USAGE, "range '%s' has more than %zu values", s, cap);
        values[count++] = x;
    }
    *n = count;
    return TQ_OK;
}

tq_status tq_parse_range(const char *s, size_t *values, size_t cap, size_t *n, struct tq_err *err)
{
    const size_t max = (size_t)1 << 40;
    const char *p = s ? s : "";
    size_t start, stop, step = 1;
    if (parse_size(&p, max, &start) != 0)
        goto bad;
    stop = start;
    if (*p == ':') {
        p++;
        if (parse_size(&p, max, &stop) != 0)
            goto bad;
        if (*p == ':' && p[1] == 'x')
            return parse_geometric(s, p + 2, start, stop, values, cap, n, err);
        if (*p == ':') {
            p++;
            if (parse_size(&p, max, &step) != 0)
                goto bad;
        }
    }
    if (*p || step == 0 || start > stop)
        goto bad;
    size_t count = (stop - start) / step + 1;
    if (count > cap)
        return tq_fail(err, TQ_ERR_USAGE, "range '%s' has %zu values, at most %zu allowed", s, count, cap);
    for (size_t i = 0; i < count; i++)
        values[i] = start + i * step;
    *n = count;
    return TQ_OK;
bad:
    return tq_fail(err, TQ_ERR_USAGE, "invalid range '%s' (expected START:STOP:STEP with STOP inclusive, e.g. 100:400:100)", s);
}

uint64_t tq_bytes_from_double(double bytes)
{
    if (!(bytes > 0)) /* also NaN */
        return 0;
    if (bytes >= 18446744073709551616.0) /* 2^64 */
        return UINT64_MAX;
    return (uint64_t)ceil(bytes);
}
