/* test_security.c - the shim stays inert in setuid processes; traces never follow a planted symlink and never go
 * into another user's directory; nothing a trace contains makes the analyzer write outside the output it was given. */
#include <dirent.h>
#include <pwd.h>
#include <sys/stat.h>

#include "../traces/codec.h"
#include "../traces/writer.h"
#include "rel_util.h"

#define NOBODY 65534

/* Number of entries in dir (without . and ..). */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "cannot list %s", dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

Test(security, setuid_process_leaves_no_trace, .timeout = 60)
{
    if (geteuid() != 0)
        cr_skip_test("needs root to make a setuid-root copy and to run it as another user");
    char *bin = tq_tmpdir(), *out = tq_tmpdir(), cmd[16384], *text = NULL;
    /* The probe links libtraceq.so directly: the loader maps the shim even in a setuid process (where it ignores
     * LD_PRELOAD), so this checks the shim's own AT_SECURE guard, not only the loader's. */
    cr_assert_eq(chmod(bin, 0755), 0);
    cr_assert_eq(chmod(out, 01777), 0);
    /* nobody must be able to load both files, and the build folder may sit under a 0700 directory (a CI clone in
     * a mkdtemp folder): link a probe against a copy of the shim in `bin`, with `bin` as its absolute rpath
     * ($ORIGIN is not expanded in setuid processes). */
    snprintf(cmd, sizeof cmd,
             "cp %s %s/libtraceq.so && cc -O2 -o %s/probe %s %s/libtraceq.so -Wl,-rpath,%s && "
             "cp %s/probe %s/plain && chmod 0755 %s/plain %s/libtraceq.so && chmod 4755 %s/probe",
             tq_build_path("libtraceq.so"), bin, bin, tq_src_path("tests/progs/linked/linked_probe.c"), bin, bin, bin,
             bin, bin, bin, bin);
    cr_assert_eq(tq_runf("%s", cmd), 0, "%s", cmd);
    /* Control: the same binary run by nobody without the setuid bit does write a trace. */
    snprintf(cmd, sizeof cmd, "setpriv --reuid=%d --regid=%d --clear-groups env TRACEQ_OUTPUT_DIR=%s %s/plain",
             NOBODY, NOBODY, out, bin);
    cr_assert_eq(tq_run(cmd, &text, NULL), 0, "%s", cmd);
    cr_expect_eq(count_entries(out), 1, "the shim is loaded and works for nobody");
    free(text);
    snprintf(cmd, sizeof cmd, "rm -f %s/traceq.*", out);
    tq_runf("%s", cmd);
    /* Setuid root, run by nobody: AT_SECURE. Every setting, verbosity included, must be ignored. */
    snprintf(cmd, sizeof cmd,
             "setpriv --reuid=%d --regid=%d --clear-groups env TRACEQ_OUTPUT_DIR=%s TRACEQ_VERBOSE=1 %s/probe", NOBODY,
             NOBODY, out, bin);
    char *err = NULL;
    cr_assert_eq(tq_run(cmd, &text, &err), 0, "%s", cmd);
    cr_expect_str_eq(text, "probe ok uid 65534 euid 0\n", "it really ran setuid");
    cr_expect_str_eq(err, "", "the shim says nothing in a setuid process");
    cr_expect_eq(count_entries(out), 0, "no trace from a setuid process");
    free(text), free(err);
    tq_rmtree(bin), tq_rmtree(out);
    free(bin), free(out);
}

Test(security, planted_symlink_at_trace_path_is_not_followed, .timeout = 60)
{
    char *out = tq_tmpdir(), victim[4200], cmd[16384];
    snprintf(victim, sizeof victim, "%s.victim", out);
    FILE *f = fopen(victim, "w");
    cr_assert(f && fputs("precious\n", f) >= 0 && fclose(f) == 0);
    /* The shell plants symlinks at the names the image it execs next will use (same pid): one to an existing
     * file, one dangling into a place a follow would create. */
    snprintf(cmd, sizeof cmd,
             "%s record -q -o %s -- sh -c 'ln -s %s %s/traceq.true.$$.tq && ln -s %s/made-by-follow "
             "%s/traceq.true.$$.1.tq && exec true'",
             tq_build_path("traceq"), out, victim, out, out, out);
    cr_expect_eq(tq_runf("%s", cmd), 0);
    char *v = tq_slurp(victim, NULL);
    cr_expect_str_eq(v, "precious\n", "the symlinked file was not written through");
    free(v);
    char made[4200];
    snprintf(made, sizeof made, "%s/made-by-follow", out);
    cr_expect_neq(access(made, F_OK), 0, "a dangling symlink was not followed");
    /* The exec'd image still wrote its trace, under a free name, as a regular file of mode 0600. */
    char pat[4200];
    snprintf(pat, sizeof pat, "%s/traceq.true.*.tq", out);
    glob_t g;
    int regular = 0;
    if (glob(pat, 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++) {
            struct stat st;
            if (lstat(g.gl_pathv[i], &st) == 0 && S_ISREG(st.st_mode)) {
                regular++;
                cr_expect_eq(st.st_mode & 07777, 0600, "%s has mode %o", g.gl_pathv[i], st.st_mode & 07777);
            }
        }
        globfree(&g);
    }
    cr_expect_eq(regular, 1, "one real trace for the exec'd image");
    unlink(victim);
    tq_rmtree(out);
    free(out);
}

