/* test_trace_cli.c - `traceq record` / `traceq report` on the command line, and the traceq.toml reader. */
#include <jansson.h>

#include "../record/config.h"
#include "shim_util.h"

Test(trace_cli, record_and_report_help_and_usage_errors)
{
    char *out, *err, cmd[8400];
    snprintf(cmd, sizeof cmd, "%s record --help", tq_build_path("traceq"));
    cr_assert_eq(tq_run(cmd, &out, NULL), 0);
    cr_expect(strstr(out, "--interval") && strstr(out, "[Default: 10]"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s report --help", tq_build_path("traceq"));
    cr_assert_eq(tq_run(cmd, &out, NULL), 0);
    cr_expect(strstr(out, "--json") != NULL);
    free(out);
    snprintf(cmd, sizeof cmd, "%s record --bogus -- true", tq_build_path("traceq"));
    cr_assert_eq(tq_run(cmd, NULL, &err), 2);
    cr_expect(strstr(err, "unknown option '--bogus'") != NULL, "%s", err);
    free(err);
    snprintf(cmd, sizeof cmd, "%s record -i 0 -- true", tq_build_path("traceq"));
    cr_assert_eq(tq_run(cmd, NULL, &err), 2);
    free(err);
    snprintf(cmd, sizeof cmd, "%s record", tq_build_path("traceq"));
    cr_assert_eq(tq_run(cmd, NULL, &err), 2);
    free(err);
    snprintf(cmd, sizeof cmd, "%s report /nonexistent/t.tq", tq_build_path("traceq"));
    cr_assert_eq(tq_run(cmd, NULL, &err), 2);
    cr_expect(strstr(err, "cannot open trace") != NULL, "%s", err);
    free(err);
}

Test(trace_cli, record_passes_status_and_lists_traces)
{
    char *d = tq_tmpdir(), *out, *err, cmd[8400];
    snprintf(cmd, sizeof cmd, "cd %s && %s record -o t -- sh -c 'echo hello; exit 7'", d, tq_build_path("traceq"));
    cr_assert_eq(tq_run(cmd, &out, &err), 7);
    cr_expect_str_eq(out, "hello\n");
    cr_expect(strstr(err, "traceq record: wrote") && strstr(err, "/t/traceq."), "%s", err);
    free(out);
    free(err);
    snprintf(cmd, sizeof cmd, "cd %s && %s record -q -o t -- sh -c 'kill -9 $$'", d, tq_build_path("traceq"));
    cr_assert_eq(tq_run(cmd, NULL, NULL), 128 + 9);
    snprintf(cmd, sizeof cmd, "%s record -q -- /no/such/program", tq_build_path("traceq"));
    cr_assert_eq(tq_run(cmd, NULL, &err), 127);
    cr_expect(strstr(err, "cannot run") != NULL, "%s", err);
    free(err);
    tq_rmtree(d);
    free(d);
}

Test(trace_cli, report_fork_tree_text_and_json)
{
    char *d = tq_tmpdir(), *out, cmd[8400];
    snprintf(cmd, sizeof cmd, "%s fork", tq_build_path("progs/forker"));
    cr_assert_eq(shim_record(d, cmd, NULL), 0);
    snprintf(cmd, sizeof cmd, "%s report %s/traceq.*.tq", tq_build_path("traceq"), d);
    cr_assert_eq(tq_run(cmd, &out, NULL), 0);
    cr_expect(strstr(out, "== totals over 2 traces") && strstr(out, "process tree") && strstr(out, "peak RSS"),
              "%s", out);
    cr_expect(strstr(out, "_exit status 5") != NULL, "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s report --json %s/traceq.*.tq", tq_build_path("traceq"), d);
    cr_assert_eq(tq_run(cmd, &out, NULL), 0);
    json_error_t je;
    json_t *root = json_loads(out, 0, &je);
    cr_assert_not_null(root, "%s: %s", je.text, out);
    json_t *traces = json_object_get(root, "traces");
    cr_assert_eq(json_array_size(traces), 2);
    json_t *a = json_array_get(traces, 0), *b = json_array_get(traces, 1);
    json_int_t pa = json_integer_value(json_object_get(a, "pid")), pb = json_integer_value(json_object_get(b, "pid"));
    json_int_t qa = json_integer_value(json_object_get(a, "ppid")), qb = json_integer_value(json_object_get(b, "ppid"));
    cr_expect(qa == pb || qb == pa, "one is the other's parent");
    cr_expect_gt(json_integer_value(json_object_get(a, "peak_rss")), 0);
    cr_expect_eq(json_integer_value(json_object_get(json_object_get(root, "totals"), "traces")), 2);
    json_decref(root);
    free(out);
    tq_rmtree(d);
    free(d);
}

Test(trace_cli, config_maps_original_keys)
{
    struct tq_settings s;
    struct tq_err err = {0};
    tq_settings_defaults(&s);
    cr_assert_eq(tq_config_parse_string("output_dir = \"./custom_reports\"  # where\n"
                                        "[profiler]\nenabled_metrics = \"memory_usage,execution_time\"\n"
                                        "precision = \"3\"\nsession_id = \"abc\"\n"
                                        "[profiler.memory_usage]\nenabled_backends = \"kernel,psutil,tracemalloc\"\n"
                                        "[record]\nflush_ms = 50\nfollow_fork = false\n",
                                        "t.toml", &s, &err),
                 TQ_OK, "%s", err.msg);
    cr_expect_str_eq(s.output_dir, "./custom_reports");
    cr_expect_eq(s.interval_ms, 1);
    cr_expect_eq(s.flush_ms, 50);
    cr_expect_eq(s.follow_fork, 0);
    cr_expect_eq(s.enabled, 1);
    cr_assert_eq(tq_config_parse_string("[profiler.memory_usage]\nsampling_interval = \"0.02\"\n", "t", &s, &err),
                 TQ_OK);
    cr_expect_eq(s.interval_ms, 20);
    cr_assert_eq(tq_config_parse_string("[profiler]\nenabled_metrics = \"time\"\n", "t", &s, &err), TQ_OK);
    cr_expect_eq(s.enabled, 0, "no memory_usage metric: the shim records nothing");
    cr_expect_eq(tq_config_parse_string("[profiler]\nprecision = \"9\"\n", "t.toml", &s, &err), TQ_ERR_USAGE);
    cr_expect(strstr(err.msg, "t.toml: [profiler] precision") != NULL, "%s", err.msg);
    cr_expect_eq(tq_config_parse_string("colour = 1\n", "t", &s, &err), TQ_ERR_USAGE);
    cr_expect(strstr(err.msg, "unknown key") != NULL, "%s", err.msg);
    cr_expect_eq(tq_config_parse_string("[profiler.memory_usage]\nenabled_backends = \"magic\"\n", "t", &s, &err),
                 TQ_ERR_USAGE);
    cr_expect_eq(tq_config_parse_string("this is not ini\n", "t", &s, &err), TQ_ERR_USAGE);
}

/* defaults < traceq.toml < TRACEQ_* < options, seen in the interval each trace records. */
Test(trace_cli, record_settings_precedence)
{
    char *d = tq_tmpdir(), cmd[8400];
    snprintf(cmd, sizeof cmd, "%s/traceq.toml", d);
    FILE *f = fopen(cmd, "w");
    fputs("output_dir = \"from_file\"\n[profiler]\nprecision = \"3\"\n", f);
    fclose(f);
    const char *prog = tq_build_path("progs/every_call");
    struct { const char *env, *opts, *dir; unsigned want_us; } cases[] = {
        {"", "", "from_file", 1000},
        {"TRACEQ_INTERVAL_MS=5", "", "from_file", 5000},
        {"TRACEQ_INTERVAL_MS=5 TRACEQ_OUTPUT_DIR=from_env", "-i 7", "from_env", 7000},
        {"", "-o from_flag", "from_flag", 1000},
    };
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(cmd, sizeof cmd, "cd %s && %s %s record -q %s -- %s 0", d, cases[i].env, tq_build_path("traceq"),
                 cases[i].opts, prog);
        cr_assert_eq(tq_runf("%s", cmd), 0, "%s", cmd);
        char dir[4200];
        snprintf(dir, sizeof dir, "%.4000s/%s", d, cases[i].dir);
        struct tq_trace_summary s;
        shim_summary(dir, "every_call", 0, &s);
        cr_expect_eq(s.interval_us, cases[i].want_us, "case %u", i);
        tq_trace_summary_clear(&s);
        tq_rmtree(dir);
    }
    tq_rmtree(d);
    free(d);
}

Test(trace_cli, record_lists_forked_children_and_report_flags_truncation)
{
    char *d = tq_tmpdir(), *out, *err, cmd[8400];
    snprintf(cmd, sizeof cmd, "%s record -o %s -- %s fork", tq_build_path("traceq"), d, tq_build_path("progs/forker"));
    cr_assert_eq(tq_run(cmd, &out, &err), 0);
    int pid = atoi(strstr(out, "pid ") + 4), child = atoi(strstr(out, "child ") + 6);
    char a[64], b[64];
    snprintf(a, sizeof a, "/traceq.forker.%d.tq\n", pid);
    snprintf(b, sizeof b, "/traceq.forker.%d.tq\n", child);
    cr_expect(strstr(err, a) && strstr(err, b), "stderr lists both traces: %s", err);
    free(out);
    free(err);
    char *d2 = tq_tmpdir();
    snprintf(cmd, sizeof cmd, "%s abort", tq_build_path("progs/forker"));
    cr_assert_eq(shim_record(d2, cmd, NULL), 134);
    snprintf(cmd, sizeof cmd, "%s report %s/traceq.forker.*.tq", tq_build_path("traceq"), d2);
    cr_assert_eq(tq_run(cmd, &out, NULL), 0);
    cr_expect(strstr(out, "; truncated after ") && strstr(out, " samples"), "%s", out);
    free(out);
    tq_rmtree(d);
    tq_rmtree(d2);
    free(d);
    free(d2);
}
