/* test_experiment_args.c - `traceq experiment` refuses lists that would run absurd cases (exit 2 with the entry
 * named) before it creates anything: a fixed fraction of 0 (one-voxel chunks, ~110k workers), a side of 0, a
 * limit of 0 bytes, an unknown operator (experiment/exp_config.c). */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

static void refused(const char *dir, const char *args, const char *needle)
{
    char cmd[8192], *out = NULL, *err = NULL;
    snprintf(cmd, sizeof cmd, "cd '%s' && timeout 60 %s experiment -o res %s", dir, tq_build_path("traceq"), args);
    cr_assert_eq(tq_run(cmd, &out, &err), 2, "%s: %s", args, err);
    cr_assert(strstr(err, needle), "%s: '%s' lacks '%s'", args, err, needle);
    cr_assert_eq(tq_runf("test ! -e '%s/res'", dir), 0, "%s: made its folder before refusing", args);
    free(out);
    free(err);
}

Test(experiment_args, absurd_lists_are_refused_up_front, .timeout = 120)
{
    char *dir = tq_tmpdir();
    refused(dir, "--fixed 0", "bad --fixed entry '0'");
    refused(dir, "--fixed 0.5,-1", "bad --fixed entry '-1'");
    refused(dir, "--fixed 0.001 --shapes 200", "more than 10000");
    refused(dir, "--shapes 0", "bad --shapes entry '0'");
    refused(dir, "--shapes 200,,x", "bad --shapes entry 'x'");
    refused(dir, "--shapes 100000", "bad --shapes entry '100000'");
    refused(dir, "--limits 0", "bad --limits entry '0'");
    refused(dir, "--limits 0.5,0B", "bad --limits entry '0B'");
    refused(dir, "--limits lots", "bad --limits entry 'lots'");
    refused(dir, "--ops gst3d,bogus", "unknown operator 'bogus'");
    tq_rmtree(dir);
    free(dir);
}
