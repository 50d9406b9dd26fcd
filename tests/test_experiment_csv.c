/* test_experiment_csv.c - `traceq experiment --replot` reads results.csv with the CSV module: empty fields (a
 * strategy without a report has no block) do not shift the columns, quoted notes with commas and quotes stay one
 * field, a row cut short at the end is ignored, bad quoting is refused with exit code 2. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

#define HEADER                                                                                                   \
    "op,side,limit_bytes,strategy,blocks,block,threads_per_block,runs,ok,failed,wall_median_s,wall_min_s,"      \
    "wall_max_s,cpu_median_s,oom_kills,retries,peak_rss_bytes,peak_cgroup_bytes,correct,load1_start,load1_end,note\n"

/* Write text to dir/name. */
static void put(const char *dir, const char *name, const char *text)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert(f && fputs(text, f) >= 0 && fclose(f) == 0);
}

/* `traceq experiment -o OUT --replot CSV` in dir; returns the exit status, stderr in *err (caller frees). */
static int replot(const char *dir, const char *csv, const char *out, char **err)
{
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' experiment -o %s --replot %s", dir, tq_build_path("traceq"), out, csv);
    return tq_run(cmd, NULL, err);
}

static char *svg_of(const char *dir, const char *out)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s/results.svg", dir, out);
    char *svg = tq_slurp(path, NULL);
    cr_assert(svg && strstr(svg, "<svg"), "no plot in %s", path);
    return svg;
}

Test(experiment_csv, empty_fields_and_quoted_notes_keep_their_columns)
{
    char *dir = tq_tmpdir(), *err = NULL;
    /* The same results, once with every field filled and once with the block empty and a note that needs quotes:
     * replot uses neither, so both plots must be the same. A parser that merges empty fields would read auto's
     * failed count as its ok count (no bar) and its minimum as the median in the second. */
    put(dir, "full.csv", HEADER
        "gst3d,24,1000000,none,1,24x24x24,1,3,3,0,1.500,1.000,2.000,1.0,0,0,100,0,1,0.50,0.60,fine\n"
        "gst3d,24,1000000,auto,8,12x12x12,1,3,3,0,1.200,0.900,1.600,1.0,0,0,100,0,1,0.50,0.60,fine\n"
        "gst3d,24,1000000,seed,2,12x24x24,1,3,0,3,0.000,0.000,0.000,0.0,0,0,0,0,0,0.50,0.60,no report\n");
    put(dir, "empty.csv", HEADER
        "gst3d,24,1000000,none,1,24x24x24,1,3,3,0,1.500,1.000,2.000,1.0,0,0,100,0,1,0.50,0.60,"
        "\"fine, \"\"really\"\"\"\n"
        "gst3d,24,1000000,auto,8,,1,3,3,0,1.200,0.900,1.600,1.0,0,0,100,0,1,,,\n"
        "gst3d,24,1000000,seed,,,,3,0,3,0.000,0.000,0.000,0.0,0,0,0,0,0,,,\n"
        "gst3d,24,1000000,fixed-12,8,12x12x12,1,3,3,0,1.0");
    cr_assert_eq(replot(dir, "full.csv", "a", &err), 0, "%s", err);
    free(err);
    cr_assert_eq(replot(dir, "empty.csv", "b", &err), 0, "%s", err);
    free(err);
    char *a = svg_of(dir, "a"), *b = svg_of(dir, "b");
    cr_assert_str_eq(a, b, "the empty fields moved a column");
    free(a);
    free(b);
    /* A quote left open runs to the end of the file: that last row is dropped, the rows before it are drawn. */
    put(dir, "open.csv", HEADER
        "gst3d,24,1000000,none,1,24x24x24,1,3,3,0,1.500,1.000,2.000,1.0,0,0,100,0,1,0.50,0.60,fine\n"
        "gst3d,24,1000000,auto,8,12x12x12,1,3,3,0,1.200,0.900,1.600,1.0,0,0,100,0,1,0.50,0.60,fine\n"
        "gst3d,24,1000000,seed,2,12x24x24,1,3,0,3,0.000,0.000,0.000,0.0,0,0,0,0,0,0.50,0.60,no report\n"
        "gst3d,24,1000000,fixed-12,8,12x12x12,1,3,3,0,1.0,1.0,1.0,1.0,0,0,1,0,1,0.5,0.5,\"cut");
    cr_assert_eq(replot(dir, "open.csv", "c", &err), 0, "%s", err);
    free(err);
    a = svg_of(dir, "a");
    char *c = svg_of(dir, "c");
    cr_assert_str_eq(a, c);
    free(a);
    free(c);
    /* Text after a closing quote is not a table. */
    put(dir, "bad.csv", HEADER "gst3d,24,1000000,none,1,\"24\"x,1,3,3,0,1.5,1.0,2.0,1.0,0,0,100,0,1,0.5,0.6,\n");
    cr_assert_eq(replot(dir, "bad.csv", "d", &err), 2);
    cr_assert(strstr(err, "bad.csv:2:") && strstr(err, "after the closing quote"), "%s", err);
    free(err);
    tq_rmtree(dir);
    free(dir);
}
