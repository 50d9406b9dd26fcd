/* test_volume_errors.c - bad volumes and bad requests: each fails with its status and a clear message, and
 * `traceq synth` exits 2 leaving no file (final or temporary) behind. */
#include <dirent.h>
#include <unistd.h>

#include "volume_test.h"

/* Entries in dir other than . and .. */
static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

/* Opening path must fail with status st and a message containing `words`. */
static void open_fails(const char *path, tq_status st, const char *words)
{
    struct tq_err err = {0};
    tq_vol_reader *r = (tq_vol_reader *)1;
    cr_assert_eq(tq_vol_reader_open(path, &r, &err), st, "%s: got status %d (%s)", path, err.status, err.msg);
    cr_assert_null(r);
    cr_assert(strstr(err.msg, words), "%s: message '%s' lacks '%s'", path, err.msg, words);
}

static void write_bytes(const char *path, const char *bytes, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fwrite(bytes, 1, n, f);
    fclose(f);
}

Test(volume_errors, missing_unknown_and_not_a_volume)
{
    char *dir = tq_tmpdir(), p[4200];
    snprintf(p, sizeof p, "%s/missing.segy", dir);
    open_fails(p, TQ_ERR_IO, "cannot open");
    snprintf(p, sizeof p, "%s/missing.npy", dir);
    open_fails(p, TQ_ERR_IO, "No such file");
    open_fails("volume.txt", TQ_ERR_USAGE, "unknown volume format");
    char junk[5000];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (char)('a' + i % 26);
    snprintf(p, sizeof p, "%s/text.segy", dir);
    write_bytes(p, junk, sizeof junk);
    open_fails(p, TQ_ERR_FORMAT, "not a SEG-Y");
    snprintf(p, sizeof p, "%s/short.sgy", dir);
    write_bytes(p, junk, 100);
    open_fails(p, TQ_ERR_FORMAT, "not a SEG-Y");
    snprintf(p, sizeof p, "%s/text.npy", dir);
    write_bytes(p, junk, sizeof junk);
    open_fails(p, TQ_ERR_FORMAT, "not a .npy");
    tq_rmtree(dir);
    free(dir);
}

