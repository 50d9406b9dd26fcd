/* test_fuzz_regress.c - every input a fuzz target once crashed on (tests/fuzz/regress/<target>/) is rejected
 * cleanly with a message; under `make asan` this also re-checks them for memory errors and undefined behaviour. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "../record/config.h"
#include "../model/dataset.h"
#include "../model/model.h"
#include "../model/plan.h"
#include "../report/trace_summary.h"
#include "../operators/volfmt.h"
#include "../traces/codec.h"
#include "../traces/writer.h"
#include "helpers.h"

/* Feed one file to the reader the target fuzzes; returns its status with err filled. */
static tq_status regress_read(const char *target, const char *path, struct tq_err *err)
{
    if (strcmp(target, "model") == 0) {
        struct tq_model m;
        return tq_model_read(path, NULL, &m, err);
    }
    if (strcmp(target, "plan") == 0) {
        struct tq_plan *p = NULL;
        tq_status st = tq_plan_read(path, &p, err);
        tq_plan_free(p);
        return st;
    }
    if (strcmp(target, "trace") == 0) {
        struct tq_trace_summary s;
        tq_status st = tq_trace_summarize(path, &s, err);
        if (st == TQ_OK)
            tq_trace_summary_clear(&s);
        return st;
    }
    if (strcmp(target, "dataset") == 0) {
        struct tq_dataset *ds = NULL;
        tq_status st = tq_dataset_read(path, &ds, err);
        tq_dataset_free(ds);
        return st;
    }
    if (strcmp(target, "config") == 0) {
        struct tq_settings s;
        tq_settings_defaults(&s);
        return tq_config_load(path, &s, err);
    }
    size_t shape[3];
    if (strcmp(target, "npy") == 0) {
        struct tq_npy_reader *r = NULL;
        tq_status st = tq_npy_reader_open(path, &r, shape, err);
        tq_npy_reader_free(r);
        return st;
    }
    struct tq_segy_reader *r = NULL;
    tq_status st = tq_segy_reader_open(path, &r, shape, err);
    tq_segy_reader_free(r);
    return st;
}

Test(fuzz_regress, every_finding_is_rejected_with_a_message)
{
    static const char *const targets[] = {"trace", "model", "plan", "config", "npy", "segy", "dataset"};
    int files = 0;
    for (size_t t = 0; t < sizeof targets / sizeof targets[0]; t++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", tq_src_path("tests/fuzz/regress"), targets[t]);
        DIR *d = opendir(dir);
        if (!d)
            continue;
        for (struct dirent *e; (e = readdir(d));) {
            if (e->d_name[0] == '.')
                continue;
            char path[8192];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            struct tq_err err = {0};
            tq_status st = regress_read(targets[t], path, &err);
            cr_expect_neq(st, TQ_OK, "%s: %s was accepted", targets[t], e->d_name);
            cr_expect(err.msg[0], "%s: %s rejected without a message", targets[t], e->d_name);
            files++;
        }
        closedir(d);
    }
    cr_expect_gt(files, 0, "no regression inputs found under tests/fuzz/regress");
}

/* fuzz_trace: a trace whose executable and arguments are not UTF-8 vanished from `traceq report --json`
 * (jansson refuses such strings); it must be listed, with the odd bytes shown as '?'. */
Test(fuzz_regress, non_utf8_names_stay_in_report_json)
{
    char *dir = tq_tmpdir(), path[4200];
    int fd = tq_trace_create(dir, "odd", 77, path, sizeof path);
    cr_assert_geq(fd, 0);
    struct tq_trace_writer w;
    cr_assert_eq(tq_writer_open(&w, fd), 0);
    uint8_t rec[4096];
    struct tq_rec_process p = {.pid = 77, .ppid = 1, .start_unix_ns = 1, .interval_us = 10000, .page_size = 4096};
    char *argv[] = {"\xff\xfe bad", NULL};
    tq_writer_append(&w, rec, tq_rec_put_process(rec, sizeof rec, &p, "/bin/\xc3\x28", 1, argv));
    struct tq_rec_sample s = {.t_ns = 1000, .vm_rss = 4096};
    tq_writer_append(&w, rec, tq_rec_put_sample(rec, sizeof rec, &s));
    cr_assert_eq(tq_writer_close(&w), 0);
    char cmd[8192], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s report --json %s", tq_build_path("traceq"), path);
    cr_assert_eq(tq_run(cmd, &out, NULL), 0);
    cr_expect_not_null(strstr(out, "\"exe\": \"/bin/?(\""), "the trace is listed:\n%s", out);
    cr_expect_not_null(strstr(out, "\"?? bad\""), "its arguments too:\n%s", out);
    cr_expect_null(strstr(out, "\"traces\": []"), "not dropped:\n%s", out);
    free(out);
    tq_rmtree(dir);
    free(dir);
}
