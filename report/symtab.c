/* symtab.c - a module's symbols sorted by address, looked up the way dwfl_module_addrinfo looks them up.
 *
 * libdwfl's dwfl_module_addrinfo scans every symbol of the module for every address (elfutils
 * libdwfl/dwfl_module_addrsym.c), which made symbolizing a stripped cc1 (40k .dynsym entries) take a minute.
 * Here the symbols are read once, sorted, and each lookup replays the same rules on the few symbols that can
 * matter, so names stay what libdwfl gives (tests/test_symbolize.c checks it address by address):
 *  - candidates: a non-empty name, defined (st_shndx != SHN_UNDEF), not a SECTION/FILE/TLS symbol, value <= addr;
 *  - global symbols are searched first; the local ones only when no sized global symbol holds addr and no sizeless
 *    global one sits exactly at addr;
 *  - a sized symbol holds addr when addr - value < size; of those, in table order, a later one replaces the chosen
 *    one when its value is higher or its binding better (global > weak > local), or when at the same value it is
 *    smaller and binds no worse (or the same size and binds better);
 *  - without any, a sizeless symbol (an assembly label) is used when nothing searched reaches past it: its value
 *    is the highest end (value + size) of all candidates, it lies in addr's section (absolute ones only match
 *    exactly), and of several such the last in search order wins.
 * Not replayed: the second try at function-descriptor values (ppc64 ELFv1), which x86-64 and aarch64 lack. */
#include "symtab.h"

#include <gelf.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../common/alloc.h"
#include "../common/sorted.h"
#include "demangle.h"

struct sym {
    uint64_t value, size;
    const char *name; /* in the ELF's string table: lives as long as the Dwfl */
    char *shown;      /* demangled name once made; NULL = not made yet or not a C++ name */
    uint32_t index;   /* position in libdwfl's table: ties are broken by table order */
    uint8_t bind;     /* global 3, weak 2, local 1, other 0 (libdwfl's binding_value) */
    bool exact_only;  /* section index >= SHN_LORESERVE (absolute, or not SHF_ALLOC): sizeless ones match exactly */
    bool demangled;   /* shown has been tried */
};

/* One search pass (the global symbols, or the local ones): sorted by (value, index). */
struct pass {
    struct sym *v;
    uint64_t *reach; /* reach[i] = the highest value + size over v[0..i] */
    size_t n;
};

struct tq_symtab {
    Dwfl_Module *mod;
    struct pass global, local;
};

static int binding_value(unsigned char info)
{
    switch (GELF_ST_BIND(info)) {
    case STB_GLOBAL:
        return 3;
    case STB_WEAK:
        return 2;
    case STB_LOCAL:
        return 1;
    default:
        return 0;
    }
}

static uint64_t end_of(const struct sym *s)
{
    return s->value + s->size < s->value ? UINT64_MAX : s->value + s->size;
}

