/* export_samples.c - walking a trace's SAMPLE records for the exporters and plots; format names. */
#include <string.h>

#include "../traces/reader.h"
#include "export.h"

tq_status tq_export_parse_format(const char *s, enum tq_export_format *out, struct tq_err *err)
{
    static const char *names[] = {"massif", "folded", "chrome", "csv"};
    for (int i = 0; i < 4; i++)
        if (s && !strcmp(s, names[i])) {
            *out = (enum tq_export_format)i;
            return TQ_OK;
        }
    return tq_fail(err, TQ_ERR_USAGE, "unknown export format '%s' (use massif, folded, chrome or csv)", s ? s : "");
}

tq_status tq_export_parse_folded_by(const char *s, enum tq_folded_by *out, struct tq_err *err)
{
    if (s && !strcmp(s, "peak"))
        *out = TQ_FOLDED_PEAK;
    else if (s && !strcmp(s, "allocated"))
        *out = TQ_FOLDED_ALLOCATED;
    else
        return tq_fail(err, TQ_ERR_USAGE, "unknown weight '%s' (use peak or allocated)", s ? s : "");
    return TQ_OK;
}

tq_status tq_export_each_sample(const char *path, tq_sample_fn fn, void *ctx, unsigned *pid, struct tq_err *err)
{
    struct tq_trace_reader *r;
    TQ_TRY(tq_trace_open(path, &r, err));
    struct tq_rec rec;
    bool done = false;
    tq_status st;
    while (!(st = tq_trace_next(r, &rec, &done, err)) && !done) {
        if (rec.type == TQ_REC_PROCESS && pid) {
            struct tq_rec_process p;
            if (tq_rec_get_process(&rec, &p) == 0)
                *pid = p.pid;
        } else if (rec.type == TQ_REC_SAMPLE) {
            struct tq_rec_sample s;
            if (tq_rec_get_sample(&rec, &s)) {
                st = tq_fail(err, TQ_ERR_FORMAT, "%s: corrupt SAMPLE record", path);
                break;
            }
            if ((st = fn(&s, ctx, err)))
                break;
        }
    }
    tq_trace_close(r);
    return st;
}
