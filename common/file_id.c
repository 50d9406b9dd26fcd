/* file_id.c - a file's size, mtime, inode and content hash as one line of text (see file_id.h). */
#include "file_id.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "alloc.h"

#define HASH_CHUNK (1u << 20)

/* Hash fd from its start to its end; *len gets the bytes read. */
static tq_status hash_fd(int fd, const char *path, uint64_t *hash, uint64_t *len, struct tq_err *err)
{
    char *buf = tq_malloc(HASH_CHUNK);
    XXH64_state_t *state = XXH64_createState();
    tq_status st = TQ_OK;
    if (!buf || !state)
        st = tq_fail(err, TQ_ERR_NOMEM, "no memory to hash '%s'", path);
    else
        XXH64_reset(state, 0);
    *len = 0;
    while (st == TQ_OK) {
        ssize_t n = pread(fd, buf, HASH_CHUNK, (off_t)*len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            st = tq_fail_errno(err, TQ_ERR_IO, "cannot read '%s'", path);
        if (n <= 0)
            break;
        XXH64_update(state, buf, (size_t)n);
        *len += (uint64_t)n;
    }
    if (st == TQ_OK)
        *hash = XXH64_digest(state);
    XXH64_freeState(state);
    free(buf);
    return st;
}

tq_status tq_file_id_of(const char *path, struct tq_file_id *id, struct tq_err *err)
{
    memset(id, 0, sizeof *id);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tq_fail_errno(err, TQ_ERR_IO, "cannot open '%s'", path);
    struct stat before, after;
    uint64_t len = 0;
    tq_status st = TQ_OK;
    if (fstat(fd, &before))
        st = tq_fail_errno(err, TQ_ERR_IO, "cannot stat '%s'", path);
    else if (!S_ISREG(before.st_mode))
        st = tq_fail(err, TQ_ERR_IO, "'%s' is not a regular file", path);
    if (st == TQ_OK)
        st = hash_fd(fd, path, &id->xxh64, &len, err);
    if (st == TQ_OK && fstat(fd, &after))
        st = tq_fail_errno(err, TQ_ERR_IO, "cannot stat '%s'", path);
    if (st == TQ_OK && (len != (uint64_t)after.st_size || after.st_size != before.st_size ||
                        after.st_mtim.tv_sec != before.st_mtim.tv_sec ||
                        after.st_mtim.tv_nsec != before.st_mtim.tv_nsec))
        st = tq_fail(err, TQ_ERR_IO, "'%s' changed while it was being read", path);
    close(fd);
    if (st)
        return st;
    id->size = (uint64_t)after.st_size;
    id->mtime_s = (int64_t)after.st_mtim.tv_sec;
    id->mtime_ns = (int64_t)after.st_mtim.tv_nsec;
    id->dev = (uint64_t)after.st_dev;
    id->ino = (uint64_t)after.st_ino;
    return TQ_OK;
}

void tq_file_id_format(const struct tq_file_id *id, char *buf, size_t size)
{
    snprintf(buf, size, "size=%" PRIu64 " mtime=%" PRId64 ".%09" PRId64 " dev=%" PRIu64 " ino=%" PRIu64
             " xxh64=%016" PRIx64, id->size, id->mtime_s, id->mtime_ns, id->dev, id->ino, id->xxh64);
}

tq_status tq_file_id_parse(const char *text, const char *what, struct tq_file_id *id, struct tq_err *err)
{
    memset(id, 0, sizeof *id);
    char hex[17] = "", check[200];
    int used = -1;
    if (sscanf(text, "size=%" SCNu64 " mtime=%" SCNd64 ".%9" SCNd64 " dev=%" SCNu64 " ino=%" SCNu64
               " xxh64=%16[0-9a-f]%n", &id->size, &id->mtime_s, &id->mtime_ns, &id->dev, &id->ino, hex, &used) != 6 ||
        used < 0 || text[used] || strlen(hex) != 16 || id->mtime_ns < 0)
        return tq_fail(err, TQ_ERR_FORMAT, "%s: not a file identity (want size=N mtime=S.NS dev=N ino=N xxh64=HEX)",
                       what);
    sscanf(hex, "%16" SCNx64, &id->xxh64);
    /* Only the canonical spelling counts: a line that does not print back the same was edited. */
    tq_file_id_format(id, check, sizeof check);
    if (strcmp(check, text))
        return tq_fail(err, TQ_ERR_FORMAT, "%s: not a file identity in canonical form", what);
    return TQ_OK;
}

enum tq_file_id_diff tq_file_id_compare(const struct tq_file_id *was, const struct tq_file_id *now, char *why,
                                        size_t size)
{
    char w[64] = "", n[64] = "";
    enum tq_file_id_diff d = TQ_FILE_SAME;
    if (was->size != now->size) {
        d = TQ_FILE_OTHER_SIZE;
        snprintf(w, sizeof w, "%" PRIu64 " bytes", was->size);
        snprintf(n, sizeof n, "%" PRIu64 " bytes", now->size);
    } else if (was->xxh64 != now->xxh64) {
        d = TQ_FILE_OTHER_CONTENT;
        snprintf(w, sizeof w, "content hash %016" PRIx64, was->xxh64);
        snprintf(n, sizeof n, "%016" PRIx64, now->xxh64);
    } else if (was->dev != now->dev || was->ino != now->ino) {
        d = TQ_FILE_OTHER_INODE;
        snprintf(w, sizeof w, "inode %" PRIu64 " on device %" PRIu64, was->ino, was->dev);
        snprintf(n, sizeof n, "inode %" PRIu64 " on device %" PRIu64, now->ino, now->dev);
    } else if (was->mtime_s != now->mtime_s || was->mtime_ns != now->mtime_ns) {
        d = TQ_FILE_TOUCHED;
        snprintf(w, sizeof w, "modified at %" PRId64 ".%09" PRId64, was->mtime_s, was->mtime_ns);
        snprintf(n, sizeof n, "%" PRId64 ".%09" PRId64, now->mtime_s, now->mtime_ns);
    }
    if (why && size)
        snprintf(why, size, d == TQ_FILE_SAME ? "unchanged" : "was %s, is now %s", w, n);
    return d;
}