/* Cut `cut` bytes off the end of a file we wrote. */
static void make_truncated(const char *path, const size_t shape[3], off_t cut)
{
    struct tq_err err = {0};
    size_t n = shape[0] * shape[1] * shape[2];
    float *v = calloc(n, sizeof *v);
    tq_vol_writer *w = NULL;
    cr_assert_eq(tq_vol_writer_create(path, shape, 0, NULL, &w, &err), TQ_OK, "%s", err.msg);
    struct tq_box all = {{0, 0, 0}, {shape[0], shape[1], shape[2]}};
    cr_assert_eq(tq_vol_write_box(w, &all, v, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(tq_vol_writer_commit(w, &err), TQ_OK, "%s", err.msg);
    tq_vol_writer_free(w);
    free(v);
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    cr_assert_eq(truncate(path, size - cut), 0);
}

Test(volume_errors, truncated_files)
{
    char *dir = tq_tmpdir(), p[4200];
    const size_t shape[3] = {4, 5, 30};
    snprintf(p, sizeof p, "%s/cut.segy", dir);
    make_truncated(p, shape, 77);
    open_fails(p, TQ_ERR_TRUNCATED, "truncated SEG-Y");
    snprintf(p, sizeof p, "%s/headers-only.segy", dir);
    make_truncated(p, shape, (off_t)(4 * 5 * (240 + 30 * 4)));
    open_fails(p, TQ_ERR_TRUNCATED, "truncated SEG-Y");
    snprintf(p, sizeof p, "%s/one-trace-short.segy", dir);
    make_truncated(p, shape, 240 + 30 * 4);
    open_fails(p, TQ_ERR_FORMAT, "truncated by whole traces");
    snprintf(p, sizeof p, "%s/cut.npy", dir);
    make_truncated(p, shape, 4);
    open_fails(p, TQ_ERR_TRUNCATED, "truncated .npy");
    tq_rmtree(dir);
    free(dir);
}

/* numpy-written files we must refuse: other dtypes, Fortran order, empty axes, not 3-D. */
Test(volume_errors, unsupported_npy_contents)
{
    struct { const char *dtype, *shape, *order; tq_status st; const char *words; } cases[] = {
        {"i4", "3x4x5", "C", TQ_ERR_FORMAT, "unsupported .npy dtype '<i4'"},
        {"f2", "3x4x5", "C", TQ_ERR_FORMAT, "unsupported .npy dtype '<f2'"},
        {"c8", "3x4x5", "C", TQ_ERR_FORMAT, "dtype"},
        {"f4", "3x4x5", "F", TQ_ERR_FORMAT, "Fortran order"},
        {"f4", "3x0x5", "C", TQ_ERR_RANGE, "empty"},
        {"f8", "12x5", "C", TQ_ERR_FORMAT, "2 dimensions"},
        {"f4", "2x3x4x5", "C", TQ_ERR_FORMAT, "4 dimensions"},
    };
    char *dir = tq_tmpdir(), p[4200], raw[4200];
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        snprintf(p, sizeof p, "%s/case%zu.npy", dir, c);
        snprintf(raw, sizeof raw, "%s/case%zu.raw", dir, c);
        cr_assert_eq(vt_oracle("npy-write '%s' '%s' %s %s 1 %s", p, raw, cases[c].dtype, cases[c].shape,
                               cases[c].order), 0);
        open_fails(p, cases[c].st, cases[c].words);
    }
    tq_rmtree(dir);
    free(dir);
}

Test(volume_errors, boxes_outside_the_volume)
{
    const size_t shape[3] = {4, 5, 6};
    struct tq_box bad[] = {
        {{0, 0, 0}, {5, 5, 6}}, {{0, 0, 0}, {4, 6, 6}}, {{0, 0, 0}, {4, 5, 7}},
        {{2, 0, 0}, {2, 5, 6}}, {{3, 0, 0}, {1, 5, 6}},
    };
    char *dir = tq_tmpdir(), p[4200];
    snprintf(p, sizeof p, "%s/v.npy", dir);
    make_truncated(p, shape, 0);
    struct tq_err err = {0};
    tq_vol_reader *r = NULL;
    cr_assert_eq(tq_vol_reader_open(p, &r, &err), TQ_OK, "%s", err.msg);
    float buf[4 * 5 * 7];
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        cr_assert_eq(tq_vol_read_box(r, &bad[b], buf, &err), TQ_ERR_RANGE);
        cr_assert(strstr(err.msg, "outside the volume 4x5x6"), "%s", err.msg);
        cr_assert_eq(tq_synth_box(shape, 1, &bad[b], buf, &err), TQ_ERR_RANGE);
    }
    tq_vol_reader_free(r);
    tq_rmtree(dir);
    free(dir);
}

Test(volume_errors, writer_never_clobbers_and_cleans_up)
{
    char *dir = tq_tmpdir(), p[4200];
    struct tq_err err = {0};
    tq_vol_writer *w = NULL;
    snprintf(p, sizeof p, "%s/v.segy", dir);
    cr_assert_eq(tq_vol_writer_create(p, (size_t[]){0, 3, 3}, 0, NULL, &w, &err), TQ_ERR_RANGE);
    cr_assert_eq(tq_vol_writer_create(p, (size_t[]){2, 2, 40000}, 0, NULL, &w, &err), TQ_ERR_RANGE);
    cr_assert(strstr(err.msg, "32767"), "%s", err.msg);
    cr_assert_eq(dir_entries(dir), 0, "a failed create left a file");
    cr_assert_eq(tq_vol_writer_create(p, (size_t[]){2, 2, 4}, 0, NULL, &w, &err), TQ_OK, "%s", err.msg);
    cr_assert_eq(dir_entries(dir), 1);
    tq_vol_writer_free(w); /* not committed: the temporary goes */
    cr_assert_eq(dir_entries(dir), 0, "an uncommitted writer left its temporary file");
    write_bytes(p, "keep", 4);
    cr_assert_eq(tq_vol_writer_create(p, (size_t[]){2, 2, 4}, 0, NULL, &w, &err), TQ_ERR_USAGE);
    cr_assert(strstr(err.msg, "already exists"), "%s", err.msg);
    /* the file appears between create and commit: commit must still refuse */
    snprintf(p, sizeof p, "%s/late.npy", dir);
    cr_assert_eq(tq_vol_writer_create(p, (size_t[]){2, 2, 4}, 0, NULL, &w, &err), TQ_OK, "%s", err.msg);
    write_bytes(p, "late", 4);
    cr_assert_eq(tq_vol_writer_commit(w, &err), TQ_ERR_USAGE);
    tq_vol_writer_free(w);
    size_t len = 0;
    char *kept = tq_slurp(p, &len);
    cr_assert(len == 4 && !memcmp(kept, "late", 4), "commit clobbered a file without overwrite");
    free(kept);
    cr_assert_eq(dir_entries(dir), 2, "temporary files were left behind");
    tq_rmtree(dir);
    free(dir);
}

