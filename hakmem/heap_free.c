/* heap_free.c — the pools' frees off the inline fast path, over-aligned
 * blocks (whose interior pointers those frees accept) and the heap walker
 * (layer L3): the careful path (interior, misaligned and header pointers,
 * double-free suspects, careful pages), remote frees pushed onto the
 * owner's list, and the owner's drain of that list. See heap.h for the
 * design and heap.c's opening comment for the locking; shares heap_impl.h
 * with heap.c.
 *
 * Misuse: every free that leaves the fast path is checked here (block_of:
 * the header, UNUSED pages, interior and misaligned pointers), a block
 * holding the key is looked up on its page's list (after the remote list
 * and the suspects are drained, so the answer is exact), every link of
 * the remote list is decoded and checked before it is followed, and the
 * free of a fresh page's frontier block, here or drained from the remote
 * list, finds the never-carved block after it still zero (segment.h).
 */
#include <stdatomic.h>
#include <stdint.h>

#include "hakmem/addrmap.h"
#include "hakmem/heap.h"
#include "hakmem/heap_impl.h"
#include "hakmem/log.h"
#include "hakmem/os.h"
#include "hakmem/segment.h"
#include "hakmem/stats.h"

// --- frees --------------------------------------------------------------------------

static __attribute__((noreturn, cold)) void double_free(const void *p) {
  hak_log("free(): double free of %p", p);
  hak_fatal("double free", __FILE__, __LINE__);
}

static __attribute__((noreturn, cold)) void invalid_pointer(const void *p, const char *why) {
  hak_log("free(): invalid pointer %p (%s)", p, why);
  hak_fatal("free(): invalid pointer", __FILE__, __LINE__);
}

static __attribute__((noreturn, cold)) void overflowed(const void *p) {
  hak_log("free(): corrupted block after %p (an overflow past its end)", p);
  hak_fatal("free(): invalid next size", __FILE__, __LINE__);
}

// p is the frontier block (segment.h): the never-carved block after it must
// still be zero.
static inline void check_after(const void *p, const hak_page_t *pg) {
  const hak_block_t *next = (const hak_block_t *)((const char *)p + pg->block_size);
  if (HAK_UNLIKELY(next->link | next->key)) overflowed(p);
}

// The frontier check on a slow path: block i of pg, when it is the frontier.
static inline void check_frontier(const hak_page_t *pg, uint64_t i, const void *p) {
  if (HAK_UNLIKELY(i + 1 == pg->carved && hak_page_has_frontier(pg, pg->carved))) check_after(p, pg);
}

// free_limit < limit says all check_frontier asks: p is block carved - 1
// of a clean page with a block after it.
void hak_heap_free_frontier(void *p, hak_page_t *pg) {
  check_after(p, pg);
  if (!hak_heap_push_fast(pg, p, pg->limit - 1)) hak_heap_free(p);
}

static __attribute__((noreturn, cold)) void remote_corrupt(const void *where) {
  hak_log("corrupted free list at %p: its remote link names no freed block of its heap (a write after free?)", where);
  hak_fatal("corrupted remote free list", __FILE__, __LINE__);
}

// After a block went back to its page on a slow path: a FULL page is ACTIVE
// again, an empty one (never the current page) goes back to its segment.
static void local_free_slow(hak_heap_t *h, hak_segment_t *seg, hak_page_t *pg) {
  if (pg->state == HAK_PAGE_FULL) {
    __atomic_store_n(&pg->state, HAK_PAGE_ACTIVE, __ATOMIC_RELAXED);
    hak_page_set_limit(pg, pg->careful ? 0 : pg->carved);
    hak_heap_queue_push(h, pg);
  }
  if (pg->used == 0) hak_heap_retire_if_empty(h, seg, pg, hak_os_now_ms());
}

void hak_heap_free_slow(hak_segment_t *seg, hak_page_t *pg) {
  local_free_slow(seg->heap, seg, pg);
  WALK_AFTER("a free emptied a page");
}

