/* segment.h — segments and pages of the small/mid pools (layer L2).
 *
 * A segment is 4 MiB, 4 MiB-aligned (addrmap.c marks it HAK_ADDR_SEGMENT),
 * owned by one heap for its whole life. Its first 64 KiB hold this header;
 * the rest is cut into pages of one kind (sizeclass.h): 63 small pages of
 * 64 KiB, 8 medium pages of 512 KiB (the first one 448 KiB), or one page of
 * 4032 KiB. A page holds blocks of one size class.
 *
 * From any block address: segment = address rounded down to 4 MiB, page =
 * granule[(address - segment) >> 16]: a table of 64 page pointers, one per
 * 64 KiB of the segment, filled when the segment is made, so that finding
 * the page is one load for every kind. No per-block header.
 *
 * Free lists (what lets malloc and free trust nothing a program can write):
 *   - a page's list links blocks by index: a free block's first word holds
 *     next ^ the page's cookie (the per-process secret mixed with the page's
 *     address), so a write after free turns into a random index; an index
 *     is used only when it is below the page's bound (a carved block of
 *     this page), which the next pop checks anyway to find the list's end.
 *     (glibc mixes in the slot's address too, for the ASLR bits it adds when
 *     no secret is known; with a secret, a block's own index, which a
 *     reader of a freed block can guess, would add nothing but two
 *     instructions per pair);
 *   - a free block's second word holds the process's key (hak_pool_key,
 *     random): a free finding it there takes the slow path, which looks the
 *     block up on the lists to tell a double free from a program that stored
 *     that value;
 *   - free maps a pointer to its block index with one multiply and a rotate
 *     (ror((p - start) * inverse of the odd part, trailing zeros)): the result
 *     is below the bound exactly when p is the start of a carved block, so
 *     interior, misaligned, header and never-carved pointers all leave the
 *     fast path.
 *
 * Linear overflows and underflows (what glibc's release mode catches with
 * its heap top and chunk headers): the pages a segment never took are
 * PROT_NONE, taken every other one first, and the header's tail and the top
 * of the last page are PROT_NONE for good (the guards, below), so a store
 * running off a page into an untaken one, or before a page's first block,
 * faults (a small page hands out its first block first; a larger page
 * starts at a random block, hak_page_extend, whose underflow lands in a
 * free block); a short overflow into the never-carved block after the last
 * carved one aborts at the free (the frontier check, hak_page_set_limit).
 *
 * Page fields are written only by the owning heap's thread (other threads
 * free into the heap's remote list, heap.h); the few that a remote free
 * reads (start, inverse, rot, carved, state) are stored and loaded with
 * relaxed atomics. Segment and page life cycle functions here are called by
 * heap.c only.
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
#define HAK_SEGMENT_GRANULE_SHIFT 16 /* the smallest page: granule[] has one entry per 64 KiB */
#define HAK_SEGMENT_GRANULES (HAK_SEGMENT_SIZE >> HAK_SEGMENT_GRANULE_SHIFT)

struct hak_heap;

/* A free block's first 16 bytes (every class is at least that big). */
typedef struct hak_block {
  uint64_t link; /* page list: next index ^ the page's cookie; remote list: encoded pointer */
  uint64_t key;  /* hak_pool_key while free; malloc clears it */
} hak_block_t;

/* The end of a page's free list: above every bound. */
#define HAK_LIST_END UINT64_MAX

/* Random per process (hak_pool_secrets_init): the free-block key and the
 * secret that page cookies and remote links are derived from. */
HAK_INTERNAL extern uint64_t hak_pool_key;
HAK_INTERNAL extern uint64_t hak_pool_secret;
/* Fill both from os.c's secret source (hak_os_secret: getrandom, else
 * AT_RANDOM and the clock), independent of each other; idempotent; no
 * allocation. Called before the first segment exists. */
HAK_INTERNAL void hak_pool_secrets_init(void);

typedef enum hak_page_state {
  HAK_PAGE_UNUSED = 0, /* in its segment's stack of unused pages */
  HAK_PAGE_ACTIVE = 1, /* in its heap's queue for its class */
  HAK_PAGE_FULL = 2    /* out of the queue: no free block, no fresh space */
} hak_page_state_t;