/* Run `traceq synth ARGS` (cwd = dir); check the exit code and that stderr holds `words`. */
static void synth_cli(const char *dir, int code, const char *words, const char *args)
{
    char cmd[8192], *out = NULL, *err = NULL;
    snprintf(cmd, sizeof cmd, "cd '%s' && %s synth %s", dir, tq_build_path("traceq"), args);
    int rc = tq_run(cmd, &out, &err);
    cr_assert_eq(rc, code, "'synth %s' exited %d: %s", args, rc, err);
    if (words)
        cr_assert(strstr(code ? err : out, words), "'synth %s': output lacks '%s': %s%s", args, words, out, err);
    free(out);
    free(err);
}

Test(volume_errors, synth_cli_bad_input_exits_2_and_leaves_nothing)
{
    char *dir = tq_tmpdir();
    synth_cli(dir, 2, "missing -o", "--shape 4x4x4");
    synth_cli(dir, 2, "shape", "--shape 0x4x4 -o v.npy");
    synth_cli(dir, 2, "shape", "--shape 4x4 -o v.npy");
    synth_cli(dir, 2, "seed", "--seed -3 -o v.npy");
    synth_cli(dir, 2, "unknown", "--frobnicate -o v.npy");
    synth_cli(dir, 2, "unknown volume format", "-o v.txt");
    synth_cli(dir, 2, "32767", "--shape 2x2x40000 -o v.segy");
    synth_cli(dir, 2, "cannot create", "--shape 2x2x4 -o no/such/dir/v.npy");
    cr_assert_eq(dir_entries(dir), 0, "a failed synth left a file behind");
    synth_cli(dir, 0, NULL, "--shape 2x3x4 -o v.npy");
    synth_cli(dir, 2, "already exists", "--shape 2x3x4 --seed 2 -o v.npy");
    synth_cli(dir, 0, NULL, "--shape 2x3x4 --seed 2 -o v.npy --force");
    cr_assert_eq(dir_entries(dir), 1);
    synth_cli(dir, 0, "[Default: 200x200x400]", "--help");
    tq_rmtree(dir);
    free(dir);
}

/* Killed half-way, `traceq synth` removes its temporary and dies of the signal. */
Test(volume_errors, synth_killed_leaves_nothing)
{
    char *dir = tq_tmpdir(), cmd[8192], *out = NULL;
    /* 600x600x400 takes seconds; the kill comes after 0.5 s, once the temporary exists and is being filled */
    snprintf(cmd, sizeof cmd, "cd '%s' && { %s synth --shape 600x600x400 -o big.npy & pid=$!; sleep 0.5; "
             "ls -a | grep -c tmp; kill -TERM $pid; wait $pid; echo status=$?; }", dir, tq_build_path("traceq"));
    cr_assert_eq(tq_run(cmd, &out, NULL), 0);
    cr_assert(strstr(out, "1\nstatus=143"), "the temporary did not exist mid-run or the exit was not SIGTERM: %s",
              out);
    cr_assert_eq(dir_entries(dir), 0, "a killed synth left a file behind");
    free(out);
    tq_rmtree(dir);
    free(dir);
}
