/* fuzz_model.c - libFuzzer target: the model JSON reader (traceq-model) and predictions from whatever it accepts. */
#include <stdint.h>

#include "../../model/model.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tq_model m;
    struct tq_err err = {0};
    tq_status st = tq_model_read(fuzz_file_path(data, size), NULL, &m, &err);
    FUZZ_REQUIRE_MESSAGE(st, err);
    if (st == TQ_OK) {
        /* An accepted model must predict without undefined behaviour, also far outside its range. */
        static const size_t shapes[][3] = {{1, 1, 1}, {64, 64, 64}, {100000, 100000, 100000}};
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
            struct tq_prediction p;
            tq_model_predict(&m, shapes[i], &p);
            (void)tq_model_bound(&m, shapes[i]);
        }
    }
    return 0;
}
