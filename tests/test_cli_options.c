/* test_cli_options.c - the option tables of tools/cli.h: every command's --help lists every option of its table
 * (`traceq --dump-options CMD`, a test build's view of the table), the parser knows each of them, usage errors exit
 * 2, and a test hook (TQ_CLI_TESTING) is an unknown option in a build without -DTQ_TESTING (tests/cli_probe.c,
 * built both ways). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

enum { HELP_WIDTH = 110 }; /* tools/cli_options.c */

/* Run `traceq ARGS` (in dir when not NULL); returns the exit status, stdout and stderr in *out, *err (may be
 * NULL). */
static int tq(const char *dir, char **out, char **err, const char *args)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s%s%s'%s' %s", dir ? "cd '" : "", dir ? dir : "", dir ? "' && " : "",
             tq_build_path("traceq"), args);
    return tq_run(cmd, out, err);
}

static int probe(const char *which, char **out, char **err, const char *args)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' %s", tq_build_path(which), args);
    return tq_run(cmd, out, err);
}

/* The line of help that starts the entry of option `--name` (its option column), or NULL. */
static const char *option_line(const char *help, const char *name, char *line, size_t cap)
{
    for (const char *p = help; *p;) {
        size_t n = strcspn(p, "\n");
        snprintf(line, cap, "%.*s", (int)n, p);
        const char *opt = line + strspn(line, " ");
        if (!strncmp(opt, "-", 1) && opt[1] != '-' && opt[1] && !strncmp(opt + 2, ", ", 2))
            opt += 4; /* "-o, --output" */
        if (!strncmp(opt, name, strlen(name)) && (opt[strlen(name)] == ' ' || opt[strlen(name)] == 0))
            return line;
        p += n + (p[n] == '\n');
    }
    return NULL;
}

static void check_line_widths(const char *what, const char *help)
{
    for (const char *p = help; *p;) {
        size_t n = strcspn(p, "\n");
        cr_expect(n <= HELP_WIDTH, "%s: a help line of %zu columns: %.*s", what, n, (int)n, p);
        p += n + (p[n] == '\n');
    }
}

/* The commands `traceq --help` lists into names[]; returns how many. */
static size_t list_commands(char names[][32], size_t cap)
{
    char *out = NULL;
    cr_assert_eq(tq(NULL, &out, NULL, "--help"), 0);
    const char *p = strstr(out, "commands:\n");
    cr_assert(p, "%s", out);
    p += strlen("commands:\n");
    size_t n = 0;
    while (*p == ' ' && n < cap) {
        cr_assert_eq(sscanf(p, " %31s", names[n]), 1);
        n++;
        p = strchr(p, '\n');
        if (!p)
            break;
        p++;
    }
    free(out);
    return n;
}

struct table_row {
    char name[64], shrt[8], arg[64], flags[16];
    int key;
};

static size_t read_table(const char *cmd, struct table_row *rows, size_t cap)
{
    char *out = NULL, args[128];
    snprintf(args, sizeof args, "--dump-options %s", cmd);
    cr_assert_eq(tq(NULL, &out, NULL, args), 0, "no table for %s", cmd);
    size_t n = 0;
    for (const char *p = out; *p && n < cap; n++) {
        cr_assert_eq(sscanf(p, "%63s\t%7s\t%63s\t%15s\t%d", rows[n].name, rows[n].shrt, rows[n].arg, rows[n].flags,
                            &rows[n].key),
                     5, "%s: bad row %s", cmd, p);
        p += strcspn(p, "\n");
        p += *p == '\n';
    }
    free(out);
    return n;
}

/* The parser of cmd knows every option of its table: followed by an unknown option (so that nothing runs), each
 * (with the value "1" when it takes one) is a usage error that is not about it. One shell runs them all. */
