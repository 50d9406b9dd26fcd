/* journal.c - append-only, fsync'd record of finished blocks (see journal.h). */
#include "journal.h"
#include "../common/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define JOURNAL_MAGIC "traceq-journal 1 "

struct tq_journal {
    int fd;
    char *path;
    char *data;
    size_t n, cap;
    struct tq_box *boxes;
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

/* Parse the lines of an existing journal into j; the last line counts only when it ends in a newline. */
static tq_status journal_load(tq_journal *j, const char *key, struct tq_err *err)
{
    FILE *f = fopen(j->path, "re");
    if (!f)
        return tq_fail_errno(err, TQ_ERR_IO, "cannot resume: no journal %s", j->path);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len = 0;
    tq_status st = TQ_OK;
    for (size_t lineno = 1; st == TQ_OK && (len = tq_getline(&line, &cap, f)) > 0; lineno++) {
        if (line[len - 1] != '\n')
            break; /* torn by a kill during the write: the block was never counted as done */
        line[len - 1] = 0;
        struct tq_box b;
        unsigned long long v[6];
        if (lineno == 1) {
            if (strncmp(line, JOURNAL_MAGIC, strlen(JOURNAL_MAGIC)))
                st = tq_fail(err, TQ_ERR_FORMAT, "%s is not a traceq journal", j->path);
            else if (strcmp(line + strlen(JOURNAL_MAGIC), key))
                st = tq_fail(err, TQ_ERR_FORMAT, "journal %s belongs to another run (%s); use --force to start over",
                             j->path, line + strlen(JOURNAL_MAGIC));
        } else if (sscanf(line, "done %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) == 6) {
            for (int a = 0; a < 3; a++) {
                b.lo[a] = (size_t)v[a];
                b.hi[a] = (size_t)v[3 + a];
            }
            st = journal_push(j, &b, err);
        } else if (!strncmp(line, "data ", 5) && !j->data) {
            if (!(j->data = tq_strdup(line + 5)))
                st = tq_fail(err, TQ_ERR_NOMEM, "out of memory");
        } else {
            st = tq_fail(err, TQ_ERR_FORMAT, "%s:%zu: corrupt journal line", j->path, lineno);
        }
    }
    if (st == TQ_OK && len < 0)
        st = tq_fail_errno(err, errno == ENOMEM ? TQ_ERR_NOMEM : TQ_ERR_IO, "cannot read journal %s", j->path);
    if (st == TQ_OK && cap == 0)
        st = tq_fail(err, TQ_ERR_FORMAT, "journal %s is empty", j->path);
    free(line);
    fclose(f);
    return st;
}

/* Write one whole line with a single write() and fsync it. */
static tq_status journal_write_line(tq_journal *j, const char *text, struct tq_err *err)
{
    size_t n = strlen(text);
    ssize_t w = write(j->fd, text, n);
    if (w != (ssize_t)n)
        return tq_fail_errno(err, TQ_ERR_IO, "cannot write journal %s", j->path);
    if (fsync(j->fd))
        return tq_fail_errno(err, TQ_ERR_IO, "cannot fsync journal %s", j->path);
    return TQ_OK;
}

tq_status tq_journal_open(const char *path, const char *key, const char *data, int resume, tq_journal **out,
                          struct tq_err *err)
{
    *out = NULL;
    if (strchr(key, '\n') || (data && strchr(data, '\n')))
        return tq_fail(err, TQ_ERR_INTERNAL, "journal key has a newline");
    tq_journal *j = tq_calloc(1, sizeof *j);
    if (!j || !(j->path = tq_strdup(path))) {
        free(j);
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory");
    }
    j->fd = -1;
    tq_status st = resume ? journal_load(j, key, err) : TQ_OK;
    if (st == TQ_OK) {
        j->fd = open(path, O_WRONLY | O_CLOEXEC | O_APPEND | (resume ? 0 : O_CREAT | O_TRUNC), 0644);
        if (j->fd < 0)
            st = tq_fail_errno(err, TQ_ERR_IO, "cannot open journal %s", path);
    }
    if (st == TQ_OK && !resume) {
        size_t len = strlen(JOURNAL_MAGIC) + strlen(key) + (data ? strlen(data) + 6 : 0) + 2;
        char *head = tq_malloc(len);
        if (!head || (data && !(j->data = tq_strdup(data))))
            st = tq_fail(err, TQ_ERR_NOMEM, "out of memory");
        else {
            snprintf(head, len, "%s%s\n%s%s%s", JOURNAL_MAGIC, key, data ? "data " : "", data ? data : "",
                     data ? "\n" : "");
            st = journal_write_line(j, head, err);
            journal_sync_dir(path);
        }
        free(head);
    }
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
    snprintf(line, sizeof line, "done %zu %zu %zu %zu %zu %zu\n", b->lo[0], b->lo[1], b->lo[2], b->hi[0], b->hi[1],
             b->hi[2]);
    TQ_TRY(journal_write_line(j, line, err));
    return journal_push(j, b, err);
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

tq_status tq_journal_discard(const char *path, struct tq_err *err)
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
        if (!strncmp(line, "data ", 5) && unlink(line + 5) && errno != ENOENT)
            st = tq_fail_errno(err, TQ_ERR_IO, "cannot remove the unfinished output %s", line + 5);
    }
    if (st == TQ_OK && len < 0) /* the journal stays, so the data file it names can still be found */
        st = tq_fail_errno(err, errno == ENOMEM ? TQ_ERR_NOMEM : TQ_ERR_IO, "cannot read journal %s", path);
    free(line);
    fclose(f);
    if (st == TQ_OK && unlink(path) && errno != ENOENT)
        st = tq_fail_errno(err, TQ_ERR_IO, "cannot remove journal %s", path);
    return st;
}
