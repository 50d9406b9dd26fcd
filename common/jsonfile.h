/* jsonfile.h - reading and writing the analyzer's JSON files (models, plans) with jansson: safe writes, typed keys. */
#ifndef TQ_JSONFILE_H
#define TQ_JSONFILE_H

#include <stddef.h>

#include <jansson.h>

#include "status.h"

/* Build a JSON document with build(obj) and write it (indented) to path through tq_outfile (a temporary file in the
 * same directory, renamed). Fails with TQ_ERR_NOMEM "cannot build the WHAT" (e.g. what = "model JSON (out of
 * memory or a non-finite number)") when build returns NULL or when any allocation jansson made while building or
 * writing failed (the file would be incomplete: nothing is written). When overwrite is 0 an existing path is never
 * replaced (fails with TQ_ERR_IO "exists; use --force"). Fails with TQ_ERR_IO on any write error, leaving no
 * temporary file behind. */
tq_status tq_json_write_file(json_t *(*build)(const void *obj), const void *obj, const char *path, int overwrite,
                             const char *what, struct tq_err *err);

/* Load a JSON object from path; `what` names the file kind in messages ("model"). Fails with TQ_ERR_IO when it
 * cannot be opened or read, TQ_ERR_FORMAT (with line and column) when it is not a JSON object, TQ_ERR_NOMEM when
 * memory runs out (for the text, read through tq_malloc, or in jansson's parser). Caller json_decref()s. */
tq_status tq_json_read_file(const char *path, const char *what, json_t **out, struct tq_err *err);

/* Check "format" == format and "version" == version in obj; fails with TQ_ERR_FORMAT naming what is wrong. */
tq_status tq_json_check_header(json_t *obj, const char *format, int version, const char *path, struct tq_err *err);

/* obj[key] as a finite number (integer or real); fails with TQ_ERR_FORMAT when missing, of another type, or not
 * finite. */
tq_status tq_json_get_number(json_t *obj, const char *key, const char *path, double *out, struct tq_err *err);
/* obj[key] as a string copied into buf (cap bytes); fails with TQ_ERR_FORMAT when missing, not a string or too long. */
tq_status tq_json_get_string(json_t *obj, const char *key, const char *path, char *buf, size_t cap,
                             struct tq_err *err);
/* obj[key] as an array of exactly n finite numbers; fails with TQ_ERR_FORMAT otherwise. */
tq_status tq_json_get_numbers(json_t *obj, const char *key, const char *path, double *out, size_t n,
                              struct tq_err *err);
/* obj[key] as an array of exactly n non-negative integers; fails with TQ_ERR_FORMAT otherwise. */
tq_status tq_json_get_sizes(json_t *obj, const char *key, const char *path, size_t *out, size_t n,
                            struct tq_err *err);

#endif
