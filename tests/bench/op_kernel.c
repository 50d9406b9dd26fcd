/* op_kernel.c - time one operator's compute() alone (no file I/O, no page faults) on an in-memory synthetic
 * volume, so kernel changes can be measured on a loaded machine: prints the minimum wall and process CPU time over
 * the repetitions and a checksum of the output. Usage: op_kernel OP IxXxS THREADS REPS
 * OP "fft" is Envelope's anchor: only the FFTW transforms Envelope needs (one r2c and one c2r of every trace's
 * length, FFTW_ESTIMATE plans, single precision) over the same traces, on one thread (THREADS must be 1).
 * OP "envelope-fft" runs Envelope's compute() (one thread) and the anchor's pass in turns, REPS of each in one
 * process, and prints both lines: the two minima then come from the same CPU at the same time (this VM's vCPUs
 * differ 1.4x in speed, and two processes may land on different ones). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <fftw3.h>
#include <time.h>

#include "../../common/units.h"
#include "../../operators/operator.h"
#include "../../operators/volume.h"

static double now(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Huge-page backed like tq_op_run's slab buffers, so the kernels see the same TLB behaviour. NULL without memory. */
static float *big_alloc(size_t floats)
{
    size_t huge = (size_t)2 << 20, bytes = (floats * sizeof(float) + huge - 1) / huge * huge;
    void *p = NULL;
    if (posix_memalign(&p, huge, bytes))
        return NULL;
    madvise(p, bytes, MADV_HUGEPAGE);
    return p;
}

/* One pass of Envelope's transforms over every trace of vol: r2c straight from the trace, c2r back; returns a
 * checksum so nothing is optimised away. */
static double fft_pass(const float *vol, size_t traces, size_t n, fftwf_plan fwd, fftwf_plan inv, float *re,
                       fftwf_complex *sp)
{
    double sum = 0;
    for (size_t t = 0; t < traces; t++) {
        memcpy(re, vol + t * n, n * sizeof *re); /* the plans' alignment, as Envelope does */
        fftwf_execute_dft_r2c(fwd, re, sp);
        fftwf_execute_dft_c2r(inv, sp, re);
        sum += re[t % n];
    }
    return sum;
}

/* The minimum wall and CPU time of the runs timed so far. */
struct best {
    double wall, cpu;
};

static double best_start(double *c0)
{
    *c0 = now(CLOCK_PROCESS_CPUTIME_ID);
    return now(CLOCK_MONOTONIC);
}

static void best_stop(struct best *b, double w0, double c0)
{
    double w = now(CLOCK_MONOTONIC) - w0, c = now(CLOCK_PROCESS_CPUTIME_ID) - c0;
    b->wall = w < b->wall ? w : b->wall;
    b->cpu = c < b->cpu ? c : b->cpu;
}

