/* config.h - read traceq.toml (the original TraceQ keys plus ours) into the record settings, with libinih. */
#ifndef TQ_CONFIG_H
#define TQ_CONFIG_H

#include "../common/status.h"
#include "../traces/settings.h"

/* Apply the config file at path to s. When path is NULL: $TRACEQ_CONFIG if set (it must exist), else
 * ./traceq.toml if it exists, else nothing. Keys and their mapping are in preload/CONFIG.md.
 * Fails with TQ_ERR_IO (cannot open a required file), TQ_ERR_USAGE (unknown section/key, bad value; the
 * message names file, line and key); s may then be partly updated. */
tq_status tq_config_load(const char *path, struct tq_settings *s, struct tq_err *err);

/* Same for config text in memory (what a fuzzer calls); name is used in messages. */
tq_status tq_config_parse_string(const char *text, const char *name, struct tq_settings *s, struct tq_err *err);

#endif
