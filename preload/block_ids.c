/* block_ids.c - the shim's block matcher (traces/block_match.h) for record --aggregate, which needs each free's
 * block in-process to keep per-stack totals; its tables live in raw mmap'd memory (nothing here calls malloc).
 * Plain record --stacks keeps no such table: it writes addresses with their order (ADDR_EVENTS) and the analyzer
 * matches them offline. */
#include "shim.h"

static void *raw_zalloc(size_t n)
{
    return tq_raw_map(n); /* fresh anonymous pages are zero */
}

static const struct tq_block_mem raw_mem = {raw_zalloc, tq_raw_unmap};
static struct tq_block_match matcher = {.mem = &raw_mem, .next_id = 1};

uint32_t tq_blocks_rewrite(const struct tq_event *in, uint32_t n, struct tq_event *out,
                           struct tq_id_pool *ids_of_thread)
{
    return tq_block_match_rewrite(&matcher, in, n, out, ids_of_thread);
}

void tq_blocks_reset(void)
{
    tq_block_match_reset(&matcher);
}
