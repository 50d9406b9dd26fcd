/* symbolize.c - module map + libdwfl offline lookup of function and file:line (see symbolize.h).
 *
 * Each distinct address is resolved once and kept in a hash map (stacks repeat their frames endlessly); each module
 * is handed to libdwfl once, on its first address, and its symbol table is read and sorted once (symtab.h), so a
 * lookup costs a binary search instead of libdwfl's scan of the whole table. The mappings are searched through an
 * index sorted by start address, rebuilt when mappings were added since the last lookup. */
#define _GNU_SOURCE
#include "symbolize.h"

#include <elfutils/libdwfl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/alloc.h"
#include "../common/sorted.h"
#include "symtab.h"

struct mapping {
    uint64_t start, end;
    size_t file; /* index into files */
    size_t seq;  /* order of addition: a later mapping of the same range wins */
};

struct file {
    char *path;
    uint64_t bias;   /* start - offset of its first mapping: where the file's address 0 is loaded */
    bool reported;   /* given to libdwfl (or tried) */
    Dwfl_Module *mod;
    struct tq_symtab *symtab; /* NULL when the module has none or memory ran out (then libdwfl is asked) */
};

/* One resolved address. */
struct entry {
    uint64_t ip;
    const char *function, *file;
    int line;
    int32_t module; /* index into files, -1 when no mapping holds ip */
};

struct tq_symbolizer {
    Dwfl *dwfl;
    struct mapping *maps; /* in order of addition */
    size_t nmaps;
    struct file *files;
    size_t nfiles;
    /* mappings sorted by start, and reach[i] = highest end over sorted[0..i]; valid while !index_stale */
    struct mapping *sorted;
    uint64_t *reach;
    bool index_stale;
    /* address -> entry, linear probing; key ~0 = empty slot */
    struct entry *cache;
    size_t cache_cap, cache_count;
};

enum { FIRST_CACHE_CAP = 4096 };
static const uint64_t EMPTY = ~(uint64_t)0;

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
    s->files[s->nfiles] = (struct file){copy, bias, false, NULL, NULL};
    *idx = s->nfiles++;
    return TQ_OK;
}

/* Forget every resolved address (a new mapping may change what an address is). */
static void cache_clear(struct tq_symbolizer *s)
{
    for (size_t i = 0; i < s->cache_cap; i++)
        s->cache[i].ip = EMPTY;
    s->cache_count = 0;
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
    s->maps[s->nmaps] = (struct mapping){start, end, idx, s->nmaps};
    s->nmaps++;
    s->index_stale = true;
    if (s->cache_count)
        cache_clear(s);
    return TQ_OK;
}

static int by_start(const void *a, const void *b)
{
    const struct mapping *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

static bool build_index(struct tq_symbolizer *s)
{
    free(s->sorted);
    free(s->reach);
    s->sorted = tq_malloc((s->nmaps ? s->nmaps : 1) * sizeof *s->sorted);
    s->reach = tq_malloc((s->nmaps ? s->nmaps : 1) * sizeof *s->reach);
    if (!s->sorted || !s->reach)
        return false;
    memcpy(s->sorted, s->maps, s->nmaps * sizeof *s->sorted);
    qsort(s->sorted, s->nmaps, sizeof *s->sorted, by_start);
    uint64_t r = 0;
    for (size_t i = 0; i < s->nmaps; i++)
        s->reach[i] = r = s->sorted[i].end > r ? s->sorted[i].end : r;
    s->index_stale = false;
    return true;
}

/* The latest mapping holding ip, or NULL. */
static const struct mapping *mapping_of(struct tq_symbolizer *s, uint64_t ip)
{
    if (s->index_stale && !build_index(s)) { /* out of memory: the plain scan, latest first */
        for (size_t i = s->nmaps; i-- > 0;)
            if (ip >= s->maps[i].start && ip < s->maps[i].end)
                return &s->maps[i];
        return NULL;
    }
    size_t upto = TQ_SORTED_UPTO(s->sorted, s->nmaps, start, ip); /* mappings starting at or below ip */
    const struct mapping *best = NULL;
    for (size_t k = tq_sorted_reach_from(s->reach, upto, ip); k < upto; k++)
        if (ip < s->sorted[k].end && (!best || s->sorted[k].seq > best->seq))
            best = &s->sorted[k];
    return best;
}

/* Hand a file to libdwfl the first time one of its addresses is looked up, and sort its symbols. */
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
    struct tq_err err;
    if (f->mod && tq_symtab_new(f->mod, &f->symtab, &err))
        f->symtab = NULL; /* out of memory: names come from libdwfl's own (slower) search */
    return f->mod;
}

