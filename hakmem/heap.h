/* heap.h — per-thread heaps: the small/mid pools' allocation and free
 * (layer L3, an engine beside the large one).
 *
 * Each thread that allocates gets a heap (a heap of an exited thread is
 * reused first). A heap owns segments (segment.h); for each size class it
 * has a queue of ACTIVE pages and a current page. The owner's malloc pops the
 * current page's LIFO free list, its free pushes onto the block's page: no
 * lock, no atomic read-modify-write. A block freed by another thread is
 * pushed (one CAS) onto its heap's remote list, which the owner drains on
 * its slow path; a heap whose thread exited is drained and trimmed by the
 * slow paths of live threads until a new thread takes it over, so a dead
 * thread's memory is neither lost nor kept.
 *
 * Empty pages go back to their segment and, after HAKMEM_POOL_RELEASE_MS,
 * to the OS through the batch madvise queue; a segment empty that long is
 * unmapped (one empty segment per kind is kept). fork(): the child takes
 * over every heap of the threads it did not inherit.
 *
 * Misuse that glibc's release mode catches is caught here too, at the cost
 * of a few instructions (segment.h has the encoding): every double free
 * (immediate, interleaved, after reuse, cross-thread), frees of interior,
 * misaligned and never-carved pointers and of a segment's header, and a
 * free-list link overwritten after free abort with the address. So does a
 * short overflow past the last carved block of a fresh page (the frontier
 * check: that block's free leaves the inline fast path for an out-of-line
 * one, hak_heap_free_frontier); longer overflows and underflows fault on
 * the segments' guards (segment.h).
 *
 * The fast paths below are the whole story for most calls; the frees off
 * them are in heap_free.c, everything else in heap.c.
 */
#ifndef HAK_HEAP_H
#define HAK_HEAP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hakmem/addrmap.h"
#include "hakmem/check.h"
#include "hakmem/config.h"
#include "hakmem/segment.h"
#include "hakmem/sizeclass.h"

#define HAK_HEAP_SUSPECTS 4u

/* Heaps past the tag space share this tag: no thread's hak_tls_tag is it,
 * so their frees take the general path (hak_heap_free). */
#define HAK_HEAP_TAG_SHARED UINT16_MAX
/* hak_tls_tag of a thread without a heap (or with a shared tag): a value
 * the address map never holds. */
#define HAK_HEAP_TAG_NONE ((uint16_t)HAK_ADDR_SEGMENT)

typedef struct hak_heap {
  /* Per class, the page the fast path pops from (never NULL): the owning
   * thread's hak_tls_current while a thread owns the heap (one TLS load
   * for malloc), else own_current. */
  hak_page_t **current;
  hak_page_t *queue[HAK_CLASSES];   /* ACTIVE pages of each class */
  _Atomic(hak_block_t *) remote;    /* blocks freed by other threads (links encoded) */
  /* Blocks other threads freed that held the key: maybe double frees, which
   * only the owner can tell (it looks them up on its lists when draining). */
  _Atomic(hak_block_t *) suspect[HAK_HEAP_SUSPECTS];
  hak_segment_t *segments[HAK_PAGE_KINDS];
  struct hak_heap *next_all;        /* every heap ever made (under the heaps lock) */
  struct hak_heap *next_abandoned;  /* while abandoned (under the heaps lock) */
  bool abandoned;                   /* (under the heaps lock) */
  uint32_t slow_calls;
  uint16_t tag;                     /* its segments' address-map entry, for its whole life */
  uint64_t last_maintenance;
  hak_page_t *own_current[HAK_CLASSES]; /* current while no thread owns it */
} hak_heap_t;

/* This thread's heap; before it has one, a read-only heap with no page. */
HAK_INTERNAL extern __thread hak_heap_t *hak_tls_heap __attribute__((tls_model("initial-exec")));
/* The tag of hak_tls_heap (HAK_HEAP_TAG_NONE when it has none or shares
 * one): the address map's entry for the segments whose frees this thread
 * may take on the inline fast path. */
HAK_INTERNAL extern __thread uint16_t hak_tls_tag __attribute__((tls_model("initial-exec")));
/* The current pages of hak_tls_heap (its `current` points here); all the
 * empty page while the thread has no heap. */
HAK_INTERNAL extern __thread hak_page_t *hak_tls_current[HAK_CLASSES] __attribute__((tls_model("initial-exec")));