typedef enum hak_page_commit {
  HAK_PAGE_FRESH = 0,     /* never touched since the segment was mapped: nothing to give back */
  HAK_PAGE_COMMITTED = 1, /* pages may be resident */
  HAK_PAGE_RELEASED = 2   /* handed to the batch queue for MADV_DONTNEED */
} hak_page_commit_t;

typedef struct hak_page {
  /* The fast paths' fields, in one cache line. */
  uint64_t head;                 /* index of the first free block (LIFO), HAK_LIST_END when none */
  uint64_t limit;                /* fast paths take block indices below this: `carved`, or 0 when
                                    every call must take the slow path (FULL, UNUSED, careful) */
  char *start;                   /* first block */
  uint64_t cookie;               /* link encoding of this page */
  uint64_t inverse;              /* inverse of the block size's odd part, mod 2^64 */
  uint32_t block_size;
  uint32_t used;                 /* blocks out (+1 while the page is its class's current page) */
  uint64_t free_limit;           /* the fast free's bound: limit, less the frontier block
                                    (hak_page_set_limit) */
  uint8_t rot;                   /* trailing zero bits of the block size */
  uint8_t state;                 /* hak_page_state_t */
  uint8_t commit;                /* hak_page_commit_t */
  uint8_t index;
  _Atomic uint8_t aligned;       /* holds over-aligned (interior) pointers */
  uint8_t careful;               /* checked mode: every malloc and free takes the slow path */
  uint8_t current;               /* its class's current page (holds one extra count in used) */
  uint8_t clean;                 /* taken fresh: the blocks from `carved` on were never written */
  uint32_t capacity;             /* blocks the page holds */
  uint32_t carved;               /* blocks carved so far: [0, carved) were handed out or are free */
  struct hak_page *next, *prev;  /* heap queue (ACTIVE) or segment stack (UNUSED) */
  uint64_t empty_since;          /* ms, when it became UNUSED */
  /* The head as a pointer, NULL when none: exact on careful pages (checked
   * mode, whose calls all take the slow paths, which keep it), else stale. */
  hak_block_t *free;
  char *end;                     /* start + capacity blocks */
  uint16_t cls;
} __attribute__((aligned(64))) hak_page_t;

typedef struct hak_segment {
  uint32_t magic;
  uint8_t kind;                   /* hak_page_kind_t */
  uint8_t page_shift;
  uint16_t page_count;            /* pages[0 .. page_count) exist; small: [0] is the header */
  struct hak_heap *heap;          /* owner, for the segment's whole life */
  struct hak_segment *next, *prev;/* the heap's list for this kind */
  hak_page_t *unused;             /* stack of UNUSED pages that were taken before */
  uint16_t fresh;                 /* pages were taken fresh so far (counting a small
                                     segment's header page): the pages at positions
                                     [fresh .. page_count) of the segment's order were never
                                     taken and are still all zero (UNUSED, FRESH, on no
                                     stack), so a new segment writes one page of header, not
                                     the whole pages[] array */
  uint16_t order_start;           /* the order's random start (hak_segment_fresh_index) */
  uint32_t pages_used;            /* pages not UNUSED */
  uint8_t guard;                  /* hak_segment_guard_t */
  uint16_t guard_cost;            /* what it adds to hak_segment_guard_vmas */
  uint32_t top_guard;             /* bytes at the top of the last page that are a guard, not blocks */
  uint64_t empty_since;           /* ms, when pages_used became 0 */
  /* The page of each 64 KiB of the segment (the header's: pages[0]); never
   * changes after hak_segment_new. */
  struct hak_page *granule[HAK_SEGMENT_GRANULES];
  hak_page_t pages[HAK_SEGMENT_MAX_PAGES];
  /* Checked mode only (untouched, so never resident, otherwise): one bit per
   * block, set while the block is handed out. */
  _Atomic uint64_t live[HAK_SEGMENT_MAX_PAGES][64];
} hak_segment_t;

_Static_assert(sizeof(hak_segment_t) <= HAK_SEGMENT_HEADER, "segment header must fit");
_Static_assert(sizeof(hak_page_t) == 128, "page_of scales by a shift");

HAK_INLINE hak_segment_t *hak_segment_of(const void *p) {
  return (hak_segment_t *)((uintptr_t)p & ~(uintptr_t)(HAK_SEGMENT_SIZE - 1));
}