static void resolve(struct tq_symbolizer *s, uint64_t ip, struct entry *e)
{
    *e = (struct entry){.ip = ip, .module = -1};
    const struct mapping *m = mapping_of(s, ip);
    if (!m)
        return;
    e->module = (int32_t)m->file;
    struct file *f = &s->files[m->file];
    Dwfl_Module *mod = module_of(s, f);
    if (!mod)
        return;
    if (f->symtab)
        tq_symtab_lookup(f->symtab, ip, &e->function);
    else
        e->function = dwfl_module_addrname(mod, ip);
    Dwfl_Line *line = dwfl_module_getsrc(mod, ip);
    if (line)
        e->file = dwfl_lineinfo(line, NULL, &e->line, NULL, NULL, NULL);
}

static size_t slot_of(uint64_t ip, size_t cap)
{
    ip ^= ip >> 33;
    ip *= 0xff51afd7ed558ccdULL;
    ip ^= ip >> 33;
    return (size_t)ip & (cap - 1);
}

static struct entry *cache_find(const struct tq_symbolizer *s, uint64_t ip)
{
    for (size_t i = slot_of(ip, s->cache_cap);; i = (i + 1) & (s->cache_cap - 1))
        if (s->cache[i].ip == ip || s->cache[i].ip == EMPTY)
            return &s->cache[i];
}

/* Make room for one more entry (load kept under 1/2). Returns false when memory runs out. */
static bool cache_reserve(struct tq_symbolizer *s)
{
    if (s->cache && (s->cache_count + 1) * 2 <= s->cache_cap)
        return true;
    size_t cap = s->cache_cap ? s->cache_cap * 2 : FIRST_CACHE_CAP;
    struct entry *old = s->cache, *v = tq_malloc(cap * sizeof *v);
    if (!v)
        return false;
    size_t old_cap = s->cache_cap;
    s->cache = v;
    s->cache_cap = cap;
    for (size_t i = 0; i < cap; i++)
        v[i].ip = EMPTY;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].ip != EMPTY)
            *cache_find(s, old[i].ip) = old[i];
    free(old);
    return true;
}

bool tq_symbolizer_lookup(struct tq_symbolizer *s, uint64_t ip, struct tq_symbol *out)
{
    struct entry fresh, *e = NULL;
    if (s->cache && ip != EMPTY && (e = cache_find(s, ip))->ip == ip) {
        /* resolved before */
    } else if (ip != EMPTY && cache_reserve(s)) {
        e = cache_find(s, ip);
        resolve(s, ip, e);
        s->cache_count++;
    } else { /* out of memory for the cache: resolve without keeping it */
        resolve(s, ip, e = &fresh);
    }
    memset(out, 0, sizeof *out);
    if (e->module < 0)
        return false;
    const struct file *f = &s->files[e->module];
    *out = (struct tq_symbol){.function = e->function, .file = e->file, .line = e->line, .module = f->path,
                              .offset = ip - f->bias};
    return true;
}

void tq_symbolizer_free(struct tq_symbolizer *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nfiles; i++) {
        tq_symtab_free(s->files[i].symtab); /* before dwfl_end: it borrows the modules' strings */
        free(s->files[i].path);
    }
    dwfl_end(s->dwfl);
    free(s->files);
    free(s->maps);
    free(s->sorted);
    free(s->reach);
    free(s->cache);
    free(s);
}
