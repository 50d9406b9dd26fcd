/* hugemem.h - big zeroed tables (hash tables, arrays indexed by id) that grow by doubling: from 2 MiB up they are
 * mapped straight from the kernel with transparent huge pages requested (THP "madvise" mode), which cuts their page
 * faults 512-fold and their TLB misses with it; smaller ones come from tq_calloc. On this project's 2-core VM a page
 * fault costs microseconds, and a report's tables fault in tens of thousands of pages (report/live_blocks.c,
 * report/event_match.c). */
#ifndef TQ_HUGEMEM_H
#define TQ_HUGEMEM_H

#include <stddef.h>

/* `bytes` zeroed bytes. NULL when memory runs out. */
void *tq_huge_zalloc(size_t bytes);

/* Grow p (old_bytes, from tq_huge_zalloc or tq_huge_grow; NULL with 0) to new_bytes >= old_bytes: the first
 * old_bytes are kept, the rest is zero. Returns the (maybe moved) block, or NULL when memory runs out (p is then
 * untouched). Large blocks move with mremap: nothing is copied and no page is faulted in again. */
void *tq_huge_grow(void *p, size_t old_bytes, size_t new_bytes);

/* Give back the memory pages lying wholly inside [off, off + len) of p (`bytes`, from tq_huge_zalloc; a range
 * reaching `bytes` takes the rest of the mapping with it): they read as zero again. A table below 2 MiB (on the C heap) keeps them. Give back whole huge pages (2 MiB-aligned ranges
 * from the start of p, which tq_huge_zalloc aligns), or the kernel splits them into small pages. Can't fail. */
void tq_huge_release_part(void *p, size_t bytes, size_t off, size_t len);

/* Release p of `bytes` (the size it was allocated or grown to). tq_huge_free(NULL, 0) is a no-op. Can't fail. */
void tq_huge_free(void *p, size_t bytes);

#endif
