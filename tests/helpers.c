/* helpers.c - shared test helpers (see helpers.h). Compiled into the test binary only. */
#include "helpers.h"

#include <criterion/criterion.h>
#include <fcntl.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../runner/cgroup.h"
#include "../traces/writer.h"

static const char *slot_path(const char *base, const char *rel)
{
    static __thread char slots[8][4096];
    static __thread unsigned next;
    char *buf = slots[next++ % 8];
    snprintf(buf, sizeof slots[0], "%s/%s", base, rel);
    return buf;
}

const char *tq_build_path(const char *rel)
{
    const char *b = getenv("TQ_BUILD");
    return slot_path(b ? b : "build", rel);
}

const char *tq_src_path(const char *rel)
{
    const char *s = getenv("TQ_SRC");
    return slot_path(s ? s : ".", rel);
}

const char *tq_python(void)
{
    const char *p = getenv("TQ_PYTHON");
    return p ? p : "/usr/bin/python3";
}

char *tq_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
        size_t got = fread(buf + n, 1, 4096, f);
        n += got;
        if (got < 4096)
            break;
    }
    fclose(f);
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

int tq_run(const char *cmd, char **out, char **err)
{
    char outp[] = "/tmp/tqtest-out.XXXXXX", errp[] = "/tmp/tqtest-err.XXXXXX";
    int fo = mkstemp(outp), fe = mkstemp(errp);
    close(fo);
    close(fe);
    size_t len = strlen(cmd) + 2 * sizeof outp + 64;
    char *full = malloc(len);
    snprintf(full, len, "( %s ) >%s 2>%s </dev/null", cmd, outp, err ? errp : "/dev/null");
    int st = system(full);
    free(full);
    if (out)
        *out = tq_slurp(outp, NULL);
    if (err)
        *err = tq_slurp(errp, NULL);
    unlink(outp);
    unlink(errp);
    if (st == -1)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int tq_runf(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return tq_run(cmd, NULL, NULL);
}

/* The directories tq_tmpdir made in this test process: removed when it exits, so that a test whose assertion
 * failed (criterion ends the test there) leaves nothing behind. Only the process that made them removes them: a
 * child a test forks may exit while the test still uses them. */
static struct {
    pid_t owner;
    unsigned n;
    char path[64][4096];
} made_dirs;

static void remove_made_dirs(void)
{
    if (made_dirs.owner != getpid())
        return;
    for (unsigned i = 0; i < made_dirs.n; i++)
        if (access(made_dirs.path[i], F_OK) == 0)
            tq_rmtree(made_dirs.path[i]);
}

static void remember_made_dir(const char *p)
{
    if (made_dirs.owner != getpid()) {
        if (!made_dirs.owner)
            atexit(remove_made_dirs);
        made_dirs.owner = getpid();
        made_dirs.n = 0;
    }
    if (made_dirs.n < sizeof made_dirs.path / sizeof made_dirs.path[0])
        snprintf(made_dirs.path[made_dirs.n++], sizeof made_dirs.path[0], "%s", p);
}

/* LeakSanitizer checks every test process (BoxFort starts each with BXFI_MAP set) and every program they run, but not
 * criterion's runner: it keeps each test's records until it exits. */
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void)
{
    return getenv("BXFI_MAP") == NULL;
}

char *tq_tmpdir(void)
{
    const char *t = getenv("TMPDIR");
    char *p = malloc(4096);
    snprintf(p, 4096, "%s/tqtest.XXXXXX", t ? t : "/tmp");
    if (!mkdtemp(p)) {
        free(p);
        return NULL;
    }
    remember_made_dir(p);
    return p;
}

void tq_write_file(const char *dir, const char *name, const char *text, unsigned mode)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    cr_assert(f, "cannot write %s", p);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0, "cannot write %s", p);
    cr_assert_eq(chmod(p, mode), 0, "cannot chmod %s", p);
}

void tq_rmtree(const char *dir)
{
    if (dir && *dir && strcmp(dir, "/"))
        tq_runf("rm -rf '%s'", dir);
}

int tq_files_equal(const char *a, const char *b)
{
    size_t la, lb;
    char *x = tq_slurp(a, &la), *y = tq_slurp(b, &lb);
    int eq = x && y && la == lb && !memcmp(x, y, la);
    free(x);
    free(y);
    return eq;
}

int tq_have_cgroups(void)
{
    tq_cg_root *root = NULL;
    if (geteuid() != 0 || tq_cg_root_create(&root, NULL))
        return 0;
    tq_cg_root_free(root);
    return 1;
}

void tq_fixture_trace_open(const char *path, struct tq_trace_writer *w)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    cr_assert_geq(fd, 0, "cannot create %s", path);
    cr_assert_eq(tq_writer_open(w, fd), 0);
}

void tq_fixture_put(struct tq_trace_writer *w, const uint8_t *rec, size_t n)
{
    cr_assert_gt(n, 0, "record did not fit");
    cr_assert_eq(tq_writer_append(w, rec, n), 0);
}

int tq_traceq_in(const char *dir, char **out, char **err, const char *fmt, ...)
{
    char args[4096], cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s", dir, tq_build_path("traceq"), args);
    char *o = NULL, *e = NULL;
    int rc = tq_run(cmd, &o, &e);
    if (out)
        *out = o;
    else
        free(o);
    if (err)
        *err = e;
    else
        free(e);
    return rc;
}

int tq_same_file_in(const char *dir, const char *a, const char *b)
{
    char pa[4200], pb[4200];
    snprintf(pa, sizeof pa, "%s/%s", dir, a);
    snprintf(pb, sizeof pb, "%s/%s", dir, b);
    return tq_files_equal(pa, pb);
}