static void parser_knows(const char *dir, const char *cmd, const struct table_row *rows, size_t n)
{
    size_t cap = 4096 + n * 256, len = 0;
    char *script = malloc(cap), *out = NULL;
    cr_assert(script);
    len += (size_t)snprintf(script + len, cap - len, "cd '%s' || exit 1; for a in", dir);
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(script + len, cap - len, " '%s%s'", rows[i].name,
                                strcmp(rows[i].arg, "-") ? " 1" : "");
    snprintf(script + len, cap - len,
             "; do e=$('%s' %s $a --no-such-option 2>&1 >/dev/null); rc=$?; "
             "case \"$e\" in *\"unknown option '${a%%%% *}'\"*) echo \"unknown: $a: $e\";; esac; "
             "[ $rc = 2 ] || echo \"exit $rc: $a: $e\"; done",
             tq_build_path("traceq"), cmd);
    cr_assert_eq(tq_run(script, &out, NULL), 0, "%s", script);
    cr_expect_str_eq(out, "", "traceq %s: %s", cmd, out);
    free(out);
    free(script);
}

Test(cli_options, every_command_help_lists_its_table_and_the_parser_knows_it, .timeout = 300)
{
    char names[32][32], line[512], args[512], *err = NULL;
    size_t ncmd = list_commands(names, 32);
    cr_assert_geq(ncmd, 15, "traceq --help lists %zu commands", ncmd);
    char *dir = tq_tmpdir();
    for (size_t c = 0; c < ncmd; c++) {
        const char *cmd = names[c];
        char *help = NULL;
        snprintf(args, sizeof args, "%s --help", cmd);
        cr_assert_eq(tq(dir, &help, NULL, args), 0, "%s --help", cmd);
        char head[64];
        snprintf(head, sizeof head, "usage: traceq %s", cmd);
        cr_expect(!strncmp(help, head, strlen(head)), "%s", help);
        cr_expect(option_line(help, "--help", line, sizeof line) && strstr(line, "-h, --help"), "%s", help);
        check_line_widths(cmd, help);
        struct table_row rows[64];
        size_t n = read_table(cmd, rows, 64);
        for (size_t i = 0; i < n; i++) {
            const struct table_row *r = &rows[i];
            /* keys: > 0, unique, not the parser's own ('h' is --help); a short option's key is its letter */
            cr_expect(r->key > 0 && r->key != 'h' && r->key != '?' && r->key != ':', "%s %s: key %d", cmd, r->name,
                      r->key);
            for (size_t j = 0; j < i; j++)
                cr_expect(rows[j].key != r->key && strcmp(rows[j].name, r->name), "%s: %s and %s share a key or name",
                          cmd, rows[j].name, r->name);
            if (strcmp(r->shrt, "-"))
                cr_expect_eq(r->shrt[1], r->key, "%s %s: short %s, key %d", cmd, r->name, r->shrt, r->key);
            const char *l = option_line(help, r->name, line, sizeof line);
            if (!strcmp(r->flags, "hidden")) {
                cr_expect(!l, "%s: hidden %s is listed: %s", cmd, r->name, l);
            } else {
                cr_expect(l, "%s --help lacks %s:\n%s", cmd, r->name, help);
                if (l && strcmp(r->arg, "-")) {
                    char want[160];
                    snprintf(want, sizeof want, "%.63s %.63s", r->name, r->arg);
                    cr_expect(strstr(l, want), "%s: '%s' lacks its value '%s'", cmd, l, r->arg);
                }
                if (l && strcmp(r->shrt, "-")) {
                    char want[160];
                    snprintf(want, sizeof want, "%.7s, %.63s", r->shrt, r->name);
                    cr_expect(strstr(l, want), "%s: '%s' lacks its short form %s", cmd, l, r->shrt);
                }
                if (l)
                    cr_expect(!strcmp(r->flags, "testing") == !!strstr(l, "testing: "),
                              "%s: %s is%s a test hook but its help says otherwise: %s", cmd, r->name,
                              strcmp(r->flags, "testing") ? " not" : "", l);
            }
        }
        parser_knows(dir, cmd, rows, n);
        for (size_t i = 0; i < n; i++)
            if (strcmp(rows[i].arg, "-")) { /* the first option that takes a value, given none */
                snprintf(args, sizeof args, "%s %s", cmd, rows[i].name);
                cr_expect_eq(tq(dir, NULL, &err, args), 2, "traceq %s", args);
                cr_expect(strstr(err, "needs a value"), "traceq %s: %s", args, err);
                free(err);
                break;
            }
        snprintf(args, sizeof args, "%s --no-such-option x", cmd);
        cr_expect_eq(tq(dir, NULL, &err, args), 2, "traceq %s", args);
        cr_expect(strstr(err, "unknown option '--no-such-option'") && strstr(err, "--help"), "%s", err);
        free(err);
        free(help);
    }
    tq_rmtree(dir);
    free(dir);
}

