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
 * free-list link overwritten after free abort with the address.
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

#include "hakmem/check.h"
#include "hakmem/config.h"
#include "hakmem/segment.h"
#include "hakmem/sizeclass.h"

#define HAK_HEAP_SUSPECTS 4u

typedef struct hak_heap {
  hak_page_t *current[HAK_CLASSES]; /* page the fast path pops from (never NULL) */
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
  uint64_t last_maintenance;
} hak_heap_t;

/* This thread's heap; before it has one, a read-only heap with no page. */
HAK_INTERNAL extern __thread hak_heap_t *hak_tls_heap __attribute__((tls_model("initial-exec")));

HAK_INTERNAL void *hak_heap_alloc_slow(size_t size);
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

/* size < the large threshold (<= HAK_POOL_MAX). NULL + ENOMEM on failure.
 * The head index is checked against the page's bound before use: that
 * finds the list's end and a corrupted link alike (the slow path tells
 * them apart). */
HAK_INLINE void *hak_heap_alloc(size_t size) {
  // A thread without a heap has one whose pages are all empty: no NULL test.
  hak_page_t *pg = hak_tls_heap->current[hak_size_class(size)];
  uint64_t i = pg->head;
  if (HAK_LIKELY(i < pg->limit)) {
    hak_block_t *b = hak_page_block(pg, i);
    HAK_UNPOISON(b, pg->block_size);
    pg->head = hak_page_link(pg, b->link);  // decodes (the encoding is an involution)
    b->key = 0;
    pg->used++;
    return (void *)b;
  }
  return hak_heap_alloc_slow(size);
}

/* p: a block in a pool segment (addrmap said HAK_ADDR_SEGMENT). The owner's
 * free takes the fast path only for the start of a carved block of an
 * ACTIVE page that does not hold the key; everything else (double free
 * suspects, interior and misaligned pointers, the header, FULL pages,
 * checked mode) goes to hak_heap_free_careful. */
HAK_INLINE void hak_heap_free(void *p) {
  hak_segment_t *seg = hak_segment_of(p);
  hak_page_t *pg = hak_page_of(seg, p);
  if (HAK_LIKELY(seg->heap == hak_tls_heap)) {
    hak_block_t *b = (hak_block_t *)p;
    uint64_t i = hak_page_index(pg, p);
    uint64_t key = hak_pool_key;
    if (HAK_LIKELY(i < pg->limit && (!HAK_RELEASE_CHECKS || b->key != key))) {
      b->link = hak_page_link(pg, pg->head);
      if (HAK_RELEASE_CHECKS) b->key = key;
      pg->head = i;
      HAK_POISON((char *)b + sizeof(hak_block_t), pg->block_size - sizeof(hak_block_t));  // all but link and key
      // A current page never gets here (it holds an extra count).
      if (HAK_UNLIKELY(--pg->used == 0)) hak_heap_free_slow(seg, pg);
      return;
    }
    hak_heap_free_careful(seg, pg, p);
    return;
  }
  hak_heap_free_remote(seg, pg, p);
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

HAK_INTERNAL void hak_heap_fork_prepare(void);
HAK_INTERNAL void hak_heap_fork_parent(void);
HAK_INTERNAL void hak_heap_fork_child(void);

#endif /* HAK_HEAP_H */
