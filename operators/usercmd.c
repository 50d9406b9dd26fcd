/* usercmd.c - command templates of users' programs: splitting, placeholders, halo/axes/trim and the "cmd"
 * pseudo-operator (see usercmd.h). */
#include "usercmd.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/alloc.h"

static char *dup_text(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = tq_malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

void tq_ucmd_argv_free(char **argv)
{
    for (size_t i = 0; argv && argv[i]; i++)
        free(argv[i]);
    free(argv);
}

void tq_ucmd_free(struct tq_ucmd *u)
{
    if (!u)
        return;
    free(u->text);
    tq_ucmd_argv_free(u->words);
    memset(u, 0, sizeof *u);
}

static tq_status add_name(struct tq_ucmd *u, const char *name, size_t len, struct tq_err *err)
{
    if (!len)
        return tq_fail(err, TQ_ERR_USAGE, "empty placeholder {} in the command template (write {{}} for literal "
                       "braces)");
    if (len >= sizeof u->names[0] || isdigit((unsigned char)name[0]))
        return tq_fail(err, TQ_ERR_USAGE, "bad placeholder name {%.*s} in the command template", (int)len, name);
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '_')
            return tq_fail(err, TQ_ERR_USAGE, "bad placeholder name {%.*s} in the command template (letters, "
                           "digits and _ only; {{ and }} for literal braces)", (int)len, name);
    for (size_t i = 0; i < u->nnames; i++)
        if (strlen(u->names[i]) == len && !strncmp(u->names[i], name, len))
            return TQ_OK;
    if (u->nnames == TQ_UCMD_MAX_NAMES)
        return tq_fail(err, TQ_ERR_USAGE, "more than %d distinct placeholders in the command template",
                       TQ_UCMD_MAX_NAMES);
    memcpy(u->names[u->nnames], name, len);
    u->names[u->nnames++][len] = 0;
    return TQ_OK;
}

/* Check the braces of one finished word and collect its placeholders. */
static tq_status scan_word(struct tq_ucmd *u, const char *w, struct tq_err *err)
{
    for (const char *p = w; *p; p++) {
        if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
            p++;
            continue;
        }
        if (*p == '}')
            return tq_fail(err, TQ_ERR_USAGE, "a lone } in the command word '%s' (write }} for a literal one)", w);
        if (*p != '{')
            continue;
        const char *end = strchr(p + 1, '}');
        if (!end)
            return tq_fail(err, TQ_ERR_USAGE, "unclosed { in the command word '%s' (write {{ for a literal one)", w);
        TQ_TRY(add_name(u, p + 1, (size_t)(end - p - 1), err));
        p = end;
    }
    return TQ_OK;
}

static tq_status push_word(struct tq_ucmd *u, const char *w, size_t *cap, struct tq_err *err)
{
    if (u->nwords + 2 > *cap) {
        size_t nc = *cap ? 2 * *cap : 8;
        char **nw = tq_realloc(u->words, nc * sizeof *nw);
        if (!nw)
            return tq_fail(err, TQ_ERR_NOMEM, "out of memory for the command's words");
        u->words = nw;
        *cap = nc;
    }
    if (!(u->words[u->nwords] = dup_text(w)))
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory for the command's words");
    u->words[++u->nwords] = NULL;
    return scan_word(u, w, err);
}

tq_status tq_ucmd_parse(const char *text, struct tq_ucmd *u, struct tq_err *err)
{
    memset(u, 0, sizeof *u);
    size_t cap = 0, n = strlen(text);
    char *w = tq_malloc(n + 1);
    if (!w || !(u->text = dup_text(text))) {
        free(w);
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory for the command template");
    }
    tq_status st = TQ_OK;
    size_t len = 0;
    int in_word = 0;
    for (const char *p = text; !st; p++) {
        char c = *p;
        if (!c || c == ' ' || c == '\t' || c == '\n') {
            if (in_word) {
                w[len] = 0;
                st = push_word(u, w, &cap, err);
            }
            in_word = 0;
            len = 0;
            if (!c)
                break;
            continue;
        }
        in_word = 1;
        if (c == '\'') {
            const char *q = strchr(p + 1, '\'');
            if (!q) {
                st = tq_fail(err, TQ_ERR_USAGE, "unclosed ' in the command template");
                break;
            }
            memcpy(w + len, p + 1, (size_t)(q - p - 1));
            len += (size_t)(q - p - 1);
            p = q;
        } else if (c == '"') {
            for (p++; *p && *p != '"'; p++) {
                if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
                    p++;
                w[len++] = *p;
            }
            if (!*p) {
                st = tq_fail(err, TQ_ERR_USAGE, "unclosed \" in the command template");
                break;
            }
        } else if (c == '\\') {
            if (!p[1]) {
                st = tq_fail(err, TQ_ERR_USAGE, "the command template ends with a lone backslash");
                break;
            }
            w[len++] = *++p;
        } else
            w[len++] = c;
    }
    free(w);
    if (!st && !u->nwords)
        st = tq_fail(err, TQ_ERR_USAGE, "the command template is empty");
    return st;
}

