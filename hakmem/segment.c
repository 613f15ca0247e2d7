/* segment.c — mapping, carving and walking pool segments (layer L2).
 * See segment.h. Called by heap.c; the walkers by tests and fuzzers.
 */
#include "hakmem/segment.h"

#include <string.h>

#include "hakmem/addrmap.h"
#include "hakmem/check.h"
#include "hakmem/os.h"
#include "hakmem/stats.h"

#define HAK_SEGMENT_MAGIC 0x47455348u  // "HSEG"

static const uint8_t kind_shift[HAK_PAGE_KINDS] = {16, 19, 22};

hak_segment_t *hak_segment_new(hak_page_kind_t kind, struct hak_heap *heap) {
  hak_segment_t *seg = hak_os_map(HAK_SEGMENT_SIZE, HAK_SEGMENT_SIZE);
  if (!seg) return NULL;
  if (!hak_addrmap_set_segment(seg)) {
    hak_os_unmap(seg, HAK_SEGMENT_SIZE);
    return NULL;
  }
  // Fresh memory is zero: only the non-zero fields need writing.
  seg->magic = HAK_SEGMENT_MAGIC;
  seg->kind = (uint8_t)kind;
  seg->page_shift = kind_shift[kind];
  seg->page_count = (uint16_t)(HAK_SEGMENT_SIZE >> seg->page_shift);
  seg->heap = heap;
  unsigned first = kind == HAK_PAGE_SMALL ? 1 : 0;  // a small page 0 is all header
  for (unsigned i = seg->page_count; i-- > first;) {
    hak_page_t *pg = &seg->pages[i];
    pg->index = (uint8_t)i;
    pg->next = seg->unused;
    seg->unused = pg;
  }
  HAK_STAT_INC(pool_segments);
  HAK_STAT_ADD(os_bytes_mapped_pools, HAK_SEGMENT_SIZE);
  return seg;
}

void hak_segment_free(hak_segment_t *seg) {
  HAK_UNPOISON(seg, HAK_SEGMENT_SIZE);  // the next owner of these addresses starts clean
  hak_addrmap_clear(seg, HAK_SEGMENT_SIZE);
  seg->magic = 0;
  hak_os_unmap(seg, HAK_SEGMENT_SIZE);
  HAK_STAT_SUB(pool_segments, 1);
  HAK_STAT_SUB(os_bytes_mapped_pools, HAK_SEGMENT_SIZE);
}

hak_page_t *hak_segment_take_page(hak_segment_t *seg, unsigned cls) {
  hak_page_t *pg = seg->unused;
  if (!pg) return NULL;
  seg->unused = pg->next;
  seg->pages_used++;
  size_t bs = hak_class_size(cls);
  char *start = hak_page_start(seg, pg);
  HAK_UNPOISON(start, hak_page_area(seg, pg));  // the last class's freed blocks
  pg->free = NULL;
  pg->used = 0;
  pg->block_size = (uint32_t)bs;
  pg->bump = start;
  pg->end = start + (hak_page_area(seg, pg) / bs) * bs;
  pg->next = pg->prev = NULL;
  pg->cls = (uint16_t)cls;
  pg->state = HAK_PAGE_ACTIVE;
  atomic_store_explicit(&pg->aligned, 0, memory_order_relaxed);
  return pg;
}

void hak_segment_return_page(hak_segment_t *seg, hak_page_t *pg, uint64_t now) {
  HAK_ASSERT(pg->used == 0);
  pg->state = HAK_PAGE_UNUSED;
  pg->free = NULL;
  pg->bump = pg->end = NULL;
  pg->empty_since = now;
  pg->prev = NULL;
  pg->next = seg->unused;
  seg->unused = pg;
  if (--seg->pages_used == 0) seg->empty_since = now;
}

bool hak_page_extend(hak_page_t *pg) {
  if (pg->bump >= pg->end) return false;
  // About 4 KiB of blocks at a time (at least one, at most 64): page memory
  // is touched only as it is needed.
  size_t bs = pg->block_size, n = 4096 / bs;
  if (n < 1) n = 1;
  if (n > 64) n = 64;
  size_t left = (size_t)(pg->end - pg->bump) / bs;
  if (n > left) n = left;
  char *b = pg->bump;
  for (size_t i = 0; i + 1 < n; i++, b += bs) ((hak_block_t *)b)->next = (hak_block_t *)(b + bs);
  ((hak_block_t *)b)->next = pg->free;
  pg->free = (hak_block_t *)pg->bump;
  pg->bump += n * bs;
  return true;
}

void *hak_page_block_start(const hak_segment_t *seg, const hak_page_t *pg, const void *p) {
  char *start = hak_page_start(seg, pg);
  size_t off = (size_t)((const char *)p - start);
  return start + off - off % pg->block_size;
}

bool hak_page_is_valid(const hak_segment_t *seg, const hak_page_t *pg) {
  if (pg->state == HAK_PAGE_UNUSED) return pg->free == NULL;
  char *start = hak_page_start(seg, pg);
  size_t bs = pg->block_size;
  if (!bs || bs != hak_class_size(pg->cls)) return false;
  size_t capacity = hak_page_area(seg, pg) / bs;
  if (pg->end != start + capacity * bs || pg->bump < start || pg->bump > pg->end) return false;
  if ((size_t)(pg->bump - start) % bs) return false;
  size_t fresh = (size_t)(pg->end - pg->bump) / bs, nfree = 0;
  // Walk with a step cap: a cycle shows as more blocks than the page holds.
  for (const hak_block_t *b = pg->free; b; b = b->next) {
    const char *c = (const char *)b;
    if (c < start || c >= pg->bump || (size_t)(c - start) % bs) return false;
    if (++nfree > capacity) return false;
  }
  return nfree + fresh + pg->used == capacity;
}

bool hak_segment_is_valid(const hak_segment_t *seg) {
  if (seg->magic != HAK_SEGMENT_MAGIC || seg->kind >= HAK_PAGE_KINDS) return false;
  unsigned unused = 0, in_stack = 0;
  for (unsigned i = 0; i < seg->page_count; i++) {
    const hak_page_t *pg = &seg->pages[i];
    if (seg->kind == HAK_PAGE_SMALL && i == 0) continue;
    if (pg->index != i || !hak_page_is_valid(seg, pg)) return false;
    unused += pg->state == HAK_PAGE_UNUSED;
  }
  for (const hak_page_t *pg = seg->unused; pg; pg = pg->next) {
    if (pg->state != HAK_PAGE_UNUSED || ++in_stack > seg->page_count) return false;
  }
  unsigned usable = seg->page_count - (seg->kind == HAK_PAGE_SMALL ? 1u : 0u);
  return in_stack == unused && seg->pages_used == usable - unused;
}
