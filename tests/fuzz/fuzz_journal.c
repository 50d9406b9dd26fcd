/* fuzz_journal.c - libFuzzer target: the run journal read for --resume (runner/journal.c): every line sealed by
 * its checksum, the data path, the input identity and the finished blocks. An accepted journal's blocks must be
 * proper boxes (lo < hi on every axis). The journal is a real file (the reader opens it again to append, never
 * through a link, so the memfd's /proc/self/fd name would not do). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../runner/journal.h"
#include "fuzz_file.h"

/* A file of our own in a fresh temporary folder, rewritten with each input. */
static const char *journal_file(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0]) {
        char dir[] = "/tmp/tq-fuzz-journal.XXXXXX";
        if (!mkdtemp(dir))
            abort();
        snprintf(path, sizeof path, "%s/out.npy.journal", dir);
    }
    FILE *f = fopen(path, "w");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
        abort();
    return path;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tq_journal *j = NULL;
    struct tq_err err = {0};
    tq_status st = tq_journal_open(journal_file(data, size), FUZZ_JOURNAL_KEY, NULL, NULL, 1, &j, &err);
    FUZZ_REQUIRE_MESSAGE(st, err);
    if (st == TQ_OK) {
        for (size_t i = 0; i < tq_journal_count(j); i++) {
            const struct tq_box *b = tq_journal_box(j, i);
            for (int a = 0; a < 3; a++)
                if (b->lo[a] >= b->hi[a])
                    abort();
            if (!tq_journal_has(j, b))
                abort();
        }
        tq_journal_free(j);
    }
    return 0;
}
