/* guarded_calls.c - N malloc/free pairs (enough for the heap hooks' fast path to open), then M rounds of a malloc,
 * malloc_usable_size of it and its free. Under a test build of the shim with TQ_TESTING_GUARDED_ALLOC=1, each
 * malloc_usable_size also allocates and frees a block as the shim's own (preload/hooks_heap.c), which must not be
 * counted. Usage: guarded_calls N M. */
#include <malloc.h>
#include <stdlib.h>

static void *volatile sink;

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 0, m = argc > 2 ? atol(argv[2]) : 0;
    for (long i = 0; i < n; i++) {
        sink = malloc(32 + (size_t)(i % 200));
        free(sink);
    }
    size_t usable = 0;
    for (long i = 0; i < m; i++) {
        sink = malloc(48);
        usable += malloc_usable_size(sink);
        free(sink);
    }
    return m > 0 && usable < 48 * (size_t)m;
}
