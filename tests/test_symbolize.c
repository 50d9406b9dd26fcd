/* test_symbolize.c - offline symbols with libdwfl: this test binary's own functions and libc's, from its maps; the
 * sorted symbol tables give libdwfl's own answers; C++ names demangled; the caches change no result. */
#include <criterion/criterion.h>
#include <elfutils/libdwfl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/alloc.h"
#include "../report/demangle.h"
#include "../report/symbolize.h"
#include "../report/symtab.h"

__attribute__((noinline)) int symbolize_probe_function(int x)
{
    return x * 3 + 1;
}

/* The mappings of /proc/self/maps, as a trace's MODULE records would give them. */
struct maps {
    struct {
        unsigned long start, end, offset;
        char path[4096];
    } v[1024];
    int n;
};

static void read_maps(struct maps *m)
{
    FILE *f = fopen("/proc/self/maps", "r");
    cr_assert_not_null(f);
    char line[4600];
    m->n = 0;
    while (m->n < 1024 && fgets(line, sizeof line, f)) {
        m->v[m->n].path[0] = 0;
        if (sscanf(line, "%lx-%lx %*s %lx %*s %*s %4095s", &m->v[m->n].start, &m->v[m->n].end, &m->v[m->n].offset,
                   m->v[m->n].path) >= 3)
            m->n++;
    }
    fclose(f);
}

/* Feed mappings to a symbolizer; returns the first status that is not TQ_OK. */
static tq_status add_maps(struct tq_symbolizer *s, const struct maps *m, struct tq_err *err)
{
    for (int i = 0; i < m->n; i++) {
        tq_status st = tq_symbolizer_add_mapping(s, m->v[i].start, m->v[i].end, m->v[i].offset, m->v[i].path, err);
        if (st)
            return st;
    }
    return TQ_OK;
}

static struct tq_symbolizer *self_symbolizer(void)
{
    static struct maps m;
    read_maps(&m);
    struct tq_symbolizer *s = tq_symbolizer_new();
    cr_assert_not_null(s);
    struct tq_err err;
    cr_assert_eq(add_maps(s, &m, &err), TQ_OK, "%s", err.msg);
    return s;
}

Test(symbolize, names_this_binarys_function_with_file_and_line)
{
    struct tq_symbolizer *s = self_symbolizer();
    struct tq_symbol sym;
    uint64_t ip = (uint64_t)(uintptr_t)&symbolize_probe_function + 4;
    cr_assert(tq_symbolizer_lookup(s, ip, &sym));
    cr_assert_not_null(sym.function);
    cr_assert_str_eq(sym.function, "symbolize_probe_function");
    cr_assert_not_null(sym.file, "no line info (built with -g?)");
    cr_assert(strstr(sym.file, "test_symbolize.c"), "%s", sym.file);
    cr_assert_gt(sym.line, 0);
    cr_assert(strstr(sym.module, "tq_tests"), "%s", sym.module);
    cr_assert(symbolize_probe_function(1) == 4);
    tq_symbolizer_free(s);
}

Test(symbolize, names_a_libc_function_and_rejects_unmapped_addresses)
{
    struct tq_symbolizer *s = self_symbolizer();
    struct tq_symbol sym;
    cr_assert(tq_symbolizer_lookup(s, (uint64_t)(uintptr_t)&getpid, &sym)); /* not intercepted by ASan */
    cr_assert(strstr(sym.module, "libc"), "%s", sym.module);
    cr_assert(sym.function && strstr(sym.function, "getpid"), "%s", sym.function ? sym.function : "(null)");
    cr_assert_not(tq_symbolizer_lookup(s, 0x10, &sym));
    tq_symbolizer_free(s);
    tq_symbolizer_free(NULL);
}

/* ---- the sorted symbol tables (report/symtab.c) against libdwfl's own search */

static Dwfl *offline_dwfl(void)
{
    static char *debuginfo_path;
    static const Dwfl_Callbacks cb = {.find_elf = dwfl_build_id_find_elf,
                                      .find_debuginfo = dwfl_standard_find_debuginfo,
                                      .section_address = dwfl_offline_section_address,
                                      .debuginfo_path = &debuginfo_path};
    Dwfl *d = dwfl_begin(&cb);
    cr_assert_not_null(d);
    return d;
}