HAK_INTERNAL void *hak_heap_alloc_slow(size_t size);
/* p: a block in a pool segment (addrmap said HAK_ADDR_SEGMENT), freed on
 * whichever path it needs: the owner's (careful), or the remote list. */
HAK_INTERNAL void hak_heap_free(void *p);
HAK_INTERNAL void hak_heap_free_slow(hak_segment_t *seg, hak_page_t *pg);
HAK_INTERNAL void hak_heap_free_careful(hak_segment_t *seg, hak_page_t *pg, void *p);
HAK_INTERNAL void hak_heap_free_remote(hak_segment_t *seg, hak_page_t *pg, void *p);
/* p (in a pool segment) is the start of a carved block, or this aborts with
 * "free(): invalid pointer" as a free of p would: realloc's in-place path. */
HAK_INTERNAL void hak_heap_check_block(const void *p);
/* Decorators that watch the pools (checked mode, the heap profile) hang
 * here; the pools call them only on their careful and remote paths, never on
 * the inline fast paths, and include none of their headers. Set at start-up
 * (hak_apply_options) before any page exists, or when the profile turns on. */
typedef struct hak_heap_watchers {
  bool all_careful; /* every new page is careful (checked mode) */
  /* Checked mode: verify a free of p and give the start of its block. */
  hak_block_t *(*careful_free)(hak_segment_t *seg, hak_page_t *pg, const void *p);
  /* Checked mode: a block another thread freed, drained by its owner. */
  void (*remote_drained)(const hak_block_t *b);
  /* The heap profile: p is about to be freed from a careful or remote path. */
  void (*freeing)(const void *p);
} hak_heap_watchers_t;
HAK_INTERNAL extern hak_heap_watchers_t hak_heap_watchers;

/* Every later malloc and free of p's page takes the slow path (careful), so
 * that a free of p is seen there. p: a block this thread just got from its
 * own heap. The heap profile watches the pages of its sampled blocks. */
HAK_INTERNAL void hak_heap_watch(void *p);

/* The pop of a class's current page: NULL when it has no block at hand. The
 * head index is checked against the page's bound before use: that finds
 * the list's end and a corrupted link alike (the slow path tells them
 * apart). */
HAK_INLINE void *hak_heap_pop_fast(size_t cls) {
  // A thread without a heap has current pages that are all empty: no NULL test.
  hak_page_t *pg = hak_tls_current[cls];
  uint64_t i = pg->head;
  if (HAK_LIKELY(i < pg->limit)) {
    hak_block_t *b = hak_page_block(pg, i);
    HAK_UNPOISON(b, pg->block_size);
    pg->head = hak_page_link(pg, b->link);  // decodes (the encoding is an involution)
    b->key = 0;
    pg->used++;
    return (void *)b;
  }
  return NULL;
}

/* size < the large threshold (<= HAK_POOL_MAX). NULL + ENOMEM on failure. */
HAK_INLINE void *hak_heap_alloc(size_t size) {
  void *p = hak_heap_pop_fast(hak_size_class(size));
  return HAK_LIKELY(p != NULL) ? p : hak_heap_alloc_slow(size);
}

/* The same for size <= HAK_SMALL_TABLE: one table load for the class. */
HAK_INLINE void *hak_heap_alloc_small(size_t size) {
  void *p = hak_heap_pop_fast(hak_class_of_size[size]);
  return HAK_LIKELY(p != NULL) ? p : hak_heap_alloc_slow(size);
}

/* The fast free's push of block i (p) of pg, an ACTIVE page of this
 * thread's heap: false, touching nothing, when the block holds the key (a
 * double-free suspect, for the careful path). */
HAK_INLINE bool hak_heap_push_fast(hak_page_t *pg, void *p, uint64_t i) {
  hak_block_t *b = (hak_block_t *)p;
  uint64_t key = hak_pool_key;
#if HAK_RELEASE_CHECKS
  if (HAK_UNLIKELY(b->key == key)) return false;
#endif
  b->link = hak_page_link(pg, pg->head);
  if (HAK_RELEASE_CHECKS) b->key = key;
  pg->head = i;
  HAK_POISON((char *)b + sizeof(hak_block_t), pg->block_size - sizeof(hak_block_t));  // all but link and key
  // A current page never gets here (it holds an extra count).
  if (HAK_UNLIKELY(--pg->used == 0)) hak_heap_free_slow(hak_segment_of(p), pg);
  return true;
}
/* The free of p, the frontier block of pg (segment.h): the block after it
 * checked, then hak_heap_push_fast or, for a suspect, the careful path. */
