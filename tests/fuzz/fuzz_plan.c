/* fuzz_plan.c - libFuzzer target: the plan JSON reader (traceq-plan) and re-printing whatever it accepts. */
#include <stdint.h>
#include <stdio.h>

#include "../../model/plan.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *devnull;
    if (!devnull && !(devnull = fopen("/dev/null", "w")))
        abort();
    struct tq_plan *plan = NULL;
    struct tq_err err = {0};
    tq_status st = tq_plan_read(fuzz_file_path(data, size), &plan, &err);
    FUZZ_REQUIRE_MESSAGE(st, err);
    if (st == TQ_OK) {
        struct tq_err err2 = {0};
        /* An accepted plan tiles its output: checking again must agree, and it must print. */
        if (tq_plan_check_tiling(plan, &err2) != TQ_OK)
            abort();
        if (tq_plan_dump(plan, devnull, &err2) != TQ_OK)
            abort();
    }
    tq_plan_free(plan);
    return 0;
}
