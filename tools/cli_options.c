/* cli_options.c - a command's option table turned into getopt_long's arguments and into the option lines of its
 * --help (cli.h). Test hooks (TQ_CLI_TESTING) exist only in builds compiled with -DTQ_TESTING. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../common/units.h"

#include "cli.h"

#ifdef TQ_TESTING
#define TESTING_BUILD 1
#else
#define TESTING_BUILD 0
#endif

enum {
    MAX_OPTS = 64,   /* options in one table, --help excluded */
    HELP_WIDTH = 110, /* columns of the help text */
    MAX_LEFT = 30,    /* widest option column; longer options put their help on the next line */
};

static const struct tq_cli_opt help_opt = TQ_OPT_SHORT('h', "help", NULL, "show this help", NULL);

/* 1 when this build's parser knows o. */
static int parsed(const struct tq_cli_opt *o)
{
    return !(o->flags & TQ_CLI_TESTING) || TESTING_BUILD;
}

static int listed(const struct tq_cli_opt *o)
{
    return parsed(o) && !(o->flags & TQ_CLI_HIDDEN);
}

int tq_cli_next(const struct tq_cli_command *cmd, int argc, char **argv)
{
    struct option longopts[MAX_OPTS + 2];
    char shortopts[3 * MAX_OPTS + 8];
    size_t n = 0, s = 0;
    if (cmd->stop_at_operand)
        shortopts[s++] = '+';
    shortopts[s++] = ':'; /* getopt returns ':' (not '?') for a missing value: the two mistakes get their own words */
    for (const struct tq_cli_opt *o = cmd->opts; o->name; o++) {
        if (!parsed(o))
            continue;
        if (n == MAX_OPTS) {
            fprintf(stderr, "traceq %s: more than %d options in its table\n", cmd->name, MAX_OPTS);
            return TQ_CLI_BAD;
        }
        longopts[n++] = (struct option){o->name, o->arg ? required_argument : no_argument, NULL, o->key};
        if (o->short_name) {
            shortopts[s++] = (char)o->short_name;
            if (o->arg)
                shortopts[s++] = ':';
        }
    }
    longopts[n++] = (struct option){help_opt.name, no_argument, NULL, help_opt.key};
    longopts[n] = (struct option){NULL, 0, NULL, 0};
    shortopts[s++] = (char)help_opt.short_name;
    shortopts[s] = 0;
    opterr = 0;
    int c = getopt_long(argc, argv, shortopts, longopts, NULL);
    switch (c) {
    case -1:
        return TQ_CLI_END;
    case 'h':
        tq_cli_help(cmd, stdout);
        return TQ_CLI_HELP;
    case ':':
        tq_cli_usage_error(cmd->name, "option '%s' needs a value", argv[optind - 1]);
        return TQ_CLI_BAD;
    case '?':
        tq_cli_usage_error(cmd->name, "unknown option '%s'", argv[optind - 1]);
        return TQ_CLI_BAD;
    default:
        return c;
    }
}

/* The entry of key in cmd's table. */
static const struct tq_cli_opt *find_opt(const struct tq_cli_command *cmd, int key)
{
    for (const struct tq_cli_opt *o = cmd->opts; o->name; o++)
        if (o->key == key && parsed(o))
            return o;
    return NULL;
}

/* The value of the choice named name into *dest: -1 to go on, else (a usage error naming every choice) the exit
 * code. */
static int store_choice(const struct tq_cli_command *cmd, const struct tq_cli_opt *o, const char *name, int *dest)
{
    char names[256] = "";
    size_t n = 0;
    for (const struct tq_cli_choice *c = o->choices; c->name; c++, n++)
        if (!strcmp(name, c->name)) {
            *dest = c->value;
            return -1;
        }
    for (size_t k = 0; k < n; k++) {
        const char *sep = k == 0 ? "" : k + 1 < n ? ", " : " or ";
        size_t used = strlen(names);
        snprintf(names + used, sizeof names - used, "%s%s", sep, o->choices[k].name);
    }
    return tq_cli_usage_error(cmd->name, "--%s must be %s, not '%s'", o->name, names, name);
}

/* A number > 0 and at most o->max_real into *dest. */
static tq_status store_positive(const struct tq_cli_opt *o, const char *value, double *dest, struct tq_err *err)
{
    char *end;
    double d = strtod(value, &end);
    if (!*end && d > 0 && d <= o->max_real) {
        *dest = d;
        return TQ_OK;
    }
    if (o->max_real == HUGE_VAL)
        return tq_fail(err, TQ_ERR_USAGE, "--%s must be a number > 0, not '%s'", o->name, value);
    return tq_fail(err, TQ_ERR_USAGE, "--%s must be a number in (0, %g], not '%s'", o->name, o->max_real, value);
}