Test(cli_options, run_test_hooks_are_marked_testing)
{
    struct table_row rows[64];
    size_t n = read_table("run", rows, 64), hooks = 0;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(rows[i].name, "--pad-per-voxel") || !strcmp(rows[i].name, "--kill-worker")) {
            cr_expect_str_eq(rows[i].flags, "testing", "%s", rows[i].name);
            hooks++;
        }
    cr_assert_eq(hooks, 2, "this test build's run lacks its test hooks");
}

Test(cli_options, test_hook_exists_only_in_test_builds)
{
    char *out = NULL, *err = NULL;
    cr_assert_eq(probe("tests/cli_probe", &out, NULL, "--hook 3 a"), 0);
    cr_expect_str_eq(out, "key=x arg=3\noperand=a\n");
    free(out);
    cr_assert_eq(probe("tests/cli_probe", &out, NULL, "--help"), 0);
    cr_expect(strstr(out, "--hook N") && strstr(out, "testing: a test hook"), "%s", out);
    free(out);
    /* The same parser and table as a user build compiles them. */
    cr_assert_eq(probe("tests/cli_probe_user", &out, &err, "--hook 3 a"), 2);
    cr_expect_str_eq(out, "");
    cr_expect(strstr(err, "unknown option '--hook'"), "%s", err);
    free(out);
    free(err);
    cr_assert_eq(probe("tests/cli_probe_user", &out, NULL, "--help"), 0);
    cr_expect(!strstr(out, "hook"), "%s", out);
    cr_expect(strstr(out, "--output FILE"), "%s", out);
    free(out);
}

Test(cli_options, parser_forms_and_return_codes)
{
    char *out = NULL, *err = NULL;
    cr_assert_eq(probe("tests/cli_probe_user", &out, NULL, "-o a --output=b -oc --out d --force --secret -- -x"), 0);
    cr_expect_str_eq(out, "key=o arg=a\nkey=o arg=b\nkey=o arg=c\nkey=o arg=d\nkey=f arg=-\nkey=s arg=-\n"
                          "operand=-x\n");
    free(out);
    cr_assert_eq(probe("tests/cli_probe_user", &out, &err, "x --force -o"), 2, "a missing value is a usage error");
    cr_expect(strstr(err, "option '-o' needs a value") && strstr(err, "Try 'traceq probe --help'"), "%s", err);
    free(out);
    free(err);
    cr_assert_eq(probe("tests/cli_probe_user", &out, &err, "--long-winded"), 2);
    cr_expect(strstr(err, "option '--long-winded' needs a value"), "%s", err);
    free(out);
    free(err);
    cr_assert_eq(probe("tests/cli_probe_user", &out, &err, "-q"), 2);
    cr_expect(strstr(err, "unknown option '-q'"), "%s", err);
    free(out);
    free(err);
    cr_assert_eq(probe("tests/cli_probe_user", &out, &err, "--force=yes"), 2, "a flag takes no value");
    free(out);
    free(err);
    /* -h prints the help and stops parsing: nothing after it is looked at. */
    cr_assert_eq(probe("tests/cli_probe_user", &out, &err, "--force -h --bogus"), 0);
    cr_expect(!strncmp(out, "key=f arg=-\nusage: traceq probe", 30), "%s", out);
    cr_expect_str_eq(err, "");
    free(out);
    free(err);
}

