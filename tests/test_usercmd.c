/* test_usercmd.c - users' own commands through `traceq run --cmd`: the Python (SciPy) and C example operators run
 * chunked equal their whole-volume runs bit for bit; a command that fails, writes nothing, or writes the wrong
 * shape or dtype fails its block with a message naming the block and quoting its output (no retry); one that
 * outgrows the limit is OOM-killed and split; a killed worker's and a killed runner's temporaries are removed;
 * template, halo and trim mistakes are usage errors (exit 2). Also the template parser itself. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../operators/usercmd.h"
#include "helpers.h"

static int exists(const char *dir, const char *name)
{
    char p[4200];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return lstat(p, &sb) == 0;
}

static char *setup(const char *shape)
{
    char *dir = tq_tmpdir();
    cr_assert_eq(tq_traceq_in(dir, NULL, NULL, "synth --shape %s --seed 3 -o in.npy", shape), 0);
    return dir;
}

Test(usercmd, template_words_quotes_and_placeholders)
{
    struct tq_ucmd u;
    struct tq_err err = {0};
    cr_assert_eq(tq_ucmd_parse("prog  'a b' \"c \\\"d\\\"\" x\\ y --in={in} {{lit}} {out}", &u, &err), TQ_OK, "%s",
                 err.msg);
    cr_assert_eq(u.nwords, 7);
    cr_assert_str_eq(u.words[1], "a b");
    cr_assert_str_eq(u.words[2], "c \"d\"");
    cr_assert_str_eq(u.words[3], "x y");
    cr_assert_eq(u.nnames, 2);
    static const char *const names[] = {"in", "out"};
    const char *vals[] = {"/t/i.npy", "/t/o.npy"};
    cr_assert_eq(tq_ucmd_check_names(&u, names, 2, 1, &err), TQ_OK);
    char **argv;
    cr_assert_eq(tq_ucmd_expand(&u, names, vals, 2, &argv, &err), TQ_OK);
    cr_assert_str_eq(argv[4], "--in=/t/i.npy");
    cr_assert_str_eq(argv[5], "{lit}");
    cr_assert_str_eq(argv[6], "/t/o.npy");
    cr_assert_null(argv[7]);
    tq_ucmd_argv_free(argv);
    tq_ucmd_free(&u);

    const char *bad[] = {"", "   ", "prog 'open", "prog \"open", "prog {in", "prog in}", "prog {}", "prog {1x}",
                         "prog {a-b}", "prog \\"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_assert_eq(tq_ucmd_parse(bad[i], &u, &err), TQ_ERR_USAGE, "accepted '%s'", bad[i]);
        tq_ucmd_free(&u);
    }
    size_t h[3];
    cr_assert_eq(tq_ucmd_parse_halo("2", h, &err), TQ_OK);
    cr_assert(h[0] == 2 && h[1] == 2 && h[2] == 2);
    cr_assert_eq(tq_ucmd_parse_halo("1,0,whole", h, &err), TQ_OK);
    cr_assert(h[0] == 1 && h[1] == 0 && h[2] == TQ_HALO_WHOLE);
    cr_assert_eq(tq_ucmd_default_axes(h), 3u);
    unsigned axes;
    cr_assert_eq(tq_ucmd_parse_axes("0,2", h, &axes, &err), TQ_ERR_USAGE); /* axis 2 is whole */
    cr_assert_eq(tq_ucmd_parse_axes("1", h, &axes, &err), TQ_OK);
    cr_assert_eq(axes, 2u);
    const char *badhalo[] = {"", "x", "1,2", "1,2,3,4", "-1", "1,,2", "2.5"};
    for (size_t i = 0; i < sizeof badhalo / sizeof *badhalo; i++)
        cr_assert_eq(tq_ucmd_parse_halo(badhalo[i], h, &err), TQ_ERR_USAGE, "accepted halo '%s'", badhalo[i]);
}

/* A number after "key": in a JSON text (-1 when absent). */
static double json_num(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = json ? strstr(json, pat) : NULL;
    return p ? strtod(p + strlen(pat), NULL) : -1;
}

/* The whole pipeline for a command: sweep it on synthetic shapes (grid args), fit, plan `shape` under a memory
 * limit that the model says the whole volume exceeds, run the plan under that limit, compare with the command's
 * whole-volume run. */
