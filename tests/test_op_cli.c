/* test_op_cli.c - `traceq op`: block-by-block runs equal whole runs byte for byte (.npy and SEG-Y), results on the
 * synthetic model match SciPy, and bad input exits 2 with a clear message and no output file left behind. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

/* Run `traceq ARGS` in dir; returns the exit status, *err gets stderr (caller frees). */
static int op_run(const char *dir, char **err, const char *args)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "cd '%s' && %s %s", dir, tq_build_path("traceq"), args);
    char *out = NULL;
    int rc = tq_run(cmd, &out, err);
    free(out);
    return rc;
}

/* Number of directory entries other than . and .. */
static int dir_count(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d)
        closedir(d);
    return n;
}

Test(op_cli, blocks_equal_whole_through_files, .timeout = 60)
{
    char *dir = tq_tmpdir(), a[4200], b[4200];
    static const char *runs[][3] = {
        {"envelope --synthetic 23x17x40", "--block 5,4,40", "npy"},
        {"gaussian --synthetic 21x18x33 --sigma 2,1.5,3", "--block 6,7,5", "npy"},
        {"gst3d --synthetic 19x22x31", "--block 4,9,7", "npy"},
        {"gst3d --synthetic 9x8x30 --full-size", "--block 2,3,30", "npy"},
        {"gaussian --input in.segy", "--block 3,3,11", "segy"},
    };
    cr_assert_eq(op_run(dir, NULL, "synth --shape 11x9x25 --seed 3 -o in.segy"), 0);
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        char args[1024];
        snprintf(args, sizeof args, "op %s --threads 2 -o whole%zu.%s", runs[i][0], i, runs[i][2]);
        cr_assert_eq(op_run(dir, NULL, args), 0, "%s", args);
        snprintf(args, sizeof args, "op %s %s --threads 1 -o blocks%zu.%s", runs[i][0], runs[i][1], i, runs[i][2]);
        cr_assert_eq(op_run(dir, NULL, args), 0, "%s", args);
        snprintf(a, sizeof a, "%s/whole%zu.%s", dir, i, runs[i][2]);
        snprintf(b, sizeof b, "%s/blocks%zu.%s", dir, i, runs[i][2]);
        cr_assert(tq_files_equal(a, b), "%s: block-by-block output differs from the whole run", runs[i][0]);
    }
    tq_rmtree(dir);
    free(dir);
}

Test(op_cli, synthetic_volume_matches_scipy, .timeout = 60)
{
    char *dir = tq_tmpdir(), man[4200];
    static const char *ops[] = {"envelope", "gaussian", "gst3d"};
    cr_assert_eq(op_run(dir, NULL, "synth --shape 24x20x64 --seed 5 -o in.npy"), 0);
    snprintf(man, sizeof man, "%s/manifest", dir);
    FILE *f = fopen(man, "w");
    for (int i = 0; i < 3; i++) {
        char args[256];
        snprintf(args, sizeof args, "op %s --input in.npy -o %s.npy", ops[i], ops[i]);
        cr_assert_eq(op_run(dir, NULL, args), 0, "%s", args);
        fprintf(f, "%s %s 24 20 64 3 3 3 0 %s/in.npy %s/%s.npy\n", ops[i], ops[i], dir, dir, ops[i]);
    }
    fclose(f);
    char cmd[8192], *out = NULL, *err = NULL;
    snprintf(cmd, sizeof cmd, "%s %s %s", tq_python(), tq_src_path("tests/oracle/ops_oracle.py"), man);
    cr_assert_eq(tq_run(cmd, &out, &err), 0, "oracle failed: %s", err);
    cr_log_info("oracle:\n%s", out);
    char *line = out;
    for (int i = 0; i < 3; i++) {
        char name[32];
        double e, ref;
        size_t checked, total;
        cr_assert(line && sscanf(line, "%31s err=%lf ref=%lf checked=%zu total=%zu", name, &e, &ref, &checked,
                                 &total) == 5);
        if (i == 2) {
            cr_assert(checked * 2 >= total, "gst3d: only %zu of %zu voxels well separated", checked, total);
            cr_assert(e <= 0.01, "gst3d on the synthetic model: dip differs from SciPy by %g deg", e);
        } else {
            cr_assert(e <= 1e-5 * ref, "%s on the synthetic model: error %g vs max %g", name, e, ref);
        }
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    free(out);
    free(err);
    tq_rmtree(dir);
    free(dir);
}

Test(op_cli, bad_input_exits_2_and_leaves_nothing, .timeout = 60)
{
    char *dir = tq_tmpdir(), *err = NULL;
    cr_assert_eq(op_run(dir, NULL, "synth --shape 6x5x8 -o in.npy"), 0);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "cd '%s' && %s -c \"import numpy as np; np.save('int.npy', np.zeros((4,4,4), np.int32)); "
                              "np.save('flat.npy', np.zeros((4,4), np.float32)); "
                              "open('short.npy','wb').write(open('in.npy','rb').read()[:300])\"",
             dir, tq_python());
    cr_assert_eq(tq_runf("%s", cmd), 0);
    static const struct {
        const char *args, *msg;
    } bad[] = {
        {"op envelope --input missing.npy -o o.npy", "missing.npy"},
        {"op envelope --input int.npy -o o.npy", "dtype"},
        {"op envelope --input flat.npy -o o.npy", "3"},
        {"op envelope --input short.npy -o o.npy", "short.npy"},
        {"op gaussian --input in.npy -o o.npy --sigma 0", "sigma"},
        {"op gaussian --input in.npy -o o.npy --sigma 1,-2,1", "sigma"},
        {"op gaussian --input in.npy -o o.npy --block 7,1,1", "outside"},
        {"op gst3d --input in.npy -o o.npy --block 1,1,0", "shape"},
        {"op gst3d --synthetic 2x9x9 -o o.npy", "full-size"},
        {"op gst3d --synthetic 0x9x9 -o o.npy", "shape"},
        {"op sobel --input in.npy -o o.npy", "unknown operator"},
        {"op envelope -o o.npy", "--input"},
        {"op envelope --input in.npy", "--output"},
        {"op envelope --input in.npy -o o.txt", "o.txt"},
        {"op envelope --input in.npy -o in.npy", "exists"},
        {"op envelope --input in.npy -o o.npy --threads -1", "threads"},
    };
    int before = dir_count(dir);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = op_run(dir, &err, bad[i].args);
        cr_assert_eq(rc, 2, "'%s' exited %d, want 2 (stderr: %s)", bad[i].args, rc, err);
        cr_assert(strstr(err, bad[i].msg) != NULL, "'%s': message lacks '%s': %s", bad[i].args, bad[i].msg, err);
        free(err);
        err = NULL;
        cr_assert_eq(dir_count(dir), before, "'%s' left a file behind", bad[i].args);
    }
    cr_assert_eq(op_run(dir, NULL, "op envelope --input in.npy -o in.npy --force"), 0, "--force overwrites");
    tq_rmtree(dir);
    free(dir);
}

Test(op_cli, help_lists_every_option_with_default)
{
    char *out = NULL, cmd[4200];
    snprintf(cmd, sizeof cmd, "%s op --help", tq_build_path("traceq"));
    cr_assert_eq(tq_run(cmd, &out, NULL), 0);
    static const char *opts[] = {"--input", "--synthetic", "--seed", "--output", "--block", "--threads", "--sigma",
                                 "--truncate", "--full-size", "--force", "envelope", "gaussian", "gst3d"};
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        cr_assert(strstr(out, opts[i]) != NULL, "help lacks %s", opts[i]);
    free(out);
}