// The index of the carved block a free of p gives back, or an abort. remote:
// p's page belongs to another thread (its fields are read with relaxed
// loads; they are stable while the block is out, and only garbage frees can
// see them change).
static HAK_NOINLINE uint64_t block_of_slow(hak_segment_t *seg, hak_page_t *pg, const void *p, bool remote) {
  if ((const char *)p < (const char *)seg + HAK_SEGMENT_HEADER) invalid_pointer(p, "inside a segment header");
  uint8_t state = remote ? __atomic_load_n(&pg->state, __ATOMIC_RELAXED) : pg->state;
  // No block of an UNUSED page is out: its blocks were all freed already.
  if (state == HAK_PAGE_UNUSED) {
    hak_log("free(): double free or invalid pointer %p (its page holds no block)", p);
    hak_fatal("double free or free(): invalid pointer", __FILE__, __LINE__);
  }
  uint64_t carved = remote ? __atomic_load_n(&pg->carved, __ATOMIC_RELAXED) : pg->carved;
  uint64_t i = remote ? hak_page_index_remote(pg, p) : hak_page_index(pg, p);
  if (HAK_LIKELY(i < carved)) return i;
  if (atomic_load_explicit(&pg->aligned, memory_order_relaxed)) {
    // An over-aligned pointer is the first multiple of its alignment in its
    // block (hak_heap_aligned): of its lowest set bit, at least 32.
    uintptr_t start = (uintptr_t)__atomic_load_n(&pg->start, __ATOMIC_RELAXED);
    uint32_t bs = __atomic_load_n(&pg->block_size, __ATOMIC_RELAXED);
    uintptr_t q = (uintptr_t)p, low = q & -q;
    if (q >= start && q - start < carved * bs) {
      i = (q - start) / bs;
      if (low > HAK_MIN_ALIGN && q - (start + i * bs) < low) return i;
    }
  }
  if ((uintptr_t)p % HAK_MIN_ALIGN) invalid_pointer(p, "misaligned");
  invalid_pointer(p, "not the start of a block");
}

// The common case inline: the start of a carved block. That is all to
// check: UNUSED pages and page 0 of a small segment (the header) have
// nothing carved, and the header's addresses below the first page of the
// other kinds map to indices above every bound.
HAK_INLINE bool carved_block(const hak_page_t *pg, const void *p, bool remote) {
  if (remote) return hak_page_index_remote(pg, p) < __atomic_load_n(&pg->carved, __ATOMIC_RELAXED);
  return hak_page_index(pg, p) < pg->carved;
}

HAK_INLINE uint64_t block_of(hak_segment_t *seg, hak_page_t *pg, const void *p, bool remote) {
  if (HAK_LIKELY(carved_block(pg, p, remote))) return remote ? hak_page_index_remote(pg, p) : hak_page_index(pg, p);
  return block_of_slow(seg, pg, p, remote);
}


// The block holds the key: free, or a program stored that value in it.
// With the remote list and the suspects drained, a free block is on its
// page's list or its page is UNUSED: look.
static void confirm_not_free(hak_heap_t *h, hak_page_t *pg, uint64_t i, const void *p) {
  hak_heap_collect(h);
  if (pg->state == HAK_PAGE_UNUSED || i >= pg->carved || hak_page_list_has(pg, i)) double_free(p);
}

hak_heap_watchers_t hak_heap_watchers;

void hak_heap_free_careful(hak_segment_t *seg, hak_page_t *pg, void *p) {
  if (hak_heap_watchers.freeing) hak_heap_watchers.freeing(p);  // watched pages route their frees here
  hak_heap_t *h = seg->heap;
  uint64_t i;
  if (HAK_UNLIKELY(hak_heap_watchers.careful_free)) i = hak_page_index(pg, hak_heap_watchers.careful_free(seg, pg, p));
  else i = block_of(seg, pg, p, false);
  HAK_ASSERT_INTERNAL(i < pg->carved);
  if (hak_page_block(pg, i)->key == hak_pool_key) confirm_not_free(h, pg, i, p);
  check_frontier(pg, i, p);
  hak_page_push(pg, i);
  if (pg->used == 0 || pg->state != HAK_PAGE_ACTIVE) local_free_slow(h, seg, pg);
  WALK_AFTER("a careful free");
}

