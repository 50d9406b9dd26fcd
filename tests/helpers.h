/* helpers.h - what the criterion tests share: where the build is, running commands, temporary folders. */
#ifndef TQ_TEST_HELPERS_H
#define TQ_TEST_HELPERS_H

#include <stddef.h>
#include <stdint.h>

/* Absolute path of a file in the build folder (TQ_BUILD, set by `make test`), e.g. tq_build_path("traceq").
 * Returns a static buffer per call slot (8 slots, reused round-robin). */
const char *tq_build_path(const char *rel);
/* Absolute path of a file in the source tree (TQ_SRC). Same buffer rules. */
const char *tq_src_path(const char *rel);
/* The Python with Debian's numpy/scipy (TQ_PYTHON, default /usr/bin/python3). */
const char *tq_python(void);

/* Run `cmd` with /bin/sh -c, capture stdout (and stderr when err != NULL) into malloc'd strings (caller frees),
 * return the exit status as the shell reports it (0..255; 128+N for a signal). */
int tq_run(const char *cmd, char **out, char **err);
/* printf-style wrapper of tq_run without captured output. */
int tq_runf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Make a fresh temporary directory (mkdtemp under $TMPDIR or /tmp); returns a malloc'd path, caller frees. The test
 * process removes it when it exits if the test did not (a failed assertion ends a test before its clean-up). */
char *tq_tmpdir(void);
/* Remove a directory tree (rm -rf). */
void tq_rmtree(const char *dir);
/* Write text to dir/name with permission bits mode (0755 for a script); asserts on failure. */
void tq_write_file(const char *dir, const char *name, const char *text, unsigned mode);
/* Read a whole file into a malloc'd NUL-terminated buffer; *len gets the size. NULL on failure. */
char *tq_slurp(const char *path, size_t *len);
/* 1 when both files can be read and hold the same bytes, else 0. */
int tq_files_equal(const char *a, const char *b);
/* Run `traceq ARGS` (printf-style) in dir: its exit status; stdout / stderr in *out / *err (caller frees; either
 * may be NULL to drop it). */
int tq_traceq_in(const char *dir, char **out, char **err, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Whether dir/a and dir/b hold the same bytes. */
int tq_same_file_in(const char *dir, const char *a, const char *b);

/* 1 when memory cgroups can be used here (running as root and a cgroup root can be created), else 0. */
int tq_have_cgroups(void);

struct tq_trace_writer;
/* Create the trace file `path` (which must not exist yet) and open a trace writer on it; asserts on failure. */
void tq_fixture_trace_open(const char *path, struct tq_trace_writer *w);
/* Append one record of n bytes (n from a tq_rec_put_* call, 0 when it did not fit); asserts on failure. */
void tq_fixture_put(struct tq_trace_writer *w, const uint8_t *rec, size_t n);

#endif
