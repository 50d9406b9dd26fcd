/* cmd_predict.c - `traceq predict`: a model's predicted peak and safety bound for one input shape. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../model/model.h"
#include "../common/units.h"
#include "cli.h"

const struct tq_cli_command cli_predict = {
    .name = "predict",
    .opts = TQ_OPTIONS(
        TQ_OPT_MODEL('m', " (required)"),
        TQ_OPT('s', "shape", "IxXxS", "input shape, inlines x xlines x samples (a volume operator's model)", NULL),
        TQ_OPT('S', "set", "N=V,..",
               "the parameters of a program's model (`sweep --cmd --param`), e.g. rows=500000,cols=40", NULL),
        TQ_OPT_JSON("the prediction")),
    .usage = "traceq predict --model MODEL.json (--shape IxXxS | --set NAME=V,NAME=V) [--json]",
    .about = "Print the predicted peak memory of the model's operator on an input of that shape, and the bound\n"
             "(prediction + the cross-validated margin) that planners budget. Warns on stderr when the shape is\n"
             "outside the training range.",
};

/* "512x512x100", or "rows=500000 cols=40" for a program's model. */
static void predict_input(const struct tq_model *m, const size_t s[3], char *buf, size_t cap)
{
    if (!m->axes[0][0]) {
        snprintf(buf, cap, "%zux%zux%zu", s[0], s[1], s[2]);
        return;
    }
    size_t l = 0;
    buf[0] = 0;
    for (int k = 0; k < 3 && l < cap; k++)
        if (strcmp(m->axes[k], "_"))
            l += (size_t)snprintf(buf + l, cap - l, "%s%s=%zu", l ? " " : "", m->axes[k], s[k]);
}

static void predict_print(const struct tq_model *m, const size_t s[3], const struct tq_prediction *p, int json)
{
    char in[160];
    predict_input(m, s, in, sizeof in);
    if (json) {
        /* bytes are whole numbers, seconds (--target wall_s) are not */
        int secs = !strcmp(m->target, "wall_s");
        json_t *o = json_pack("{s:s,s:[I,I,I],s:s,s:o,s:o,s:b,s:f,s:f,s:s}", "op", m->op, "shape",
                              (json_int_t)s[0], (json_int_t)s[1], (json_int_t)s[2], "target", m->target, "predicted",
                              secs ? json_real(p->bytes) : json_integer((json_int_t)tq_bytes_from_double(p->bytes)),
                              "bound",
                              secs ? json_real(p->bound) : json_integer((json_int_t)tq_bytes_from_double(p->bound)),
                              "extrapolating", p->extrapolating, "extrapolation_factor", p->factor,
                              "margin_relative", p->margin_rel, "warning", p->warning);
        for (int k = 0; o && m->axes[0][0] && k < 3; k++)
            if (strcmp(m->axes[k], "_"))
                json_object_set_new(o, m->axes[k], json_integer((json_int_t)s[k]));
        if (o && m->ncomp) {
            json_t *c = json_pack("{s:I}", "baseline", (json_int_t)tq_bytes_from_double(m->baseline));
            for (size_t k = 0; c && k < m->ncomp; k++)
                json_object_set_new(c, m->comp[k].name,
                                    json_integer((json_int_t)tq_bytes_from_double(p->comp_bytes[k])));
            json_object_set_new(o, "components", c);
        }
        char *text = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
        printf("%s\n", text ? text : "{}");
        free(text);
        json_decref(o);
        return;
    }
    if (!strcmp(m->target, "wall_s")) {
        printf("%s %s: predicted %.3f s, bound %.3f s\n", m->op, in, p->bytes, p->bound);
        return;
    }
    char a[32], b[32];
    printf("%s %s: predicted %s (%.0f B), bound %s (%.0f B)\n", m->op, in,
           tq_format_bytes(tq_bytes_from_double(p->bytes), a, sizeof a), p->bytes,
           tq_format_bytes(tq_bytes_from_double(p->bound), b, sizeof b), p->bound);
    if (!m->ncomp)
        return;
    printf("  components: baseline %s", tq_format_bytes(tq_bytes_from_double(m->baseline), a, sizeof a));
    for (size_t k = 0; k < m->ncomp; k++)
        printf(", %s %s (%s)", m->comp[k].name, tq_format_bytes(tq_bytes_from_double(p->comp_bytes[k]), a, sizeof a),
               tq_fit_kind_name(m->comp[k].fit.kind));
    printf("\n");
}

int cmd_predict(int argc, char **argv)
{
    const char *model = NULL, *shape = NULL, *set = NULL;
    int json = 0, c;
    optind = 1;
    while ((c = tq_cli_next(&cli_predict, argc, argv)) > 0) {
        switch (c) {
        case 'm': model = optarg; break;
        case 's': shape = optarg; break;
        case 'S': set = optarg; break;
        case 'j': json = 1; break;
        }
    }
    if (c != TQ_CLI_END)
        return tq_cli_exit_code(c);
    if (optind != argc)
        return tq_cli_usage_error("predict", "unexpected argument '%s'", argv[optind]);
    if (!model || !!shape + !!set != 1)
        return tq_cli_usage_error("predict", "--model and one of --shape or --set are required");
    struct tq_err err = {0};
    size_t s[3];
    struct tq_model m;
    if (tq_model_read(model, NULL, &m, &err))
        return tq_cli_fail("predict", &err);
    if (shape && m.axes[0][0])
        return tq_cli_usage_error("predict", "%s models a program's parameters: give --set %s=...", model,
                                  m.axes[0]);
    if (shape ? tq_parse_shape(shape, s, &err) : tq_model_parse_set(&m, set, s, &err))
        return tq_cli_fail("predict", &err);
    struct tq_prediction p;
    if (tq_model_predict_checked(&m, s, &p, &err))
        return tq_cli_fail("predict", &err);
    if (p.extrapolating)
        fprintf(stderr, "traceq predict: warning: %s\n", p.warning);
    predict_print(&m, s, &p, json);
    return TQ_EXIT_OK;
}
