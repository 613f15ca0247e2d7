/* segment.h — segments and pages of the small/mid pools (layer L2).
 *
 * A segment is 4 MiB, 4 MiB-aligned (addrmap.c marks it HAK_ADDR_SEGMENT),
 * owned by one heap for its whole life. Its first 64 KiB hold this header;
 * the rest is cut into pages of one kind (sizeclass.h): 63 small pages of
 * 64 KiB, 8 medium pages of 512 KiB (the first one 448 KiB), or one page of
 * 4032 KiB. A page holds blocks of one size class.
 *
 * From any block address: segment = address rounded down to 4 MiB, page =
 * pages[(address - segment) >> page_shift]. No per-block header.
 *
 * Page fields are written only by the owning heap's thread (other threads
 * free into the heap's remote list, heap.h). Segment and page life cycle
 * functions here are called by heap.c only.
 */
#ifndef HAK_SEGMENT_H
#define HAK_SEGMENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hakmem/config.h"
#include "hakmem/sizeclass.h"

#define HAK_SEGMENT_HEADER ((size_t)64 << 10)
#define HAK_SEGMENT_MAX_PAGES 64u

struct hak_heap;

typedef struct hak_block {
  struct hak_block *next;
} hak_block_t;

typedef enum hak_page_state {
  HAK_PAGE_UNUSED = 0, /* in its segment's stack of unused pages */
  HAK_PAGE_ACTIVE = 1, /* in its heap's queue for its class */
  HAK_PAGE_FULL = 2    /* out of the queue: no free block, no fresh space */
} hak_page_state_t;

typedef enum hak_page_commit {
  HAK_PAGE_COMMITTED = 0, /* pages may be resident */
  HAK_PAGE_RELEASED = 1   /* handed to the batch queue for MADV_DONTNEED */
} hak_page_commit_t;

typedef struct hak_page {
  hak_block_t *free;             /* blocks ready for the owner, LIFO */
  uint32_t used;                 /* blocks out: handed out and not freed back here */
  uint32_t block_size;
  char *bump, *end;              /* never-used blocks: [bump, end) */
  struct hak_page *next, *prev;  /* heap queue (ACTIVE) or segment stack (UNUSED) */
  uint64_t empty_since;          /* ms, when it became UNUSED */
  uint16_t cls;
  uint8_t state;                 /* hak_page_state_t */
  uint8_t commit;                /* hak_page_commit_t */
  _Atomic uint8_t aligned;       /* holds over-aligned (interior) pointers */
  uint8_t index;
} hak_page_t;

typedef struct hak_segment {
  uint32_t magic;
  uint8_t kind;                   /* hak_page_kind_t */
  uint8_t page_shift;
  uint16_t page_count;            /* pages[0 .. page_count) exist; small: [0] is the header */
  struct hak_heap *heap;          /* owner, for the segment's whole life */
  struct hak_segment *next, *prev;/* the heap's list for this kind */
  hak_page_t *unused;             /* stack of UNUSED pages */
  uint32_t pages_used;            /* pages not UNUSED */
  uint64_t empty_since;           /* ms, when pages_used became 0 */
  hak_page_t pages[HAK_SEGMENT_MAX_PAGES];
  /* Checked mode only (untouched, so never resident, otherwise): one bit per
   * block, set while the block is handed out. */
  _Atomic uint64_t live[HAK_SEGMENT_MAX_PAGES][64];
} hak_segment_t;

_Static_assert(sizeof(hak_segment_t) <= HAK_SEGMENT_HEADER, "segment header must fit");

HAK_INLINE hak_segment_t *hak_segment_of(const void *p) {
  return (hak_segment_t *)((uintptr_t)p & ~(uintptr_t)(HAK_SEGMENT_SIZE - 1));
}

HAK_INLINE hak_page_t *hak_page_of(hak_segment_t *seg, const void *p) {
  return &seg->pages[((uintptr_t)p - (uintptr_t)seg) >> seg->page_shift];
}

/* The block area of a page. */
HAK_INLINE char *hak_page_start(const hak_segment_t *seg, const hak_page_t *page) {
  size_t off = (size_t)page->index << seg->page_shift;
  return (char *)seg + (off < HAK_SEGMENT_HEADER ? HAK_SEGMENT_HEADER : off);
}
HAK_INLINE size_t hak_page_area(const hak_segment_t *seg, const hak_page_t *page) {
  size_t off = (size_t)page->index << seg->page_shift;
  size_t end = off + ((size_t)1 << seg->page_shift);
  return end - (off < HAK_SEGMENT_HEADER ? HAK_SEGMENT_HEADER : off);
}

/* A new segment of `kind` for heap, every page UNUSED; NULL (ENOMEM). */
HAK_INTERNAL hak_segment_t *hak_segment_new(hak_page_kind_t kind, struct hak_heap *heap);
/* Unmap a segment; its pages must have left the batch queue. */
HAK_INTERNAL void hak_segment_free(hak_segment_t *seg);

/* An UNUSED page of seg off its stack (NULL when none), made ACTIVE for
 * class cls: block size set, fresh space = the whole page, no free list. */
HAK_INTERNAL hak_page_t *hak_segment_take_page(hak_segment_t *seg, unsigned cls);
/* Give an empty page back to its segment (UNUSED), stamped `now`. */
HAK_INTERNAL void hak_segment_return_page(hak_segment_t *seg, hak_page_t *page, uint64_t now);

/* Move up to a few KiB of fresh blocks of page onto its free list; false
 * when it has none left. */
HAK_INTERNAL bool hak_page_extend(hak_page_t *page);

/* The start of the block that contains p (p inside page's block area). */
HAK_INTERNAL void *hak_page_block_start(const hak_segment_t *seg, const hak_page_t *page, const void *p);

/* Invariant walker: the free list stays inside the page on block
 * boundaries, has no cycle or duplicate, and free + fresh + used blocks add
 * up to the page's capacity. */
HAK_INTERNAL bool hak_page_is_valid(const hak_segment_t *seg, const hak_page_t *page);
HAK_INTERNAL bool hak_segment_is_valid(const hak_segment_t *seg);

#endif /* HAK_SEGMENT_H */
