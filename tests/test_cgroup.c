/* test_cgroup.c - memory cgroups really kill a process over its limit and say so; the RSS watchdog does the same
 * without them; the journal of finished blocks survives kills and refuses other runs. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../runner/cgroup.h"
#include "../runner/journal.h"
#include "../runner/watchdog.h"
#include "helpers.h"

#define MIB (1024ull * 1024ull)

/* Fork a child that joins cg (when given) and runs tq_hog MIB HOLD_MS; returns its pid. */
static pid_t spawn_hog(const tq_cgroup *cg, int mib, int hold_ms)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (cg && tq_cg_attach(cg, 0, NULL))
            _exit(99);
        char a[16], b[16];
        snprintf(a, sizeof a, "%d", mib);
        snprintf(b, sizeof b, "%d", hold_ms);
        int devnull = open("/dev/null", 1);
        dup2(devnull, 1);
        execl(tq_build_path("progs/tq_hog"), "tq_hog", a, b, (char *)NULL);
        _exit(98);
    }
    return pid;
}

static tq_cg_root *root_or_skip(void)
{
    if (geteuid() != 0)
        cr_skip_test("cgroup tests need root (CI runs as root)");
    tq_cg_root *root = NULL;
    struct tq_err err = {0};
    if (tq_cg_root_create(&root, &err))
        cr_skip_test("no memory cgroup here: %s", err.msg);
    return root;
}

Test(cgroup, over_limit_is_oom_killed_and_counted)
{
    tq_cg_root *root = root_or_skip();
    tq_cgroup *cg = NULL;
    struct tq_err err = {0};
    cr_assert_eq(tq_cg_create(root, "w0", 64 * MIB, &cg, &err), TQ_OK, "%s", err.msg);
    struct tq_cg_stats st;
    cr_assert_eq(tq_cg_read(cg, &st, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(st.limit, 64 * MIB);
    cr_assert_eq(st.oom_kills, 0);

    int status;
    pid_t pid = spawn_hog(cg, 200, 0);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "hog was not killed (status %#x)", status);
    cr_assert_eq(tq_cg_read(cg, &st, &err), TQ_OK, "%s", err.msg);
    cr_assert_geq(st.oom_kills, 1, "the cgroup did not count an OOM kill");
    if (st.peak)
        cr_assert(st.peak > 48 * MIB && st.peak <= 64 * MIB, "peak %llu", (unsigned long long)st.peak);

    char dir[1100], parent[1100];
    snprintf(dir, sizeof dir, "%s", tq_cg_path(cg));
    snprintf(parent, sizeof parent, "%s", tq_cg_root_path(root));
    tq_cg_free(cg);
    tq_cg_root_free(root);
    struct stat sb;
    cr_assert_neq(stat(dir, &sb), 0, "cgroup %s was not removed", dir);
    cr_assert_neq(stat(parent, &sb), 0, "cgroup %s was not removed", parent);
}

Test(cgroup, under_limit_survives_with_its_peak)
{
    tq_cg_root *root = root_or_skip();
    tq_cgroup *cg = NULL;
    struct tq_err err = {0};
    cr_assert_eq(tq_cg_create(root, "w0", 64 * MIB, &cg, &err), TQ_OK, "%s", err.msg);
    int status;
    pid_t pid = spawn_hog(cg, 16, 0);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
    struct tq_cg_stats st;
    cr_assert_eq(tq_cg_read(cg, &st, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(st.oom_kills, 0);
    if (st.peak)
        cr_assert_geq(st.peak, 16 * MIB);
    tq_cg_free(cg);
    tq_cg_root_free(root);
}

Test(cgroup, free_kills_what_is_left_inside)
{
    tq_cg_root *root = root_or_skip();
    tq_cgroup *cg = NULL;
    struct tq_err err = {0};
    cr_assert_eq(tq_cg_create(root, "w1", 64 * MIB, &cg, &err), TQ_OK, "%s", err.msg);
    pid_t pid = spawn_hog(cg, 1, 60000);
    usleep(100 * 1000);
    char dir[1100];
    snprintf(dir, sizeof dir, "%s", tq_cg_path(cg));
    tq_cg_free(cg);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status), "the process left in the group was not killed");
    struct stat sb;
    cr_assert_neq(stat(dir, &sb), 0, "cgroup %s was not removed", dir);
    tq_cg_root_free(root);
}

Test(watchdog, kills_above_limit_and_keeps_the_peak)
{
    pid_t pid = spawn_hog(NULL, 200, 5000);
    uint64_t peak = 0;
    int killed = 0;
    for (int i = 0; i < 1000 && !killed; i++) {
        killed = tq_watchdog_check(pid, 64 * MIB, &peak);
        usleep(5000);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(killed, "watchdog never fired");
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    cr_assert_gt(peak, 64 * MIB);
}

Test(watchdog, leaves_small_processes_alone)
{
    pid_t pid = spawn_hog(NULL, 8, 300);
    uint64_t peak = 0;
    int killed = 0, status;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        killed |= tq_watchdog_check(pid, 64 * MIB, &peak);
        usleep(5000);
    }
    cr_assert_not(killed);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cr_assert_geq(peak, 8 * MIB);
}

Test(journal, resume_reads_finished_blocks_and_ignores_a_torn_line)
{
    char *dir = tq_tmpdir(), path[4200];
    snprintf(path, sizeof path, "%s/out.npy.journal", dir);
    struct tq_err err = {0};
    tq_journal *j = NULL;
    cr_assert_eq(tq_journal_open(path, "op=gst3d shape=4x4x4", NULL, NULL, 0, &j, &err), TQ_OK, "%s", err.msg);
    struct tq_box a = {{0, 0, 0}, {2, 4, 4}}, b = {{2, 0, 0}, {4, 4, 4}};
    cr_assert_eq(tq_journal_append(j, &a, &err), TQ_OK, "%s", err.msg);
    tq_journal_free(j);
    FILE *f = fopen(path, "a");
    fputs("done 2 0 0 4 4", f); /* a kill in the middle of a line */
    fclose(f);

    cr_assert_eq(tq_journal_open(path, "op=envelope shape=4x4x4", NULL, NULL, 1, &j, &err), TQ_ERR_FORMAT);
    cr_assert(strstr(err.msg, "another run") != NULL, "%s", err.msg);
    cr_assert_eq(tq_journal_open(path, "op=gst3d shape=4x4x4", NULL, NULL, 1, &j, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(tq_journal_count(j), 1);
    cr_assert(tq_journal_has(j, &a));
    cr_assert_not(tq_journal_has(j, &b));
    tq_journal_free(j);

    char nope[4300];
    snprintf(nope, sizeof nope, "%s/missing.journal", dir);
    cr_assert_eq(tq_journal_open(nope, "k", NULL, NULL, 1, &j, &err), TQ_ERR_IO);
    tq_rmtree(dir);
    free(dir);
}