tq_status tq_ucmd_check_names(const struct tq_ucmd *u, const char *const *allowed, size_t n, int all_required,
                              struct tq_err *err)
{
    char list[256] = "";
    for (size_t k = 0; k < n; k++) {
        size_t l = strlen(list);
        snprintf(list + l, sizeof list - l, "%s{%s}", k ? ", " : "", allowed[k]);
    }
    for (size_t i = 0; i < u->nnames; i++) {
        int known = 0;
        for (size_t k = 0; k < n; k++)
            known |= !strcmp(u->names[i], allowed[k]);
        if (!known)
            return tq_fail(err, TQ_ERR_USAGE, "unknown placeholder {%s} in the command template (allowed: %s)",
                           u->names[i], n ? list : "none");
    }
    for (size_t k = 0; all_required && k < n; k++) {
        int used = 0;
        for (size_t i = 0; i < u->nnames; i++)
            used |= !strcmp(u->names[i], allowed[k]);
        if (!used)
            return tq_fail(err, TQ_ERR_USAGE, "the command template has no {%s} (it needs %s)", allowed[k], list);
    }
    return TQ_OK;
}

/* One word with its placeholders replaced; NULL with err set. */
static char *expand_word(const char *w, const char *const *names, const char *const *values, size_t n,
                         struct tq_err *err)
{
    size_t cap = strlen(w) + 1;
    for (size_t k = 0; k < n; k++)
        cap += strlen(values[k]) * (strlen(w) / 2 + 1); /* generous: every brace pair could be a placeholder */
    char *out = tq_malloc(cap), *o = out;
    if (!out) {
        tq_fail(err, TQ_ERR_NOMEM, "out of memory expanding the command");
        return NULL;
    }
    for (const char *p = w; *p; p++) {
        if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
            *o++ = *p++;
            continue;
        }
        if (*p != '{') {
            *o++ = *p;
            continue;
        }
        const char *end = strchr(p + 1, '}');
        size_t len = (size_t)(end - p - 1), k;
        for (k = 0; k < n && !(strlen(names[k]) == len && !strncmp(names[k], p + 1, len)); k++)
            ;
        if (k == n) {
            tq_fail(err, TQ_ERR_USAGE, "no value for the placeholder {%.*s}", (int)len, p + 1);
            free(out);
            return NULL;
        }
        o = stpcpy(o, values[k]);
        p = end;
    }
    *o = 0;
    return out;
}

tq_status tq_ucmd_expand(const struct tq_ucmd *u, const char *const *names, const char *const *values, size_t n,
                         char ***argv, struct tq_err *err)
{
    char **v = tq_calloc(u->nwords + 1, sizeof *v);
    if (!v)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory expanding the command");
    for (size_t i = 0; i < u->nwords; i++)
        if (!(v[i] = expand_word(u->words[i], names, values, n, err))) {
            tq_ucmd_argv_free(v);
            return err ? err->status : TQ_ERR_NOMEM;
        }
    *argv = v;
    return TQ_OK;
}

static tq_status parse_count(const char *s, size_t len, size_t *v, const char *what, struct tq_err *err)
{
    if (len == 5 && !strncmp(s, "whole", 5)) {
        *v = TQ_HALO_WHOLE;
        return TQ_OK;
    }
    size_t x = 0;
    if (!len || len > 7)
        return tq_fail(err, TQ_ERR_USAGE, "bad %s '%.*s' (a count of voxels up to 9999999, or whole)", what,
                       (int)len, s);
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return tq_fail(err, TQ_ERR_USAGE, "bad %s '%.*s' (a count of voxels, or whole)", what, (int)len, s);
        x = x * 10 + (size_t)(s[i] - '0');
    }
    *v = x;
    return TQ_OK;
}

