/* journal.c - append-only, fsync'd record of finished blocks (see journal.h). */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "../common/alloc.h"
#include "../common/file_id.h"
#include "../operators/volume.h"

#define JOURNAL_MAGIC "traceq-journal 2 "
#define JOURNAL_MAGIC_V1 "traceq-journal 1 "
#define JOURNAL_LINE_MAX 8192

struct tq_journal {
    int fd;
    char *path;
    char *data;
    int has_input;
    struct tq_file_id input; /* the run's input as the journal recorded it */
    size_t n, cap;
    struct tq_box *boxes;
    int has_cut;      /* a "cut" line was read or appended: the last one's chunk and correction */
    size_t cut[3];
    double cut_corr;
};

/* Remember a finished box in memory. */
static tq_status journal_push(tq_journal *j, const struct tq_box *b, struct tq_err *err)
{
    if (j->n == j->cap) {
        size_t cap = j->cap ? 2 * j->cap : 64;
        struct tq_box *nb = tq_realloc(j->boxes, cap * sizeof *nb);
        if (!nb)
            return tq_fail(err, TQ_ERR_NOMEM, "out of memory");
        j->boxes = nb;
        j->cap = cap;
    }
    j->boxes[j->n++] = *b;
    return TQ_OK;
}

/* fsync the directory holding path so a freshly created journal survives a crash. */
static void journal_sync_dir(const char *path)
{
    char *copy = tq_strdup(path);
    if (!copy)
        return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

/* Check and strip a line's " #XXXXXXXX" checksum (XXH32 of the text before it). Returns 0 when it holds. */
static int journal_unseal(char *line)
{
    size_t len = strlen(line);
    if (len < 10 || line[len - 10] != ' ' || line[len - 9] != '#')
        return -1;
    for (size_t i = len - 8; i < len; i++)
        if (!((line[i] >= '0' && line[i] <= '9') || (line[i] >= 'a' && line[i] <= 'f')))
            return -1;
    unsigned long sum = strtoul(line + len - 8, NULL, 16);
    line[len - 10] = 0;
    return (unsigned long)XXH32(line, len - 10, 0) == sum ? 0 : -1;
}

/* n numbers " N" from *p on into v (each at most SIZE_MAX / 2, starting with a digit >= min_digit: '1' refuses 0);
 * *p is left after the last. Returns 0 when they are there. */
static int journal_parse_sizes(const char **p, size_t *v, int n, char min_digit)
{
    for (int k = 0; k < n; k++) {
        const char *s = *p;
        if (*s != ' ' || s[1] < min_digit || s[1] > '9')
            return -1;
        char *end;
        errno = 0;
        unsigned long long x = strtoull(s + 1, &end, 10);
        if (errno || x > SIZE_MAX / 2)
            return -1;
        v[k] = (size_t)x;
        *p = end;
    }
    return 0;
}

/* A "done" line's box: six decimal numbers with lo < hi on every axis. Returns 0 when it is one. */
static int journal_parse_box(const char *text, struct tq_box *b)
{
    const char *p = text;
    size_t v[6];
    if (journal_parse_sizes(&p, v, 6, '0') || *p)
        return -1;
    for (int a = 0; a < 3; a++) {
        if (v[a] >= v[3 + a])
            return -1;
        b->lo[a] = v[a];
        b->hi[a] = v[3 + a];
    }
    return 0;
}

/* A "cut" line's text after "cut": three positive lengths and a positive finite correction. 0 when it is one. */
static int journal_parse_cut(const char *text, tq_journal *j)
{
    size_t c[3];
    const char *p = text;
    if (journal_parse_sizes(&p, c, 3, '1'))
        return -1;
    if (*p != ' ' || !p[1])
        return -1;
    char *end;
    double corr = strtod(p + 1, &end);
    if (*end || !(corr > 0) || !(corr < 1e12))
        return -1;
    memcpy(j->cut, c, sizeof c);
    j->cut_corr = corr;
    j->has_cut = 1;
    return 0;
}

/* Take one complete journal line (newline stripped) numbered lineno. */
static tq_status journal_take_line(tq_journal *j, const char *key, size_t lineno, char *line, size_t len,
                                   struct tq_err *err)
{
    if (lineno == 1 && !strncmp(line, JOURNAL_MAGIC_V1, strlen(JOURNAL_MAGIC_V1)))
        return tq_fail(err, TQ_ERR_FORMAT, "journal %s was written by an older traceq that did not record its input; "
                       "use --force to start over", j->path);
    if (memchr(line, 0, len) || journal_unseal(line))
        return tq_fail(err, TQ_ERR_FORMAT, "%s:%zu: corrupt journal line (its checksum does not match: the file was "
                       "damaged or edited); use --force to start over", j->path, lineno);
    struct tq_box b;
    if (lineno == 1) {
        if (strncmp(line, JOURNAL_MAGIC, strlen(JOURNAL_MAGIC)))
            return tq_fail(err, TQ_ERR_FORMAT, "%s is not a traceq journal", j->path);
        if (strcmp(line + strlen(JOURNAL_MAGIC), key))
            return tq_fail(err, TQ_ERR_FORMAT, "journal %s belongs to another run (%s); use --force to start over",
                           j->path, line + strlen(JOURNAL_MAGIC));
        return TQ_OK;
    }
    if (!strncmp(line, "done", 4) && !journal_parse_box(line + 4, &b))
        return journal_push(j, &b, err);
    if (!strncmp(line, "cut ", 4) && !journal_parse_cut(line + 3, j))
        return TQ_OK;
    if (!strncmp(line, "data ", 5) && !j->data && line[5]) {
        if (!(j->data = tq_malloc(strlen(line + 5) + 1)))
            return tq_fail(err, TQ_ERR_NOMEM, "out of memory");
        strcpy(j->data, line + 5);
        return TQ_OK;
    }
    if (!strncmp(line, "input ", 6) && !j->has_input) {
        char what[64];
        snprintf(what, sizeof what, "journal line %zu", lineno);
        TQ_TRY(tq_file_id_parse(line + 6, what, &j->input, err));
        j->has_input = 1;
        return TQ_OK;
    }
    return tq_fail(err, TQ_ERR_FORMAT, "%s:%zu: corrupt journal line", j->path, lineno);
}

/* Parse the lines of an existing journal into j; the last line counts only when it ends in a newline. */
static tq_status journal_load(tq_journal *j, const char *key, struct tq_err *err)
{
    FILE *f = fopen(j->path, "re");
    if (!f)
        return tq_fail_errno(err, TQ_ERR_IO, "cannot resume: no journal %s", j->path);
    char *line = NULL;
    size_t cap = 0, lineno = 1;
    ssize_t len = 0;
    tq_status st = TQ_OK;
    for (; st == TQ_OK && (len = tq_getline(&line, &cap, f)) > 0; lineno++) {
        if (line[len - 1] != '\n')
            break; /* torn by a kill during the write: the block was never counted as done */
        line[len - 1] = 0;
        st = len > JOURNAL_LINE_MAX ? tq_fail(err, TQ_ERR_FORMAT, "%s:%zu: corrupt journal line (too long)", j->path,
                                              lineno)
                                    : journal_take_line(j, key, lineno, line, (size_t)len - 1, err);
    }
    if (st == TQ_OK && len < 0)
        st = tq_fail_errno(err, errno == ENOMEM ? TQ_ERR_NOMEM : TQ_ERR_IO, "cannot read journal %s", j->path);
    if (st == TQ_OK && lineno == 1)
        st = tq_fail(err, TQ_ERR_FORMAT, "journal %s is empty or cut before its first line ends; use --force to "
                     "start over", j->path);
    free(line);
    fclose(f);
    return st;
}

/* Refuse to resume unless the file at `input` is the one the journal recorded (touching it alone is allowed). */
static tq_status journal_check_input(const tq_journal *j, const char *input, struct tq_err *err)
{
    if (!j->has_input)
        return tq_fail(err, TQ_ERR_FORMAT, "journal %s records no input identity; use --force to start over",
                       j->path);
    struct tq_file_id now;
    TQ_TRY(tq_file_id_of(input, &now, err));
    char why[200];
    enum tq_file_id_diff d = tq_file_id_compare(&j->input, &now, why, sizeof why);
    if (d == TQ_FILE_SAME || d == TQ_FILE_TOUCHED)
        return TQ_OK;
    return tq_fail(err, TQ_ERR_FORMAT, "cannot resume: '%s' is not the input journal %s was made for (it %s); "
                   "resuming would mix two inputs in one output. Use --force to start over", input, j->path, why);
}

/* Write one whole line with a single write() and fsync it. */
static tq_status journal_write_line(tq_journal *j, const char *text, struct tq_err *err)
{
    char *line = tq_malloc(strlen(text) + 12);
    if (!line)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory");
    size_t n = (size_t)sprintf(line, "%s #%08x\n", text, (unsigned)XXH32(text, strlen(text), 0));
    ssize_t w = write(j->fd, line, n);
    free(line);
    if (w != (ssize_t)n)
        return tq_fail_errno(err, TQ_ERR_IO, "cannot write journal %s", j->path);
    if (fsync(j->fd))
        return tq_fail_errno(err, TQ_ERR_IO, "cannot fsync journal %s", j->path);
    return TQ_OK;
}

/* Write the first lines of a new journal: its key, the data path and the input's identity. */
static tq_status journal_write_head(tq_journal *j, const char *key, const char *data, const char *input,
                                    struct tq_err *err)
{
    char id[200] = "";
    if (input) {
        struct tq_file_id fid;
        TQ_TRY(tq_file_id_of(input, &fid, err));
        j->input = fid;
        j->has_input = 1;
        tq_file_id_format(&fid, id, sizeof id);
    }
    size_t len = strlen(JOURNAL_MAGIC) + strlen(key) + (data ? strlen(data) : 0) + sizeof id + 16;
    char *text = tq_malloc(len);
    if (!text || (data && !(j->data = tq_malloc(strlen(data) + 1)))) {
        free(text);
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory");
    }
    if (data)
        strcpy(j->data, data);
    snprintf(text, len, "%s%s", JOURNAL_MAGIC, key);
    tq_status st = journal_write_line(j, text, err);
    if (st == TQ_OK && data) {
        snprintf(text, len, "data %s", data);
        st = journal_write_line(j, text, err);
    }
    if (st == TQ_OK && input) {
        snprintf(text, len, "input %s", id);
        st = journal_write_line(j, text, err);
    }
    free(text);
    journal_sync_dir(j->path);
    return st;
}

tq_status tq_journal_open(const char *path, const char *key, const char *data, const char *input, int resume,
                          tq_journal **out, struct tq_err *err)
{
    *out = NULL;
    if (strchr(key, '\n') || (data && strchr(data, '\n')))
        return tq_fail(err, TQ_ERR_INTERNAL, "journal key has a newline");
    tq_journal *j = tq_calloc(1, sizeof *j);
    if (!j || !(j->path = tq_malloc(strlen(path) + 1))) {
        free(j);
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory");
    }
    strcpy(j->path, path);
    j->fd = -1;
    tq_status st = resume ? journal_load(j, key, err) : TQ_OK;
    if (st == TQ_OK && resume && input)
        st = journal_check_input(j, input, err);
    if (st == TQ_OK) {
        /* Never through a symbolic link planted at the journal's name. */
        j->fd = open(path, O_WRONLY | O_CLOEXEC | O_APPEND | O_NOFOLLOW | (resume ? 0 : O_CREAT | O_TRUNC), 0644);
        if (j->fd < 0)
            st = tq_fail_errno(err, TQ_ERR_IO, "cannot open journal %s", path);
    }
    if (st == TQ_OK && !resume)
        st = journal_write_head(j, key, data, input, err);
    if (st) {
        tq_journal_free(j);
        return st;
    }
    *out = j;
    return TQ_OK;
}

const char *tq_journal_data(const tq_journal *j)
{
    return j->data;
}

size_t tq_journal_count(const tq_journal *j)
{
    return j->n;
}

const struct tq_box *tq_journal_box(const tq_journal *j, size_t i)
{
    return &j->boxes[i];
}

int tq_journal_has(const tq_journal *j, const struct tq_box *box)
{
    for (size_t i = 0; i < j->n; i++)
        if (!memcmp(&j->boxes[i], box, sizeof *box))
            return 1;
    return 0;
}

tq_status tq_journal_append(tq_journal *j, const struct tq_box *b, struct tq_err *err)
{
    char line[256];
    snprintf(line, sizeof line, "done %zu %zu %zu %zu %zu %zu", b->lo[0], b->lo[1], b->lo[2], b->hi[0], b->hi[1],
             b->hi[2]);
    TQ_TRY(journal_write_line(j, line, err));
    return journal_push(j, b, err);
}

tq_status tq_journal_append_cut(tq_journal *j, const size_t chunk[3], double correction, struct tq_err *err)
{
    char line[256];
    snprintf(line, sizeof line, "cut %zu %zu %zu %.17g", chunk[0], chunk[1], chunk[2], correction);
    TQ_TRY(journal_write_line(j, line, err));
    memcpy(j->cut, chunk, sizeof j->cut);
    j->cut_corr = correction;
    j->has_cut = 1;
    return TQ_OK;
}

int tq_journal_last_cut(const tq_journal *j, size_t chunk[3], double *correction)
{
    if (!j->has_cut)
        return 0;
    memcpy(chunk, j->cut, sizeof j->cut);
    *correction = j->cut_corr;
    return 1;
}

tq_status tq_journal_finish(tq_journal *j, struct tq_err *err)
{
    tq_status st = TQ_OK;
    if (unlink(j->path) && errno != ENOENT)
        st = tq_fail_errno(err, TQ_ERR_IO, "cannot remove journal %s", j->path);
    tq_journal_free(j);
    return st;
}

void tq_journal_free(tq_journal *j)
{
    if (!j)
        return;
    if (j->fd >= 0)
        close(j->fd);
    free(j->boxes);
    free(j->data);
    free(j->path);
    free(j);
}

tq_status tq_journal_discard(const char *path, const char *output, struct tq_err *err)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return TQ_OK;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len = 0;
    tq_status st = TQ_OK;
    while (st == TQ_OK && (len = tq_getline(&line, &cap, f)) > 0) {
        line[strcspn(line, "\n")] = 0;
        /* Only a temporary of this output is ever removed: a damaged or edited line naming any other file leaves
         * that file alone (the journal itself still goes: the run starts over). */
        if (journal_unseal(line) || strncmp(line, "data ", 5))
            continue;
        struct tq_err terr = {0};
        if (tq_vol_tmp_remove(output, line + 5, &terr) == TQ_ERR_IO)
            st = tq_fail(err, TQ_ERR_IO, "%s", terr.msg);
    }
    if (st == TQ_OK && len < 0) /* the journal stays, so the data file it names can still be found */
        st = tq_fail_errno(err, errno == ENOMEM ? TQ_ERR_NOMEM : TQ_ERR_IO, "cannot read journal %s", path);
    free(line);
    fclose(f);
    if (st == TQ_OK && unlink(path) && errno != ENOENT)
        st = tq_fail_errno(err, TQ_ERR_IO, "cannot remove journal %s", path);
    return st;
}