static void pipeline(const char *dir, const char *cmd, const char *halo, const char *grid, const char *fitargs,
                     const char *shape)
{
    char *err = NULL, *out = NULL;
    cr_assert_eq(tq_traceq_in(dir, NULL, &err, "sweep --cmd %s %s --runs 1 -o ds.csv", cmd, grid), 0, "sweep: %s", err);
    free(err);
    cr_assert_eq(tq_traceq_in(dir, NULL, &err, "fit ds.csv %s -o m.json", fitargs), 0, "fit: %s", err);
    free(err);
    cr_assert_eq(tq_traceq_in(dir, &out, &err, "predict --model m.json --shape %s --json", shape), 0, "%s", err);
    double whole = json_num(out, "bound");
    cr_assert(whole > 0, "%s", out);
    free(out);
    free(err);
    /* The limit is 90% of the whole volume's bound, all of which a block may use: the whole cannot be one block. */
    long limit = (long)(0.9 * whole);
    cr_assert_eq(tq_traceq_in(dir, NULL, &err, "plan --model m.json --shape %s --memory %ld --safety 1 --workers 2 --halo %s "
                    "-o p.json",
                    shape, limit, halo), 0, "plan: %s", err);
    free(err);
    char p[4200];
    snprintf(p, sizeof p, "%s/p.json", dir);
    char *plan = tq_slurp(p, NULL);
    cr_assert(plan && strstr(plan, "\"op\": \"cmd\"") && strstr(plan, "\"halo\": "), "%s", plan);
    int blocks = 0;
    for (const char *b = strstr(plan, "\"lo\""); b; b = strstr(b + 1, "\"lo\""))
        blocks++;
    cr_assert(blocks >= 2, "the plan has a single block: %s", plan);
    free(plan);
    cr_assert_eq(tq_traceq_in(dir, &out, &err, "run --cmd %s --halo %s --plan p.json --input in.npy --output blocks.npy "
                    "--workers 2 --retries 4 --json", cmd, halo), 0, "run: %s %s", out, err);
    cr_assert(json_num(out, "memory_per_worker_bytes") == (double)limit, "%s", out);
    free(out);
    free(err);
    cr_assert_eq(tq_traceq_in(dir, NULL, &err, "run --cmd %s --halo %s --input in.npy --output whole.npy --chunks none", cmd,
                    halo), 0, "%s", err);
    free(err);
    cr_assert(tq_same_file_in(dir, "whole.npy", "blocks.npy"), "%s: chunked output differs from the whole run", cmd);
    cr_assert(!exists(dir, "blocks.npy.cmdtmp"), "temporaries left behind");
}

/* The Python (SciPy) example: swept, fitted, planned and run under a limit the whole volume exceeds. */
Test(usercmd, python_operator_swept_fitted_planned_and_run, .timeout = 240)
{
    char *dir = tq_tmpdir();
    cr_assert_eq(tq_traceq_in(dir, NULL, NULL, "synth --shape 240x80x80 --seed 3 -o in.npy"), 0);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s %s {in} {out}'", tq_python(), tq_src_path("examples/mean5.py"));
    pipeline(dir, cmd, "2", "--grid-inlines 30:240:70 --grid-xlines 80 --grid-samples 80", "--folds 4 --kind linear",
             "240x80x80");
    tq_rmtree(dir);
    free(dir);
}

/* The C example, the same way, on a grid of shapes. */
Test(usercmd, c_operator_swept_fitted_planned_and_run, .timeout = 240)
{
    char *dir = tq_tmpdir();
    cr_assert_eq(tq_traceq_in(dir, NULL, NULL, "synth --shape 200x100x100 --seed 3 -o in.npy"), 0);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s {in} {out}'", tq_build_path("examples/laplace3"));
    pipeline(dir, cmd, "1", "--grid-inlines 25:100:25 --grid-xlines 50:100:50 --grid-samples 100", "", "200x100x100");
    tq_rmtree(dir);
    free(dir);
}