static void expect_same_name(Dwfl_Module *mod, struct tq_symtab *t, uint64_t addr, const char *path, int *checked)
{
    const char *shown, *mine = tq_symtab_lookup(t, addr, &shown), *dwfl = dwfl_module_addrname(mod, addr);
    cr_expect((!mine && !dwfl) || (mine && dwfl && !strcmp(mine, dwfl)), "%s at 0x%llx: %s, libdwfl says %s", path,
              (unsigned long long)addr, mine ? mine : "(none)", dwfl ? dwfl : "(none)");
    cr_expect((!mine && !shown) || (mine && shown), "a found symbol has a shown name");
    (*checked)++;
}

/* Every ~n/300th symbol's start, middle, last byte, end and the byte before it, plus 300 addresses spread over the
 * module: the sorted table names what dwfl_module_addrinfo names (the same symbol, by the same tie rules). */
static int compare_module(const char *path, uint64_t base)
{
    Dwfl *d = offline_dwfl();
    dwfl_report_begin(d);
    Dwfl_Module *mod = dwfl_report_elf(d, path, path, -1, base, false);
    dwfl_report_end(d, NULL, NULL);
    cr_assert_not_null(mod, "%s: %s", path, dwfl_errmsg(-1));
    struct tq_symtab *t = NULL;
    struct tq_err err;
    cr_assert_eq(tq_symtab_new(mod, &t, &err), TQ_OK, "%s", err.msg);
    Dwarf_Addr low, high;
    dwfl_module_info(mod, NULL, &low, &high, NULL, NULL, NULL, NULL);
    int n = dwfl_module_getsymtab(mod), checked = 0;
    cr_assert_gt(n, 1, "%s has no symbols", path);
    cr_expect_gt(tq_symtab_count(t), 0);
    for (int i = 1; i < n; i += n / 300 + 1) {
        GElf_Sym sym;
        GElf_Addr v;
        if (!dwfl_module_getsym_info(mod, i, &sym, &v, NULL, NULL, NULL) || v < low || v >= high)
            continue;
        uint64_t probes[] = {v, v - 1, v + sym.st_size / 2, v + sym.st_size - 1, v + sym.st_size};
        for (size_t k = 0; k < sizeof probes / sizeof *probes; k++)
            expect_same_name(mod, t, probes[k], path, &checked);
    }
    for (uint64_t a = low, step = (high - low) / 300 + 7; a < high; a += step)
        expect_same_name(mod, t, a, path, &checked);
    tq_symtab_free(t);
    dwfl_end(d);
    return checked;
}

/* The path of the mapped file whose name contains `part` (from /proc/self/maps), or NULL. */
static char *mapped_file(const char *part)
{
    FILE *f = fopen("/proc/self/maps", "r");
    cr_assert_not_null(f);
    char line[4600], path[4096], *found = NULL;
    while (!found && fgets(line, sizeof line, f))
        if (sscanf(line, "%*s %*s %*s %*s %*s %4095s", path) == 1 && path[0] == '/' && strstr(path, part))
            found = strdup(path);
    fclose(f);
    return found;
}

Test(symbolize, sorted_tables_name_what_libdwfl_names)
{
    /* this binary (.symtab with locals and globals), libc and libdw (shared libraries at a load bias) */
    const char *parts[] = {"tq_tests", "/libc.so", "/libdw"};
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
        char *path = mapped_file(parts[i]);
        cr_assert_not_null(path, "%s is not mapped", parts[i]);
        cr_expect_gt(compare_module(path, i ? 0x7f0000000000ULL : 0), 300, "%s", path);
        free(path);
    }
    /* gcc's cc1 (build-essential): stripped, 40k .dynsym symbols, the case that made symbolizing slow */
    FILE *p = popen("gcc -print-prog-name=cc1 2>/dev/null", "r");
    char cc1[4096] = "";
    if (p && fgets(cc1, sizeof cc1, p))
        cc1[strcspn(cc1, "\n")] = 0;
    if (p)
        pclose(p);
    if (cc1[0] == '/' && access(cc1, R_OK) == 0)
        cr_expect_gt(compare_module(cc1, 0), 300, "%s", cc1);
    else
        cr_log_warn("cc1 not found: its table is not compared");
}

