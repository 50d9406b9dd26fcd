/* file_id.h - what a file is: its size, modification time (ns), device, inode and an XXH64 hash of its whole
 * content (libxxhash), kept as one line of text so that a later run can prove it still reads the same file
 * (traceq run --resume checks its input this way, runner/journal.c). */
#ifndef TQ_FILE_ID_H
#define TQ_FILE_ID_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

struct tq_file_id {
    uint64_t size;
    int64_t mtime_s;
    int64_t mtime_ns; /* 0..999999999 */
    uint64_t dev, ino;
    uint64_t xxh64; /* XXH64 of every byte, seed 0 */
};

/* Identify the regular file at path, reading all of it once for the hash. Fails with TQ_ERR_IO (cannot open or
 * read; not a regular file; it changed while being read) or TQ_ERR_NOMEM. */
tq_status tq_file_id_of(const char *path, struct tq_file_id *id, struct tq_err *err);

/* One line without newline: "size=N mtime=S.NNNNNNNNN dev=N ino=N xxh64=HEX16" (needs < 160 bytes). Can't fail. */
void tq_file_id_format(const struct tq_file_id *id, char *buf, size_t size);

/* Parse what tq_file_id_format wrote, exactly. Fails with TQ_ERR_FORMAT (message names `what`). */
tq_status tq_file_id_parse(const char *text, const char *what, struct tq_file_id *id, struct tq_err *err);

/* How `now` differs from `was`, from the most to the least telling difference. */
enum tq_file_id_diff {
    TQ_FILE_SAME = 0,     /* nothing differs */
    TQ_FILE_TOUCHED,      /* only the modification time differs: same inode, size and content */
    TQ_FILE_OTHER_INODE,  /* another file (device or inode) with the same size and content */
    TQ_FILE_OTHER_SIZE,   /* the size differs */
    TQ_FILE_OTHER_CONTENT /* same size, different content hash */
};

/* Compare two identities; writes a sentence saying what differs into why (may be NULL). Can't fail. */
enum tq_file_id_diff tq_file_id_compare(const struct tq_file_id *was, const struct tq_file_id *now, char *why,
                                        size_t size);

#endif
