/* test_hugemem.c - big zeroed tables (common/hugemem.h): zeroed below and above the huge-page size, growth keeps
 * the contents and zeroes the rest, across the size where tables move from the heap to their own mapping. */
#include <criterion/criterion.h>
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