HAK_INLINE hak_page_t *hak_page_of(hak_segment_t *seg, const void *p) {
  return seg->granule[((uintptr_t)p >> HAK_SEGMENT_GRANULE_SHIFT) & (HAK_SEGMENT_GRANULES - 1)];
}

/* Guards (what makes a linear overflow or underflow out of a page fault, as
 * glibc's does past its heap top or on its chunk headers). The segment is
 * mapped read-write and committed as a whole (os.h: the kernel's accounting
 * sees all of it at hak_segment_new; a later mprotect charges nothing); then
 *   - EDGES: the header's OS pages after sizeof(hak_segment_t) and the top
 *     OS page of the last page (top_guard bytes, cut from its blocks) are
 *     PROT_NONE for the segment's life: an underflow from the first block
 *     of the first page, and an overflow past the segment's end (into the
 *     next 4 MiB, often another segment's header), fault;
 *   - GAPS: EDGES, and every page never taken is PROT_NONE too, made
 *     read-write when it is first taken (hak_segment_take_page: one mprotect
 *     per fresh page, that may fail: NULL, ENOMEM). The fresh order takes
 *     every other page first, so while the segment fills a taken page has
 *     inaccessible neighbours (a store running 1 MiB past a small block
 *     faults within 64 KiB), then the gaps;
 *   - NONE: no guard (OS pages above 16 KiB, or the budget below spent).
 * VMAs: a guarded segment that has taken all its pages is 4 (header, guard,
 * pages, top guard: the pages made read-write one by one merge back, as
 * they share the kernel's anon_vma from the header's first touch); a GAPS
 * segment still filling is at most page_count + 2 (alternating pages). Each
 * counts that (guard_cost) in hak_segment_guard_vmas, and a new segment gets
 * GAPS, else EDGES, else NONE, whichever keeps the sum within
 * HAK_SEGMENT_GUARD_VMAS: so guards add at most that many VMAs to the
 * process (vm.max_map_count is 65530 by default), however many segments and
 * heaps it has: 16384 is about 248 small segments filling at once, or 5461
 * guarded ones (21 GiB); segments made past that have no guard. (A fork child's inherited pages do not merge back: the child
 * gives each VMA an anon_vma of its own, so a segment caught filling at the
 * fork stays at the VMAs it had then, at most page_count + 2.) */
typedef enum hak_segment_guard { HAK_GUARD_NONE = 0, HAK_GUARD_EDGES = 1, HAK_GUARD_GAPS = 2 } hak_segment_guard_t;
#define HAK_SEGMENT_GUARD_VMAS 16384u
HAK_INTERNAL extern _Atomic uint32_t hak_segment_guard_vmas;

/* The block area of a page (less the top guard on the last page). */
HAK_INLINE char *hak_page_start(const hak_segment_t *seg, const hak_page_t *page) {
  size_t off = (size_t)page->index << seg->page_shift;
  return (char *)seg + (off < HAK_SEGMENT_HEADER ? HAK_SEGMENT_HEADER : off);
}
HAK_INLINE size_t hak_page_area(const hak_segment_t *seg, const hak_page_t *page) {
  size_t off = (size_t)page->index << seg->page_shift;
  size_t end = off + ((size_t)1 << seg->page_shift) - (page->index == seg->page_count - 1u ? seg->top_guard : 0);
  return end - (off < HAK_SEGMENT_HEADER ? HAK_SEGMENT_HEADER : off);
}

/* Pages are taken fresh in a spread, rotated order over the pages that
 * hold blocks (all of them, but for a small segment's page 0, which is all
 * header: hak_segment_first pages are never in the order), from a random
 * one on (seg->order_start = s, from hak_os_random): first the pages of
 * s's parity, upward from s and round, then those of the other parity. So
 * no two pages taken in the first half are neighbours (GAPS above), and
 * the first page a segment takes is random: a small block's address has
 * the log2(63) = 6.0 bits of its page (16..21) on top of its segment's
 * slot (os.c's placement: 23.6 bits), a medium block's the log2(8) = 3 of
 * its page (19..21), the short page 0 included, and the place of the
 * block in its page (hak_page_extend). The order costs nothing: the same
 * pages are touched, in another order. (Which class gets a medium
 * segment's short page changes from run to run, and with it a program's
 * peak RSS by up to a segment: wl_mixed_random's varied by 4 MiB.) The
 * k-th page taken fresh (hak_segment_first(seg) <= k < page_count) is
 * pages[fresh_index(k)]; page i's position in that order is
 * hak_segment_position(seg, i). */
