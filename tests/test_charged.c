/* test_charged.c - the memory a cgroup charges as the modelled figure: a Python command's sweep rows record a
 * charged peak below their RSS (the interpreter's shared library pages are not charged); `fit` models it by default
 * and records it; its plan has fewer, bigger blocks than the RSS model's at the same limit, and those blocks run
 * under that limit (their RSS above it) with no OOM kill and the whole run's output; a run that would enforce the
 * limit with the RSS watchdog refuses such a plan (exit 2); datasets and plans written before the column still
 * read, extend and fit (RSS then). Skipped where no memory cgroup can be made. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../model/dataset.h"
#include "../model/plan.h"
#include "helpers.h"

/* The number of blocks of the plan file dir/name. */
static int plan_blocks(const char *dir, const char *name)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    struct tq_plan *plan = NULL;
    struct tq_err err = {0};
    cr_assert_eq(tq_plan_read(p, &plan, &err), TQ_OK, "%s", err.msg);
    int n = (int)plan->nblocks;
    cr_assert(tq_plan_needs_cgroup(plan) == !strcmp(name, "charged.json"), "%s: model_target '%s'", name,
              plan->model_target);
    tq_plan_free(plan);
    return n;
}

static double json_num(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = json ? strstr(json, pat) : NULL;
    return p ? strtod(p + strlen(pat), NULL) : -1;
}

Test(charged, python_command_is_planned_and_run_in_charged_memory, .timeout = 300)
{
    if (!tq_have_cgroups())
        cr_skip_test("no memory cgroup can be made here (not root, or no writable memory hierarchy)");
    char *dir = tq_tmpdir(), *err = NULL, *out = NULL, cmd[2048], p[4200];
    snprintf(cmd, sizeof cmd, "'%s %s {in} {out}'", tq_python(), tq_src_path("examples/mean5.py"));
    cr_assert_eq(tq_traceq_in(dir, NULL, &err, "sweep --cmd %s --grid-inlines 30:310:70 --grid-xlines 80 "
                              "--grid-samples 80 --runs 1 -o ds.csv", cmd), 0, "sweep: %s", err);
    free(err);
    /* Every row: charged measured, and below the RSS peak (the interpreter's shared pages). */
    snprintf(p, sizeof p, "%s/ds.csv", dir);
    struct tq_dataset *ds = NULL;
    struct tq_err e = {0};
    cr_assert_eq(tq_dataset_read(p, &ds, &e), TQ_OK, "%s", e.msg);
    cr_assert(ds->has_charged && ds->n == 5 && tq_dataset_has_charged(ds, "cmd"));
    for (size_t i = 0; i < ds->n; i++)
        cr_assert(ds->rows[i].ok && ds->rows[i].charged_peak_bytes > 0 &&
                      ds->rows[i].charged_peak_bytes < ds->rows[i].peak_rss_bytes,
                  "row %zu: charged %llu, RSS %llu", i, (unsigned long long)ds->rows[i].charged_peak_bytes,
                  (unsigned long long)ds->rows[i].peak_rss_bytes);
    tq_dataset_free(ds);
    /* fit models the charged figure by default and says so; --target picks RSS. */
    cr_assert_eq(tq_traceq_in(dir, NULL, &err, "fit ds.csv -o mc.json"), 0, "%s", err);
    cr_assert(strstr(err, "modelling charged_peak_bytes"), "%s", err);
    free(err);
    cr_assert_eq(tq_traceq_in(dir, NULL, NULL, "fit ds.csv --target peak_rss_bytes -o mr.json"), 0);
    snprintf(p, sizeof p, "%s/mc.json", dir);
    char *model = tq_slurp(p, NULL);
    cr_assert(model && strstr(model, "\"target\": \"charged_peak_bytes\""), "%s", model);
    free(model);
    /* Same limit, same volume: the charged model's plan has fewer blocks. */
    const char *plan_args = "--shape 600x80x80 --memory 50M --safety 1 --workers 2 --halo 2";
    cr_assert_eq(tq_traceq_in(dir, NULL, &err, "plan --model mc.json %s -o charged.json", plan_args), 0, "%s", err);
    free(err);
    cr_assert_eq(tq_traceq_in(dir, NULL, &err, "plan --model mr.json %s -o rss.json", plan_args), 0, "%s", err);
    free(err);
    int nc = plan_blocks(dir, "charged.json"), nr = plan_blocks(dir, "rss.json");
    cr_assert(nc >= 2 && nc < nr, "charged plan %d blocks, RSS plan %d", nc, nr);
    /* The charged plan runs under the limit: no OOM kill although its workers' RSS passes the limit. */
    cr_assert_eq(tq_traceq_in(dir, NULL, NULL, "synth --shape 600x80x80 --seed 3 -o in.npy"), 0);
    cr_assert_eq(tq_traceq_in(dir, &out, &err, "run --cmd %s --halo 2 --plan charged.json --input in.npy "
                              "--output blocks.npy --workers 2 --json", cmd), 0, "run: %s %s", out, err);
    cr_assert(json_num(out, "oom_kills") == 0 && json_num(out, "retries") == 0, "%s", out);
    cr_assert(strstr(out, "cgroup"), "%s", out);
    double rss = json_num(out, "rss_peak_bytes");
    cr_assert(rss > 50.0 * 1048576, "a worker's RSS (%.0f) stayed under the limit: the test shows nothing", rss);
    free(out);
    free(err);
    cr_assert_eq(tq_traceq_in(dir, NULL, &err, "run --cmd %s --halo 2 --input in.npy --output whole.npy --chunks none",
                              cmd), 0, "%s", err);
    free(err);
    cr_assert(tq_same_file_in(dir, "whole.npy", "blocks.npy"), "chunked output differs from the whole run");
    /* The RSS watchdog cannot enforce a charged plan: refused before any output exists. */
    cr_assert_eq(tq_traceq_in(dir, NULL, &err, "run --cmd %s --halo 2 --plan charged.json --input in.npy "
                              "--output w.npy --workers 2 --enforce watchdog", cmd), 2);
    cr_assert(strstr(err, "charged_peak_bytes") && strstr(err, "watchdog"), "%s", err);
    free(err);
    snprintf(p, sizeof p, "%s/w.npy", dir);
    cr_assert(access(p, F_OK) != 0, "the refused run left its output");
    tq_rmtree(dir);
    free(dir);
}

