/* test_resume.c - `traceq run --resume` cannot be turned against the user: a regenerated or edited input is refused
 * (touching it alone is not), the journal reopens only its own temporary (not another file it was edited to name,
 * not a symbolic or hard link planted at the temporary's name), --force removes only such a temporary, and a
 * truncated or bit-flipped journal is refused with a message (never a crash, never a block wrongly skipped). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "../runner/journal.h"
#include "helpers.h"

#define RUN "run --op gaussian --sigma 1 --input in.npy --output out.npy --chunks 10,36,50 --workers 1"

/* Run `traceq ARGS` in dir; returns the exit status, stderr in *err (caller frees; may be NULL). */
static int tq(const char *dir, char **err, const char *args)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s", dir, tq_build_path("traceq"), args);
    char *o = NULL, *e = NULL;
    int rc = tq_run(cmd, &o, &e);
    free(o);
    if (err)
        *err = e;
    else
        free(e);
    return rc;
}

static void path_in(char *buf, size_t size, const char *dir, const char *name)
{
    snprintf(buf, size, "%s/%s", dir, name);
}

/* A run of 4 blocks that fails at its third (the worker is killed, no retries): the journal holds 2 blocks and
 * the temporary is kept, as after any interruption. Also writes the unchunked result of the same input to
 * whole.npy. */
static char *interrupted_run(void)
{
    char *dir = tq_tmpdir();
    cr_assert_eq(tq(dir, NULL, "synth --shape 40x36x50 --seed 7 -o in.npy"), 0);
    char *err;
    int rc = tq(dir, &err, RUN " --retries 0 --kill-worker 3");
    cr_assert_eq(rc, 1, "the run should fail at its third block: %s", err);
    cr_assert(strstr(err, "--resume") != NULL, "%s", err);
    free(err);
    return dir;
}

/* Name of the run's temporary (".out.npy.tmp.XXXXXX") in dir; asserts there is exactly one. */
static void find_tmp(const char *dir, char *name, size_t size)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL)
        if (!strncmp(e->d_name, ".out.npy.tmp.", 13)) {
            snprintf(name, size, "%s", e->d_name);
            n++;
        }
    closedir(d);
    cr_assert_eq(n, 1, "expected one temporary in %s, found %d", dir, n);
}

/* The resumed run must give exactly the unchunked result of the current input. */
static void expect_resume_completes(const char *dir)
{
    char *err;
    int rc = tq(dir, &err, RUN " --resume");
    cr_assert_eq(rc, 0, "%s", err);
    free(err);
    cr_assert_eq(tq(dir, NULL, "run --op gaussian --sigma 1 --input in.npy --output whole.npy --chunks none"), 0);
    char a[4200], b[4200];
    path_in(a, sizeof a, dir, "out.npy");
    path_in(b, sizeof b, dir, "whole.npy");
    cr_assert(tq_files_equal(a, b), "the resumed output differs from the unchunked one");
}

/* --resume must fail with exit 2 and a message containing `want`; nothing appears under the output name. */
static void expect_resume_refused(const char *dir, const char *want)
{
    char *err;
    int rc = tq(dir, &err, RUN " --resume");
    cr_assert_eq(rc, 2, "resume gave %d, want 2 (refused): %s", rc, err);
    cr_assert(strstr(err, want) != NULL, "the message should say '%s': %s", want, err);
    free(err);
    char out[4200];
    path_in(out, sizeof out, dir, "out.npy");
    cr_assert_neq(access(out, F_OK), 0, "a refused resume wrote the output");
}

Test(resume, regenerated_input_of_the_same_shape_is_refused)
{
    char *dir = interrupted_run();
    /* Same shape and size, other content: the mix the issue saw (old blocks + new blocks, exit 0). */
    cr_assert_eq(tq(dir, NULL, "synth --shape 40x36x50 --seed 8 --force -o in.npy"), 0);
    expect_resume_refused(dir, "not the input");
    tq_rmtree(dir);
    free(dir);
}