static inline uint64_t remote_link(const hak_block_t *b, const hak_block_t *next) {
  return (uintptr_t)next ^ HAK_RC(((uintptr_t)b >> 12) ^ hak_pool_secret);
}

static HAK_NOINLINE void remote_suspect(hak_heap_t *owner, hak_block_t *b, const void *p) {
  for (unsigned s = 0; s < HAK_HEAP_SUSPECTS; s++) {
    hak_block_t *expected = NULL;
    if (atomic_compare_exchange_strong_explicit(&owner->suspect[s], &expected, b, memory_order_release,
                                                memory_order_relaxed))
      return;
  }
  double_free(p);  // more suspects than slots before the owner looked: no program stores the key that often
}

// b: the start of p's block, checked.
HAK_INLINE void remote_push(hak_segment_t *seg, hak_page_t *pg, hak_block_t *b, const void *p) {
  hak_heap_t *owner = seg->heap;
  // Of two racing frees of one block exactly one sees no key. A block that
  // held it is a suspect: only the owner can look it up on its lists.
  if (HAK_UNLIKELY(__atomic_exchange_n(&b->key, hak_pool_key, __ATOMIC_RELAXED) == hak_pool_key)) {
    remote_suspect(owner, b, p);
    return;
  }
  HAK_POISON((char *)b + sizeof(hak_block_t), pg->block_size - sizeof(hak_block_t));  // before anyone can reuse it
  hak_block_t *head = atomic_load_explicit(&owner->remote, memory_order_relaxed);
  do {
    b->link = remote_link(b, head);
  } while (!atomic_compare_exchange_weak_explicit(&owner->remote, &head, b, memory_order_release,
                                                  memory_order_relaxed));
}

static HAK_NOINLINE void free_remote_slow(hak_segment_t *seg, hak_page_t *pg, void *p) {
  hak_block_t *b;
  if (HAK_UNLIKELY(hak_heap_watchers.careful_free)) b = hak_heap_watchers.careful_free(seg, pg, p);
  else b = (hak_block_t *)(__atomic_load_n(&pg->start, __ATOMIC_RELAXED) +
                           (size_t)block_of_slow(seg, pg, p, true) * __atomic_load_n(&pg->block_size, __ATOMIC_RELAXED));
  remote_push(seg, pg, b, p);
}

void hak_heap_check_block(const void *p) {
  hak_segment_t *seg = hak_segment_of(p);
  hak_page_t *pg = hak_page_of(seg, p);
  (void)block_of(seg, pg, p, seg->heap != hak_tls_heap);
}

void hak_heap_watch(void *p) {
  hak_page_t *pg = hak_page_of(hak_segment_of(p), p);
  pg->careful = 1;
  hak_page_set_limit(pg, 0);
  pg->free = pg->head < pg->carved ? hak_page_block(pg, pg->head) : NULL;  // exact on careful pages from now on
}

// Every pool free the inline fast path left: the owner's go the careful
// way (which checks everything the fast path checks, and more), the others'
// onto the owner's remote list.
void hak_heap_free(void *p) {
  hak_segment_t *seg = hak_segment_of(p);
  hak_page_t *pg = hak_page_of(seg, p);
  if (seg->heap == hak_tls_heap) hak_heap_free_careful(seg, pg, p);
  else hak_heap_free_remote(seg, pg, p);
}

