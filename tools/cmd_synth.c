/* cmd_synth.c - `traceq synth`: write the deterministic synthetic volume to a .npy or SEG-Y file. */
#include <stdio.h>
#include <string.h>

#include "../common/units.h"
#include "../operators/volume.h"
#include "cli.h"

struct synth_opts {
    size_t shape[3];
    long seed;
    const char *out;
    int force;
    enum tq_synth_model model;
};

const struct tq_cli_command cli_synth = {
    .name = "synth",
    .opts = TQ_OPTIONS(
        TQ_OPT('s', "shape", "IxXxS", "inlines x xlines x samples", "200x200x400",
               TQ_STORE_SHAPE(struct synth_opts, shape)),
        TQ_OPT_SEED("seed of the model (0..2^63-1)", struct synth_opts, seed),
        TQ_OPT('m', "model", "M",
               "folded: ours, layers vary along all three axes;\n"
               "original: replica of the original system's saved volume (one trace laid along axis 1, constant along "
               "axes 0 and 2; its builder called with IxXxS wrote IxSxX)",
               "folded",
               TQ_STORE_CHOICE(struct synth_opts, model, {"folded", TQ_SYNTH_FOLDED}, {"original", TQ_SYNTH_ORIGINAL})),
        TQ_OPT_OUTPUT("F", "output file; .npy or .segy/.sgy (IEEE float, inline sorted) (required)", NULL,
                      TQ_STORE_STR(struct synth_opts, out)),
        TQ_OPT_FORCE('f', "F", TQ_STORE_FLAG(struct synth_opts, force))),
    .usage = "traceq synth [--shape IxXxS] [--seed S] [--model M] -o FILE.npy|FILE.segy [--force]",
    .about = "Write the synthetic seismic volume (Ricker 25 Hz, dt 4 ms, folded dipping layers + a little noise)\n"
             "as float32, shape (inlines, xlines, samples). Same shape and seed give the same file.",
    .epilog = "The file is written under a temporary name in F's directory and renamed when complete.",
};

int cmd_synth(int argc, char **argv)
{
    struct synth_opts o = {.shape = {200, 200, 400}, .seed = 1, .model = TQ_SYNTH_FOLDED};
    struct tq_err err = {0};
    int rc = tq_cli_parse(&cli_synth, argc, argv, &o);
    if (rc >= 0)
        return rc;
    if (optind < argc)
        return tq_cli_usage_error("synth", "unexpected argument '%s'", argv[optind]);
    if (!o.out)
        return tq_cli_usage_error("synth", "missing -o FILE (.npy or .segy)");
    if (tq_synth_model_write_file(o.model, o.out, o.shape, (uint64_t)o.seed, o.force, &err))
        return tq_cli_fail("synth", &err);
    return TQ_EXIT_OK;
}
