/* cmd_synth.c - `traceq synth`: write the deterministic synthetic volume to a .npy or SEG-Y file. */
#include <stdio.h>
#include <string.h>

#include "../common/units.h"
#include "../operators/volume.h"
#include "cli.h"

const struct tq_cli_command cli_synth = {
    .name = "synth",
    .opts = TQ_OPTIONS(
        TQ_OPT('s', "shape", "IxXxS", "inlines x xlines x samples", "200x200x400"),
        TQ_OPT('S', "seed", "S", "seed of the model (0..2^63-1)", "1"),
        TQ_OPT('m', "model", "M",
               "folded: ours, layers vary along all three axes;\n"
               "original: replica of the original system's saved volume (one trace laid along axis 1, constant along "
               "axes 0 and 2; its builder called with IxXxS wrote IxSxX)",
               "folded"),
        TQ_OPT_OUTPUT("F", "output file; .npy or .segy/.sgy (IEEE float, inline sorted) (required)", NULL),
        TQ_OPT_FORCE('f', "F")),
    .usage = "traceq synth [--shape IxXxS] [--seed S] [--model M] -o FILE.npy|FILE.segy [--force]",
    .about = "Write the synthetic seismic volume (Ricker 25 Hz, dt 4 ms, folded dipping layers + a little noise)\n"
             "as float32, shape (inlines, xlines, samples). Same shape and seed give the same file.",
    .epilog = "The file is written under a temporary name in F's directory and renamed when complete.",
};

int cmd_synth(int argc, char **argv)
{
    size_t shape[3] = {200, 200, 400};
    long seed = 1;
    const char *out = NULL;
    int force = 0, c;
    enum tq_synth_model model = TQ_SYNTH_FOLDED;
    struct tq_err err = {0};
    optind = 1;
    while ((c = tq_cli_next(&cli_synth, argc, argv)) > 0) {
        switch (c) {
        case 's':
            if (tq_parse_shape(optarg, shape, &err))
                return tq_cli_fail("synth", &err);
            break;
        case 'S':
            if (tq_parse_long(optarg, 0, __LONG_MAX__, "--seed", &seed, &err))
                return tq_cli_fail("synth", &err);
            break;
        case 'm':
            if (!strcmp(optarg, "folded"))
                model = TQ_SYNTH_FOLDED;
            else if (!strcmp(optarg, "original"))
                model = TQ_SYNTH_ORIGINAL;
            else
                return tq_cli_usage_error("synth", "unknown --model '%s' (folded or original)", optarg);
            break;
        case 'o': out = optarg; break;
        case 'f': force = 1; break;
        }
    }
    if (c != TQ_CLI_END)
        return tq_cli_exit_code(c);
    if (optind < argc)
        return tq_cli_usage_error("synth", "unexpected argument '%s'", argv[optind]);
    if (!out)
        return tq_cli_usage_error("synth", "missing -o FILE (.npy or .segy)");
    if (tq_synth_model_write_file(model, out, shape, (uint64_t)seed, force, &err))
        return tq_cli_fail("synth", &err);
    return TQ_EXIT_OK;
}
