// leak_threads.cc - a leak benchmark shaped like heaptrack's tests/manual/threaded.cpp (our own code): rounds of
// 4 producer threads each allocate 1000 ints, and 4 consumer threads free them; nothing is leaked by the program
// itself (whatever the C++ runtime keeps, both profilers should see alike).
// Usage: leak_threads   (prints nothing)
#include <future>
#include <vector>

static const int per_thread = 1000;

static int **produce()
{
    int **ints = new int *[per_thread];
    for (int i = 0; i < per_thread; i++)
        ints[i] = new int(i);
    return ints;
}

static void consume(std::future<int **> made)
{
    int **ints = made.get();
    for (int i = 0; i < per_thread; i++)
        delete ints[i];
    delete[] ints;
}

int main()
{
    std::vector<std::future<void>> done;
    for (int round = 0; round < 50; round++)
        for (int t = 0; t < 4; t++)
            done.push_back(std::async(std::launch::async, consume, std::async(std::launch::async, produce)));
    for (auto &d : done)
        d.get();
    return 0;
}