HAK_INLINE unsigned hak_segment_first(const hak_segment_t *seg) { return seg->kind == HAK_PAGE_SMALL ? 1u : 0u; }
/* The pages of the order, m = page_count - first of them, as j = page -
 * first: the first run takes the n1 of s's parity c (j = c + 2t), from
 * t = s / 2 on. */
HAK_INLINE unsigned hak_segment_order_pages(const hak_segment_t *seg) {
  return seg->page_count - hak_segment_first(seg);
}
HAK_INLINE unsigned hak_segment_run1(const hak_segment_t *seg) {
  return (hak_segment_order_pages(seg) + 1u - (seg->order_start & 1u)) / 2u;
}
HAK_INLINE unsigned hak_segment_fresh_index(const hak_segment_t *seg, unsigned k) {
  unsigned b = hak_segment_first(seg);
  if (k < b) return k;
  unsigned m = hak_segment_order_pages(seg), s = seg->order_start, c = s & 1u, n1 = hak_segment_run1(seg), r = k - b;
  if (r < n1) return b + c + 2u * ((s / 2u + r) % n1);
  return b + (c ^ 1u) + 2u * ((s / 2u + r - n1) % (m - n1));
}
HAK_INLINE unsigned hak_segment_position(const hak_segment_t *seg, unsigned i) {
  unsigned b = hak_segment_first(seg);
  if (i < b) return i;
  unsigned m = hak_segment_order_pages(seg), s = seg->order_start, c = s & 1u, n1 = hak_segment_run1(seg), j = i - b;
  if ((j & 1u) == c) return b + (j / 2u + n1 - s / 2u) % n1;
  return b + n1 + (j / 2u + (m - n1) - (s / 2u) % (m - n1)) % (m - n1);
}

/* True when seg has an UNUSED page to take (on its stack or never taken). */
HAK_INLINE bool hak_segment_has_unused(const hak_segment_t *seg) {
  return seg->unused || seg->fresh < seg->page_count;
}

/* A new segment of `kind` for heap, every page UNUSED, marked in the
 * address map with the heap's tag; NULL (ENOMEM). */
HAK_INTERNAL hak_segment_t *hak_segment_new(hak_page_kind_t kind, struct hak_heap *heap, uint16_t tag);
/* Unmap a segment; its pages must have left the batch queue. */
HAK_INTERNAL void hak_segment_free(hak_segment_t *seg);

/* An UNUSED page of seg (the stack's top, else the next never-taken one in
 * the segment's order; NULL when none), made ACTIVE for
 * class cls: block size set, fresh space = the whole page, no free list. */
HAK_INTERNAL hak_page_t *hak_segment_take_page(hak_segment_t *seg, unsigned cls);
/* Give an empty page back to its segment (UNUSED), stamped `now`. */
HAK_INTERNAL void hak_segment_return_page(hak_segment_t *seg, hak_page_t *page, uint64_t now);

/* Move fresh blocks of page onto its free list (about 4 KiB of small
 * ones, or one of the one-page kind, from the lowest up; a run of 1 .. 8
 * medium ones, of random length, from the run's last down); false when it
 * has none left. */
HAK_INTERNAL bool hak_page_extend(hak_page_t *page);

HAK_INLINE uint64_t hak_ror64(uint64_t x, unsigned r) { return (x >> (r & 63)) | (x << ((64 - r) & 63)); }

/* The block index of p when p is the start of block i of the page, else a
 * number above every bound (one multiply, one rotate, no division). */
