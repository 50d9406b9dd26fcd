/* shim_util.h - what the shim tests share: run a program under `traceq record`, find and read its traces. */
#ifndef TQ_SHIM_UTIL_H
#define TQ_SHIM_UTIL_H

#include <criterion/criterion.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "../report/trace_summary.h"
#include "helpers.h"

/* Run `traceq record -q -o DIR OPTS -- ARGS` (shell text) with a 120 s limit (status 124 when it hangs: a deadlock
 * fails the test instead of stalling the suite); returns the exit status, stdout in *out if asked. */
static inline int shim_record_opts(const char *dir, const char *opts, const char *args, char **out)
{
    size_t n = strlen(args) + strlen(dir) + strlen(opts) + 4200;
    char *cmd = malloc(n);
    snprintf(cmd, n, "timeout 120 %s record -q -o %s %s -- %s", tq_build_path("traceq"), dir, opts, args);
    int st = tq_run(cmd, out, NULL);
    free(cmd);
    return st;
}

static inline int shim_record(const char *dir, const char *args, char **out)
{
    return shim_record_opts(dir, "", args, out);
}

/* Path of the one trace matching DIR/traceq.NAME.PID.tq (NAME "*": any program, PID 0: any process), malloc'd
 * (caller frees); fails the test if not exactly one matches. */
static inline char *shim_one_trace(const char *dir, const char *name, int pid)
{
    char pat[4200];
    if (pid)
        snprintf(pat, sizeof pat, "%.4000s/traceq.%.100s.%d.tq", dir, name, pid);
    else
        snprintf(pat, sizeof pat, "%.4000s/traceq.%.100s.*.tq", dir, name);
    glob_t g;
    cr_assert_eq(glob(pat, 0, NULL, &g), 0, "no trace matches %s", pat);
    cr_assert_eq(g.gl_pathc, 1, "%zu traces match %s", g.gl_pathc, pat);
    char *p = strdup(g.gl_pathv[0]);
    globfree(&g);
    return p;
}

/* Summarize the one trace matching DIR/traceq.NAME.PID.tq (PID 0: any); fails the test if not exactly one. */
static inline void shim_summary(const char *dir, const char *name, int pid, struct tq_trace_summary *s)
{
    char *path = shim_one_trace(dir, name, pid);
    struct tq_err err = {0};
    cr_assert_eq(tq_trace_summarize(path, s, &err), TQ_OK, "%s", err.msg);
    free(path);
}

/* Number of traces in dir. */
static inline size_t shim_count(const char *dir)
{
    char pat[4200];
    snprintf(pat, sizeof pat, "%.4000s/traceq.*.tq", dir);
    glob_t g;
    size_t n = glob(pat, 0, NULL, &g) == 0 ? g.gl_pathc : 0;
    globfree(&g);
    return n;
}

/* How many records of each type (< 32) the file at path holds on disk (decompressed, not through the reader). */
static inline void shim_disk_types(const char *path, uint64_t count[32])
{
    memset(count, 0, 32 * sizeof count[0]);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    static uint8_t in[1 << 16];
    uint8_t *out = malloc(64u << 20);
    size_t len = 0;
    ZSTD_DCtx *z = ZSTD_createDCtx();
    size_t got;
    while ((got = fread(in, 1, sizeof in, f)) > 0) {
        ZSTD_inBuffer zi = {in, got, 0};
        while (zi.pos < zi.size) {
            ZSTD_outBuffer zo = {out, 64u << 20, len};
            cr_assert(!ZSTD_isError(ZSTD_decompressStream(z, &zo, &zi)));
            len = zo.pos;
        }
    }
    for (size_t at = 0; at + TQ_REC_HEADER_SIZE <= len;) {
        unsigned type = out[at] | out[at + 1] << 8;
        count[type < 32 ? type : 0]++;
        at += TQ_REC_HEADER_SIZE +
              (size_t)(out[at + 4] | out[at + 5] << 8 | out[at + 6] << 16 | (uint32_t)out[at + 7] << 24);
    }
    ZSTD_freeDCtx(z);
    free(out);
    fclose(f);
}

#endif