void hak_heap_free_remote(hak_segment_t *seg, hak_page_t *pg, void *p) {
  if (hak_heap_watchers.freeing) hak_heap_watchers.freeing(p);
  if (HAK_LIKELY(!hak_heap_watchers.careful_free && carved_block(pg, p, true))) remote_push(seg, pg, (hak_block_t *)p, p);
  else free_remote_slow(seg, pg, p);
}

// Where a drained block goes back: its page and index there.
typedef struct drained {
  hak_segment_t *seg;
  hak_page_t *pg;
  uint64_t i;
} drained_t;

// The block a remote link names: a block of h that other threads freed
// (pushed with the key, carved), found in *at; NULL at the list's end;
// aborts on anything else. A link into from's own segment (the common
// case) needs no address-map lookup.
HAK_INLINE hak_block_t *remote_decode(hak_heap_t *h, const hak_block_t *from, drained_t *at) {
  hak_block_t *n = (hak_block_t *)(uintptr_t)remote_link(from, (const hak_block_t *)(uintptr_t)from->link);
  if (!n) return NULL;
  hak_segment_t *seg = hak_segment_of(n);
  if (seg != hak_segment_of(from) && hak_addrmap_get(n) != HAK_ADDR_SEGMENT) remote_corrupt(from);
  hak_page_t *pg = hak_page_of(seg, n);
  uint64_t i = hak_page_index(pg, n);
  if (HAK_UNLIKELY(seg->heap != h || i >= pg->carved || n->key != hak_pool_key)) remote_corrupt(from);
  *at = (drained_t){seg, pg, i};
  return n;
}

// Take the blocks other threads freed into h back onto their pages, then
// settle the suspects.
void hak_heap_collect(hak_heap_t *h) {
  uint64_t n = 0;
  if (atomic_load_explicit(&h->remote, memory_order_relaxed)) {
    hak_block_t *b = atomic_exchange_explicit(&h->remote, NULL, memory_order_acquire);
    drained_t at = {NULL, NULL, 0};
    if (b) {
      // The head was stored by a remote free's CAS, not read from a block.
      at.seg = hak_segment_of(b);
      at.pg = hak_page_of(at.seg, b);
      at.i = hak_page_index(at.pg, b);
      if (HAK_UNLIKELY(b->key != hak_pool_key || at.i >= at.pg->carved)) remote_corrupt(b);
    }
    while (b) {
      if (HAK_UNLIKELY(hak_heap_watchers.remote_drained)) hak_heap_watchers.remote_drained(b);
      drained_t here = at;
      hak_block_t *next = remote_decode(h, b, &at);  // before the push rewrites the link
      hak_page_t *pg = here.pg;
      check_frontier(pg, here.i, b);  // only the owner carves: the block after it is stable here
      b->link = hak_page_link(pg, pg->head);  // the key is there already
      pg->head = here.i;
      if (HAK_UNLIKELY(pg->careful)) pg->free = b;
      if (--pg->used == 0 || pg->state != HAK_PAGE_ACTIVE) local_free_slow(h, here.seg, pg);
      b = next;
      n++;
    }
  }
  for (unsigned s = 0; s < HAK_HEAP_SUSPECTS; s++) {
    if (!atomic_load_explicit(&h->suspect[s], memory_order_relaxed)) continue;
    hak_block_t *b = atomic_exchange_explicit(&h->suspect[s], NULL, memory_order_acquire);
    hak_segment_t *seg = hak_segment_of(b);
    hak_page_t *pg = hak_page_of(seg, b);
    uint64_t i = hak_page_index(pg, b);
    if (pg->state == HAK_PAGE_UNUSED || i >= pg->carved || hak_page_list_has(pg, i)) double_free(b);
    hak_page_push(pg, i);  // a live block that held the key's value: its free goes ahead
    if (pg->used == 0 || pg->state != HAK_PAGE_ACTIVE) local_free_slow(h, seg, pg);
    n++;
  }
  HAK_STAT_ADD(remote_frees, n);
}

// --- over-aligned blocks -------------------------------------------------------------

