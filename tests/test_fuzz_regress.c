/* test_fuzz_regress.c - every input a fuzz target once crashed on (tests/fuzz/regress/<target>/) is rejected
 * cleanly with a message; under `make asan` this also re-checks them for memory errors and undefined behaviour. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "../analyzer/config.h"
#include "../analyzer/model.h"
#include "../analyzer/plan.h"
#include "../analyzer/trace_summary.h"
#include "../operators/volfmt.h"
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
    static const char *const targets[] = {"trace", "model", "plan", "config", "npy", "segy"};
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