/* --param sweeps of a program with two parameters: a dataset with their columns, a model of them, --set. */
Test(usercmd, param_sweep_fit_and_predict, .timeout = 120)
{
    char *dir = tq_tmpdir(), *err = NULL, *out = NULL;
    const char *prog = tq_build_path("progs/rows_cols");
    cr_assert_eq(tq_traceq_in(dir, NULL, &err, "sweep --cmd '%s --rows {rows} --cols {cols}' --param rows=1000:64000:x4 "
                    "--param cols=10:40:10 --runs 1 -o p.csv", prog), 0, "%s", err);
    free(err);
    char p[4200];
    snprintf(p, sizeof p, "%s/p.csv", dir);
    char *csv = tq_slurp(p, NULL);
    cr_assert(csv && !strncmp(csv, "op,rows,cols,_,product,run,status,", 34), "%s", csv);
    cr_assert(strstr(csv, "\ncmd,64000,40,1,2560000,1,ok,"), "%s", csv); /* 1000 x4 x4 x4 = 64000 */
    free(csv);
    /* Resumable: a rerun does nothing. */
    cr_assert_eq(tq_traceq_in(dir, &out, NULL, "sweep --cmd '%s --rows {rows} --cols {cols}' --param rows=1000:64000:x4 "
                    "--param cols=10:40:10 --runs 1 -o p.csv", prog), 0);
    cr_assert(strstr(out, "0 runs done (0 failed), 16 already in p.csv"), "%s", out);
    free(out);
    /* the exact heap peak: sampled RSS on a loaded machine is too noisy to extrapolate 7.8x within 15% */
    cr_assert_eq(tq_traceq_in(dir, NULL, &err, "fit p.csv --target peak_heap_bytes -o m.json"), 0, "%s", err);
    free(err);
    snprintf(p, sizeof p, "%s/m.json", dir);
    char *model = tq_slurp(p, NULL);
    const char *axes = model ? strstr(model, "\"axes\"") : NULL;
    cr_assert(axes && strstr(axes, "\"rows\"") && strstr(axes, "\"cols\"") && strstr(axes, "\"_\""), "%s", model);
    free(model);
    cr_assert_eq(tq_traceq_in(dir, &out, &err, "predict --model m.json --set rows=500000,cols=40 --json"), 0, "%s", err);
    /* 500000 x 40 doubles = 160 MB of table over a small baseline; the model extrapolates 7.8x in rows */
    double pred = json_num(out, "predicted");
    cr_assert(pred > 0.9 * 160e6 && pred < 1.15 * 160e6 + 8e6, "predicted %.0f: %s", pred, out);
    cr_assert(strstr(out, "\"rows\": 500000") && strstr(err, "extrapolating: rows 500000"), "%s %s", out, err);
    free(out);
    free(err);
    const char *bad[][2] = {
        {"predict --model m.json --set rows=5", "missing the parameter cols"},
        {"predict --model m.json --set rows=5,cols=2,depth=3", "no parameter 'depth'"},
        {"predict --model m.json --shape 10x10x10", "give --set rows="},
        {"predict --model m.json --set rows=0,cols=2", "bad value '0'"},
        {"sweep --cmd 'x {rows}' --param rows=1:4:1 --param cols=1:2:1 -o q.csv", "has no {cols}"},
        {"sweep --cmd 'x {rows} {in}' --param rows=1:4:1 -o q.csv", "unknown placeholder {in}"},
        {"sweep --cmd 'x {rows}' --param rows=1:4:x1 -o q.csv", "geometric range"},
        {"sweep --cmd 'x {rows}' --param 9rows=1:4:1 -o q.csv", "bad --param"},
        {"sweep --cmd 'x {in}' -o q.csv", "has no {out}"},
        {"sweep --cmd 'x {in} {out}' --backend proc -o q.csv", "record` only"},
        {"sweep --cmd 'x {rows}' --param rows=1:4 -o p.csv", "columns are rows,cols,_, not rows,_,_"},
        {"sweep --cmd 'y {rows} {cols}' --param rows=1:4 --param cols=1:2 -o p.csv", "another command"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = tq_traceq_in(dir, NULL, &err, "%s", bad[i][0]);
        cr_assert_eq(rc, 2, "%s: rc %d %s", bad[i][0], rc, err);
        cr_assert(strstr(err, bad[i][1]), "%s: expected '%s' in %s", bad[i][0], bad[i][1], err);
        free(err);
    }
    tq_rmtree(dir);
    free(dir);
}

/* The C example, chunked along every axis, equals the whole run; with a trim the core is cut right too. */
Test(usercmd, c_stencil_chunked_equals_whole_with_and_without_trim)
{
    char *dir = setup("30x26x40");
    const char *lap = tq_build_path("examples/laplace3");
    char *err = NULL;
    cr_assert_eq(tq_traceq_in(dir, NULL, &err, "run --cmd '%s {in} {out}' --halo 1 --input in.npy --output w.npy --chunks none",
                    lap), 0, "%s", err);
    free(err);
    cr_assert_eq(tq_traceq_in(dir, NULL, &err, "run --cmd '%s {in} {out}' --halo 1 --input in.npy --output b.npy "
                    "--chunks 7,9,13 --workers 2", lap), 0, "%s", err);
    free(err);
    cr_assert(tq_same_file_in(dir, "w.npy", "b.npy"));
    /* --trim 1: the command drops one voxel per face of what it got; the core is cut from the right place. */
    cr_assert_eq(tq_traceq_in(dir, NULL, &err, "run --cmd '%s --trim 1 {in} {out}' --halo 2 --trim 1 --input in.npy --output "
                    "tw.npy --chunks none", lap), 0, "%s", err);
    free(err);
    cr_assert_eq(tq_traceq_in(dir, NULL, &err, "run --cmd '%s --trim 1 {in} {out}' --halo 2 --trim 1 --input in.npy --output "
                    "tb.npy --chunks 9,8,11", lap), 0, "%s", err);
    free(err);
    cr_assert(tq_same_file_in(dir, "tw.npy", "tb.npy"), "trimmed chunked output differs from the trimmed whole run");
    tq_rmtree(dir);
    free(dir);
}

/* Failures of the command fail the block, once (no retries), with the block and the command's last lines. */
Test(usercmd, failing_commands_fail_their_block_with_a_message)
{
    char *dir = setup("20x10x8");
    tq_write_file(dir, "fail.sh", "#!/bin/sh\necho first line >&2\necho 'it broke here' >&2\nexit 3\n", 0755);
    tq_write_file(dir, "nothing.sh", "#!/bin/sh\nexit 0\n", 0755);
    char shrink[1024], f64[1024];
    snprintf(shrink, sizeof shrink, "#!/bin/sh\nexec '%s' -c 'import sys, numpy as np; np.save(sys.argv[2], "
             "np.load(sys.argv[1])[1:])' \"$1\" \"$2\"\n", tq_python());
    snprintf(f64, sizeof f64, "#!/bin/sh\nexec '%s' -c 'import sys, numpy as np; np.save(sys.argv[2], "
             "np.load(sys.argv[1]).astype(np.float64))' \"$1\" \"$2\"\n", tq_python());
    tq_write_file(dir, "shrink.sh", shrink, 0755);
    tq_write_file(dir, "f64.sh", f64, 0755);
    struct {
        const char *prog, *expect;
    } cases[] = {
        {"./fail.sh", "exited with status 3; its last output: first line | it broke here"},
        {"./nothing.sh", "wrote no output file"},
        {"./shrink.sh", "wrote shape 9x10x8 for an input of 10x10x8; expected 10x10x8"},
        {"./f64.sh", "float64"},
        {"./no-such-program", "cannot run ./no-such-program"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *err = NULL, *out = NULL;
        int rc = tq_traceq_in(dir, &out, &err, "run --cmd '%s {in} {out}' --input in.npy --output o%zu.npy --chunks 10,10,8 "
                    "--workers 1 --json", cases[i].prog, i);
        cr_assert_eq(rc, 1, "%s: rc %d, %s", cases[i].prog, rc, err);
        cr_assert(strstr(err, "block [0:10, 0:10, 0:8] failed"), "%s: %s", cases[i].prog, err);
        cr_assert(strstr(err, cases[i].expect), "%s: expected '%s' in: %s", cases[i].prog, cases[i].expect, err);
        cr_assert(strstr(out, "\"retries\": 0") && strstr(out, "\"crash_retries\": 0"), "%s was retried: %s",
                  cases[i].prog, out);
        char tmp[64];
        snprintf(tmp, sizeof tmp, "o%zu.npy.cmdtmp", i);
        cr_assert(!exists(dir, tmp), "temporaries left by %s", cases[i].prog);
        free(err);
        free(out);
    }
    tq_rmtree(dir);
    free(dir);
}

/* A command that needs more than the limit is OOM-killed (cgroup, or the watchdog summing the worker's process
 * tree) and its block split until the halves fit; the result still equals the whole run. */
Test(usercmd, oom_killed_command_is_split_and_retried, .timeout = 120)
{
    char *dir = setup("64x40x40");
    char hog[1024];
    /* 1000 B per input voxel on top of Python (~45 MiB): 102400 voxels -> ~145 MiB whole, ~95 MiB per half */
    snprintf(hog, sizeof hog, "#!/bin/sh\nexec '%s' -c 'import sys, numpy as np\nx = np.load(sys.argv[1])\npad = "
             "np.ones(x.size * 1000, np.uint8)\nnp.save(sys.argv[2], x * 2)' \"$1\" \"$2\"\n", tq_python());
    tq_write_file(dir, "hog.sh", hog, 0755);
    char *err = NULL, *out = NULL;
    cr_assert_eq(tq_traceq_in(dir, NULL, &err, "run --cmd './hog.sh {in} {out}' --input in.npy --output w.npy --chunks none"), 0,
                 "%s", err);
    free(err);
    /* The watchdog always (it must sum the worker's children: the worker itself stays small), cgroups where
     * they can be made. */
    const char *modes[] = {"watchdog", "cgroup"};
    for (int m = 0; m < (tq_have_cgroups() ? 2 : 1); m++) {
        int rc = tq_traceq_in(dir, &out, &err, "run --cmd './hog.sh {in} {out}' --input in.npy --output b%d.npy --chunks none "
                    "--memory-per-worker 110MiB --retries 4 --workers 1 --enforce %s --json", m, modes[m]);
        cr_assert_eq(rc, 0, "%s: rc %d: %s %s", modes[m], rc, out, err);
        cr_assert(!strstr(out, "\"oom_kills\": 0"), "%s: no OOM kill: %s", modes[m], out);
        cr_assert(!strstr(out, "\"retries\": 0"), "%s: no split: %s", modes[m], out);
        char name[32];
        snprintf(name, sizeof name, "b%d.npy", m);
        cr_assert(tq_same_file_in(dir, "w.npy", name), "%s: split output differs", modes[m]);
        free(err);
        free(out);
    }
    tq_rmtree(dir);
    free(dir);
}

/* A sweep of a command that fails on some shapes records failed rows with their reason and goes on (a command that
 * fails on the first three runs alike stops the sweep: tests/test_sweep_guard.c). */
Test(usercmd, sweep_records_a_failing_command_as_a_failed_row)
{
    char *dir = tq_tmpdir(), *err = NULL, *out = NULL;
    /* inputs over 4000 bytes (any axis of 16: 8x8x16 float32 is 4096 B of data) fail */
    int rc = tq_traceq_in(dir, &out, &err, "sweep --cmd \"sh -c 'test \\$(stat -c %%s \\$1) -lt 4000 || {{ echo no good >&2; exit 3; }}; "
                "cp \\$1 \\$2' sh {in} {out}\" --grid 8:16:8 --runs 1 -o f.csv");
    cr_assert_eq(rc, 0, "%s %s", out, err);
    cr_assert(strstr(out, "8 runs done (7 failed)"), "%s", out);
    free(out);
    free(err);
    char p[4200];
    snprintf(p, sizeof p, "%s/f.csv", dir);
    char *csv = tq_slurp(p, NULL);
    cr_assert(csv && strstr(csv, "\ncmd,16,16,16,4096,1,failed,exit status 3: no good,"), "%s", csv);
    cr_assert(csv && strstr(csv, "\ncmd,8,8,8,512,1,ok,"), "%s", csv);
    cr_assert(strstr(csv, ",sh -c 'test $(stat -c %s $1) -lt 4000 || {{ echo no good >&2; exit 3; }}; cp $1 $2' "
                          "sh {in} {out},"), "%s", csv); /* then charged_peak_bytes, the last column */
    free(csv);
    tq_rmtree(dir);
    free(dir);
}

/* The first blk-PID file in DIR/sub, its PID (0 when none yet). */
static long first_worker(const char *dir, const char *sub)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, sub);
    DIR *d = opendir(p);
    struct dirent *de;
    long pid = 0;
    while (d && (de = readdir(d)) && !pid)
        if (!strncmp(de->d_name, "blk-", 4))
            pid = strtol(de->d_name + 4, NULL, 10);
    if (d)
        closedir(d);
    return pid;
}

