/* heap_release.c — the pools' memory going back (layer L3): empty pages
 * to their segment, after HAKMEM_POOL_RELEASE_MS to the OS through the
 * batch madvise queue, empty segments unmapped (one of each kind kept).
 * Called by heap.c (its slow paths' periodic maintenance, thread exit,
 * tidying of abandoned heaps, trim) and heap_free.c (a page that lost its
 * last block), on a heap the caller owns. See heap.h.
 */
#include "hakmem/heap.h"
#include "hakmem/heap_impl.h"

#include "hakmem/batch.h"
#include "hakmem/options.h"
#include "hakmem/stats.h"

static void release_page(hak_segment_t *seg, hak_page_t *pg) {
  hak_batch_add(hak_page_start(seg, pg), hak_page_area(seg, pg));
  pg->commit = HAK_PAGE_RELEASED;
  HAK_STAT_INC(pool_pages_released);
}

void hak_heap_reclaim_page(hak_segment_t *seg, hak_page_t *pg) {
  if (pg->commit == HAK_PAGE_RELEASED) {
    hak_batch_take(hak_page_start(seg, pg));  // never advised after this
    pg->commit = HAK_PAGE_COMMITTED;
  }
}

// A fork child's adopted segment: maintenance caught between queueing a
// page for advice and marking it RELEASED left the page queued, COMMITTED,
// so the take that cancels the advice would never come and a flush could
// zero the blocks of the page's next class. None such stays queued.
void hak_heap_fork_unqueue(hak_segment_t *seg) {
  for (hak_page_t *pg = seg->unused; pg; pg = pg->next)
    if (pg->commit == HAK_PAGE_COMMITTED) hak_batch_take(hak_page_start(seg, pg));
}

// A page that stopped being current, or lost a block: back to the segment
// when empty.
void hak_heap_retire_if_empty(hak_heap_t *h, hak_segment_t *seg, hak_page_t *pg, uint64_t stamp) {
  if (pg->used != 0) return;
  hak_heap_queue_remove(h, pg);
  hak_segment_return_page(seg, pg, stamp);
}

static void segment_unlink(hak_heap_t *h, hak_segment_t *seg) {
  if (seg->prev) seg->prev->next = seg->next;
  else h->segments[seg->kind] = seg->next;
  if (seg->next) seg->next->prev = seg->prev;
}

static size_t free_segment(hak_heap_t *h, hak_segment_t *seg) {
  for (hak_page_t *pg = seg->unused; pg; pg = pg->next) hak_heap_reclaim_page(seg, pg);
  segment_unlink(h, seg);
  hak_segment_free(seg);
  HAK_STAT_INC(pool_segments_freed);
  return HAK_SEGMENT_SIZE;
}

// Pages empty for the release delay go to the batch queue; segments empty
// that long are unmapped, but for one of each kind. force: no delay, no
// segment kept. Returns bytes unmapped.
size_t hak_heap_maintain(hak_heap_t *h, uint64_t now, bool force) {
  uint64_t delay = hak_opt(HAK_OPT_POOL_RELEASE_MS);
  size_t unmapped = 0;
  h->last_maintenance = now;
  // Current pages that emptied stay current (no thrash on alloc/free pairs)
  // until they have been empty for the delay.
  // Such a page was found empty (used holds only the current page's extra
  // count) at two maintenances the delay apart, and not found in use
  // between them.
  for (unsigned c = 0; c < HAK_CLASSES; c++) {
    hak_page_t *pg = h->current[c];
    if (pg == &hak_heap_empty_page) continue;
    if (pg->used != 1) {
      pg->empty_since = 0;
      continue;
    }
    if (!pg->empty_since && !force) {
      pg->empty_since = now;
      continue;
    }
    if (force || now - pg->empty_since >= delay) {
      uint64_t stamp = pg->empty_since ? pg->empty_since : now;
      hak_heap_queue_remove(h, pg);  // no longer current: used drops to 0
      HAK_ASSERT_INTERNAL(pg->used == 0);
      hak_segment_return_page(hak_segment_of(pg), pg, stamp);  // page structs live in their segment's header
    }
  }
  unsigned released = 0;
  for (unsigned k = 0; k < HAK_PAGE_KINDS; k++) {
    bool kept_one = force;
    for (hak_segment_t *seg = h->segments[k], *next; seg; seg = next) {
      next = seg->next;
      // FRESH pages were never touched: nothing to advise.
      for (hak_page_t *pg = seg->unused; pg; pg = pg->next)
        if (pg->commit == HAK_PAGE_COMMITTED && (force || now - pg->empty_since >= delay)) {
          release_page(seg, pg);
          released++;
        }
      if (seg->pages_used == 0 && (force || now - seg->empty_since >= delay)) {
        if (kept_one) unmapped += free_segment(h, seg);
        else kept_one = true;
      }
    }
  }
  // These pages already waited out the release delay: advise them now (the
  // batch still merges neighbours into one call) rather than leave up to
  // 16 MiB resident until the queue fills.
  if (released) hak_batch_flush();
  return unmapped;
}