void *hak_heap_aligned(size_t align, size_t size) {
  // When the class's blocks are multiples of align every block is aligned
  // (page areas start on 64 KiB boundaries, so only up to that alignment).
  if (align <= HAK_SEGMENT_HEADER && hak_class_size(hak_size_class(size)) % align == 0) return hak_heap_alloc(size);
  // At least one byte at p: for size 0, p could be the end of b's block (the
  // next block's start), and freeing p would free that neighbour.
  size_t padded = (size ? size : 1) + align - HAK_MIN_ALIGN;
  char *b = hak_heap_alloc(padded);
  if (!b) return NULL;
  char *p = (char *)(((uintptr_t)b + align - 1) & ~(uintptr_t)(align - 1));
  if (p != b) {
    hak_segment_t *seg = hak_segment_of(b);
    atomic_store_explicit(&hak_page_of(seg, b)->aligned, 1, memory_order_relaxed);
  }
  return p;
}

size_t hak_heap_usable(const void *p) {
  hak_segment_t *seg = hak_segment_of(p);
  hak_page_t *pg = hak_page_of(seg, p);
  if (!atomic_load_explicit(&pg->aligned, memory_order_relaxed)) return pg->block_size;
  const char *start = hak_page_block_start(seg, pg, p);
  return pg->block_size - (size_t)((const char *)p - start);
}

// --- the walker -----------------------------------------------------------------------

bool hak_heap_is_valid(void) { return hak_tls_heap == NO_HEAP || hak_heap_is_valid_at(hak_tls_heap); }

bool hak_heap_is_valid_at(const hak_heap_t *h) {
  // Every ACTIVE page of the heap's segments is in its class's queue, once.
  unsigned queued[HAK_CLASSES] = {0};
  for (unsigned c = 0; c < HAK_CLASSES; c++) {
    const hak_page_t *cur = h->current[c];
    if (cur != &hak_heap_empty_page && (!cur->current || cur->cls != c)) return false;
    bool current_seen = cur == &hak_heap_empty_page;
    const hak_page_t *prev = NULL;
    unsigned n = 0;
    for (const hak_page_t *pg = h->queue[c]; pg; pg = pg->next) {
      if (pg->cls != c || pg->state != HAK_PAGE_ACTIVE || pg->prev != prev || ++n > 1u << 20) return false;
      if (pg->current != (pg == cur)) return false;
      current_seen |= pg == h->current[c];
      prev = pg;
    }
    if (!current_seen) return false;
    queued[c] = n;
  }
  for (unsigned k = 0; k < HAK_PAGE_KINDS; k++)
    for (const hak_segment_t *seg = h->segments[k], *prev = NULL; seg; prev = seg, seg = seg->next) {
      if (seg->heap != h || seg->kind != k || seg->prev != prev || !hak_segment_is_valid(seg)) return false;
      for (unsigned i = 0; i < seg->page_count; i++)
        if (seg->pages[i].state == HAK_PAGE_ACTIVE && queued[seg->pages[i].cls]-- == 0) return false;
    }
  for (unsigned c = 0; c < HAK_CLASSES; c++)
    if (queued[c]) return false;
  // The remote list: only this thread takes from it, and pushes only put
  // blocks in front, so the links seen from a loaded head stay put.
  unsigned n = 0;
  for (const hak_block_t *b = atomic_load_explicit(&h->remote, memory_order_acquire); b; n++) {
    if (n > 1u << 24 || hak_addrmap_get(b) != HAK_ADDR_SEGMENT || b->key != hak_pool_key) return false;
    const hak_segment_t *seg = hak_segment_of(b);
    const hak_page_t *pg = hak_page_of((hak_segment_t *)seg, b);
    if (seg->heap != h || pg->state == HAK_PAGE_UNUSED || hak_page_index(pg, b) >= pg->carved) return false;
    b = (const hak_block_t *)(uintptr_t)(b->link ^ ((uintptr_t)b >> 12) ^ hak_pool_secret);
  }
  return true;
}
