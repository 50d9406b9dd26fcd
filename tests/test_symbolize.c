/* test_symbolize.c - offline symbols with libdwfl: this test binary's own functions and libc's, from its maps. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../report/symbolize.h"

__attribute__((noinline)) int symbolize_probe_function(int x)
{
    return x * 3 + 1;
}

/* Feed /proc/self/maps to a symbolizer, as a trace's MODULE records would. */
static struct tq_symbolizer *self_symbolizer(void)
{
    struct tq_symbolizer *s = tq_symbolizer_new();
    cr_assert_not_null(s);
    FILE *f = fopen("/proc/self/maps", "r");
    cr_assert_not_null(f);
    char line[4600], path[4096];
    unsigned long start, end, offset;
    struct tq_err err;
    while (fgets(line, sizeof line, f)) {
        path[0] = 0;
        if (sscanf(line, "%lx-%lx %*s %lx %*s %*s %4095s", &start, &end, &offset, path) >= 3)
            cr_assert_eq(tq_symbolizer_add_mapping(s, start, end, offset, path, &err), TQ_OK, "%s", err.msg);
    }
    fclose(f);
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