HAK_INTERNAL void hak_heap_free_frontier(void *p, hak_page_t *pg);

/* p: any pointer. Frees p and returns true when p is the start of a carved
 * block of an ACTIVE page in a segment of this thread's heap that does not
 * hold the key; false, touching nothing, for everything else (other
 * owners, NULL, foreign pointers, double-free suspects, interior and
 * misaligned pointers, the header, FULL pages, checked mode's careful
 * pages): the caller's miss frees it through hak_heap_free or the front
 * door's slow path. One address-map load answers both "a segment" and
 * "mine" (the entry is the heap's tag). */
HAK_INLINE bool hak_heap_free_fast(void *p) {
  // Everything is read through the 64 KiB granule number g = p >> 16 cut to
  // 32 bits, so that the slot s = g >> 6 is within the map: a pointer above
  // 2^48 reads some slot's entry and, when that is this thread's tag, a
  // real page of a real segment, whose index test then fails (a carved
  // block's address start + i * size is below 2^48; p is not). So the cut
  // stands for the range test.
  uintptr_t g, s;
#if defined(__x86_64__)
  // Four instructions (a 32-bit move and shift zero-extend); from C the
  // compiler cuts g to 32 bits with a mask or an extra move.
  __asm__("shr $16, %0\n\tmov %k0, %k1\n\tshr $6, %k0" : "=r"(s), "=&r"(g) : "0"(p));
  _Static_assert(HAK_SEGMENT_GRANULE_SHIFT == 16 && HAK_SEGMENT_SHIFT == 22, "the shifts above");
#else
  g = (uint32_t)((uintptr_t)p >> HAK_SEGMENT_GRANULE_SHIFT);
  s = g >> (HAK_SEGMENT_SHIFT - HAK_SEGMENT_GRANULE_SHIFT);
#endif
  if (HAK_UNLIKELY(atomic_load_explicit(&hak_addrmap[s], memory_order_relaxed) != hak_tls_tag)) return false;
  // The page: granule[g % 64] of the segment at s << 22, that is at
  // s (2^22 - 64 * 8) + 8 g + offset (g = 64 s + g % 64): one multiply.
  uintptr_t at = s * (HAK_SEGMENT_SIZE - HAK_SEGMENT_GRANULES * sizeof(hak_page_t *)) +
                 offsetof(hak_segment_t, granule) + g * sizeof(hak_page_t *);
  hak_page_t *pg = *(hak_page_t **)at;
  uint64_t i = hak_page_index(pg, p);
  // The frontier block (i == free_limit < limit) is checked out of line.
  if (HAK_UNLIKELY(i >= pg->free_limit)) {
    if (i >= pg->limit) return false;
    hak_heap_free_frontier(p, pg);  // a tail call: nothing here needs p after it
    return true;
  }
  return hak_heap_push_fast(pg, p, i);
}

/* Over-aligned request (align a power of two > 16, size + align within the
 * pools). */
HAK_INTERNAL void *hak_heap_aligned(size_t align, size_t size);
/* Bytes usable from p to the end of its block. */
HAK_INTERNAL size_t hak_heap_usable(const void *p);

/* Register the pools' fork handler (fork.h), create the thread-exit key and
 * the free lists' secrets; called once by hak_init. */
HAK_INTERNAL void hak_heap_global_init(void);
/* Drain, release empty pages now, unmap empty segments: this thread's heap
 * and every abandoned one. Returns bytes unmapped. */
HAK_INTERNAL size_t hak_heap_trim(void);

/* Walker for tests: this thread's heap (queues, current pages, every
 * segment and page with its encoded free list). True when there is no heap. */
HAK_INTERNAL bool hak_heap_is_valid(void);
/* The same for heap h, which no other thread may work on meanwhile (a fork
 * child's abandoned heaps). */
HAK_INTERNAL bool hak_heap_is_valid_at(const hak_heap_t *h);
/* The same for every heap ever made, while only this thread runs (a fork
 * child, before it starts a thread). */
HAK_INTERNAL bool hak_heap_all_valid(void);

HAK_INTERNAL void hak_heap_fork_prepare(void);
HAK_INTERNAL void hak_heap_fork_parent(void);
HAK_INTERNAL void hak_heap_fork_child(void);

#endif /* HAK_HEAP_H */