/* Datasets and plans written before the charged column / model_target key: read, extended in their own form, and
 * fitted in RSS (asking for the charged figure is a usage error). Needs no cgroup. */
Test(charged, old_datasets_and_plans_still_read)
{
    char *dir = tq_tmpdir(), *err = NULL, p[4200];
    char csv[4096] = TQ_DATASET_HEADER "\n";
    for (int i = 1; i <= 5; i++) {
        char row[256];
        snprintf(row, sizeof row, "gaussian,%d,40,40,%d,1,ok,,%d,%d,0,0,0.5,t\n", 20 * i, 20 * i * 1600,
                 10000000 + 800000 * i, 10000000 + 800000 * i);
        strcat(csv, row);
    }
    tq_write_file(dir, "old.csv", csv, 0644);
    snprintf(p, sizeof p, "%s/old.csv", dir);
    struct tq_dataset *ds = NULL;
    struct tq_err e = {0};
    cr_assert_eq(tq_dataset_read(p, &ds, &e), TQ_OK, "%s", e.msg);
    cr_assert(!ds->has_charged && ds->n == 5 && !tq_dataset_has_charged(ds, "gaussian"));
    tq_dataset_free(ds);
    /* Appending keeps the file's form (14 fields), charged figure or not. */
    struct tq_dataset_row r = {.op = "gaussian", .shape = {120, 40, 40}, .run = 1, .ok = 1,
                               .peak_rss_bytes = 14800000, .vmhwm_bytes = 14800000, .wall_s = 1,
                               .charged_peak_bytes = 9000000};
    cr_assert_eq(tq_dataset_append(p, &r, &e), TQ_OK, "%s", e.msg);
    char *text = tq_slurp(p, NULL);
    const char *last = strstr(text, "gaussian,120,");
    cr_assert(last && !strstr(text, TQ_DATASET_CHARGED));
    int commas = 0;
    for (const char *c = last; *c && *c != '\n'; c++)
        commas += *c == ',';
    cr_assert_eq(commas, 13, "%s", last);
    free(text);
    cr_assert_eq(tq_traceq_in(dir, NULL, &err, "fit old.csv --folds 3 -o m.json"), 0, "%s", err);
    cr_assert(strstr(err, "modelling peak_rss_bytes"), "%s", err);
    free(err);
    cr_assert_eq(tq_traceq_in(dir, NULL, &err, "fit old.csv --target charged_peak_bytes --folds 3"), 2);
    cr_assert(strstr(err, "no charged figure"), "%s", err);
    free(err);
    /* A new file gets the column; a round trip keeps the figure. */
    snprintf(p, sizeof p, "%s/new.csv", dir);
    cr_assert_eq(tq_dataset_append(p, &r, &e), TQ_OK, "%s", e.msg);
    cr_assert_eq(tq_dataset_read(p, &ds, &e), TQ_OK, "%s", e.msg);
    cr_assert(ds->has_charged && ds->rows[0].charged_peak_bytes == 9000000);
    tq_dataset_free(ds);
    /* A plan without model_target (older, or not sized by a model) reads and needs no cgroup. */
    cr_assert_eq(tq_traceq_in(dir, NULL, &err, "plan --op gaussian --shape 64x64x64 --memory 1G --planner none "
                              "-o none.json"), 0, "%s", err);
    free(err);
    snprintf(p, sizeof p, "%s/none.json", dir);
    struct tq_plan *plan = NULL;
    cr_assert_eq(tq_plan_read(p, &plan, &e), TQ_OK, "%s", e.msg);
    cr_assert(!plan->model_target[0] && !tq_plan_needs_cgroup(plan));
    tq_plan_free(plan);
    /* The model of the old dataset sizes a plan that records RSS. */
    cr_assert_eq(tq_traceq_in(dir, NULL, &err, "plan --model m.json --shape 200x40x40 --memory 1G -o rss.json"), 0,
                 "%s", err);
    free(err);
    snprintf(p, sizeof p, "%s/rss.json", dir);
    cr_assert_eq(tq_plan_read(p, &plan, &e), TQ_OK, "%s", e.msg);
    cr_assert_str_eq(plan->model_target, "peak_rss_bytes");
    tq_plan_free(plan);
    tq_rmtree(dir);
    free(dir);
}
