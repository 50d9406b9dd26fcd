/* demangle.c - C++ names through libiberty's cplus_demangle, version suffixes kept (see demangle.h). */
#include "demangle.h"

#include <libiberty/demangle.h>
#include <stdlib.h>
#include <string.h>

#include "../common/alloc.h"

char *tq_demangle(const char *name)
{
    /* Only "_Z": the other schemes cplus_demangle knows (GNU v2 "name__Fi", ...) would rewrite C names that merely
     * contain a double underscore. */
    if (!name || strncmp(name, "_Z", 2) != 0)
        return NULL;
    const char *at = strchr(name, '@'); /* "_Znwm@@GLIBCXX_3.4": a symbol version, not part of the mangling */
    size_t len = at ? (size_t)(at - name) : strlen(name);
    char *stem = tq_malloc(len + 1);
    if (!stem)
        return NULL;
    memcpy(stem, name, len);
    stem[len] = 0;
    char *plain = cplus_demangle(stem, DMGL_GNU_V3 | DMGL_PARAMS | DMGL_ANSI);
    free(stem);
    if (!plain || !at)
        return plain;
    size_t n = strlen(plain), m = strlen(at);
    char *full = tq_malloc(n + m + 1);
    if (full) {
        memcpy(full, plain, n);
        memcpy(full + n, at, m + 1);
    }
    free(plain);
    return full;
}
