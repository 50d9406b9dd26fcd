/* usercmd.h - a user's own program as a block operator or a swept program: its command template (argv words with
 * {name} placeholders, split without a shell), its halo, trim and splittable axes, and the pseudo-operator "cmd"
 * through which the planner and runner treat it like a built-in operator.
 *
 * Quoting rules of a template (no shell is involved; the words are exec'd directly):
 *   - words are separated by blanks (spaces, tabs, newlines);
 *   - '...' keeps everything inside literally (blanks, backslashes, double quotes);
 *   - "..." keeps blanks; inside it a backslash escapes only " and \;
 *   - outside quotes a backslash makes the next character literal;
 *   - {name} anywhere in a word (also inside quotes) is replaced by the value of placeholder `name` (a path or an
 *     integer, never split further); {{ and }} give a literal { and }.
 * To use shell features (pipes, redirections, $VARS), run a shell yourself: sh -c 'prog < {in} > /dev/null' ... */
#ifndef TQ_USERCMD_H
#define TQ_USERCMD_H

#include <stddef.h>

#include "../common/status.h"
#include "operator.h"

#define TQ_UCMD_MAX_NAMES 8 /* distinct placeholders in one template */

struct tq_ucmd {
    char *text;     /* the template as given (owned) */
    char **words;   /* its argv words, placeholders unexpanded, "{{"/"}}" kept (owned, NULL-terminated) */
    size_t nwords;
    char names[TQ_UCMD_MAX_NAMES][32]; /* the distinct placeholders it uses, in order of first use */
    size_t nnames;
};

/* Split `text` into words and collect its placeholders. Fails with TQ_ERR_USAGE on an empty command, an unclosed
 * quote or brace, a trailing backslash, an empty or bad placeholder name (letters, digits, '_'; not starting with
 * a digit) or more than TQ_UCMD_MAX_NAMES placeholders; TQ_ERR_NOMEM. Free with tq_ucmd_free (also on failure). */
tq_status tq_ucmd_parse(const char *text, struct tq_ucmd *u, struct tq_err *err);

/* Check that the template uses exactly the placeholders `allowed[0..n)` that are required (all of them when
 * `all_required`) and no other: "the command template has no {out}" / "unknown placeholder {foo} (allowed: {in},
 * {out})". Fails with TQ_ERR_USAGE. */
tq_status tq_ucmd_check_names(const struct tq_ucmd *u, const char *const *allowed, size_t n, int all_required,
                              struct tq_err *err);

/* The argv with every placeholder names[i] replaced by values[i] (a placeholder without a value is an error:
 * TQ_ERR_USAGE), NULL-terminated; free with tq_ucmd_argv_free. Fails with TQ_ERR_NOMEM. */
tq_status tq_ucmd_expand(const struct tq_ucmd *u, const char *const *names, const char *const *values, size_t n,
                         char ***argv, struct tq_err *err);
void tq_ucmd_argv_free(char **argv);
void tq_ucmd_free(struct tq_ucmd *u);

/* --halo: "H" (all axes), "H,H,H", each a count of voxels or "whole" (the command needs the whole axis; then the
 * axis is never cut). Fails with TQ_ERR_USAGE. */
tq_status tq_ucmd_parse_halo(const char *s, size_t halo[3], struct tq_err *err);
/* "H,H,H" text of a halo ("whole" where whole) into buf. Can't fail. */
void tq_ucmd_format_halo(const size_t halo[3], char *buf, size_t cap);
/* --split-axes: a comma list of axes 0, 1, 2 (or "none") into a bit mask. Fails with TQ_ERR_USAGE, also when an
 * axis with a whole halo is named. */
tq_status tq_ucmd_parse_axes(const char *s, const size_t halo[3], unsigned *mask, struct tq_err *err);
/* The default split axes: every axis whose halo is not whole. Can't fail. */
unsigned tq_ucmd_default_axes(const size_t halo[3]);
/* A trim must be at most every finite halo (the core of a block must lie inside what the command computed).
 * Fails with TQ_ERR_USAGE. */
tq_status tq_ucmd_check_trim(const size_t halo[3], size_t trim, struct tq_err *err);

/* --halo, --trim and --split-axes of a user's operator (each may be NULL: halo 0, trim 0, every axis whose halo
 * is not whole) into its pseudo-operator *op and p->cmd_halo / cmd_trim (p otherwise defaulted). Fails with
 * TQ_ERR_USAGE like the parsers above, or for a trim larger than a halo. */
tq_status tq_ucmd_spec_parse(const char *halo, const char *trim, const char *axes, struct tq_op *op,
                             struct tq_op_params *p, struct tq_err *err);

/* The pseudo-operator "cmd" of a user command: halo and trim from params->cmd_halo / cmd_trim, axes `splittable`,
 * no in-process kernel (compute is NULL: the runner's command job runs the program instead). Fill *op. Can't
 * fail. */
void tq_ucmd_op(unsigned splittable, struct tq_op *op);

/* 1 when op is a command pseudo-operator. Can't fail. */
int tq_op_is_cmd(const struct tq_op *op);

#endif