/* The anchor alone, or (with env set) in turns with Envelope's compute() over the same volume. */
static int fft_anchor(const size_t shape[3], int reps, const struct tq_op *env)
{
    size_t n = shape[2], traces = shape[0] * shape[1];
    struct tq_box all = {{0, 0, 0}, {shape[0], shape[1], shape[2]}};
    struct tq_err err = {0};
    float *vol = big_alloc(traces * n), *out = env ? big_alloc(traces * n) : NULL, *re = fftwf_alloc_real(n);
    fftwf_complex *sp = fftwf_alloc_complex(n / 2 + 1);
    if (!vol || (env && !out) || !re || !sp || tq_synth_box(shape, 1, &all, vol, &err))
        return 1;
    fftwf_plan fwd = fftwf_plan_dft_r2c_1d((int)n, re, sp, FFTW_ESTIMATE);
    fftwf_plan inv = fftwf_plan_dft_c2r_1d((int)n, sp, re, FFTW_ESTIMATE);
    struct tq_op_params p;
    tq_op_params_default(&p);
    p.threads = 1;
    struct tq_block_io io = {.vol_shape = {shape[0], shape[1], shape[2]}, .in_box = all, .out_box = all, .in = vol,
                             .out = out};
    if (out)
        memset(out, 0, traces * n * sizeof *out); /* fault the pages in before timing */
    struct best fb = {1e30, 1e30}, eb = {1e30, 1e30};
    double sum = 0, c0, w0;
    for (int r = 0; r < reps; r++) {
        if (env) {
            w0 = best_start(&c0);
            if (env->compute(&p, &io, &err)) {
                fprintf(stderr, "op_kernel: %s\n", err.msg);
                return 1;
            }
            best_stop(&eb, w0, c0);
        }
        w0 = best_start(&c0);
        sum = fft_pass(vol, traces, n, fwd, inv, re, sp);
        best_stop(&fb, w0, c0);
    }
    if (env) {
        double esum = 0;
        for (size_t v = 0; v < traces * n; v++)
            esum += out[v];
        printf("envelope %zux%zux%zu threads=1: min wall %.4f s, min cpu %.4f s over %d reps (checksum %.9g)\n",
               shape[0], shape[1], shape[2], eb.wall, eb.cpu, reps, esum);
    }
    printf("fft %zux%zux%zu threads=1: min wall %.4f s, min cpu %.4f s over %d reps (checksum %.9g)\n", shape[0],
           shape[1], shape[2], fb.wall, fb.cpu, reps, sum);
    fftwf_destroy_plan(fwd);
    fftwf_destroy_plan(inv);
    fftwf_free(re);
    fftwf_free(sp);
    free(vol);
    free(out);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: op_kernel OP IxXxS THREADS REPS\n");
        return 2;
    }
    struct tq_err err = {0};
    size_t shape[3], out_shape[3];
    int with_env = !strcmp(argv[1], "envelope-fft");
    if (with_env || !strcmp(argv[1], "fft")) {
        if (tq_parse_shape(argv[2], shape, &err) || atoi(argv[3]) != 1) {
            fprintf(stderr, "op_kernel: %s needs a shape and THREADS 1\n", argv[1]);
            return 2;
        }
        return fft_anchor(shape, atoi(argv[4]), with_env ? tq_op_find("envelope") : NULL);
    }
    const struct tq_op *op = tq_op_find(argv[1]);
    struct tq_op_params p;
    tq_op_params_default(&p);
    p.threads = atoi(argv[3]);
    int reps = atoi(argv[4]);
    if (!op || tq_parse_shape(argv[2], shape, &err) || tq_op_output_shape(op, &p, shape, out_shape, &err)) {
        fprintf(stderr, "op_kernel: bad operator or shape %s\n", err.msg);
        return 2;
    }
    struct tq_block_io io = {.vol_shape = {shape[0], shape[1], shape[2]}};
    for (int a = 0; a < 3; a++) {
        io.in_box.hi[a] = shape[a];
        io.out_box.hi[a] = out_shape[a];
    }
    float *in = big_alloc(tq_box_voxels(&io.in_box)), *out = big_alloc(tq_box_voxels(&io.out_box));
    if (!in || !out || tq_synth_box(shape, 1, &io.in_box, in, &err))
        return 1;
    memset(out, 0, tq_box_voxels(&io.out_box) * 4); /* fault the pages in before timing */
    io.in = in;
    io.out = out;
    double best_wall = 1e30, best_cpu = 1e30;
    for (int r = 0; r < reps; r++) {
        double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
        if (op->compute(&p, &io, &err)) {
            fprintf(stderr, "op_kernel: %s\n", err.msg);
            return 1;
        }
        double w = now(CLOCK_MONOTONIC) - w0, c = now(CLOCK_PROCESS_CPUTIME_ID) - c0;
        best_wall = w < best_wall ? w : best_wall;
        best_cpu = c < best_cpu ? c : best_cpu;
    }
    double sum = 0;
    for (size_t v = 0; v < tq_box_voxels(&io.out_box); v++)
        sum += out[v];
    printf("%s %s threads=%d: min wall %.4f s, min cpu %.4f s over %d reps (checksum %.9g)\n", argv[1], argv[2],
           p.threads, best_wall, best_cpu, reps, sum);
    free(in);
    free(out);
    return 0;
}
