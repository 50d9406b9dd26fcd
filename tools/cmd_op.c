/* cmd_op.c - `traceq op`: run Envelope, Gaussian or GST3D on a volume file or the synthetic model, whole or block
 * by block, into a .npy or SEG-Y output written under a temporary name. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/clock.h"
#include "../common/units.h"
#include "../operators/block_exec.h"
#include "cli.h"

/* The operators, from their table. */
static void op_list(FILE *f)
{
    fprintf(f, "Operators:\n");
    for (const struct tq_op *op = tq_ops; op->name; op++)
        fprintf(f, "  %-10s %s\n", op->name, op->title);
}

struct op_args {
    const struct tq_op *op;
    struct tq_op_params p;
    const char *input, *output;
    size_t synth_shape[3], block[3]; /* all 0: not given */
    int force;
    long seed;
};

/* "3" or "1.5,2,2.5": sigma for every axis or one per axis; each must be finite and > 0. */
static int parse_sigma(const char *s, double sigma[3])
{
    char *end;
    for (int a = 0; a < 3; a++) {
        sigma[a] = strtod(s, &end);
        if (end == s || !(sigma[a] > 0) || sigma[a] > 1e6)
            return -1;
        if (a == 0 && *end == 0) {
            sigma[1] = sigma[2] = sigma[0];
            return 0;
        }
        if (a < 2 && *end != ',')
            return -1;
        s = end + 1;
    }
    return *end == 0 ? 0 : -1;
}

/* --sigma: checked and stored (a tq_cli_call). */
static int op_sigma(const struct tq_cli_command *cmd, int key, const char *arg, void *opts)
{
    (void)key;
    if (parse_sigma(arg, ((struct op_args *)opts)->p.sigma))
        return tq_cli_usage_error(cmd->name, "--sigma must be one or three numbers > 0 (S or SI,SX,SS), got '%s'",
                                  arg);
    return -1;
}

const struct tq_cli_command cli_op = {
    .name = "op",
    .opts = TQ_OPTIONS(
        TQ_OPT_INPUT("F", "input volume, .npy (float32/float64) or .segy/.sgy (this or --synthetic)",
                     TQ_STORE_STR(struct op_args, input)),
        TQ_OPT('y', "synthetic", "SHAPE", "use the synthetic model of SHAPE (IxXxS or I,X,S) instead", NULL,
               TQ_STORE_SHAPE(struct op_args, synth_shape)),
        TQ_OPT_SEED("seed of the synthetic model", struct op_args, seed),
        TQ_OPT_OUTPUT("F", "output volume, .npy or .segy/.sgy (required)", NULL,
                      TQ_STORE_STR(struct op_args, output)),
        TQ_OPT('b', "block", "I,X,S",
               "compute the output in blocks of this shape, one after the other, each from its own input box (result "
               "identical to a whole run)",
               "whole", TQ_STORE_SHAPE(struct op_args, block)),
        TQ_OPT_THREADS("threads inside a block, 0 = all cores", struct op_args, p.threads),
        TQ_OPT('s', "sigma", "S|SI,SX,SS", "Gaussian sigma, one for all axes or one per axis", "3",
               TQ_STORE_CALL(op_sigma)),
        TQ_OPT('T', "truncate", "T", "Gaussian radius = int(T * sigma + 0.5)", "4",
               TQ_STORE_POSITIVE(struct op_args, p.truncate, HUGE_VAL)),
        TQ_OPT_FULL_SIZE('F', TQ_STORE_FLAG(struct op_args, p.full_size)),
        TQ_OPT_FORCE('f', "the output", TQ_STORE_FLAG(struct op_args, force))),
    .usage = "traceq op OPERATOR (--input F | --synthetic SHAPE [--seed S]) --output F [options]",
    .about = "Run one seismic operator over a float32 volume (inlines, xlines, samples) and write the result.",
    .more = op_list,
    .epilog = "The output is written under a temporary name beside F and renamed when complete; on any error no\n"
              "output is left behind. Exit codes: 0 success, 1 failure, 2 usage error or bad input.",
};