Test(security, output_dir_of_another_user_is_refused, .timeout = 60)
{
    if (geteuid() != 0)
        cr_skip_test("needs root to give a directory to another user");
    char *out = tq_tmpdir(), cmd[8192], *err = NULL;
    cr_assert_eq(chown(out, NOBODY, NOBODY), 0);
    snprintf(cmd, sizeof cmd, "%s record -o %s -- true", tq_build_path("traceq"), out);
    cr_expect_eq(tq_run(cmd, NULL, &err), 2, "refused as a usage error");
    cr_expect_not_null(strstr(err, "belongs to uid 65534"), "the message says why: %s", err);
    cr_expect_eq(count_entries(out), 0, "nothing written there");
    free(err);
    /* The shim itself refuses it too when preloaded by hand, and says so when asked to be verbose. */
    snprintf(cmd, sizeof cmd, "TRACEQ_VERBOSE=1 TRACEQ_OUTPUT_DIR=%s LD_PRELOAD=%s /bin/echo hi", out,
             tq_build_path("libtraceq.so"));
    char *said = NULL;
    cr_expect_eq(tq_run(cmd, &said, &err), 0);
    cr_expect_str_eq(said, "hi\n");
    cr_expect_not_null(strstr(err, "cannot create a trace"), "verbose shim says why: %s", err);
    cr_expect_eq(count_entries(out), 0, "the shim wrote nothing there");
    free(said), free(err);
    snprintf(cmd, sizeof cmd, "%s record -o %s -- true", tq_build_path("traceq"), out);
    /* World-writable but not sticky is refused too; group-writable and sticky (/tmp-like) are accepted. */
    cr_assert_eq(chown(out, 0, 0), 0);
    cr_assert_eq(chmod(out, 0777), 0);
    cr_expect_eq(tq_run(cmd, NULL, &err), 2);
    cr_expect_not_null(strstr(err, "writable by every user"), "%s", err);
    free(err);
    cr_assert_eq(chmod(out, 0775), 0); /* group-writable (umask 002 systems): accepted */
    cr_expect_eq(tq_runf("%s 2>/dev/null", cmd), 0);
    cr_expect_eq(count_entries(out), 1);
    cr_assert_eq(chmod(out, 01777), 0);
    cr_expect_eq(tq_runf("%s 2>/dev/null", cmd), 0);
    cr_expect_eq(count_entries(out), 2);
    tq_rmtree(out);
    free(out);
}

/* Write a trace whose executable and arguments look like paths out of the output directory. */
static void write_hostile_trace(const char *dir, char *path, size_t cap)
{
    int fd = tq_trace_create(dir, "evil", 4242, path, cap);
    cr_assert_geq(fd, 0);
    struct tq_trace_writer w;
    cr_assert_eq(tq_writer_open(&w, fd), 0);
    uint8_t rec[8192];
    struct tq_rec_process p = {.pid = 4242, .ppid = 1, .start_unix_ns = 1, .interval_us = 10000, .page_size = 4096};
    char *argv[] = {"../../../../tmp/tq-hostile-arg", "/etc/passwd", "$(touch /tmp/tq-hostile-sh)", NULL};
    tq_writer_append(&w, rec, tq_rec_put_process(rec, sizeof rec, &p, "../../../../tmp/tq-hostile-exe\n%n%s", 3,
                                                 argv));
    for (int i = 1; i < 50; i++) {
        struct tq_rec_sample s = {.t_ns = i * 10000000ull, .vm_rss = (uint64_t)i << 20, .heap_live_req = i * 1000,
                                  .heap_peak_req = i * 1000, .calls_total = (uint64_t)i};
        tq_writer_append(&w, rec, tq_rec_put_sample(rec, sizeof rec, &s));
    }
    tq_writer_append(&w, rec, tq_rec_put_exec(rec, sizeof rec, 600000000, "../../../../tmp/tq-hostile-exec"));
    cr_assert_eq(tq_writer_close(&w), 0);
}

Test(security, analyzer_writes_only_the_output_it_is_given, .timeout = 60)
{
    char *in = tq_tmpdir(), *out = tq_tmpdir(), *cwd = tq_tmpdir(), trace[4200], cmd[16384];
    write_hostile_trace(in, trace, sizeof trace);
    static const char *const hostile[] = {"/tmp/tq-hostile-arg", "/tmp/tq-hostile-exe", "/tmp/tq-hostile-exec",
                                          "/tmp/tq-hostile-sh"};
    for (size_t i = 0; i < 4; i++)
        unlink(hostile[i]);
    static const char *const runs[] = {"report %s", "report --json %s", "export -f massif -o %s/a.massif %s",
                                       "export -f chrome -o %s/a.json %s", "export -f csv -o %s/a.csv %s",
                                       "plot -o %s/a.svg %s", "plot -o %s/a.png %s"};
    int outputs = 0;
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        char args[8192];
        if (strstr(runs[i], "-o"))
            snprintf(args, sizeof args, runs[i], out, trace), outputs++;
        else
            snprintf(args, sizeof args, runs[i], trace);
        snprintf(cmd, sizeof cmd, "cd %s && %s %s > /dev/null", cwd, tq_build_path("traceq"), args);
        int rc = tq_runf("%s", cmd);
        cr_expect(rc == 0 || rc == 1, "%s: exit %d", args, rc);
    }
    cr_expect_eq(count_entries(out), outputs, "only the named outputs appear in the output directory");
    cr_expect_eq(count_entries(cwd), 0, "nothing is written into the working directory");
    cr_expect_eq(count_entries(in), 1, "nothing is written beside the trace");
    for (size_t i = 0; i < 4; i++)
        cr_expect_neq(access(hostile[i], F_OK), 0, "%s was created from names inside the trace", hostile[i]);
    tq_rmtree(in), tq_rmtree(out), tq_rmtree(cwd);
    free(in), free(out), free(cwd);
}
