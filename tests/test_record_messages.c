/* test_record_messages.c - `traceq record` and `report` tell the real reason and print names safely: a regular
 * file as -o, a missing or non-executable command, a FIFO named traceq.toml, control characters in a program's
 * name, and the order of exec arrows in the report's process tree. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/printable.h"
#include "helpers.h"

static int run_in(const char *dir, char **out, char **err, const char *args)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "cd '%s' && timeout 60 %s %s", dir, tq_build_path("traceq"), args);
    return tq_run(cmd, out, err);
}

Test(record_messages, real_reasons_instead_of_blaming_the_shim, .timeout = 120)
{
    char *dir = tq_tmpdir(), *out = NULL, *err = NULL;
    cr_assert_eq(tq_runf("cd '%s' && touch afile && touch notexec && chmod 644 notexec", dir), 0);

    cr_assert_eq(run_in(dir, &out, &err, "record -o afile -- /bin/true"), 2);
    cr_assert(strstr(err, "is not a directory"), "%s", err);
    cr_assert(!strstr(err, "static binary"), "%s", err);
    free(out), free(err);

    cr_assert_eq(run_in(dir, &out, &err, "record -o o -- ./does_not_exist"), 127);
    cr_assert(strstr(err, "cannot run './does_not_exist': no such file"), "%s", err);
    cr_assert(!strstr(err, "static binary"), "%s", err);
    free(out), free(err);

    cr_assert_eq(run_in(dir, &out, &err, "record -o o -- no-such-command-traceq"), 127);
    cr_assert(strstr(err, "command not found"), "%s", err);
    cr_assert(!strstr(err, "static binary"), "%s", err);
    free(out), free(err);

    cr_assert_eq(run_in(dir, &out, &err, "record -o o -- ./notexec"), 126);
    cr_assert(strstr(err, "not an executable file"), "%s", err);
    cr_assert(!strstr(err, "static binary"), "%s", err);
    free(out), free(err);

    /* a static binary still gets the warning */
    char args[4096];
    snprintf(args, sizeof args, "record -o o -- %s", tq_build_path("progs/static_alloc"));
    run_in(dir, &out, &err, args);
    cr_assert(strstr(err, "static binary, setuid, or LD_PRELOAD removed"), "%s", err);
    free(out), free(err);
    tq_rmtree(dir);
    free(dir);
}

Test(record_messages, fifo_config_is_refused_not_waited_on, .timeout = 120)
{
    char *dir = tq_tmpdir(), *out = NULL, *err = NULL;
    cr_assert_eq(tq_runf("mkfifo '%s/traceq.toml'", dir), 0);
    cr_assert_eq(run_in(dir, &out, &err, "record -o o -- /bin/true"), 2, "stderr: %s", err);
    cr_assert(strstr(err, "config 'traceq.toml' is not a regular file"), "%s", err);
    free(out), free(err);
    tq_rmtree(dir);
    free(dir);
}

Test(record_messages, control_characters_are_escaped, .timeout = 120)
{
    char *dir = tq_tmpdir(), *out = NULL, *err = NULL;
    /* a copy of true named "tr<ESC>[31mue": recorded, then reported */
    cr_assert_eq(tq_runf("cd '%s' && cp /bin/true \"$(printf 'tr\\033[31mue')\"", dir), 0);
    cr_assert_eq(run_in(dir, &out, &err, "record -o o -- \"./$(printf 'tr\\033[31mue')\""), 0, "%s", err);
    free(out), free(err);
    cr_assert_eq(run_in(dir, &out, &err, "report o/*.tq o/*.tq"), 0, "%s", err); /* two: the tree too */
    cr_assert(!strchr(out, '\033'), "a raw escape reached the terminal: %s", out);
    cr_assert(strstr(out, "tr\\x1b[31mue"), "%s", out);
    free(out), free(err);
    /* record's own warnings too (a static binary behind such a name) */
    cr_assert_eq(tq_runf("cd '%s' && cp %s \"$(printf 'st\\033]0;x\\007')\"", dir,
                         tq_build_path("progs/static_alloc")), 0);
    run_in(dir, &out, &err, "record -o o2 -- \"./$(printf 'st\\033]0;x\\007')\"");
    cr_assert(strstr(err, "static binary"), "%s", err);
    cr_assert(!strchr(err, '\033') && !strchr(err, '\007'), "a raw control character in: %s", err);
    free(out), free(err);
    tq_rmtree(dir);
    free(dir);
}

Test(record_messages, printable_escapes_controls_and_invalid_utf8)
{
    char buf[64];
    cr_assert_str_eq(tq_printable("plain/path-ü", buf, sizeof buf), "plain/path-ü");
    cr_assert_str_eq(tq_printable("a\033[2Jb\n", buf, sizeof buf), "a\\x1b[2Jb\\x0a");
    cr_assert_str_eq(tq_printable("c1\xc2\x9b" "x", buf, sizeof buf), "c1\\xc2\\x9bx");
    cr_assert_str_eq(tq_printable("bad\xff\xc3", buf, sizeof buf), "bad\\xff\\xc3");
    cr_assert_str_eq(tq_printable("back\\slash\x7f", buf, sizeof buf), "back\\\\slash\\x7f");
    cr_assert_str_eq(tq_printable(NULL, buf, sizeof buf), "?");
    cr_assert_str_eq(tq_printable("\033\033\033", buf, 9), "\\x1b\\x1b", "cut at a whole escape");
}

/* env execs echo: the report's tree must say env -> echo whatever order the traces are given in. */
Test(record_messages, exec_arrows_follow_time_not_file_order, .timeout = 120)
{
    char *dir = tq_tmpdir(), *out = NULL, *err = NULL;
    cr_assert_eq(run_in(dir, &out, &err, "record -q -o o -- /usr/bin/env /bin/echo hi"), 0, "%s", err);
    free(out), free(err);
    /* the glob lists traceq.echo... before traceq.env... */
    cr_assert_eq(run_in(dir, &out, &err, "report o/traceq.echo.*.tq o/traceq.env.*.tq"), 0, "%s", err);
    cr_assert(strstr(out, "/usr/bin/env -> /bin/echo") || strstr(out, "/usr/bin/env -> /usr/bin/echo"), "%s", out);
    free(out), free(err);
    tq_rmtree(dir);
    free(dir);
}