tq_status tq_ucmd_parse_halo(const char *s, size_t halo[3], struct tq_err *err)
{
    const char *p = s;
    int n = 0;
    for (;;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (n == 3)
            return tq_fail(err, TQ_ERR_USAGE, "bad --halo '%s': give H or H,H,H (voxels or whole)", s);
        TQ_TRY(parse_count(p, len, &halo[n++], "halo", err));
        if (!c)
            break;
        p = c + 1;
    }
    if (n == 2)
        return tq_fail(err, TQ_ERR_USAGE, "bad --halo '%s': give H or H,H,H (voxels or whole)", s);
    if (n == 1)
        halo[1] = halo[2] = halo[0];
    return TQ_OK;
}

void tq_ucmd_format_halo(const size_t halo[3], char *buf, size_t cap)
{
    size_t l = 0;
    buf[0] = 0;
    for (int a = 0; a < 3 && l < cap; a++) {
        if (halo[a] == TQ_HALO_WHOLE)
            l += (size_t)snprintf(buf + l, cap - l, "%swhole", a ? "," : "");
        else
            l += (size_t)snprintf(buf + l, cap - l, "%s%zu", a ? "," : "", halo[a]);
    }
}

unsigned tq_ucmd_default_axes(const size_t halo[3])
{
    unsigned m = 0;
    for (int a = 0; a < 3; a++)
        if (halo[a] != TQ_HALO_WHOLE)
            m |= 1u << a;
    return m;
}

tq_status tq_ucmd_parse_axes(const char *s, const size_t halo[3], unsigned *mask, struct tq_err *err)
{
    *mask = 0;
    if (!strcmp(s, "none"))
        return TQ_OK;
    for (const char *p = s;; p += 2) {
        if (p[0] < '0' || p[0] > '2' || (p[1] && p[1] != ','))
            return tq_fail(err, TQ_ERR_USAGE, "bad --split-axes '%s' (a comma list of 0, 1, 2, or none)", s);
        int a = p[0] - '0';
        if (halo[a] == TQ_HALO_WHOLE)
            return tq_fail(err, TQ_ERR_USAGE, "--split-axes names axis %d, but its halo is whole", a);
        *mask |= 1u << a;
        if (!p[1])
            break;
        if (!p[2])
            return tq_fail(err, TQ_ERR_USAGE, "bad --split-axes '%s' (a comma list of 0, 1, 2, or none)", s);
    }
    return TQ_OK;
}

tq_status tq_ucmd_check_trim(const size_t halo[3], size_t trim, struct tq_err *err)
{
    for (int a = 0; a < 3; a++)
        if (halo[a] != TQ_HALO_WHOLE && halo[a] < trim)
            return tq_fail(err, TQ_ERR_USAGE, "--trim %zu is larger than the halo %zu on axis %d: a block's core "
                           "would fall outside what the command computes (use a halo >= the trim)", trim, halo[a],
                           a);
    return TQ_OK;
}

static void cmd_halo(const struct tq_op_params *p, size_t halo[3])
{
    for (int a = 0; a < 3; a++)
        halo[a] = p->cmd_halo[a];
}

static size_t cmd_trim(const struct tq_op_params *p)
{
    return p->cmd_trim;
}

void tq_ucmd_op(unsigned splittable, struct tq_op *op)
{
    *op = (struct tq_op){"cmd", "a user's command: reads {in} (.npy float32), writes {out}", splittable & 7u,
                         cmd_halo, cmd_trim, NULL, 0};
}

int tq_op_is_cmd(const struct tq_op *op)
{
    return op && op->halo == cmd_halo;
}

tq_status tq_ucmd_spec_parse(const char *halo, const char *trim, const char *axes, struct tq_op *op,
                             struct tq_op_params *p, struct tq_err *err)
{
    tq_op_params_default(p);
    TQ_TRY(tq_ucmd_parse_halo(halo ? halo : "0", p->cmd_halo, err));
    unsigned mask = tq_ucmd_default_axes(p->cmd_halo);
    if (axes)
        TQ_TRY(tq_ucmd_parse_axes(axes, p->cmd_halo, &mask, err));
    if (trim) {
        size_t len = strlen(trim), t = 0;
        if (!len || len > 7 || strspn(trim, "0123456789") != len)
            return tq_fail(err, TQ_ERR_USAGE, "bad --trim '%s' (voxels per face, 0 or more)", trim);
        t = (size_t)strtoul(trim, NULL, 10);
        p->cmd_trim = t;
    }
    TQ_TRY(tq_ucmd_check_trim(p->cmd_halo, p->cmd_trim, err));
    tq_ucmd_op(mask, op);
    return TQ_OK;
}