Test(cli_options, generated_help_layout)
{
    char *out = NULL, line[512];
    cr_assert_eq(probe("tests/cli_probe_user", &out, NULL, "--help"), 0);
    const char *head = "usage: traceq probe [OPTIONS] ARG...\n\nPrint what the parser returns.\n\noptions:\n";
    cr_expect(!strncmp(out, head, strlen(head)), "%s", out);
    cr_expect(strstr(out, "\n\nThe end.\n"), "%s", out);
    cr_expect(!strstr(out, "secret"), "a hidden option is listed: %s", out);
    /* aligned: every option's help starts in one column; long-only options line up with the short ones' names */
    const char *o = option_line(out, "--output", line, sizeof line);
    cr_assert(o);
    cr_expect_str_eq(line, "  -o, --output FILE        where the result goes [Default: stdout]");
    cr_assert(option_line(out, "--force", line, sizeof line));
    cr_expect_str_eq(line, "      --force              replace an existing FILE [Default: refuse]");
    /* wrapped within the width, continuation lines in the help column, the default in one piece */
    cr_expect(strstr(out, "\n                           help, which keeps the default in one piece [Default: a "
                          "default of several words]\n"),
              "%s", out);
    check_line_widths("probe", out);
    free(out);
}

Test(cli_options, table_destinations_store_every_kind)
{
    char *out, *err;
    cr_assert_eq(probe("tests/cli_probe_user", &out, NULL,
                       "store -n x --flag --count 7 --small 3 --size 2KiB --shape 2x3x4 --pick b --mode safe "
                       "--ratio 0.25 op"),
                 0);
    cr_assert_str_eq(out, "name=x flag=1 count=7 small=3 size=2048 shape=2x3x4 pick=b mode=9 ratio=0.25\noperand=op\n");
    free(out);
    cr_assert_eq(probe("tests/cli_probe_user", &out, NULL, "store"), 0);
    cr_assert_str_eq(out, "name=- flag=0 count=5 small=0 size=0 shape=0x0x0 pick=- mode=0 ratio=0\n", "defaults stay");
    free(out);
    /* each refused with exit 2, nothing stored, and the message naming what is wrong */
    const struct {
        const char *args, *says;
    } bad[] = {{"--count 11", "--count"}, {"--count x", "--count"}, {"--small -1", "--small"}, {"--size 3Q", "3Q"},
               {"--shape 2x3", "2x3"}, {"--pick c", "--pick must be a or b"},
               {"--mode fast --mode slow", "--mode must be fast or safe, not 'slow'"},
               {"--ratio 0", "--ratio must be a number in (0, 1], not '0'"},
               {"--ratio 2", "--ratio must be a number in (0, 1], not '2'"}, {"--ratio x", "not 'x'"},
               {"--ratio nan", "not 'nan'"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char args[64];
        snprintf(args, sizeof args, "store %s", bad[i].args);
        cr_assert_eq(probe("tests/cli_probe_user", &out, &err, args), 2, "%s", args);
        cr_assert(strstr(err, "traceq store: ") && strstr(err, bad[i].says), "%s: %s", args, err);
        cr_assert_str_eq(out, "", "%s: nothing stored is printed", args);
        free(out);
        free(err);
    }
    cr_assert_eq(probe("tests/cli_probe_user", &out, NULL, "store --help"), 0);
    cr_assert(strstr(out, "--count N") && strstr(out, "--pick a|b"), "%s", out);
    free(out);
}
