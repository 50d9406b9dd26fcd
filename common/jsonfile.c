/* jsonfile.c - safe JSON file writes and strict typed key access for models and plans (see jsonfile.h). */
#include "jsonfile.h"

#include "alloc.h"
#include "outfile.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* jansson allocates through tq_malloc, set once when the program starts (before jansson allocates anything), so
 * the fault-injection test (tests/test_alloc_fail.c) reaches the allocations made to build and write a JSON file.
 * jansson does not always fail when one of its allocations does (json_array_append_new and json_object_set_new
 * report it, but callers that fill an object rarely check every call), so every failed allocation is counted and
 * a file whose building or writing saw one is out of memory, never written incomplete. Parsing is exempt: when an
 * allocation fails mid-parse, jansson 2.14's lexer drops the byte it could not store and then scans past the end
 * of its buffer (heap overflow, then `lex_scan_string: Assertion '0' failed`), so a parse allocates with plain
 * malloc, unhooked. What we allocate to read a file (the buffer it is read into, then what the model and plan
 * readers build from the parsed tree) goes through tq_malloc, hooked. */
static _Thread_local unsigned long json_alloc_failures;
static _Thread_local int json_parsing;

static void *json_alloc(size_t size)
{
    if (json_parsing)
        return malloc(size);
    void *p = tq_malloc(size);
    if (!p)
        json_alloc_failures++;
    return p;
}

__attribute__((constructor)) static void json_alloc_setup(void)
{
    json_set_alloc_funcs(json_alloc, free);
}

tq_status tq_json_write_file(json_t *(*build)(const void *obj), const void *obj, const char *path, int overwrite,
                             const char *what, struct tq_err *err)
{
    unsigned long failures = json_alloc_failures;
    json_t *root = build(obj);
    if (!root || failures != json_alloc_failures) {
        json_decref(root);
        return tq_fail(err, TQ_ERR_NOMEM, "cannot build the %s", what);
    }
    struct tq_outfile of;
    tq_status st = tq_outfile_open(&of, path, overwrite != 0, err);
    if (st == TQ_OK) {
        int bad = json_dumpf(root, of.fp, JSON_INDENT(2) | JSON_REAL_PRECISION(17)) || fputc('\n', of.fp) == EOF;
        if (bad || failures != json_alloc_failures) {
            tq_outfile_abort(&of);
            json_decref(root);
            if (failures != json_alloc_failures)
                return tq_fail(err, TQ_ERR_NOMEM, "out of memory writing %s", path);
            return tq_fail(err, TQ_ERR_IO, "cannot write %s", path);
        }
        st = tq_outfile_commit(&of, err);
    }
    json_decref(root);
    /* outfile reports an existing output as a usage error; this header has always promised TQ_ERR_IO for it
     * (model and plan callers test for that), and a too-long path was already a usage error before opening. */
    if (of.exists) {
        st = TQ_ERR_IO;
        if (err)
            err->status = st;
    }
    return st;
}

/* All of f (path, a what file) into *buf (a buffer of ours, through tq_malloc: the fault walk reaches it) and *len. */
static tq_status read_all(FILE *f, const char *path, const char *what, char **buf, size_t *len, struct tq_err *err)
{
    struct stat sb;
    size_t cap = 4096, n = 0;
    if (fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0 && (uintmax_t)sb.st_size < SIZE_MAX / 2)
        cap = (size_t)sb.st_size + 1; /* one read, and a short one that says the end has come */
    char *b = tq_malloc(cap);
    while (b) {
        n += fread(b + n, 1, cap - n, f);
        if (n < cap)
            break;
        char *nb = cap < SIZE_MAX / 2 ? tq_realloc(b, cap * 2) : NULL;
        if (!nb)
            free(b);
        b = nb;
        cap *= 2;
    }
    if (!b)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory reading %s %s", what, path);
    if (ferror(f)) {
        free(b);
        return tq_fail(err, TQ_ERR_IO, "cannot read %s %s", what, path);
    }
    *buf = b;
    *len = n;
    return TQ_OK;
}

