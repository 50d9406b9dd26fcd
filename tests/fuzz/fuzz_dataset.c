/* fuzz_dataset.c - libFuzzer target: the sweep CSV reader (model/dataset.c), the fitting points made from what it
 * accepts, and an append to an accepted file, which must read back with exactly one more row. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../model/dataset.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file_path(data, size);
    struct tq_dataset *ds = NULL;
    struct tq_err err = {0};
    tq_status st = tq_dataset_read(path, &ds, &err);
    FUZZ_REQUIRE_MESSAGE(st, err);
    if (st != TQ_OK)
        return 0;
    for (size_t i = 0; i < ds->n && i < 4; i++) {
        struct tq_fit_point *pts = NULL;
        size_t n = 0;
        struct tq_err perr = {0};
        tq_status pst = tq_dataset_points(ds, ds->rows[i].op, "peak_rss_bytes", TQ_AGG_MEAN, &pts, &n, &perr);
        FUZZ_REQUIRE_MESSAGE(pst, perr);
        free(pts);
        (void)tq_dataset_has(ds, ds->rows[i].op, ds->rows[i].shape, ds->rows[i].run);
    }
    struct tq_dataset_row r;
    memset(&r, 0, sizeof r);
    strcpy(r.op, "fuzz");
    r.shape[0] = r.shape[1] = r.shape[2] = 7;
    r.run = 1;
    r.ok = 1;
    size_t before = ds->n;
    tq_dataset_free(ds);
    ds = NULL;
    st = tq_dataset_append(path, &r, &err);
    FUZZ_REQUIRE_MESSAGE(st, err);
    if (st == TQ_OK) {
        /* An accepted file plus one appended row is still accepted, with the new row last. */
        if (tq_dataset_read(path, &ds, &err) != TQ_OK || ds->n != before + 1 ||
            strcmp(ds->rows[ds->n - 1].op, "fuzz") || ds->rows[ds->n - 1].shape[0] != 7) {
            fprintf(stderr, "append broke an accepted dataset: %s\n", err.msg);
            abort();
        }
        tq_dataset_free(ds);
    }
    return 0;
}
