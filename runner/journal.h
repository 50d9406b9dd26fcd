/* journal.h - the append-only record of a run's finished blocks, kept next to its output so a killed run can be
 * resumed without recomputing them.
 *
 * Text, one line each, every line ending in " #XXXXXXXX" (XXH32 of the text before it, so a flipped bit is caught):
 * "traceq-journal 2 <key>" first, "data <path>" (the unfinished output's temporary), "input <identity>" (size,
 * mtime, inode and content hash of the run's input, common/file_id.h), then "done lo0 lo1 lo2 hi0 hi1 hi2" per
 * finished block, "cut I X S C" when the adaptive runner (adapt.h) re-cuts the blocks not yet started into
 * IxXxS blocks under correction C, each line written with one write() and fsync'd before the block counts as done. A torn last line
 * (the run was killed while writing it) is ignored on reading; any other damage is refused with the line number. */
#ifndef TQ_JOURNAL_H
#define TQ_JOURNAL_H

#include <stddef.h>

#include "../common/status.h"
#include "../operators/box.h"

typedef struct tq_journal tq_journal;

/* Open the journal at path for run `key` (one line without newlines naming op, input, shapes and plan).
 * resume = 0: start a new journal, replacing an old one, recording `data` (may be NULL: the file the blocks are
 * written to) and, when `input` is not NULL, the identity of the file at `input` (read whole once for its hash).
 * resume = 1: read the finished blocks and the data path of an existing journal and append to it. Fails with
 * TQ_ERR_IO when it does not exist, TQ_ERR_FORMAT when it belongs to another run (other key), is corrupt, or, when
 * `input` is not NULL, records no input or another one: a different size, content hash, device or inode
 * (the message says what changed). A changed modification time alone is accepted: the same inode with the same
 * size and hash is the same input (RUNNER.md). Caller frees with tq_journal_free. */
tq_status tq_journal_open(const char *path, const char *key, const char *data, const char *input, int resume,
                          tq_journal **out, struct tq_err *err);
/* The data path recorded in the journal, or NULL. Can't fail. */
const char *tq_journal_data(const tq_journal *j);
/* Number of finished blocks read or appended so far, and the i-th of them. Can't fail. */
size_t tq_journal_count(const tq_journal *j);
const struct tq_box *tq_journal_box(const tq_journal *j, size_t i);
/* Is exactly this box recorded as finished? Can't fail. */
int tq_journal_has(const tq_journal *j, const struct tq_box *box);
/* Record a finished block (written and fsync'd before returning). Fails with TQ_ERR_IO. */
tq_status tq_journal_append(tq_journal *j, const struct tq_box *box, struct tq_err *err);
/* Record that the adaptive runner re-cut the rest of the run into `chunk`-sized blocks under `correction` (written
 * and fsync'd before returning). Fails with TQ_ERR_IO. */
tq_status tq_journal_append_cut(tq_journal *j, const size_t chunk[3], double correction, struct tq_err *err);
/* The last cut recorded (read or appended): returns 1 and fills chunk and *correction, or 0 when there is none.
 * Can't fail. */
int tq_journal_last_cut(const tq_journal *j, size_t chunk[3], double *correction);
/* Close the journal and delete its file (the run completed). Fails with TQ_ERR_IO when it cannot be removed. */
tq_status tq_journal_finish(tq_journal *j, struct tq_err *err);
/* Delete an abandoned journal at path and the unfinished output its "data" line names (starting over with
 * --force), but only when that is a temporary of `output` (tq_vol_tmp_check: its name pattern, in output's folder,
 * a regular file of ours, not a link); any other file it names is left alone. A missing journal is not an error.
 * Fails with TQ_ERR_IO when a file cannot be removed. */
tq_status tq_journal_discard(const char *path, const char *output, struct tq_err *err);
/* Close the journal, keeping the file. NULL is a no-op. */
void tq_journal_free(tq_journal *j);

#endif
