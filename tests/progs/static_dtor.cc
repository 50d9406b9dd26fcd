// static_dtor.cc - a static object whose destructor frees, after main returns, the block its constructor allocated
// before main (heaptrack's tests/manual/test.cpp has one): not a leak. main leaks one block of 3000 B
// (leak_in_main) and returns 3.
#include <cstdlib>

__attribute__((noinline)) static char *held_block()
{
    return static_cast<char *>(std::malloc(5000));
}

struct Holder {
    char *p;
    Holder() : p(held_block()) { p[0] = 1; }
    ~Holder() { std::free(p); }
};

static Holder holder;
static void *volatile kept;

__attribute__((noinline)) static void leak_in_main()
{
    kept = std::malloc(3000);
}

int main()
{
    leak_in_main();
    return holder.p[0] == 1 ? 3 : 1;
}
