/* sorted.c - lookups in arrays sorted by a uint64_t member (see sorted.h). */
#include "sorted.h"

#include <string.h>

size_t tq_sorted_upto(const void *base, size_t n, size_t stride, size_t key_offset, uint64_t key)
{
    const char *at = (const char *)base + key_offset;
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t v;
        memcpy(&v, at + mid * stride, sizeof v);
        if (v <= key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

size_t tq_sorted_reach_from(const uint64_t *reach, size_t k, uint64_t key)
{
    while (k > 0 && reach[k - 1] > key)
        k--;
    return k;
}
