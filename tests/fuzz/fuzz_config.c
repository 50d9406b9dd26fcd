/* fuzz_config.c - libFuzzer target: the traceq.toml reader (libinih + our key mapping), from a string and a file. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../record/config.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    struct tq_settings s;
    tq_settings_defaults(&s);
    struct tq_err err = {0};
    tq_status st = tq_config_parse_string(text, "fuzz.toml", &s, &err);
    FUZZ_REQUIRE_MESSAGE(st, err);
    free(text);

    /* The file path as `traceq record --config` reads it (an explicit path must exist: the memfd does). */
    tq_settings_defaults(&s);
    struct tq_err err2 = {0};
    st = tq_config_load(fuzz_file_path(data, size), &s, &err2);
    FUZZ_REQUIRE_MESSAGE(st, err2);
    return 0;
}
