/* export_csv.c - `traceq export --format csv`: one row per sample, bytes and seconds, with a header row. */
#include <inttypes.h>

#include "export.h"

static tq_status csv_row(const struct tq_rec_sample *s, void *ctx, struct tq_err *err)
{
    FILE *out = ctx;
    if (fprintf(out, "%.6f,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRId64 ",%" PRId64 ",%" PRIu64 ",%" PRIu64
                     ",%" PRId64 ",%" PRIu64 ",%" PRIu64 "\n",
                (double)s->t_ns / 1e9, s->vm_size, s->vm_rss, s->vm_shared, s->heap_live_req, s->heap_live_usable,
                s->heap_peak_req, s->heap_peak_usable, s->mmap_live, s->mmap_peak, s->calls_total) < 0)
        return tq_fail(err, TQ_ERR_IO, "cannot write the CSV");
    return TQ_OK;
}

tq_status tq_export_csv(const char *path, FILE *out, struct tq_err *err)
{
    /* Units are in the column names (architecture.md: datasets are CSV with units in the header). */
    fprintf(out, "t_s,vm_size_bytes,vm_rss_bytes,vm_shared_bytes,heap_live_bytes,heap_live_usable_bytes,"
                 "heap_peak_bytes,heap_peak_usable_bytes,mmap_live_bytes,mmap_peak_bytes,calls_total\n");
    return tq_export_each_sample(path, csv_row, out, NULL, err);
}