/* Returns -1 to go on, else the exit code. */
static int op_parse(int argc, char **argv, struct op_args *a)
{
    struct tq_err err = {0};
    int rc = tq_cli_parse(&cli_op, argc, argv, a);
    if (rc >= 0)
        return rc;
    if (optind >= argc)
        return tq_cli_usage_error("op", "missing OPERATOR (envelope, gaussian or gst3d)");
    if (optind + 1 < argc)
        return tq_cli_usage_error("op", "unexpected argument '%s'", argv[optind + 1]);
    a->op = tq_op_find(argv[optind]);
    if (!a->op)
        return tq_cli_usage_error("op", "unknown operator '%s' (envelope, gaussian or gst3d)", argv[optind]);
    if (!a->input == !a->synth_shape[0])
        return tq_cli_usage_error("op", "give exactly one of --input F and --synthetic SHAPE");
    if (!a->output)
        return tq_cli_usage_error("op", "missing --output F (.npy or .segy)");
    if (tq_op_params_check(a->op, &a->p, &err))
        return tq_cli_fail("op", &err);
    return -1;
}

/* Every block of the block grid, in C order, through tq_op_run. */
static tq_status op_run_blocks(const struct op_args *a, const struct tq_op_source *src, const struct tq_op_sink *dst,
                               const size_t out_shape[3], size_t *nblocks, struct tq_err *err)
{
    size_t step[3];
    for (int d = 0; d < 3; d++) {
        step[d] = a->block[0] ? a->block[d] : out_shape[d];
        if (step[d] > out_shape[d])
            return tq_fail(err, TQ_ERR_RANGE, "--block %zu on axis %d is outside the output, whose shape is %zux%zux%zu",
                           step[d], d, out_shape[0], out_shape[1], out_shape[2]);
    }
    *nblocks = 0;
    struct tq_box b;
    for (b.lo[0] = 0; b.lo[0] < out_shape[0]; b.lo[0] += step[0])
        for (b.lo[1] = 0; b.lo[1] < out_shape[1]; b.lo[1] += step[1])
            for (b.lo[2] = 0; b.lo[2] < out_shape[2]; b.lo[2] += step[2]) {
                for (int d = 0; d < 3; d++)
                    b.hi[d] = b.lo[d] + step[d] < out_shape[d] ? b.lo[d] + step[d] : out_shape[d];
                TQ_TRY(tq_op_run(a->op, &a->p, src, dst, &b, err));
                ++*nblocks;
            }
    return TQ_OK;
}

int cmd_op(int argc, char **argv)
{
    struct op_args a = {.seed = 1};
    tq_op_params_default(&a.p);
    int rc = op_parse(argc, argv, &a);
    if (rc >= 0)
        return rc;
    double t0 = tq_clock_now();
    struct tq_err err = {0};
    tq_vol_reader *reader = NULL;
    tq_vol_writer *writer = NULL;
    struct tq_op_source src;
    struct tq_op_sink dst;
    size_t out_shape[3], nblocks = 0;
    tq_status st = TQ_OK;
    if (a.input) {
        st = tq_vol_reader_open(a.input, &reader, &err);
        if (!st)
            tq_op_source_reader(&src, reader);
    } else {
        tq_op_source_synth(&src, a.synth_shape, (uint64_t)a.seed);
    }
    if (!st)
        st = tq_op_output_shape(a.op, &a.p, src.shape, out_shape, &err);
    if (!st)
        st = tq_vol_writer_create(a.output, out_shape, a.force, reader, &writer, &err);
    if (!st) {
        tq_op_sink_writer(&dst, writer);
        st = op_run_blocks(&a, &src, &dst, out_shape, &nblocks, &err);
    }
    if (!st)
        st = tq_vol_writer_commit(writer, &err);
    tq_vol_writer_free(writer); /* removes the temporary when not committed */
    tq_vol_reader_free(reader);
    if (st)
        return tq_cli_fail("op", &err);
    printf("%s: %zux%zux%zu -> %zux%zux%zu in %zu block(s), %d thread(s), %.3f s -> %s\n", a.op->name, src.shape[0],
           src.shape[1], src.shape[2], out_shape[0], out_shape[1], out_shape[2], nblocks, tq_op_threads(&a.p),
           tq_clock_now() - t0, a.output);
    return TQ_EXIT_OK;
}