static void sleep_ms(long ms)
{
    nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL);
}

/* A worker SIGKILLed while its command runs: the block is rerun, the command dies too, its files go. A runner
 * SIGKILLed mid-run leaves its temporaries; --resume removes them and finishes. */
Test(usercmd, killed_worker_and_runner_leave_no_temporaries, .timeout = 120)
{
    char *dir = setup("20x10x8");
    tq_write_file(dir, "slow.sh", "#!/bin/sh\nsleep 1\nexec cp \"$1\" \"$2\"\n", 0755);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "cd '%s' && exec '%s' run --cmd './slow.sh {in} {out}' --input in.npy --output k.npy "
             "--chunks 10,10,8 --workers 1 --json > k.json 2> k.err", dir, tq_build_path("traceq"));
    pid_t runner = fork();
    if (runner == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    long w = 0;
    for (int i = 0; i < 200 && !(w = first_worker(dir, "k.npy.cmdtmp")); i++)
        sleep_ms(20);
    cr_assert(w > 0, "no worker temporaries appeared");
    sleep_ms(200);
    kill((pid_t)w, SIGKILL);
    int status;
    waitpid(runner, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "runner status %d", status);
    char p[4200];
    snprintf(p, sizeof p, "%s/k.json", dir);
    char *json = tq_slurp(p, NULL);
    cr_assert(json && strstr(json, "\"crash_retries\": 1"), "%s", json);
    free(json);
    cr_assert(tq_same_file_in(dir, "k.npy", "in.npy"));
    cr_assert(!exists(dir, "k.npy.cmdtmp"));

    /* Now kill the runner itself while a command runs. */
    snprintf(cmd, sizeof cmd, "cd '%s' && exec '%s' run --cmd './slow.sh {in} {out}' --input in.npy --output r.npy "
             "--chunks 10,10,8 --workers 1 > r.out 2> r.err", dir, tq_build_path("traceq"));
    runner = fork();
    if (runner == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200 && !first_worker(dir, "r.npy.cmdtmp"); i++)
        sleep_ms(20);
    cr_assert(first_worker(dir, "r.npy.cmdtmp") > 0);
    kill(runner, SIGKILL);
    waitpid(runner, &status, 0);
    sleep_ms(100); /* the worker and its command die with the runner (PR_SET_PDEATHSIG) */
    cr_assert(exists(dir, "r.npy.cmdtmp") && !exists(dir, "r.npy"));
    char *err = NULL;
    cr_assert_eq(tq_traceq_in(dir, NULL, &err, "run --cmd './slow.sh {in} {out}' --input in.npy --output r.npy --chunks "
                    "10,10,8 --workers 1 --resume"), 0, "%s", err);
    free(err);
    cr_assert(tq_same_file_in(dir, "r.npy", "in.npy"));
    cr_assert(!exists(dir, "r.npy.cmdtmp"), "--resume left the killed run's temporaries");
    tq_rmtree(dir);
    free(dir);
}

