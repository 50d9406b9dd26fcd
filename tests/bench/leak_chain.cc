// leak_chain.cc - a leak benchmark shaped like heaptrack's tests/manual/test.cpp (our own code): every allocator
// (new, new[], malloc, realloc, calloc, aligned_alloc, valloc, posix_memalign) is used and freed once, an object
// owning a heap int is created and destroyed, and one function leaks a `new int` reached through call chains of
// different depths: 4 bytes leaked by each of 15 calls (11 through outer->middle->leak_int, 4 more from
// several_paths), 60 B in total, all from leak_int. A static object's int is freed by its destructor at exit.
// Usage: leak_chain   (prints nothing)
#include <cstdlib>

struct owns_int {
    owns_int() : value(new int(7)) {}
    ~owns_int() { delete value; }
    int *value;
};

static int *volatile last_leaked;

__attribute__((noinline)) static void leak_int()
{
    last_leaked = new int(42); // overwritten by the next call: lost
}

__attribute__((noinline)) static void middle() { leak_int(); }
__attribute__((noinline)) static void outer() { middle(); }

__attribute__((noinline)) static void several_paths()
{
    owns_int scoped;
    leak_int();
    middle();
    outer();
    outer();
}

static owns_int global_object;

int main()
{
    owns_int *o = new owns_int;
    delete o;
    char *chars = new char[1000];
    chars[0] = 1;
    delete[] chars;
    void *p = malloc(100);
    p = realloc(p, 200);
    free(p);
    free(calloc(5, 5));
    free(aligned_alloc(16, 160));
    free(valloc(32));
    if (posix_memalign(&p, 16, 64) == 0)
        free(p);
    for (int i = 0; i < 10; i++)
        outer();
    outer();
    several_paths();
    return 0;
}
