/* test_stacks_big.c - the analyzer streams: a trace of 20M allocation events is reported with under 100 MiB RSS. */
#include <fcntl.h>
#include <unistd.h>

#include "../traces/writer.h"
#include "shim_util.h"

#define BIG_EVENTS 20000000u
#define BATCH 4096u
#define LIVE 1024u
#define NSTACKS 64u

/* 10M malloc + 10M free events over 1024 live slots and 64 stacks, written through the codec and writer. */
static void write_big_trace(const char *path)
{
    struct tq_trace_writer w;
    tq_fixture_trace_open(path, &w);
    static uint8_t rec[TQ_REC_HEADER_SIZE + 16 + BATCH * 51];
    struct tq_rec_process p = {.pid = 4242, .ppid = 1, .interval_us = 10000, .page_size = 4096,
                               .flags = TQ_PROC_STACKS};
    char *argv[] = {"big"};
    tq_fixture_put(&w, rec, tq_rec_put_process(rec, sizeof rec, &p, "/bin/big", 1, argv));
    for (uint32_t id = 1; id <= NSTACKS; id++) {
        uint64_t ips[3] = {0x401000 + id * 16, 0x402000, 0x403000};
        tq_fixture_put(&w, rec, tq_rec_put_stack(rec, sizeof rec, id, ips, 3));
    }
    static struct tq_event ev[BATCH];
    uint64_t live[LIVE] = {0}, x = 88172645463325252ull, t = 0, next_addr = 0x10000000;
    uint32_t k = 0;
    for (uint32_t i = 0; i < BIG_EVENTS / 2; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        unsigned slot = (unsigned)(x % LIVE);
        t += 50;
        if (live[slot])
            ev[k++] = (struct tq_event){.kind = TQ_CALL_FREE, .t_ns = t, .addr = live[slot]};
        else
            ev[k++] = (struct tq_event){.kind = TQ_CALL_FREE, .t_ns = t, .addr = 1}; /* free of an unknown block */
        live[slot] = next_addr;
        next_addr += 4096;
        ev[k++] = (struct tq_event){.kind = TQ_CALL_MALLOC, .t_ns = t, .addr = live[slot],
                                    .size = 16 + (x >> 40) % 2048, .stack_id = 1 + (uint32_t)(x >> 20) % NSTACKS};
        if (k == BATCH) {
            tq_fixture_put(&w, rec, tq_rec_put_events(rec, sizeof rec, 1, ev, k));
            k = 0;
        }
    }
    if (k)
        tq_fixture_put(&w, rec, tq_rec_put_events(rec, sizeof rec, 1, ev, k));
    struct tq_rec_end e = {.t_ns = t, .reason = TQ_END_EXIT};
    tq_fixture_put(&w, rec, tq_rec_put_end(rec, sizeof rec, &e));
    cr_assert_eq(tq_writer_close(&w), 0);
}

Test(stacks_big, twenty_million_events_under_100_mib)
{
    char *d = tq_tmpdir(), path[4200], cmd[8800], *out = NULL, *err = NULL;
    snprintf(path, sizeof path, "%s/big.tq", d);
    write_big_trace(path);
    /* GNU time prints the child's maximum resident set size in KiB on stderr. */
    snprintf(cmd, sizeof cmd, "/usr/bin/time -f 'maxrss %%M' %s report --top 3 %s", tq_build_path("traceq"), path);
    cr_assert_eq(tq_run(cmd, &out, &err), 0, "%s", err);
    const char *m = strstr(err, "maxrss ");
    cr_assert_not_null(m, "%s", err);
    long kib = atol(m + 7);
    cr_expect_lt(kib, 100 * 1024, "report of 20M events took %ld KiB", kib);
    cr_log_info("traceq report --top of 20M events: max RSS %ld KiB", kib);
    cr_expect_gt(kib, 0);
    cr_expect_not_null(strstr(out, "(10000000 in total)"), "%s", out);
    free(out);
    free(err);
    tq_rmtree(d);
    free(d);
}
