/* test_hugemem.c - big zeroed tables (common/hugemem.h): zeroed below and above the huge-page size, growth keeps
 * the contents and zeroes the rest, across the size where tables move from the heap to their own mapping. */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "../common/hugemem.h"

static void all_zero(const unsigned char *p, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        cr_assert_eq(p[i], 0, "byte %zu is %u", i, p[i]);
}

Test(hugemem, zeroed_small_and_large)
{
    size_t sizes[] = {0, 100, (2u << 20) - 1, 2u << 20, (5u << 20) + 17};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        unsigned char *p = tq_huge_zalloc(sizes[k]);
        cr_assert_not_null(p);
        all_zero(p, 0, sizes[k]);
        memset(p, 0xab, sizes[k]);
        tq_huge_free(p, sizes[k]);
    }
    tq_huge_free(NULL, 0);
}

Test(hugemem, growth_keeps_contents_and_zeroes_the_rest)
{
    size_t steps[] = {1000, 1u << 20, 3u << 20, (3u << 20) + 5, 9u << 20, 40u << 20};
    unsigned char *p = NULL;
    size_t have = 0;
    for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
        unsigned char *q = tq_huge_grow(p, have, steps[k]);
        cr_assert_not_null(q, "growing to %zu", steps[k]);
        for (size_t i = 0; i < have; i += 4093)
            cr_assert_eq(q[i], (unsigned char)(i * 7 + 1), "byte %zu lost growing to %zu", i, steps[k]);
        cr_assert_eq(have ? q[have - 1] : 0, have ? (unsigned char)((have - 1) * 7 + 1) : 0);
        all_zero(q, have, steps[k]);
        for (size_t i = have; i < steps[k]; i++)
            q[i] = (unsigned char)(i * 7 + 1);
        p = q;
        have = steps[k];
    }
    tq_huge_free(p, have);
}

/* Giving back part of a table: the pages wholly inside the range read as zero again, every other byte keeps its
 * value; a range reaching the end takes the mapping's tail; a small table (on the C heap) keeps everything. Big
 * tables start on a huge page, so 2 MiB-aligned ranges are whole huge pages. */
Test(hugemem, part_given_back_reads_zero_and_the_rest_stays)
{
    size_t n = (7u << 20) + 300, page = 4096, mib2 = 2u << 20;
    unsigned char *p = tq_huge_zalloc(n);
    cr_assert_not_null(p);
    cr_assert_eq((uintptr_t)p % mib2, 0, "a big table starts on a huge page");
    memset(p, 0x5a, n);
    size_t off = mib2 + 100, len = 3 * page + 50; /* pages [2 MiB + 4 KiB, 2 MiB + 12 KiB) are wholly inside */
    tq_huge_release_part(p, n, off, len);
    for (size_t i = 0; i < n; i += 97) {
        bool inside = i >= mib2 + page && i < mib2 + 3 * page;
        cr_assert_eq(p[i], inside ? 0 : 0x5a, "byte %zu", i);
    }
    tq_huge_release_part(p, n, 6u << 20, n); /* to the end */
    all_zero(p, 6u << 20, n);
    cr_assert_eq(p[(6u << 20) - 1], 0x5a);
    tq_huge_free(p, n);
    unsigned char *small = tq_huge_zalloc(10000);
    cr_assert_not_null(small);
    memset(small, 7, 10000);
    tq_huge_release_part(small, 10000, 0, 10000);
    for (size_t i = 0; i < 10000; i++)
        cr_assert_eq(small[i], 7);
    tq_huge_free(small, 10000);
}
