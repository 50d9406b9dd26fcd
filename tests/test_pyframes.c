/* test_pyframes.c - record --stacks of CPython 3.11 programs: sites named by the script's file:line (nested calls,
 * threads, a C extension's allocation, a forked child, a thread that allocates without the GIL), --python-only, a clear refusal for programs without Python
 * frames, and the shim's CPython struct offsets checked against the installed headers. */
#include <jansson.h>
#include <unistd.h>

#include "shim_util.h"

/* The line of tests/py/pyframes_prog.py that carries "# SITE:name". */
static int site_line(const char *name)
{
    size_t len;
    char *text = tq_slurp(tq_src_path("tests/py/pyframes_prog.py"), &len), marker[128];
    cr_assert_not_null(text);
    snprintf(marker, sizeof marker, "# SITE:%s\n", name);
    char *at = strstr(text, marker);
    cr_assert_not_null(at, "no %s marker", name);
    int line = 1;
    for (char *p = text; p < at; p++)
        line += *p == '\n';
    free(text);
    return line;
}

/* Record pyframes_prog.py MODE with --stacks; returns the directory (caller frees and removes). */
static char *record_mode(const char *mode)
{
    char *d = tq_tmpdir(), args[4200];
    snprintf(args, sizeof args, "%s %s %s", tq_python(), tq_src_path("tests/py/pyframes_prog.py"), mode);
    cr_assert_eq(shim_record_opts(d, "--stacks", args, NULL), 0, "record %s", mode);
    return d;
}

/* `report --json --top 5 [opts] TRACE` parsed; the caller decrefs. */
static json_t *top_json(const char *trace, const char *opts)
{
    char cmd[8400], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s report --json --top 5 %s %s", tq_build_path("traceq"), opts, trace);
    cr_assert_eq(tq_run(cmd, &out, NULL), 0, "%s", cmd);
    json_error_t je;
    json_t *root = json_loads(out, 0, &je);
    cr_assert_not_null(root, "%s", je.text);
    free(out);
    return root;
}

/* The first of the trace's top sites by peak bytes, checked to be "fn (pyframes_prog.py:LINE)" holding about
 * `bytes` (within 1%); returns its callers (borrowed from root). */
static const char *expect_top_site(json_t *root, const char *fn, long long bytes)
{
    json_t *peak = json_object_get(json_object_get(json_array_get(json_object_get(root, "traces"), 0), "top"), "peak");
    json_t *row = json_array_get(peak, 0);
    cr_assert_not_null(row, "no sites");
    char want[256];
    snprintf(want, sizeof want, "%s (pyframes_prog.py:%d)", fn, site_line(fn));
    const char *site = json_string_value(json_object_get(row, "site"));
    cr_expect_str_eq(site, want);
    long long got = (long long)json_integer_value(json_object_get(row, "peak_bytes"));
    cr_expect(got >= bytes && got <= bytes + bytes / 100, "%s: %lld bytes, expected about %lld", site, got, bytes);
    return json_string_value(json_object_get(row, "callers"));
}

Test(pyframes, nested_functions_name_the_script_line, .timeout = 120)
{
    char *d = record_mode("nested"), *t = shim_one_trace(d, "python3*", 0);
    json_t *root = top_json(t, "");
    const char *callers = expect_top_site(root, "level2", 40000000);
    char want[128];
    snprintf(want, sizeof want, "level1 (pyframes_prog.py:%d) < main (pyframes_prog.py:", site_line("level1"));
    cr_expect(callers && !strncmp(callers, want, strlen(want)), "callers: %s", callers);
    json_decref(root);
    /* mixed stacks in the folded export; --python-only folds the native frames away */
    char cmd[8400], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s export --format folded %s", tq_build_path("traceq"), t);
    cr_assert_eq(tq_run(cmd, &out, NULL), 0);
    cr_expect_not_null(strstr(out, ";_PyEval_EvalFrameDefault;"), "native frames are kept by default");
    cr_expect_not_null(strstr(out, ";level1;level2;"), "Python frames inside the eval loop's frame");
    free(out);
    snprintf(cmd, sizeof cmd, "%s export --format folded --python-only %s", tq_build_path("traceq"), t);
    cr_assert_eq(tq_run(cmd, &out, NULL), 0);
    cr_expect_not_null(strstr(out, "<module>;main;level1;level2 40000"), "%s", out);
    cr_expect_null(strstr(out, "_PyEval_EvalFrameDefault"), "no native frames with --python-only");
    free(out);
    free(t);
    tq_rmtree(d);
    free(d);
}

Test(pyframes, a_thread_has_its_own_python_stack, .timeout = 120)
{
    char *d = record_mode("thread"), *t = shim_one_trace(d, "python3*", 0);
    json_t *root = top_json(t, "--python-only");
    const char *callers = expect_top_site(root, "worker", 30000000);
    cr_expect(callers && strstr(callers, "Thread.run (threading.py:"), "callers: %s", callers);
    json_decref(root);
    free(t);
    tq_rmtree(d);
    free(d);
}