HAK_INLINE uint64_t hak_page_index(const hak_page_t *page, const void *p) {
  return hak_ror64(((uintptr_t)p - (uintptr_t)page->start) * page->inverse, page->rot);
}
/* The same from another thread than the owner's (relaxed loads). */
HAK_INLINE uint64_t hak_page_index_remote(const hak_page_t *page, const void *p) {
  uintptr_t start = (uintptr_t)__atomic_load_n(&page->start, __ATOMIC_RELAXED);
  uint64_t inv = __atomic_load_n(&page->inverse, __ATOMIC_RELAXED);
  return hak_ror64(((uintptr_t)p - start) * inv, __atomic_load_n(&page->rot, __ATOMIC_RELAXED));
}
HAK_INLINE hak_block_t *hak_page_block(const hak_page_t *page, uint64_t i) {
  return (hak_block_t *)(page->start + (uint32_t)i * page->block_size);
}
/* A page list link: what a block stores to point at index `next` (and, as
 * the encoding is an involution, the index a stored link points at). */
HAK_INLINE uint64_t hak_page_link(const hak_page_t *page, uint64_t next) { return next ^ HAK_RC(page->cookie); }

/* The frontier check (what catches a short overflow past a block, which
 * glibc sees in the next chunk's header): on a clean page the block at
 * `carved` was never handed out and is still zero, so a write into it can
 * only be an overflow of block carved - 1. That block's frees leave the fast
 * free (free_limit = carved - 1; its mallocs stay fast) and the slow one
 * checks the block after it (hak_heap_free_careful). One block per carve
 * pays: a carve is about 4 KiB of small blocks, so one block in 1 .. 64,
 * or a run of larger ones, whose first block handed out is the frontier
 * (hak_page_extend). limit: 0 or carved. */
HAK_INLINE bool hak_page_has_frontier(const hak_page_t *page, uint64_t carved) {
  return carved && page->clean && carved < page->capacity;  // a block after block carved - 1, never written
}
HAK_INLINE void hak_page_set_limit(hak_page_t *page, uint64_t limit) {
  page->limit = limit;
  page->free_limit = hak_page_has_frontier(page, limit) ? limit - 1 : limit;
}

/* Pop the head of page's free list on a slow path: NULL when the list is
 * empty; aborts ("corrupted free list") on a link that names no carved
 * block. Clears the key, counts the block used, keeps page->free. */
HAK_INTERNAL hak_block_t *hak_page_pop(hak_page_t *page);
/* Push block i (a carved block, handed out) on a slow path: sets the key,
 * uncounts it, keeps page->free. */
HAK_INTERNAL void hak_page_push(hak_page_t *page, uint64_t i);
/* True when block i is on page's free list (bounded walk, every link
 * checked: aborts on a corrupt one). */
HAK_INTERNAL bool hak_page_list_has(const hak_page_t *page, uint64_t i);
/* Abort: a page list link that names no block of the page; where: the
 * block holding it, or NULL for the head (the block is looked for). */
HAK_INTERNAL __attribute__((noreturn, cold)) void hak_page_corrupt(const hak_page_t *page, const void *where);

/* The start of the block that contains p (p inside page's block area). */
HAK_INTERNAL void *hak_page_block_start(const hak_segment_t *seg, const hak_page_t *page, const void *p);

/* Invariant walker: every free-list link decodes to a carved block of the
 * page, every listed block holds the key, the list has no cycle or
 * duplicate, and free + fresh + used blocks add up to the page's capacity. */
HAK_INTERNAL bool hak_page_is_valid(const hak_segment_t *seg, const hak_page_t *page);
/* In a fork child, for the heap of a thread that is gone (heap.c, after
 * it cleared the current flag of every page but the one it keeps current
 * in each class): that thread may have been caught anywhere in an
 * operation on a page, so each taken page is made consistent again from
 * its free list and state. Its count of blocks in use is made what its
 * free list says (a block caught between a fast path's list update and its
 * count stays out of use: never handed out twice). A carve caught halfway
 * (hak_page_extend: the run's links and the head written, `carved` not
 * yet) is undone, so no pop follows the head past `carved` ("corrupted free
 * list"); and as the block after the frontier is then not zero, no page
 * stays clean (no frontier check in the child for the pages of a heap it
 * adopts). A FULL page with a free block is ACTIVE again (a free caught
 * before the requeue), a page with no block in use that is not current is
 * UNUSED (caught between being taken and queued, or on its way back), and
 * the segment's stack of UNUSED pages and pages_used are made again (a take
 * or return caught halfway). The limits are made again. */
HAK_INTERNAL void hak_segment_recount(hak_segment_t *seg);
HAK_INTERNAL bool hak_segment_is_valid(const hak_segment_t *seg);

#endif /* HAK_SEGMENT_H */
