/* export_chrome.c - `traceq export --format chrome`: trace-event JSON with RSS, heap and mmap counter tracks.
 * Events are built with jansson one at a time and streamed, so a long trace is never held in memory. */
#include <jansson.h>
#include <stdbool.h>

#include "export.h"

struct chrome_ctx {
    FILE *out;
    unsigned pid;
    bool first;
};

/* One counter event ("ph":"C"); viewers draw each name as its own track. */
static tq_status put_counter(struct chrome_ctx *c, const char *name, double ts_us, double bytes, struct tq_err *err)
{
    json_t *ev = json_pack("{s:s, s:s, s:f, s:I, s:I, s:{s:f}}", "name", name, "ph", "C", "ts", ts_us, "pid",
                           (json_int_t)c->pid, "tid", (json_int_t)c->pid, "args", "bytes", bytes);
    if (!ev)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory building a JSON event");
    int rc = fputs(c->first ? "\n" : ",\n", c->out) < 0 ? -1 : json_dumpf(ev, c->out, JSON_COMPACT);
    json_decref(ev);
    c->first = false;
    return rc ? tq_fail(err, TQ_ERR_IO, "cannot write the Chrome trace") : TQ_OK;
}

static tq_status chrome_sample(const struct tq_rec_sample *s, void *ctx, struct tq_err *err)
{
    struct chrome_ctx *c = ctx;
    double ts = (double)s->t_ns / 1e3;
    TQ_TRY(put_counter(c, "RSS", ts, (double)s->vm_rss, err));
    TQ_TRY(put_counter(c, "heap", ts, (double)(s->heap_live_req > 0 ? s->heap_live_req : 0), err));
    return put_counter(c, "mmap", ts, (double)(s->mmap_live > 0 ? s->mmap_live : 0), err);
}

/* The pid is only known after the PROCESS record, so the process-name metadata event comes last. */
static tq_status put_process_name(struct chrome_ctx *c, const char *path, struct tq_err *err)
{
    json_t *ev = json_pack("{s:s, s:s, s:I, s:I, s:{s:s}}", "name", "process_name", "ph", "M", "pid",
                           (json_int_t)c->pid, "tid", (json_int_t)c->pid, "args", "name", path);
    if (!ev)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory building a JSON event");
    int rc = fputs(c->first ? "\n" : ",\n", c->out) < 0 ? -1 : json_dumpf(ev, c->out, JSON_COMPACT);
    json_decref(ev);
    return rc ? tq_fail(err, TQ_ERR_IO, "cannot write the Chrome trace") : TQ_OK;
}

tq_status tq_export_chrome(const char *path, FILE *out, struct tq_err *err)
{
    struct chrome_ctx c = {out, 0, true};
    fputs("{\"displayTimeUnit\":\"ms\",\"traceEvents\":[", out);
    TQ_TRY(tq_export_each_sample(path, chrome_sample, &c, &c.pid, err));
    TQ_TRY(put_process_name(&c, path, err));
    if (fputs("\n]}\n", out) < 0)
        return tq_fail(err, TQ_ERR_IO, "cannot write the Chrome trace");
    return TQ_OK;
}
