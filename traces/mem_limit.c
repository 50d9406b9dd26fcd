/* mem_limit.c - the calling process's memory limit and the --snapshot-at syntax (see mem_limit.h). */
#include "mem_limit.h"

#include <fcntl.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "codec.h"

/* Read a small file into buf (NUL-terminated); returns its length or -1. */
static ssize_t read_small(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = 0;
    return n;
}

/* A decimal byte count at the start of s; 0 for "max", garbage, or v1's "unlimited" (>= 2^62). */
static uint64_t parse_limit(const char *s)
{
    uint64_t v = 0;
    if (*s < '0' || *s > '9')
        return 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (UINT64_MAX - 9) / 10)
            return 0;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    return v >= (1ull << 62) ? 0 : v;
}

/* dst = a + b + c, or -1 when it does not fit. */
static int join3(char *dst, size_t cap, const char *a, const char *b, const char *c)
{
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
    if (la + lb + lc + 1 > cap)
        return -1;
    memcpy(dst, a, la);
    memcpy(dst + la, b, lb);
    memcpy(dst + la + lb, c, lc + 1);
    return 0;
}

/* The cgroup limit from /proc/self/cgroup: v2 ("0::/path") or v1 (a line whose controllers include memory). */
static uint64_t cgroup_limit(unsigned *kind)
{
    char text[4096], path[4096 + 64], val[64];
    if (read_small("/proc/self/cgroup", text, sizeof text) <= 0)
        return 0;
    uint64_t best = 0;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = 0;
        const char *ctrls = c1 + 1, *cg = c2 + 1;
        uint64_t v = 0;
        unsigned k = 0;
        if (!strcmp(line, "0") && !*ctrls) {
            if (!join3(path, sizeof path, "/sys/fs/cgroup", cg, "/memory.max") && read_small(path, val, sizeof val) > 0)
                v = parse_limit(val), k = TQ_SNAP_CGROUP_V2;
        } else {
            int mem = 0;
            for (const char *p = ctrls; *p;) {
                size_t n = strcspn(p, ",");
                mem |= n == 6 && !strncmp(p, "memory", 6);
                p += n + (p[n] == ',');
            }
            if (mem && !join3(path, sizeof path, "/sys/fs/cgroup/memory", cg, "/memory.limit_in_bytes") &&
                read_small(path, val, sizeof val) > 0)
                v = parse_limit(val), k = TQ_SNAP_CGROUP_V1;
        }
        if (v && (!best || v < best)) {
            best = v;
            *kind = k;
        }
    }
    return best;
}

int tq_mem_limit(uint64_t *bytes, unsigned *kind)
{
    unsigned k = 0;
    uint64_t best = cgroup_limit(&k);
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (!best || rl.rlim_cur < best)) {
        best = rl.rlim_cur;
        k = TQ_SNAP_RLIMIT_AS;
    }
    if (!best)
        return -1;
    *bytes = best;
    *kind = k;
    return 0;
}

int tq_snapshot_parse(const char *v, unsigned *permille, uint64_t *bytes)
{
    size_t n = strlen(v);
    if (n == 0 || n > 24)
        return -1;
    uint64_t ip = 0, frac = 0, fdigits = 0;
    size_t i = 0;
    for (; i < n && v[i] >= '0' && v[i] <= '9'; i++)
        if ((ip = ip * 10 + (uint64_t)(v[i] - '0')) > (1ull << 50))
            return -1;
    if (i == 0)
        return -1;
    if (v[i] == '.') {
        for (i++; i < n && v[i] >= '0' && v[i] <= '9'; i++, fdigits++)
            if (fdigits < 1)
                frac = (uint64_t)(v[i] - '0');
            else if (v[i] != '0')
                return -1; /* finer than 0.1% */
        if (fdigits == 0)
            return -1;
    }
    if (v[i] == '%' && i + 1 == n) {
        uint64_t pm = ip * 10 + frac;
        if (ip > 100 || pm == 0 || pm > 1000)
            return -1;
        *permille = (unsigned)pm;
        *bytes = 0;
        return 0;
    }
    if (fdigits)
        return -1;
    uint64_t mult = 1;
    if (i + 1 == n) {
        char u = v[i] | 0x20;
        mult = u == 'k' ? 1ull << 10 : u == 'm' ? 1ull << 20 : u == 'g' ? 1ull << 30 : u == 't' ? 1ull << 40 : 0;
    } else if (i != n) {
        return -1;
    }
    if (!mult || ip == 0 || ip > (1ull << 50) / mult)
        return -1;
    *bytes = ip * mult;
    *permille = 0;
    return 0;
}
