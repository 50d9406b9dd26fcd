/* two_paths.c - one allocator reached along two call paths, for the caller-path tests (built -O0 -fno-inline).
 * usage: two_paths [HOLD_MIB [SPILL_MIB]]
 *   keep_route -> shared_alloc: HOLD_MIB blocks of 1 MiB, never freed: the bytes held at the heap peak, and the
 *   leaks.
 *   spill_route -> shared_alloc: SPILL_MIB blocks of 1 MiB, each freed at once, before the peak: more bytes
 *   allocated in total, more calls and every temporary allocation, none held at the peak. */
#include <stdlib.h>
#include <string.h>

static void *volatile sink;

__attribute__((noinline)) static void *shared_alloc(size_t n)
{
    void *p = malloc(n);
    memset(p, 1, 4096);
    return p;
}

__attribute__((noinline)) static void spill_route(int mib)
{
    for (int i = 0; i < mib; i++) {
        sink = shared_alloc(1 << 20);
        free(sink);
    }
}

__attribute__((noinline)) static void **keep_route(int mib)
{
    void **v = calloc((size_t)mib, sizeof *v);
    for (int i = 0; i < mib; i++)
        v[i] = shared_alloc(1 << 20);
    return v;
}

int main(int argc, char **argv)
{
    int hold = argc > 1 ? atoi(argv[1]) : 8, spill = argc > 2 ? atoi(argv[2]) : 64;
    spill_route(spill);
    sink = keep_route(hold);
    return 0;
}
