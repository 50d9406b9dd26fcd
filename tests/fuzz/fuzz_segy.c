/* fuzz_segy.c - libFuzzer target: SEG-Y header parsing (textual/binary header, trace headers, geometry, format). */
#include <stdint.h>

#include "../../operators/volfmt.h"
#include "fuzz_file.h"
#include "fuzz_volume_reads.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tq_segy_reader *r = NULL;
    size_t shape[3] = {0};
    struct tq_err err = {0};
    tq_status st = tq_segy_reader_open(fuzz_file_path(data, size), &r, shape, &err);
    FUZZ_REQUIRE_MESSAGE(st, err);
    if (st == TQ_OK)
        FUZZ_READ_CORNERS(r, shape, tq_segy_read_box);
    tq_segy_reader_free(r);
    return 0;
}