/* Store value where o says; -1 to go on, else the exit code. */
static int store(const struct tq_cli_command *cmd, const struct tq_cli_opt *o, const char *value, void *opts)
{
    struct tq_err err = {0};
    char what[64];
    char *dest = (char *)opts + o->offset;
    long v;
    tq_status st = TQ_OK;
    snprintf(what, sizeof what, "--%s", o->name);
    switch (o->kind) {
    case TQ_CLI_STR: *(const char **)dest = value; break;
    case TQ_CLI_FLAG: *(int *)dest = 1; break;
    case TQ_CLI_LONG: st = tq_parse_long(value, o->min, o->max, what, (long *)dest, &err); break;
    case TQ_CLI_INT:
        if (!(st = tq_parse_long(value, o->min, o->max, what, &v, &err)))
            *(int *)dest = (int)v;
        break;
    case TQ_CLI_BYTES: st = tq_parse_bytes(value, (uint64_t *)dest, &err); break;
    case TQ_CLI_SHAPE: st = tq_parse_shape(value, (size_t *)dest, &err); break;
    case TQ_CLI_POSITIVE: st = store_positive(o, value, (double *)dest, &err); break;
    case TQ_CLI_CHOICE: return store_choice(cmd, o, value, (int *)dest);
    case TQ_CLI_CALL: return o->call(cmd, o->key, value, opts);
    case TQ_CLI_NONE:
        fprintf(stderr, "traceq %s: option --%s has no destination in its table\n", cmd->name, o->name);
        return TQ_EXIT_FAIL;
    }
    return st ? tq_cli_fail(cmd->name, &err) : -1;
}

int tq_cli_parse(const struct tq_cli_command *cmd, int argc, char **argv, void *opts)
{
    int c, rc;
    optind = 1;
    while ((c = tq_cli_next(cmd, argc, argv)) > 0)
        if ((rc = store(cmd, find_opt(cmd, c), optarg, opts)) >= 0)
            return rc;
    return c == TQ_CLI_END ? -1 : tq_cli_exit_code(c);
}

int tq_cli_exit_code(int c)
{
    return c == TQ_CLI_HELP ? TQ_EXIT_OK : TQ_EXIT_USAGE;
}

/* Write text from column col (where the cursor is) up to HELP_WIDTH, breaking lines between words; continuation lines
 * start at column col. '\n' breaks the line and the spaces after it are kept (a nested list); '\1' is a space that
 * never breaks. */
static void put_wrapped(FILE *f, const char *text, int col)
{
    int pos = col, fresh = 1;
    for (const char *p = text; *p;) {
        if (*p == '\n') {
            fprintf(f, "\n%*s", col, "");
            pos = col;
            p++;
            while (*p == ' ') {
                fputc(' ', f);
                pos++;
                p++;
            }
            fresh = 1;
            continue;
        }
        if (*p == ' ') {
            p++;
            continue;
        }
        int len = (int)strcspn(p, " \n");
        if (!fresh && pos + 1 + len > HELP_WIDTH) {
            fprintf(f, "\n%*s", col, "");
            pos = col;
            fresh = 1;
        }
        if (!fresh) {
            fputc(' ', f);
            pos++;
        }
        for (int i = 0; i < len; i++)
            fputc(p[i] == '\1' ? ' ' : p[i], f);
        pos += len;
        p += len;
        fresh = 0;
    }
    fputc('\n', f);
}

/* "-o, --output FILE" / "    --force" into buf; returns its length. */
static int left_column(const struct tq_cli_opt *o, char *buf, size_t cap)
{
    char s[8] = "    ";
    if (o->short_name)
        snprintf(s, sizeof s, "-%c, ", (char)o->short_name);
    int n = snprintf(buf, cap, "  %s--%s%s%s", s, o->name, o->arg ? " " : "", o->arg ? o->arg : "");
    return n < (int)cap ? n : (int)cap - 1;
}

static void put_option(FILE *f, const struct tq_cli_opt *o, int col)
{
    char left[128], text[2048];
    int n = left_column(o, left, sizeof left);
    fputs(left, f);
    if (n + 2 > col)
        fprintf(f, "\n%*s", col, "");
    else
        fprintf(f, "%*s", col - n, "");
    int len = snprintf(text, sizeof text, "%s%s", (o->flags & TQ_CLI_TESTING) ? "testing: " : "", o->help);
    if (o->def && len >= 0 && (size_t)len < sizeof text) {
        /* "[Default: ...]" stays on one line */
        char *d = text + len;
        snprintf(d, sizeof text - (size_t)len, " [Default: %s]", o->def);
        for (d++; *d; d++)
            if (*d == ' ')
                *d = '\1';
    }
    put_wrapped(f, text, col);
}

void tq_cli_help(const struct tq_cli_command *cmd, FILE *f)
{
    fprintf(f, "usage: %s\n\n%s\n", cmd->usage, cmd->about);
    if (cmd->more)
        cmd->more(f);
    int col = 0;
    char left[128];
    for (const struct tq_cli_opt *o = cmd->opts; o->name; o++)
        if (listed(o) && left_column(o, left, sizeof left) > col)
            col = left_column(o, left, sizeof left);
    if (left_column(&help_opt, left, sizeof left) > col)
        col = left_column(&help_opt, left, sizeof left);
    col = (col > MAX_LEFT ? MAX_LEFT : col) + 2;
    fprintf(f, "\noptions:\n");
    for (const struct tq_cli_opt *o = cmd->opts; o->name; o++)
        if (listed(o))
            put_option(f, o, col);
    put_option(f, &help_opt, col);
    if (cmd->epilog)
        fprintf(f, "\n%s\n", cmd->epilog);
}

void tq_cli_dump_options(const struct tq_cli_command *cmd, FILE *f)
{
    for (const struct tq_cli_opt *o = cmd->opts; o->name; o++) {
        if (!parsed(o))
            continue;
        const char *flags = (o->flags & TQ_CLI_TESTING) ? "testing" : (o->flags & TQ_CLI_HIDDEN) ? "hidden" : "-";
        char shrt[4] = "-";
        if (o->short_name)
            snprintf(shrt, sizeof shrt, "-%c", (char)o->short_name);
        fprintf(f, "--%s\t%s\t%s\t%s\t%d\n", o->name, shrt, o->arg ? o->arg : "-", flags, o->key);
    }
}
