/* test_cli.c - the `traceq` dispatcher: help, version, unknown commands and exit codes. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

Test(cli, help_goes_to_stdout_and_exits_0)
{
    char *out, *err, cmd[4200];
    snprintf(cmd, sizeof cmd, "%s --help", tq_build_path("traceq"));
    cr_assert_eq(tq_run(cmd, &out, &err), 0);
    cr_assert(strstr(out, "usage: traceq") != NULL);
    free(out);
    free(err);
}

Test(cli, unknown_command_exits_2_with_message)
{
    char *out, *err, cmd[4200];
    snprintf(cmd, sizeof cmd, "%s frobnicate", tq_build_path("traceq"));
    cr_assert_eq(tq_run(cmd, &out, &err), 2);
    cr_assert(strstr(err, "unknown command 'frobnicate'") != NULL, "stderr: %s", err);
    free(out);
    free(err);
}

Test(cli, version)
{
    char *out, cmd[4200];
    snprintf(cmd, sizeof cmd, "%s version", tq_build_path("traceq"));
    cr_assert_eq(tq_run(cmd, &out, NULL), 0);
    cr_assert(strncmp(out, "traceq ", 7) == 0);
    free(out);
}
