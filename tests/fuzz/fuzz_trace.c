/* fuzz_trace.c - libFuzzer target: the trace reader, every record decoder and the trace summary on arbitrary bytes. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "../../report/sites.h"
#include "../../report/trace_json.h"
#include "../../report/trace_summary.h"
#include "../../traces/codec.h"
#include "../../traces/event_ctxs.h"
#include "../../traces/reader.h"
#include "fuzz_file.h"

/* Decode one record with its type's decoder and walk everything it points to, so ASan sees every byte read. CTX_EVENTS
 * records decode with their contexts in ctxs. */
static uint64_t fuzz_decode(const struct tq_rec *rec, struct tq_event_ctxs *ctxs)
{
    uint64_t sum = 0;
    switch (rec->type) {
    case TQ_REC_PROCESS: {
        struct tq_rec_process p;
        if (tq_rec_get_process(rec, &p) == 0) {
            for (uint32_t i = 0; i < p.exe_len; i++)
                sum += (uint8_t)p.exe[i];
            for (uint32_t i = 0; i < p.argc; i++) {
                const char *s;
                uint32_t len;
                if (tq_rec_process_arg(&p, i, &s, &len) == 0 && len)
                    sum += (uint8_t)s[len - 1];
            }
        }
        break;
    }
    case TQ_REC_SAMPLE: {
        struct tq_rec_sample s;
        if (tq_rec_get_sample(rec, &s) == 0)
            sum += s.vm_rss;
        break;
    }
    case TQ_REC_CALLS: {
        struct tq_rec_calls c;
        if (tq_rec_get_calls(rec, &c) == 0)
            sum += c.count[0];
        break;
    }
    case TQ_REC_END: {
        struct tq_rec_end e;
        if (tq_rec_get_end(rec, &e) == 0)
            sum += e.vm_hwm;
        break;
    }
    case TQ_REC_EXEC: {
        struct tq_rec_exec x;
        if (tq_rec_get_exec(rec, &x) == 0 && x.path_len)
            sum += (uint8_t)x.path[x.path_len - 1];
        break;
    }
    case TQ_REC_EVENTS:
    case TQ_REC_ADDR_EVENTS:
    case TQ_REC_PACKED_EVENTS:
    case TQ_REC_CTX_EVENTS:
    case TQ_REC_INFO_EVENTS:
    case TQ_REC_REPEAT_EVENTS: {
        struct tq_rec_events e;
        struct tq_events_iter it;
        struct tq_event ev;
        struct tq_err err;
        if (tq_event_ctxs_open(ctxs, "fuzz", rec, &e, &it, &err) == TQ_OK)
            while (tq_events_next(&it, &ev) == 1)
                sum += ev.size;
        break;
    }
    case TQ_REC_STACK: {
        struct tq_rec_stack s;
        if (tq_rec_get_stack(rec, &s) == 0)
            for (uint32_t i = 0; i < s.depth; i++)
                sum += tq_rec_stack_ip(&s, i);
        break;
    }
    case TQ_REC_MODULE: {
        struct tq_rec_module m;
        if (tq_rec_get_module(rec, &m) == 0 && m.path_len)
            sum += (uint8_t)m.path[m.path_len - 1];
        break;
    }
    default:
        break;
    }
    return sum;
}

/* The streaming reader over the bytes in memory, then the summary `traceq report` builds from the same bytes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tq_err err = {0};
    struct tq_trace_reader *r = NULL;
    tq_status st = tq_trace_open_mem(data, size, &r, &err);
    FUZZ_REQUIRE_MESSAGE(st, err);
    if (st == TQ_OK) {
        struct tq_rec rec;
        bool done = false;
        volatile uint64_t sink = 0;
        static struct tq_event_ctxs ctxs;
        while ((st = tq_trace_next(r, &rec, &done, &err)) == TQ_OK && !done)
            sink += fuzz_decode(&rec, &ctxs);
        tq_event_ctxs_clear(&ctxs);
        FUZZ_REQUIRE_MESSAGE(st, err);
        (void)sink;
        tq_trace_close(r);
    }

    struct tq_trace_summary s;
    struct tq_err err2 = {0};
    st = tq_trace_summarize(fuzz_file_path(data, size), &s, &err2);
    FUZZ_REQUIRE_MESSAGE(st, err2);
    if (st == TQ_OK) {
        char line[256];
        tq_trace_summary_ending(&s, line, sizeof line);
        /* What `traceq report --json` prints: names from the trace may be any bytes (not UTF-8). */
        json_t *j = tq_trace_summary_json(&s);
        if (!j) {
            fprintf(stderr, "report --json has no object for an accepted trace\n");
            abort();
        }
        char *text = json_dumps(j, 0);
        if (!text) {
            fprintf(stderr, "report --json cannot print an accepted trace\n");
            abort();
        }
        free(text);
        json_decref(j);
        tq_trace_summary_clear(&s);
        /* `traceq report --top` / `traceq diff`: replay the heap and merge stacks into sites. */
        struct tq_sites sites = {0};
        struct tq_err err3 = {0};
        st = tq_sites_load(fuzz_file_path(data, size), &sites, &err3);
        FUZZ_REQUIRE_MESSAGE(st, err3);
        if (st == TQ_OK) {
            tq_sites_sort(&sites, TQ_SITES_BY_PEAK);
            tq_sites_sort(&sites, TQ_SITES_BY_KEY);
        }
        tq_sites_clear(&sites);
    }
    return 0;
}
