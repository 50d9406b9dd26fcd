/* cmdjob.c - the work of one runner worker for a user's command: input box to a temporary .npy, the command,
 * checks of its output, the core into the shared output (see cmdjob.h). */
#define _GNU_SOURCE
#include "cmdjob.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/alloc.h"
#include "../common/process.h"

#define COPY_SLAB_BYTES ((size_t)16 << 20) /* boxes are copied in slabs of inlines of at most this size */
#define TAIL_LINES 4                       /* lines of the command's output quoted in a failure */

static const char *const tmp_kinds[] = {"in.npy", "out.npy", "log"};

/* Remove every blk-* file in dir (leftovers of killed workers or a killed run). */
static void remove_blk_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (!strncmp(de->d_name, "blk-", 4) || !strncmp(de->d_name, ".blk-", 5) ||
            !strncmp(de->d_name, ".traceq-", 8))
            unlinkat(dirfd(d), de->d_name, 0);
    if (d)
        closedir(d);
}

tq_status tq_cmdjob_tmpdir_open(struct tq_cmdjob *job, const char *output, struct tq_err *err)
{
    if ((size_t)snprintf(job->tmpdir, sizeof job->tmpdir, "%s.cmdtmp", output) >= sizeof job->tmpdir)
        return tq_fail(err, TQ_ERR_IO, "output path too long: %s", output);
    struct stat sb;
    if (lstat(job->tmpdir, &sb) == 0) {
        if (!S_ISDIR(sb.st_mode) || sb.st_uid != geteuid())
            return tq_fail(err, TQ_ERR_IO, "%s exists and is not this user's directory of temporaries; remove it",
                           job->tmpdir);
        remove_blk_files(job->tmpdir); /* a killed runner's leftovers */
        if (chmod(job->tmpdir, 0700))
            return tq_fail_errno(err, TQ_ERR_IO, "cannot make %s private", job->tmpdir);
        return TQ_OK;
    }
    if (mkdir(job->tmpdir, 0700))
        return tq_fail_errno(err, TQ_ERR_IO, "cannot create the directory of temporaries %s", job->tmpdir);
    return TQ_OK;
}

void tq_cmdjob_tmpdir_close(struct tq_cmdjob *job)
{
    if (!job->tmpdir[0])
        return;
    remove_blk_files(job->tmpdir);
    rmdir(job->tmpdir);
    job->tmpdir[0] = 0;
}

static void tmp_path(const struct tq_cmdjob *job, pid_t pid, int kind, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/blk-%ld.%s", job->tmpdir, (long)pid, tmp_kinds[kind]);
}

void tq_cmdjob_reaped(void *ctx, pid_t pid)
{
    const struct tq_cmdjob *job = ctx;
    char path[4200];
    for (int k = 0; k < 3; k++) {
        tmp_path(job, pid, k, path, sizeof path);
        unlink(path);
    }
}

/* Copy box `from` of r into box `to` (same extents) of w, a slab of inlines at a time. */
static tq_status copy_box(tq_vol_reader *r, const struct tq_box *from, tq_vol_writer *w, const struct tq_box *to,
                          struct tq_err *err)
{
    size_t plane = tq_box_len(from, 1) * tq_box_len(from, 2) * sizeof(float);
    size_t step = COPY_SLAB_BYTES / plane ? COPY_SLAB_BYTES / plane : 1;
    if (step > tq_box_len(from, 0))
        step = tq_box_len(from, 0);
    float *buf = tq_malloc(step * plane);
    if (!buf)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory for a copy slab of %zu bytes", step * plane);
    tq_status st = TQ_OK;
    for (size_t i = 0; !st && i < tq_box_len(from, 0); i += step) {
        size_t n = tq_box_len(from, 0) - i < step ? tq_box_len(from, 0) - i : step;
        struct tq_box f = *from, t = *to;
        f.lo[0] = from->lo[0] + i;
        f.hi[0] = f.lo[0] + n;
        t.lo[0] = to->lo[0] + i;
        t.hi[0] = t.lo[0] + n;
        st = tq_vol_read_box(r, &f, buf, err);
        if (!st)
            st = tq_vol_write_box(w, &t, buf, err);
    }
    free(buf);
    return st;
}

/* Write input box `in` of the job's input volume to path as a float32 C-order .npy. */
static tq_status write_input(const struct tq_cmdjob *job, const struct tq_box *in, const char *path,
                             struct tq_err *err)
{
    tq_vol_reader *r = NULL;
    tq_vol_writer *w = NULL;
    size_t shape[3] = {tq_box_len(in, 0), tq_box_len(in, 1), tq_box_len(in, 2)};
    struct tq_box whole = {{0, 0, 0}, {shape[0], shape[1], shape[2]}};
    tq_status st = tq_vol_reader_open(job->input, &r, err);
    if (!st)
        st = tq_vol_writer_create(path, shape, 0, NULL, &w, err);
    if (!st)
        st = copy_box(r, in, w, &whole, err);
    if (!st)
        st = tq_vol_writer_commit(w, err);
    tq_vol_writer_free(w);
    tq_vol_reader_free(r);
    return st;
}

