/* sorted.h - lookups in an array of structs sorted by a uint64_t member (address ranges, symbol values): the one
 * binary search, and the walk back over entries whose range may still hold a key. */
#ifndef TQ_SORTED_H
#define TQ_SORTED_H

#include <stddef.h>
#include <stdint.h>

/* The number of entries of base[0..n) whose uint64_t member at key_offset is <= key, the entries being stride bytes
 * apart and sorted by that member (they are base[0..result)). */
size_t tq_sorted_upto(const void *base, size_t n, size_t stride, size_t key_offset, uint64_t key);

/* The same for the array ARRAY sorted by its member MEMBER. */
#define TQ_SORTED_UPTO(array, n, member, key) \
    tq_sorted_upto((array), (n), sizeof *(array), offsetof(__typeof__(*(array)), member), (key))

/* Of the first k entries of ranges sorted by start, with reach[i] = the highest end over entries 0..i: the first
 * one from which on every entry's reach passes key. Only entries [result, k) may hold key. */
size_t tq_sorted_reach_from(const uint64_t *reach, size_t k, uint64_t key);

#endif