/* A thread that allocates after releasing the GIL (NumPy's stable sort: NPY_BEGIN_THREADS, then malloc of its merge
 * buffer) keeps the Python stack it had when it released it, and its innermost Python frame says so. */
Test(pyframes, gil_released_allocation_keeps_the_last_python_stack, .timeout = 120)
{
    char *d = record_mode("nogil"), *t = shim_one_trace(d, "python3*", 0);
    const char *marker = " [GIL released; Python stack as of the release]";
    for (int python_only = 0; python_only < 2; python_only++) {
        json_t *root = top_json(t, python_only ? "--python-only" : "");
        json_t *peak = json_object_get(json_object_get(json_array_get(json_object_get(root, "traces"), 0), "top"),
                                       "peak");
        const char *site = NULL, *callers = NULL;
        long long bytes = 0;
        for (size_t i = 0; i < json_array_size(peak) && !site; i++) {
            json_t *row = json_array_get(peak, i);
            const char *s = json_string_value(json_object_get(row, "site"));
            if (s && strstr(s, marker)) {
                site = s;
                callers = json_string_value(json_object_get(row, "callers"));
                bytes = (long long)json_integer_value(json_object_get(row, "peak_bytes"));
            }
        }
        cr_assert_not_null(site, "no site allocated without the GIL among the top 5 (python_only %d)", python_only);
        /* the merge buffer: up to 5,000,000 float64 (timsort grows it as its runs need) */
        cr_expect(bytes >= 10000000 && bytes <= 40400000, "%s: %lld bytes", site, bytes);
        /* only the innermost Python frame carries the marker: it is numpy's sort(), called from sort_worker */
        cr_expect(strstr(site, "sort (") == site, "site: %s", site);
        cr_expect(callers && !strstr(callers, marker), "callers: %s", callers);
        if (python_only) {
            char want[128];
            snprintf(want, sizeof want, "sort_worker (pyframes_prog.py:%d)", site_line("sort_worker"));
            cr_expect(callers && strstr(callers, want), "the kept stack goes on with %s: %s", want, callers);
            cr_expect(callers && strstr(callers, "Thread.run (threading.py:"), "callers: %s", callers);
        }
        json_decref(root);
    }
    free(t);
    tq_rmtree(d);
    free(d);
}

Test(pyframes, a_c_extension_allocation_names_the_calling_line, .timeout = 120)
{
    char *d = record_mode("numpy"), *t = shim_one_trace(d, "python3*", 0);
    json_t *root = top_json(t, "");
    expect_top_site(root, "make_array", 40000000);
    json_decref(root);
    free(t);
    tq_rmtree(d);
    free(d);
}

Test(pyframes, a_forked_child_keeps_python_frames, .timeout = 120)
{
    char *d = record_mode("fork");
    cr_assert_eq(shim_count(d), 2, "parent and child traces");
    char pat[4200];
    snprintf(pat, sizeof pat, "%s/traceq.python3*.tq", d);
    glob_t g;
    cr_assert_eq(glob(pat, 0, NULL, &g), 0);
    int found = 0;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        json_t *root = top_json(g.gl_pathv[i], "");
        const char *site = json_string_value(json_object_get(
            json_array_get(json_object_get(json_object_get(json_array_get(json_object_get(root, "traces"), 0), "top"),
                                           "peak"),
                           0),
            "site"));
        char want[128];
        snprintf(want, sizeof want, "child_work (pyframes_prog.py:%d)", site_line("child_work"));
        found += site && !strcmp(site, want);
        json_decref(root);
    }
    globfree(&g);
    cr_expect_eq(found, 1, "the child's trace names child_work");
    tq_rmtree(d);
    free(d);
}

Test(pyframes, python_only_without_python_frames_is_refused)
{
    char *d = tq_tmpdir(), args[4200], cmd[8400], *err = NULL;
    snprintf(args, sizeof args, "%s", tq_build_path("progs/leaks_temps"));
    cr_assert_eq(shim_record_opts(d, "--stacks", args, NULL), 0);
    char *t = shim_one_trace(d, "leaks_temps", 0);
    snprintf(cmd, sizeof cmd, "%s report --top 3 --python-only %s", tq_build_path("traceq"), t);
    cr_expect_eq(tq_run(cmd, NULL, &err), 2);
    cr_expect_not_null(strstr(err, "has no Python frames"), "%s", err);
    free(err);
    snprintf(cmd, sizeof cmd, "%s export --format csv --python-only %s", tq_build_path("traceq"), t);
    cr_expect_eq(tq_run(cmd, NULL, NULL), 2, "--python-only is for folded stacks");
    free(t);
    tq_rmtree(d);
    free(d);
}

/* record --no-python-frames (and TRACEQ_PYFRAMES=0): the same script's stacks are native only; --python-only then
 * says the trace has no Python frames. */