Test(symbolize, demangles_cpp_names_and_leaves_c_names_alone)
{
    static const char *const cases[][2] = {
        {"_ZN2ns4heapIiE4growEm", "ns::heap<int>::grow(unsigned long)"},
        {"_Znwm", "operator new(unsigned long)"},
        {"_Znwm@@GLIBCXX_3.4", "operator new(unsigned long)@@GLIBCXX_3.4"},
        {"_Z16execute_one_passP8opt_pass", "execute_one_pass(opt_pass*)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *d = tq_demangle(cases[i][0]);
        cr_assert_not_null(d, "%s", cases[i][0]);
        cr_expect_str_eq(d, cases[i][1]);
        free(d);
    }
    static const char *const plain[] = {"main", "hold__Fi", "__libc_start_main@@GLIBC_2.34", "_Zx", "_", ""};
    for (size_t i = 0; i < sizeof plain / sizeof *plain; i++)
        cr_expect_null(tq_demangle(plain[i]), "%s was demangled", plain[i]);
    cr_expect_null(tq_demangle(NULL));
}

/* A mapping added after lookups replaces what the cache knew about its range. */
Test(symbolize, later_mapping_wins_after_lookups)
{
    struct tq_symbolizer *s = tq_symbolizer_new();
    struct tq_err err;
    char *libc = mapped_file("/libc.so"), *self = mapped_file("tq_tests");
    cr_assert_eq(tq_symbolizer_add_mapping(s, 0x10000000, 0x10100000, 0, libc, &err), TQ_OK);
    struct tq_symbol sym;
    cr_assert(tq_symbolizer_lookup(s, 0x10000400, &sym));
    cr_expect_str_eq(sym.module, libc);
    cr_assert(tq_symbolizer_lookup(s, 0x10000400, &sym)); /* from the cache */
    cr_expect_str_eq(sym.module, libc);
    cr_expect_eq(sym.offset, 0x400);
    cr_assert_eq(tq_symbolizer_add_mapping(s, 0x10000000, 0x10001000, 0, self, &err), TQ_OK);
    cr_assert(tq_symbolizer_lookup(s, 0x10000400, &sym));
    cr_expect_str_eq(sym.module, self);
    cr_assert(tq_symbolizer_lookup(s, 0x10002000, &sym)); /* outside the new mapping: still libc */
    cr_expect_str_eq(sym.module, libc);
    cr_expect_not(tq_symbolizer_lookup(s, 0x10100000, &sym));
    tq_symbolizer_free(s);
    free(libc);
    free(self);
}

/* With any one allocation failing, a symbolizer either reports TQ_ERR_NOMEM while being filled or names every
 * address exactly as without failures (its caches fall back to uncached lookups). The maps are read once: libdwfl
 * maps the files it reads, which adds mappings to /proc/self/maps. */
Test(symbolize, same_names_when_allocations_fail)
{
    static struct maps m;
    read_maps(&m);
    uint64_t ips[] = {(uint64_t)(uintptr_t)&symbolize_probe_function + 4, (uint64_t)(uintptr_t)&getpid, 0x10};
    struct tq_symbol want[3];
    struct tq_err err;
    struct tq_symbolizer *ref = tq_symbolizer_new();
    cr_assert_eq(add_maps(ref, &m, &err), TQ_OK, "%s", err.msg);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(tq_symbolizer_lookup(ref, ips[i], &want[i]), i < 2);
    cr_assert_not_null(want[1].function);
    for (long n = 0;; n++) {
        tq_alloc_fail_nth(n);
        struct tq_symbolizer *s = tq_symbolizer_new();
        tq_status st = s ? add_maps(s, &m, &err) : TQ_ERR_NOMEM;
        if (st)
            cr_expect_eq(st, TQ_ERR_NOMEM);
        for (int i = 0; !st && i < 3; i++) {
            struct tq_symbol got;
            cr_expect_eq(tq_symbolizer_lookup(s, ips[i], &got), i < 2, "allocation %ld failing: ip %d", n, i);
            cr_expect_str_eq(got.module ? got.module : "", want[i].module ? want[i].module : "");
            cr_expect_str_eq(got.function ? got.function : "", want[i].function ? want[i].function : "",
                             "allocation %ld failing: ip %d", n, i);
            cr_expect_eq(got.line, want[i].line);
        }
        long made = tq_alloc_count();
        tq_alloc_fail_nth(-1);
        tq_symbolizer_free(s);
        if (made <= n)
            break;
    }
    tq_symbolizer_free(ref);
}