tq_status tq_json_read_file(const char *path, const char *what, json_t **out, struct tq_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return tq_fail_errno(err, TQ_ERR_IO, "cannot open %s %s", what, path);
    char *text = NULL;
    size_t len = 0;
    tq_status st = read_all(f, path, what, &text, &len, err);
    fclose(f);
    if (st)
        return st;
    json_error_t je;
    json_parsing = 1; /* see json_alloc */
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    json_parsing = 0;
    free(text);
    /* jansson reports most allocation failures as json_error_out_of_memory, but a failure to set up its lexer
     * returns NULL with the error left empty (no text): nothing else fails that way */
    if (!root && (json_error_code(&je) == json_error_out_of_memory || je.text[0] == '\0'))
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory reading %s %s", what, path);
    if (!root)
        return tq_fail(err, TQ_ERR_FORMAT, "%s %s is not valid JSON (line %d, column %d: %s)", what, path, je.line,
                       je.column, je.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return tq_fail(err, TQ_ERR_FORMAT, "%s %s is not a JSON object", what, path);
    }
    *out = root;
    return TQ_OK;
}

tq_status tq_json_check_header(json_t *obj, const char *format, int version, const char *path, struct tq_err *err)
{
    char got[64];
    TQ_TRY(tq_json_get_string(obj, "format", path, got, sizeof got, err));
    if (strcmp(got, format))
        return tq_fail(err, TQ_ERR_FORMAT, "%s: format is '%s', expected '%s'", path, got, format);
    double v;
    TQ_TRY(tq_json_get_number(obj, "version", path, &v, err));
    if (v != version)
        return tq_fail(err, TQ_ERR_FORMAT, "%s: unsupported %s version %g (this traceq reads version %d)", path,
                       format, v, version);
    return TQ_OK;
}

static tq_status number_of(json_t *v, const char *key, const char *path, double *out, struct tq_err *err)
{
    if (!v)
        return tq_fail(err, TQ_ERR_FORMAT, "%s: missing key \"%s\"", path, key);
    if (!json_is_number(v))
        return tq_fail(err, TQ_ERR_FORMAT, "%s: \"%s\" must be a number", path, key);
    *out = json_number_value(v);
    if (!isfinite(*out))
        return tq_fail(err, TQ_ERR_FORMAT, "%s: \"%s\" is not finite", path, key);
    return TQ_OK;
}

tq_status tq_json_get_number(json_t *obj, const char *key, const char *path, double *out, struct tq_err *err)
{
    return number_of(json_object_get(obj, key), key, path, out, err);
}

tq_status tq_json_get_string(json_t *obj, const char *key, const char *path, char *buf, size_t cap,
                             struct tq_err *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return tq_fail(err, TQ_ERR_FORMAT, "%s: missing key \"%s\"", path, key);
    if (!json_is_string(v))
        return tq_fail(err, TQ_ERR_FORMAT, "%s: \"%s\" must be a string", path, key);
    if (json_string_length(v) >= cap)
        return tq_fail(err, TQ_ERR_FORMAT, "%s: \"%s\" is too long", path, key);
    memcpy(buf, json_string_value(v), json_string_length(v) + 1);
    return TQ_OK;
}

/* obj[key] as an array of exactly n elements (what: "numbers", "integers", for the message). */
static tq_status array_of(json_t *obj, const char *key, const char *path, size_t n, const char *what, json_t **out,
                          struct tq_err *err)
{
    json_t *a = json_object_get(obj, key);
    if (!a)
        return tq_fail(err, TQ_ERR_FORMAT, "%s: missing key \"%s\"", path, key);
    if (!json_is_array(a) || json_array_size(a) != n)
        return tq_fail(err, TQ_ERR_FORMAT, "%s: \"%s\" must be an array of %zu %s", path, key, n, what);
    *out = a;
    return TQ_OK;
}

tq_status tq_json_get_numbers(json_t *obj, const char *key, const char *path, double *out, size_t n,
                              struct tq_err *err)
{
    json_t *a;
    TQ_TRY(array_of(obj, key, path, n, "numbers", &a, err));
    for (size_t i = 0; i < n; i++)
        TQ_TRY(number_of(json_array_get(a, i), key, path, &out[i], err));
    return TQ_OK;
}

tq_status tq_json_get_sizes(json_t *obj, const char *key, const char *path, size_t *out, size_t n,
                            struct tq_err *err)
{
    json_t *a;
    TQ_TRY(array_of(obj, key, path, n, "integers", &a, err));
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(a, i);
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return tq_fail(err, TQ_ERR_FORMAT, "%s: \"%s\" must hold non-negative integers", path, key);
        out[i] = (size_t)json_integer_value(v);
    }
    return TQ_OK;
}