Test(pyframes, the_switch_turns_python_frames_off, .timeout = 120)
{
    for (int how = 0; how < 2; how++) {
        char *d = tq_tmpdir(), args[4200], cmd[8400], *out = NULL, *err = NULL;
        snprintf(args, sizeof args, "%s %s nested", tq_python(), tq_src_path("tests/py/pyframes_prog.py"));
        if (how)
            setenv("TRACEQ_PYFRAMES", "0", 1); /* record passes it on */
        cr_assert_eq(shim_record_opts(d, how ? "--stacks" : "--stacks --no-python-frames", args, NULL), 0);
        unsetenv("TRACEQ_PYFRAMES");
        char *t = shim_one_trace(d, "python3*", 0);
        snprintf(cmd, sizeof cmd, "%s export --format folded %s", tq_build_path("traceq"), t);
        cr_assert_eq(tq_run(cmd, &out, NULL), 0);
        cr_expect_not_null(strstr(out, ";_PyEval_EvalFrameDefault;"), "native frames are there (how %d)", how);
        cr_expect_null(strstr(out, "level2"), "no Python frame (how %d)", how);
        cr_expect_null(strstr(out, "pyframes_prog.py"), "no Python file (how %d)", how);
        free(out);
        snprintf(cmd, sizeof cmd, "%s report --top 3 --python-only %s", tq_build_path("traceq"), t);
        cr_expect_eq(tq_run(cmd, NULL, &err), 2);
        cr_expect_not_null(strstr(err, "has no Python frames"), "%s", err);
        free(err);
        free(t);
        tq_rmtree(d);
        free(d);
    }
}

/* The offsets the shim reads CPython 3.11 with are the installed interpreter's (when its headers are here). */
Test(pyframes, struct_offsets_match_the_installed_headers)
{
    if (access("/usr/include/python3.11/internal/pycore_frame.h", R_OK) != 0)
        cr_skip_test("python3.11-dev headers not installed");
    char *d = tq_tmpdir(), src[4200], cmd[12000];
    snprintf(src, sizeof src, "%s/check.c", d);
    FILE *f = fopen(src, "w");
    cr_assert_not_null(f);
    fprintf(f, "#define Py_BUILD_CORE 1\n#include <Python.h>\n#include <internal/pycore_runtime.h>\n"
               "#include <internal/pycore_frame.h>\n#include <stddef.h>\n#include \"%s\"\n"
               "#define EQ(a, b) _Static_assert((a) == (b), #a)\n"
               "EQ(offsetof(_PyRuntimeState, gilstate.tstate_current), TQ_PY311_RT_TSTATE_CURRENT);\n"
               "EQ(offsetof(_PyRuntimeState, gilstate.autoTSSkey), TQ_PY311_RT_AUTOTSS);\n"
               "EQ(offsetof(Py_tss_t, _key), 4);\n"
               "EQ(offsetof(PyThreadState, cframe), TQ_PY311_TS_CFRAME);\n"
               "EQ(offsetof(_PyCFrame, current_frame), TQ_PY311_CF_CURRENT);\n"
               "EQ(offsetof(_PyInterpreterFrame, f_code), TQ_PY311_IF_CODE);\n"
               "EQ(offsetof(_PyInterpreterFrame, previous), TQ_PY311_IF_PREVIOUS);\n"
               "EQ(offsetof(_PyInterpreterFrame, prev_instr), TQ_PY311_IF_PREV_INSTR);\n"
               "EQ(offsetof(_PyInterpreterFrame, is_entry), TQ_PY311_IF_IS_ENTRY);\n"
               "EQ(offsetof(PyObject, ob_type), TQ_PY311_OB_TYPE);\n"
               "EQ(offsetof(PyVarObject, ob_size), TQ_PY311_OB_SIZE);\n"
               "EQ(offsetof(PyCodeObject, co_firstlineno), TQ_PY311_CO_FIRSTLINENO);\n"
               "EQ(offsetof(PyCodeObject, co_filename), TQ_PY311_CO_FILENAME);\n"
               "EQ(offsetof(PyCodeObject, co_qualname), TQ_PY311_CO_QUALNAME);\n"
               "EQ(offsetof(PyCodeObject, co_linetable), TQ_PY311_CO_LINETABLE);\n"
               "EQ(offsetof(PyCodeObject, co_code_adaptive), TQ_PY311_CO_CODE);\n"
               "EQ(offsetof(PyASCIIObject, length), TQ_PY311_STR_LENGTH);\n"
               "EQ(offsetof(PyASCIIObject, state), TQ_PY311_STR_STATE);\n"
               "EQ(sizeof(PyASCIIObject), TQ_PY311_STR_ASCII_DATA);\n"
               "EQ(sizeof(PyCompactUnicodeObject), TQ_PY311_STR_COMPACT_DATA);\n"
               "EQ(offsetof(PyBytesObject, ob_sval), TQ_PY311_BYTES_DATA);\n"
               "int main(void) { return 0; }\n",
            tq_src_path("preload/pyframes_layout.h"));
    fclose(f);
    char *err = NULL;
    snprintf(cmd, sizeof cmd, "cc -std=gnu11 -I/usr/include/python3.11 -fsyntax-only %s", src);
    cr_expect_eq(tq_run(cmd, NULL, &err), 0, "offsets differ from the installed headers:\n%s", err);
    free(err);
    tq_rmtree(d);
    free(d);
}
