/* test_live_map.c - the replay's live-block map (report/live_map.h): block ids in the dense array, huge keys in the
 * hash map, keys moving from the hash map to the array as it grows, replacement, and a random run checked
 * against a plain table. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>

#include "../report/live_map.h"

static void expect(struct tq_live_map *m, uint64_t key, uint64_t size, uint32_t stack)
{
    uint64_t sz = 0;
    uint32_t st = 0;
    cr_assert(tq_live_map_take(m, key, &sz, &st), "key %llu missing", (unsigned long long)key);
    cr_assert_eq(sz, size, "key %llu: size %llu", (unsigned long long)key, (unsigned long long)sz);
    cr_assert_eq(st, stack, "key %llu: stack %u", (unsigned long long)key, st);
}

Test(live_map, block_ids_reused_lifo)
{
    struct tq_live_map *m = tq_live_map_new();
    cr_assert_not_null(m);
    for (uint64_t id = 1; id <= 300000; id++)
        cr_assert(tq_live_map_put(m, id, id * 3, (uint32_t)(id % 977)));
    cr_assert_eq(tq_live_map_count(m), 300000);
    for (uint64_t id = 2; id <= 300000; id += 2)
        expect(m, id, id * 3, (uint32_t)(id % 977));
    cr_assert_eq(tq_live_map_count(m), 150000);
    uint64_t sz;
    uint32_t st;
    cr_assert_not(tq_live_map_take(m, 2, &sz, &st), "taken twice");
    cr_assert_not(tq_live_map_take(m, 0, &sz, &st));
    cr_assert(tq_live_map_put(m, 0, 5, 5), "key 0 is ignored");
    cr_assert_eq(tq_live_map_count(m), 150000);
    for (uint64_t id = 2; id <= 300000; id += 2) /* ids given out again */
        cr_assert(tq_live_map_put(m, id, 7, 1));
    cr_assert(tq_live_map_put(m, 4, 8, 2)); /* replaces */
    cr_assert_eq(tq_live_map_count(m), 300000);
    expect(m, 4, 8, 2);
    expect(m, 3, 9, 3);
    tq_live_map_free(m);
}

Test(live_map, huge_keys_and_their_move_into_the_array)
{
    struct tq_live_map *m = tq_live_map_new();
    cr_assert_not_null(m);
    /* few live blocks: keys far above them go to the hash map */
    cr_assert(tq_live_map_put(m, UINT64_MAX, 1, 1));
    cr_assert(tq_live_map_put(m, (uint64_t)1 << 40, 2, 2));
    cr_assert(tq_live_map_put(m, 200000, 3, 3));
    cr_assert_eq(tq_live_map_count(m), 3);
    /* 40000 live blocks allow keys up to 160000 in the array: it grows to 262144 and takes key 200000 over */
    for (uint64_t id = 1; id <= 40000; id++)
        cr_assert(tq_live_map_put(m, id, id, 0));
    cr_assert(tq_live_map_put(m, 150000, 4, 4));
    cr_assert(tq_live_map_put(m, 200000, 5, 5)); /* replaces the moved entry, no second copy */
    cr_assert_eq(tq_live_map_count(m), 40000 + 4);
    expect(m, 200000, 5, 5);
    expect(m, 150000, 4, 4);
    expect(m, UINT64_MAX, 1, 1);
    expect(m, (uint64_t)1 << 40, 2, 2);
    cr_assert_eq(tq_live_map_count(m), 40000);
    tq_live_map_free(m);
}

Test(live_map, random_run_matches_a_plain_table)
{
    enum { N = 4096, OPS = 400000 };
    static uint64_t keys[N];
    static uint64_t size[N];
    static uint32_t stack[N];
    static int live[N];
    srand(7);
    for (int i = 0; i < N; i++) /* small ids, ids near the array's limit, and huge keys */
        keys[i] = i % 3 == 0 ? (uint64_t)i + 1 : i % 3 == 1 ? (uint64_t)i * 97 + 1 : ((uint64_t)i << 36) + 1;
    struct tq_live_map *m = tq_live_map_new();
    cr_assert_not_null(m);
    size_t count = 0;
    for (int op = 0; op < OPS; op++) {
        int i = rand() % N;
        if (rand() % 2) {
            size[i] = (uint64_t)rand();
            stack[i] = (uint32_t)rand();
            count += !live[i];
            live[i] = 1;
            cr_assert(tq_live_map_put(m, keys[i], size[i], stack[i]));
        } else {
            uint64_t sz;
            uint32_t st;
            bool got = tq_live_map_take(m, keys[i], &sz, &st);
            cr_assert_eq(got, live[i] != 0, "op %d key %llu", op, (unsigned long long)keys[i]);
            if (got) {
                cr_assert_eq(sz, size[i]);
                cr_assert_eq(st, stack[i]);
                live[i] = 0;
                count--;
            }
        }
        cr_assert_eq(tq_live_map_count(m), count);
    }
    tq_live_map_free(m);
}
