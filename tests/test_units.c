/* test_units.c - the checked parsers for memory sizes, shapes and ranges (common/units.c). */
#include <criterion/criterion.h>

#include "../common/units.h"

Test(units, bytes_with_binary_and_decimal_suffixes)
{
    uint64_t v;
    cr_assert_eq(tq_parse_bytes("4GiB", &v, NULL), TQ_OK);
    cr_assert_eq(v, 4ull << 30);
    cr_assert_eq(tq_parse_bytes("3GB", &v, NULL), TQ_OK);
    cr_assert_eq(v, 3000000000ull);
    cr_assert_eq(tq_parse_bytes("1.5 gib", &v, NULL), TQ_OK);
    cr_assert_eq(v, 3ull << 29);
    cr_assert_eq(tq_parse_bytes("512", &v, NULL), TQ_OK);
    cr_assert_eq(v, 512);
    cr_assert_eq(tq_parse_bytes("12k", &v, NULL), TQ_OK);
    cr_assert_eq(v, 12288);
}

Test(units, bytes_rejects_junk_negative_and_overflow)
{
    uint64_t v;
    struct tq_err err = {0};
    cr_assert_eq(tq_parse_bytes("", &v, &err), TQ_ERR_USAGE);
    cr_assert_eq(tq_parse_bytes("-1GiB", &v, &err), TQ_ERR_USAGE);
    cr_assert_eq(tq_parse_bytes("4 parsecs", &v, &err), TQ_ERR_USAGE);
    cr_assert(strstr(err.msg, "unknown unit") != NULL, "message: %s", err.msg);
    cr_assert_eq(tq_parse_bytes("99999999999TiB", &v, &err), TQ_ERR_USAGE);
}

Test(units, format_bytes)
{
    char buf[32];
    cr_assert_str_eq(tq_format_bytes(512, buf, sizeof buf), "512 B");
    cr_assert_str_eq(tq_format_bytes(3ull << 29, buf, sizeof buf), "1.50 GiB");
    cr_assert_str_eq(tq_format_bytes(200ull << 20, buf, sizeof buf), "200 MiB");
}

Test(units, shapes)
{
    size_t s[3];
    cr_assert_eq(tq_parse_shape("200x201x400", s, NULL), TQ_OK);
    cr_assert(s[0] == 200 && s[1] == 201 && s[2] == 400);
    cr_assert_eq(tq_parse_shape("1,1,1", s, NULL), TQ_OK);
    cr_assert_eq(tq_parse_shape("200x200", s, NULL), TQ_ERR_USAGE);
    cr_assert_eq(tq_parse_shape("200x0x5", s, NULL), TQ_ERR_USAGE);
    cr_assert_eq(tq_parse_shape("2x3x4x5", s, NULL), TQ_ERR_USAGE);
    cr_assert_eq(tq_parse_shape("axbxc", s, NULL), TQ_ERR_USAGE);
}

Test(units, ranges_are_inclusive)
{
    size_t v[16], n;
    cr_assert_eq(tq_parse_range("100:400:100", v, 16, &n, NULL), TQ_OK);
    cr_assert_eq(n, 4);
    cr_assert(v[0] == 100 && v[3] == 400);
    cr_assert_eq(tq_parse_range("7", v, 16, &n, NULL), TQ_OK);
    cr_assert(n == 1 && v[0] == 7);
    cr_assert_eq(tq_parse_range("100:50:10", v, 16, &n, NULL), TQ_ERR_USAGE);
    cr_assert_eq(tq_parse_range("1:100:1", v, 16, &n, NULL), TQ_ERR_USAGE);
    cr_assert_eq(tq_parse_range("1:10:0", v, 16, &n, NULL), TQ_ERR_USAGE);
}

Test(units, geometric_ranges)
{
    size_t v[16], n;
    cr_assert_eq(tq_parse_range("1000:64000:x2", v, 16, &n, NULL), TQ_OK);
    cr_assert_eq(n, 7);
    cr_assert(v[0] == 1000 && v[1] == 2000 && v[6] == 64000);
    cr_assert_eq(tq_parse_range("10:100:x1.5", v, 16, &n, NULL), TQ_OK); /* 10 15 22.5 33.75 50.6 75.9 */
    cr_assert_eq(n, 6);
    cr_assert(v[2] == 23 && v[5] == 76);
    cr_assert_eq(tq_parse_range("1:3:x1.1", v, 16, &n, NULL), TQ_OK); /* rounding repeats are dropped */
    cr_assert(n == 3 && v[0] == 1 && v[1] == 2 && v[2] == 3, "n %zu", n);
    const char *bad[] = {"1:10:x1", "0:10:x2", "1:10:xq", "1:10:x", "10:1:x2", "1:10:x-2"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert_eq(tq_parse_range(bad[i], v, 16, &n, NULL), TQ_ERR_USAGE, "accepted %s", bad[i]);
    cr_assert_eq(tq_parse_range("1:100000:x2", v, 16, &n, NULL), TQ_ERR_USAGE); /* 17 values */
}

/* tq_name_parse: a name's index in its table, or the caller's status and a message listing the names. */
Test(units, name_parse_finds_or_lists_the_names)
{
    static const char *const names[] = {"heap", "mmap", "rest"};
    struct tq_err err = {0};
    int k = -1;
    cr_assert_eq(tq_name_parse("mmap", names, 3, "component", NULL, TQ_ERR_USAGE, &k, &err), TQ_OK);
    cr_assert_eq(k, 1);
    cr_assert_eq(tq_name_parse("stack", names, 3, "component", ", or none", TQ_ERR_USAGE, &k, &err), TQ_ERR_USAGE);
    cr_assert_str_eq(err.msg, "unknown component 'stack' (expected heap, mmap or rest, or none)");
    cr_assert_eq(tq_name_parse(NULL, names, 1, "kind", NULL, TQ_ERR_FORMAT, &k, &err), TQ_ERR_FORMAT);
    cr_assert_str_eq(err.msg, "unknown kind '(null)' (expected heap)");
}