Test(resume, input_edited_in_place_is_refused)
{
    char *dir = interrupted_run(), in[4200];
    path_in(in, sizeof in, dir, "in.npy");
    struct stat before, after;
    cr_assert_eq(stat(in, &before), 0);
    /* Same inode, same size, one sample changed, and the old modification time put back. */
    int fd = open(in, O_RDWR);
    cr_assert_geq(fd, 0);
    float v = 1234.5f;
    cr_assert_eq(pwrite(fd, &v, sizeof v, (off_t)before.st_size - 4000), (ssize_t)sizeof v);
    struct timespec times[2] = {before.st_atim, before.st_mtim};
    cr_assert_eq(futimens(fd, times), 0);
    close(fd);
    cr_assert_eq(stat(in, &after), 0);
    cr_assert_eq(after.st_ino, before.st_ino);
    cr_assert_eq(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
    expect_resume_refused(dir, "content hash");
    tq_rmtree(dir);
    free(dir);
}

/* Decided (RUNNER.md): a changed modification time alone does not block --resume; inode, size and hash prove it
 * is the same input. */
Test(resume, touched_input_resumes)
{
    char *dir = interrupted_run(), in[4200];
    path_in(in, sizeof in, dir, "in.npy");
    struct timespec times[2] = {{0, UTIME_OMIT}, {1000000000, 123}};
    cr_assert_eq(utimensat(AT_FDCWD, in, times, 0), 0);
    expect_resume_completes(dir);
    tq_rmtree(dir);
    free(dir);
}

/* Replace the journal's "data" line by `data`, resealing every line's checksum as an editor who knew the format
 * would (without resealing, the edit is caught as a corrupt line: see the test below). */
static void rewrite_data_line(const char *dir, const char *data, int reseal)
{
    char jpath[4200];
    path_in(jpath, sizeof jpath, dir, "out.npy.journal");
    char *text = tq_slurp(jpath, NULL);
    cr_assert_not_null(text);
    FILE *f = fopen(jpath, "w");
    cr_assert_not_null(f);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *sum = strrchr(line, '#');
        cr_assert(sum && sum > line && sum[-1] == ' ', "unsealed journal line: %s", line);
        sum[-1] = 0;
        if (!strncmp(line, "data ", 5)) {
            char body[4300];
            snprintf(body, sizeof body, "data %s", data);
            fprintf(f, "%s #%08x\n", body, reseal ? (unsigned)XXH32(body, strlen(body), 0) : (unsigned)strtoul(sum + 1, NULL, 16));
        } else {
            fprintf(f, "%s #%s\n", line, sum + 1);
        }
    }
    fclose(f);
    free(text);
}

/* A file the journal may be edited to name: it must come out byte for byte as it was, and stay where it is. */
static void make_victim(const char *path)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    for (int i = 0; i < 4096; i++)
        fputc('v', f);
    fclose(f);
}

static void expect_victim_intact(const char *path)
{
    size_t len = 0;
    char *t = tq_slurp(path, &len);
    cr_assert_not_null(t, "%s disappeared", path);
    cr_assert_eq(len, 4096, "%s changed size", path);
    for (size_t i = 0; i < len; i++)
        cr_assert_eq(t[i], 'v', "%s was written", path);
    free(t);
}

Test(resume, journal_edited_to_name_another_file_is_refused)
{
    char *dir = interrupted_run(), victim[4200], sub[4200], other[4600], tmp[256], tmp_elsewhere[4600];
    path_in(victim, sizeof victim, dir, "victim.npy");
    make_victim(victim);
    find_tmp(dir, tmp, sizeof tmp);

    rewrite_data_line(dir, victim, 0); /* not resealed: a damaged line */
    expect_resume_refused(dir, "checksum");
    expect_victim_intact(victim);

    rewrite_data_line(dir, victim, 1); /* resealed: the path check must catch it */
    expect_resume_refused(dir, "not named like a temporary");
    expect_victim_intact(victim);

    /* Named like a temporary of out.npy, but in another folder. */
    path_in(sub, sizeof sub, dir, "sub");
    cr_assert_eq(mkdir(sub, 0755), 0);
    snprintf(tmp_elsewhere, sizeof tmp_elsewhere, "%s/%s", sub, tmp);
    make_victim(tmp_elsewhere);
    rewrite_data_line(dir, tmp_elsewhere, 1);
    expect_resume_refused(dir, "not in the folder");
    expect_victim_intact(tmp_elsewhere);

    /* --force starts over and removes only a temporary of out.npy: never the file an edited journal names. */
    snprintf(other, sizeof other, "%s/%s", dir, tmp);
    rewrite_data_line(dir, victim, 1);
    char *err;
    int rc = tq(dir, &err, RUN " --force");
    cr_assert_eq(rc, 0, "%s", err);
    free(err);
    expect_victim_intact(victim);
    expect_victim_intact(tmp_elsewhere);
    tq_rmtree(dir);
    free(dir);
}

