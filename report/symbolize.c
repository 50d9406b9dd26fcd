/* symbolize.c - module map + libdwfl offline lookup of function and file:line (see symbolize.h). */
#define _GNU_SOURCE
#include "symbolize.h"
#include "../common/alloc.h"

#include <elfutils/libdwfl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct mapping {
    uint64_t start, end, bias;
    size_t file; /* index into files */
};

struct file {
    char *path;
    uint64_t bias;   /* start - offset of its first mapping: where the file's address 0 is loaded */
    bool reported;   /* given to libdwfl (or tried) */
    Dwfl_Module *mod;
};

struct tq_symbolizer {
    Dwfl *dwfl;
    struct mapping *maps;
    size_t nmaps;
    struct file *files;
    size_t nfiles;
};

static char *debuginfo_path;
static const Dwfl_Callbacks callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = &debuginfo_path,
};

struct tq_symbolizer *tq_symbolizer_new(void)
{
    struct tq_symbolizer *s = tq_calloc(1, sizeof *s);
    if (s && !(s->dwfl = dwfl_begin(&callbacks))) {
        free(s);
        return NULL;
    }
    return s;
}

static tq_status find_file(struct tq_symbolizer *s, const char *path, uint64_t bias, size_t *idx, struct tq_err *err)
{
    for (size_t i = 0; i < s->nfiles; i++)
        if (!strcmp(s->files[i].path, path)) {
            /* The lowest mapping of a file gives its load bias (segments keep vaddr == file offset). */
            if (bias < s->files[i].bias && !s->files[i].reported)
                s->files[i].bias = bias;
            *idx = i;
            return TQ_OK;
        }
    struct file *f = tq_realloc(s->files, (s->nfiles + 1) * sizeof *f);
    if (!f)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory for modules");
    s->files = f;
    char *copy = tq_strdup(path);
    if (!copy)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory for modules");
    s->files[s->nfiles] = (struct file){copy, bias, false, NULL};
    *idx = s->nfiles++;
    return TQ_OK;
}

tq_status tq_symbolizer_add_mapping(struct tq_symbolizer *s, uint64_t start, uint64_t end, uint64_t offset,
                                    const char *path, struct tq_err *err)
{
    if (!path || path[0] != '/' || end <= start || offset > start)
        return TQ_OK;
    size_t idx = 0;
    TQ_TRY(find_file(s, path, start - offset, &idx, err));
    struct mapping *m = tq_realloc(s->maps, (s->nmaps + 1) * sizeof *m);
    if (!m)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory for modules");
    s->maps = m;
    s->maps[s->nmaps++] = (struct mapping){start, end, start - offset, idx};
    return TQ_OK;
}

/* Hand a file to libdwfl the first time one of its addresses is looked up. */
static Dwfl_Module *module_of(struct tq_symbolizer *s, struct file *f)
{
    if (f->reported)
        return f->mod;
    f->reported = true;
    if (access(f->path, R_OK) != 0)
        return NULL;
    dwfl_report_begin_add(s->dwfl);
    f->mod = dwfl_report_elf(s->dwfl, f->path, f->path, -1, f->bias, false);
    dwfl_report_end(s->dwfl, NULL, NULL);
    return f->mod;
}

bool tq_symbolizer_lookup(struct tq_symbolizer *s, uint64_t ip, struct tq_symbol *out)
{
    memset(out, 0, sizeof *out);
    /* Later mappings win: a dlclose'd range may be reused by another library. */
    for (size_t i = s->nmaps; i-- > 0;) {
        const struct mapping *m = &s->maps[i];
        if (ip < m->start || ip >= m->end)
            continue;
        struct file *f = &s->files[m->file];
        out->module = f->path;
        out->offset = ip - f->bias;
        Dwfl_Module *mod = module_of(s, f);
        if (!mod)
            return true;
        out->function = dwfl_module_addrname(mod, ip);
        Dwfl_Line *line = dwfl_module_getsrc(mod, ip);
        if (line)
            out->file = dwfl_lineinfo(line, NULL, &out->line, NULL, NULL, NULL);
        return true;
    }
    return false;
}

void tq_symbolizer_free(struct tq_symbolizer *s)
{
    if (!s)
        return;
    dwfl_end(s->dwfl);
    for (size_t i = 0; i < s->nfiles; i++)
        free(s->files[i].path);
    free(s->files);
    free(s->maps);
    free(s);
}