/* The last TAIL_LINES non-empty lines of the log, joined by " | ", into buf. */
static void log_tail(const char *path, char *buf, size_t cap)
{
    char lines[TAIL_LINES][200], line[200];
    int n = 0;
    FILE *f = fopen(path, "r");
    buf[0] = 0;
    while (f && fgets(line, sizeof line, f)) {
        size_t l = strlen(line);
        int whole = l && line[l - 1] == '\n';
        line[strcspn(line, "\r\n")] = 0;
        if (line[0])
            snprintf(lines[n++ % TAIL_LINES], sizeof lines[0], "%s", line);
        while (!whole && fgets(line, sizeof line, f)) /* skip the rest of an overlong line */
            whole = strchr(line, '\n') != NULL;
    }
    if (f)
        fclose(f);
    int first = n > TAIL_LINES ? n - TAIL_LINES : 0;
    for (int i = first; i < n; i++) {
        size_t l = strlen(buf);
        snprintf(buf + l, cap - l, "%s%s", i > first ? " | " : "", lines[i % TAIL_LINES]);
    }
}

/* Run the command on in_path -> out_path, its output to log_path. */
static tq_status run_command(const struct tq_cmdjob *job, const char *in_path, const char *out_path,
                             const char *log_path, const struct tq_box *in, struct tq_err *err)
{
    static const char *const names[] = {"in", "out"};
    const char *values[] = {in_path, out_path};
    char **argv = NULL;
    TQ_TRY(tq_ucmd_expand(job->cmd, names, values, 2, &argv, err));
    struct tq_proc_spec spec = {.argv = argv, .log_path = log_path, .null_stdin = 1, .die_with_parent = 1};
    struct tq_proc_result res;
    tq_status st = tq_proc_run(&spec, 0, NULL, NULL, &res, err);
    tq_ucmd_argv_free(argv);
    unlink(in_path); /* the input is not needed any more, whatever happened */
    if (st)
        return st;
    if (tq_proc_killed_by(res.status) == SIGKILL) {
        /* The command was killed (by the cgroup's OOM killer when it outgrew the limit): die the same way so the
         * runner counts an OOM kill (or a crash rerun when none was counted) exactly as for a built-in block. */
        unlink(log_path);
        unlink(out_path);
        raise(SIGKILL);
    }
    if (res.code) {
        char tail[300], how[160], desc[128];
        log_tail(log_path, tail, sizeof tail);
        if (tq_proc_killed_by(res.status))
            snprintf(how, sizeof how, "was %s", tq_proc_describe(res.status, desc, sizeof desc));
        else
            snprintf(how, sizeof how, "exited with status %d", res.code);
        return tq_fail(err, TQ_ERR_CHILD, "the command (input box %zux%zux%zu) %s%s%s", tq_box_len(in, 0),
                       tq_box_len(in, 1), tq_box_len(in, 2), how,
                       tail[0] ? "; its last output: " : "; it printed nothing", tail);
    }
    return TQ_OK;
}

/* Check the command's output and copy the block's core from it into the job's output. */
static tq_status take_output(const struct tq_cmdjob *job, const struct tq_box *in, const struct tq_box *out,
                             const char *out_path, struct tq_err *err)
{
    size_t trim = job->params.cmd_trim, want[3], got[3];
    for (int a = 0; a < 3; a++)
        want[a] = tq_box_len(in, a) - 2 * trim;
    if (access(out_path, F_OK))
        return tq_fail(err, TQ_ERR_FORMAT, "the command exited 0 but wrote no output file ({out})");
    tq_vol_reader *r = NULL;
    struct tq_err rerr = {0};
    if (tq_vol_reader_open(out_path, &r, &rerr))
        return tq_fail(err, TQ_ERR_FORMAT, "the command's output is not a readable float32 .npy: %s", rerr.msg);
    tq_vol_reader_shape(r, got);
    tq_status st = TQ_OK;
    if (tq_vol_reader_sample_bytes(r) != sizeof(float))
        st = tq_fail(err, TQ_ERR_FORMAT, "the command wrote float%zu samples; traceq needs float32 ('<f4')",
                     8 * tq_vol_reader_sample_bytes(r));
    else if (memcmp(got, want, sizeof got))
        st = tq_fail(err, TQ_ERR_FORMAT, "the command wrote shape %zux%zux%zu for an input of %zux%zux%zu; expected "
                     "%zux%zux%zu (the input minus --trim %zu per face)", got[0], got[1], got[2], tq_box_len(in, 0),
                     tq_box_len(in, 1), tq_box_len(in, 2), want[0], want[1], want[2], trim);
    /* Output voxel k of the command is output voxel in.lo + k of the whole run (both are shifted by the trim). */
    struct tq_box core;
    for (int a = 0; a < 3; a++) {
        core.lo[a] = out->lo[a] - in->lo[a];
        core.hi[a] = out->hi[a] - in->lo[a];
    }
    if (!st)
        st = copy_box(r, &core, job->writer, out, err);
    tq_vol_reader_free(r);
    return st;
}

tq_status tq_cmdjob_block(void *ctx, const struct tq_box *out, struct tq_err *err)
{
    const struct tq_cmdjob *job = ctx;
    struct tq_box in;
    char in_path[4200], out_path[4200], log_path[4200];
    pid_t me = getpid();
    tq_op_input_box(job->op, &job->params, job->in_shape, out, &in);
    tmp_path(job, me, 0, in_path, sizeof in_path);
    tmp_path(job, me, 1, out_path, sizeof out_path);
    tmp_path(job, me, 2, log_path, sizeof log_path);
    tq_status st = write_input(job, &in, in_path, err);
    if (!st)
        st = run_command(job, in_path, out_path, log_path, &in, err);
    if (!st)
        st = take_output(job, &in, out, out_path, err);
    unlink(in_path);
    unlink(out_path);
    unlink(log_path);
    return st;
}