Test(resume, link_planted_at_the_temporary_is_refused)
{
    char *dir = interrupted_run(), victim[4200], tmp[256], tpath[4400];
    path_in(victim, sizeof victim, dir, "victim.npy");
    make_victim(victim);
    find_tmp(dir, tmp, sizeof tmp);
    snprintf(tpath, sizeof tpath, "%s/%s", dir, tmp);

    cr_assert_eq(unlink(tpath), 0);
    cr_assert_eq(symlink(victim, tpath), 0);
    expect_resume_refused(dir, "symbolic link");
    expect_victim_intact(victim);

    cr_assert_eq(unlink(tpath), 0);
    cr_assert_eq(link(victim, tpath), 0);
    expect_resume_refused(dir, "hard links");
    expect_victim_intact(victim);
    tq_rmtree(dir);
    free(dir);
}

/* Every cut and many single-bit flips of a real journal, read back for --resume: an error with a message, or (a cut
 * at a line end, a flip in a torn last line) a prefix of the blocks it held; never a crash, never another block. */
Test(resume, truncated_or_flipped_journal_is_refused_never_misread)
{
    char *dir = interrupted_run(), jpath[4200], copy[4300], in[4200];
    path_in(jpath, sizeof jpath, dir, "out.npy.journal");
    path_in(in, sizeof in, dir, "in.npy");
    snprintf(copy, sizeof copy, "%s.copy", jpath);
    size_t len = 0;
    char *orig = tq_slurp(jpath, &len);
    cr_assert_not_null(orig);
    /* The key is whatever the run wrote on its first line, without its checksum. */
    char key[4096];
    const char *nl = strchr(orig, '\n');
    cr_assert_not_null(nl);
    snprintf(key, sizeof key, "%.*s", (int)(nl - orig - 10 - 17), orig + 17);

    struct tq_err err = {0};
    tq_journal *j = NULL;
    cr_assert_eq(tq_journal_open(jpath, key, NULL, in, 1, &j, &err), TQ_OK, "%s", err.msg);
    size_t nboxes = tq_journal_count(j);
    cr_assert_eq(nboxes, 2);
    struct tq_box boxes[2] = {*tq_journal_box(j, 0), *tq_journal_box(j, 1)};
    char data[4200];
    snprintf(data, sizeof data, "%s", tq_journal_data(j));
    tq_journal_free(j);

    int refused = 0, accepted = 0;
    for (size_t variant = 0; variant < len + 8 * len; variant++) {
        char *buf = malloc(len);
        memcpy(buf, orig, len);
        size_t n = len;
        if (variant < len)
            n = variant; /* cut */
        else
            buf[(variant - len) / 8] ^= (char)(1u << ((variant - len) % 8)); /* flip */
        FILE *f = fopen(copy, "w");
        cr_assert_not_null(f);
        cr_assert_eq(fwrite(buf, 1, n, f), n);
        fclose(f);
        free(buf);
        struct tq_err e = {0};
        tq_status st = tq_journal_open(copy, key, NULL, in, 1, &j, &e);
        if (st != TQ_OK) {
            cr_assert(e.msg[0], "variant %zu refused without a message", variant);
            refused++;
            continue;
        }
        accepted += variant >= len;
        cr_assert_leq(tq_journal_count(j), nboxes);
        for (size_t i = 0; i < tq_journal_count(j); i++)
            cr_assert(!memcmp(tq_journal_box(j, i), &boxes[i], sizeof boxes[i]), "variant %zu misread block %zu",
                      variant, i);
        cr_assert(!tq_journal_data(j) || !strcmp(tq_journal_data(j), data), "variant %zu misread the data path",
                  variant);
        tq_journal_free(j);
    }
    /* Only a flip of the final newline (the last line then reads as torn) may be accepted. */
    cr_assert_leq(accepted, 8, "%d single-bit flips were accepted (%d variants refused)", accepted, refused);

    /* And through the command line: a flipped bit in a done line is a clear refusal, exit 2. */
    char *flipped = tq_slurp(jpath, NULL);
    char *done = strstr(flipped, "\ndone ");
    cr_assert_not_null(done);
    done[7] ^= 1;
    FILE *f = fopen(jpath, "w");
    fputs(flipped, f);
    fclose(f);
    free(flipped);
    expect_resume_refused(dir, "corrupt journal line");
    free(orig);
    tq_rmtree(dir);
    free(dir);
}
