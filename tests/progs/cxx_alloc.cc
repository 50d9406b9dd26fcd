// cxx_alloc.cc - C++ allocation sites with mangled names, for the demangling tests (built -O0 -fno-inline).
// usage: cxx_alloc [MIB]
//   pool::grab<Widget>(unsigned long) mallocs MIB blocks of 1 MiB and holds them: the biggest site at the peak,
//   called from pool::arena<Widget>::fill(int).
//   pool::arena<Widget>::spill(int) uses new[] 50 times and frees each at once: operator new[](unsigned long) site.
#include <cstdlib>
#include <cstring>

struct Widget {
    char bytes[64];
};

namespace pool {

template <typename T> __attribute__((noinline)) T *grab(std::size_t bytes)
{
    T *p = static_cast<T *>(std::malloc(bytes));
    std::memset(p, 1, 4096);
    return p;
}

template <typename T> struct arena {
    T *held[256];
    int n = 0;

    __attribute__((noinline)) void fill(int mib)
    {
        for (; n < mib && n < 256; n++)
            held[n] = grab<T>(std::size_t(1) << 20);
    }

    __attribute__((noinline)) void spill(int times)
    {
        for (int i = 0; i < times; i++) {
            T *t = new T[1024];
            t[0].bytes[0] = 1;
            delete[] t;
        }
    }

    ~arena()
    {
        for (int i = 0; i < n; i++)
            std::free(held[i]);
    }
};

} // namespace pool

int main(int argc, char **argv)
{
    int mib = argc > 1 ? std::atoi(argv[1]) : 8;
    pool::arena<Widget> a;
    a.fill(mib);
    a.spill(50);
    return 0;
}