Test(usercmd, bad_templates_halos_and_trims_exit_2)
{
    char *dir = setup("20x10x8");
    struct {
        const char *args, *expect;
    } cases[] = {
        {"--cmd 'cp {in}'", "has no {out}"},
        {"--cmd 'cp x {out}'", "has no {in}"},
        {"--cmd 'cp {in} {out} {rows}'", "unknown placeholder {rows}"},
        {"--cmd 'cp {in} {out' ", "unclosed {"},
        {"--cmd 'cp {in} {out}' --halo 2,two", "bad halo 'two'"},
        {"--cmd 'cp {in} {out}' --halo 1,2", "bad --halo"},
        {"--cmd 'cp {in} {out}' --halo 5 --trim 4", "at least half of axis 2"},
        {"--cmd 'cp {in} {out}' --halo 1 --trim 2", "larger than the halo"},
        {"--cmd 'cp {in} {out}' --trim -1", "bad --trim"},
        {"--cmd 'cp {in} {out}' --halo 1,1,whole --split-axes 2", "halo is whole"},
        {"--op gaussian --halo 2", "go with --cmd"},
        {"--cmd 'cp {in} {out}' --op gaussian", "one of --op or --cmd"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *err = NULL;
        int rc = tq_traceq_in(dir, NULL, &err, "run %s --input in.npy --output o.npy --chunks none", cases[i].args);
        cr_assert_eq(rc, 2, "%s: rc %d, %s", cases[i].args, rc, err);
        cr_assert(strstr(err, cases[i].expect), "%s: expected '%s' in: %s", cases[i].args, cases[i].expect, err);
        free(err);
        cr_assert(!exists(dir, "o.npy") && !exists(dir, "o.npy.cmdtmp") && !exists(dir, "o.npy.journal"));
    }
    tq_rmtree(dir);
    free(dir);
}