static int by_value_then_index(const void *a, const void *b)
{
    const struct sym *x = a, *y = b;
    if (x->value != y->value)
        return x->value < y->value ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

/* Fill a pass with the candidates among table entries [from, to). */
static tq_status read_pass(Dwfl_Module *mod, int from, int to, struct pass *p, struct tq_err *err)
{
    size_t cap = to > from ? (size_t)(to - from) : 0;
    if (!cap)
        return TQ_OK;
    if (!(p->v = tq_calloc(cap, sizeof *p->v)))
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory for a symbol table");
    for (int i = from; i < to; i++) {
        GElf_Sym sym;
        GElf_Addr value;
        GElf_Word shndx;
        const char *name = dwfl_module_getsym_info(mod, i, &sym, &value, &shndx, NULL, NULL);
        int type = GELF_ST_TYPE(sym.st_info);
        if (!name || !name[0] || sym.st_shndx == SHN_UNDEF || type == STT_SECTION || type == STT_FILE ||
            type == STT_TLS)
            continue;
        p->v[p->n++] = (struct sym){.value = value, .size = sym.st_size, .name = name, .index = (uint32_t)i,
                                    .bind = (uint8_t)binding_value(sym.st_info), .exact_only = shndx >= SHN_LORESERVE};
    }
    if (!p->n)
        return TQ_OK;
    qsort(p->v, p->n, sizeof *p->v, by_value_then_index);
    if (!(p->reach = tq_malloc(p->n * sizeof *p->reach)))
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory for a symbol table");
    uint64_t r = 0;
    for (size_t i = 0; i < p->n; i++) {
        uint64_t e = end_of(&p->v[i]);
        p->reach[i] = r = e > r ? e : r;
    }
    return TQ_OK;
}

tq_status tq_symtab_new(Dwfl_Module *mod, struct tq_symtab **out, struct tq_err *err)
{
    struct tq_symtab *t = tq_calloc(1, sizeof *t);
    if (!t)
        return tq_fail(err, TQ_ERR_NOMEM, "out of memory for a symbol table");
    t->mod = mod;
    int n = dwfl_module_getsymtab(mod), first_global = n > 0 ? dwfl_module_getsymtab_first_global(mod) : -1;
    tq_status st = TQ_OK;
    if (n > 0 && first_global >= 0) {
        /* Entry 0 is the null symbol. With only a .dynsym read through the program headers first_global is 0 and
         * every symbol is searched in one pass. */
        st = read_pass(mod, first_global == 0 ? 1 : first_global, n, &t->global, err);
        if (!st && first_global > 1)
            st = read_pass(mod, 1, first_global, &t->local, err);
    }
    if (st) {
        tq_symtab_free(t);
        return st;
    }
    *out = t;
    return TQ_OK;
}

/* Number of symbols of p with value <= addr (they are p->v[0..k)). */
static size_t upto(const struct pass *p, uint64_t addr)
{
    return TQ_SORTED_UPTO(p->v, p->n, value, addr);
}

/* libdwfl's choice between the sized symbol chosen so far and the next one in table order. */
static bool replaces(const struct sym *chosen, const struct sym *s)
{
    if (!chosen || chosen->value < s->value || chosen->bind < s->bind)
        return true;
    return chosen->value == s->value && ((chosen->size > s->size && chosen->bind <= s->bind) ||
                                         (chosen->size >= s->size && chosen->bind < s->bind));
}

/* The sized symbol of pass p holding addr, by libdwfl's rules; *reach is raised to the highest end of p's
 * candidates (those with value <= addr). */
static const struct sym *sized_holder(const struct pass *p, uint64_t addr, uint64_t *reach)
{
    size_t k = upto(p, addr);
    if (!k)
        return NULL;
    if (p->reach[k - 1] > *reach)
        *reach = p->reach[k - 1];
    /* Symbols that may hold addr are those whose reach passes it: v[lo..k). */
    size_t lo = tq_sorted_reach_from(p->reach, k, addr);
    /* Visit the holders in table order (they are usually one or two aliases). */
    const struct sym *chosen = NULL;
    uint32_t last = 0;
    bool any = false;
    for (;;) {
        const struct sym *next = NULL;
        for (size_t i = lo; i < k; i++) {
            const struct sym *s = &p->v[i];
            if (s->size && addr - s->value < s->size && (!any || s->index > last) && (!next || s->index < next->index))
                next = s;
        }
        if (!next)
            return chosen;
        if (replaces(chosen, next))
            chosen = next;
        last = next->index;
        any = true;
    }
}

/* True when pass p has a sizeless symbol at exactly addr. */
static bool sizeless_at(const struct pass *p, uint64_t addr)
{
    for (size_t k = upto(p, addr); k > 0 && p->v[k - 1].value == addr; k--)
        if (!p->v[k - 1].size)
            return true;
    return false;
}

static size_t section_of(Dwfl_Module *mod, uint64_t addr)
{
    Dwarf_Addr a = addr, bias;
    Elf_Scn *scn = dwfl_module_address_section(mod, &a, &bias);
    return scn ? elf_ndxscn(scn) : SHN_UNDEF;
}

/* The last sizeless symbol of pass p (in table order) at value `at` that lies in addr's section, else `prev`. */
static struct sym *sizeless_label(const struct tq_symtab *t, const struct pass *p, uint64_t at, uint64_t addr,
                                  struct sym *prev)
{
    /* Scanning downwards from the highest index at `at`: the first match is the last in table order. */
    for (size_t k = upto(p, at); k > 0 && p->v[k - 1].value == at; k--) {
        struct sym *s = &p->v[k - 1];
        if (!s->size &&
            (s->exact_only ? s->value == addr : section_of(t->mod, s->value) == section_of(t->mod, addr)))
            return s;
    }
    return prev;
}

static const char *shown_name(struct sym *s)
{
    if (!s->demangled) {
        s->shown = tq_demangle(s->name);
        s->demangled = true;
    }
    return s->shown ? s->shown : s->name;
}

const char *tq_symtab_lookup(struct tq_symtab *t, uint64_t addr, const char **shown)
{
    uint64_t reach = 0;
    const struct sym *chosen = sized_holder(&t->global, addr, &reach);
    bool local_pass = !chosen && t->local.n && !sizeless_at(&t->global, addr);
    if (local_pass)
        chosen = sized_holder(&t->local, addr, &reach);
    if (!chosen) {
        /* No symbol holds addr: every candidate ends at or before it, and a label can only be the last one. */
        struct sym *label = sizeless_label(t, &t->global, reach, addr, NULL);
        if (local_pass)
            label = sizeless_label(t, &t->local, reach, addr, label);
        chosen = label;
    }
    if (!chosen) {
        *shown = NULL;
        return NULL;
    }
    /* chosen points into t's own arrays: shown names are made and kept there. */
    *shown = shown_name((struct sym *)chosen);
    return chosen->name;
}

size_t tq_symtab_count(const struct tq_symtab *t)
{
    return t->global.n + t->local.n;
}

static void free_pass(struct pass *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->v[i].shown);
    free(p->v);
    free(p->reach);
}

void tq_symtab_free(struct tq_symtab *t)
{
    if (!t)
        return;
    free_pass(&t->global);
    free_pass(&t->local);
    free(t);
}
