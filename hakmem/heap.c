/* heap.c — per-thread heaps: slow paths, remote frees, empty-page release,
 * thread exit and fork (layer L5). See heap.h for the design.
 *
 * Locking: everything in a heap belongs to its owning thread, except the
 * remote list (atomic) and the fields marked "under the heaps lock". A heap
 * off the abandoned list and not in hak_tls_heap of any thread can be
 * worked on by whoever popped it.
 */
#include "hakmem/heap.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "hakmem/batch.h"
#include "hakmem/checked.h"
#include "hakmem/large.h"
#include "hakmem/learn.h"
#include "hakmem/lock.h"
#include "hakmem/log.h"
#include "hakmem/options.h"
#include "hakmem/os.h"
#include "hakmem/profile.h"
#include "hakmem/stats.h"

__thread hak_heap_t *hak_tls_heap __attribute__((tls_model("initial-exec")));

// The current page of a class with nothing in it: the fast path finds no free
// block there and takes the slow path. Never written.
static hak_page_t empty_page;

static struct {
  hak_lock_t lock;
  hak_heap_t *all, *abandoned;
  char *chunk;  // heaps are carved from 64 KiB chunks and never unmapped
  size_t chunk_left;
} heaps;

static pthread_key_t exit_key;

// --- class queues -------------------------------------------------------------------

static void queue_push(hak_heap_t *h, hak_page_t *pg) {
  pg->prev = NULL;
  pg->next = h->queue[pg->cls];
  if (pg->next) pg->next->prev = pg;
  h->queue[pg->cls] = pg;
}

static void queue_remove(hak_heap_t *h, hak_page_t *pg) {
  if (pg->prev) pg->prev->next = pg->next;
  else h->queue[pg->cls] = pg->next;
  if (pg->next) pg->next->prev = pg->prev;
  pg->next = pg->prev = NULL;
  if (h->current[pg->cls] == pg) h->current[pg->cls] = h->queue[pg->cls] ? h->queue[pg->cls] : &empty_page;
}

// --- releasing memory ---------------------------------------------------------------

static void release_page(hak_segment_t *seg, hak_page_t *pg) {
  hak_batch_add(hak_page_start(seg, pg), hak_page_area(seg, pg));
  pg->commit = HAK_PAGE_RELEASED;
  HAK_STAT_INC(pool_pages_released);
}

static void reclaim_page(hak_segment_t *seg, hak_page_t *pg) {
  if (pg->commit == HAK_PAGE_RELEASED) {
    hak_batch_take(hak_page_start(seg, pg));  // never advised after this
    pg->commit = HAK_PAGE_COMMITTED;
  }
}

static void segment_unlink(hak_heap_t *h, hak_segment_t *seg) {
  if (seg->prev) seg->prev->next = seg->next;
  else h->segments[seg->kind] = seg->next;
  if (seg->next) seg->next->prev = seg->prev;
}

static size_t free_segment(hak_heap_t *h, hak_segment_t *seg) {
  for (hak_page_t *pg = seg->unused; pg; pg = pg->next) reclaim_page(seg, pg);
  segment_unlink(h, seg);
  hak_segment_free(seg);
  HAK_STAT_INC(pool_segments_freed);
  return HAK_SEGMENT_SIZE;
}

// Pages empty for the release delay go to the batch queue; segments empty
// that long are unmapped, but for one of each kind. force: no delay, no
// segment kept. Returns bytes unmapped.
static size_t heap_maintain(hak_heap_t *h, uint64_t now, bool force) {
  uint64_t delay = hak_opt(HAK_OPT_POOL_RELEASE_MS);
  size_t unmapped = 0;
  h->last_maintenance = now;
  // Current pages that emptied stay current (no thrash on alloc/free pairs)
  // until they have been empty for the delay.
  for (unsigned c = 0; c < HAK_CLASSES; c++) {
    hak_page_t *pg = h->current[c];
    if (pg == &empty_page || pg->used != 0) continue;
    if (!pg->empty_since && !force) {
      pg->empty_since = now;
      continue;
    }
    if (force || now - pg->empty_since >= delay) {
      queue_remove(h, pg);
      hak_segment_return_page(hak_segment_of(pg), pg, pg->empty_since);  // page structs live in their segment's header
    }
  }
  unsigned released = 0;
  for (unsigned k = 0; k < HAK_PAGE_KINDS; k++) {
    bool kept_one = force;
    for (hak_segment_t *seg = h->segments[k], *next; seg; seg = next) {
      next = seg->next;
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

// --- frees --------------------------------------------------------------------------

void hak_heap_double_free(void *p) {
  hak_log("double free of block %p", p);
  hak_fatal("double free", __FILE__, __LINE__);
}

// After a local free made the page empty or found it FULL.
static void local_free_slow(hak_heap_t *h, hak_segment_t *seg, hak_page_t *pg) {
  if (pg->state == HAK_PAGE_FULL) {
    pg->state = HAK_PAGE_ACTIVE;
    queue_push(h, pg);
  }
  if (pg->used == 0) {
    if (h->current[pg->cls] == pg) {
      // Kept for the next malloc (no thrash on alloc/free pairs, no clock
      // read): maintenance stamps it when it first finds it empty and
      // retires it a delay later.
      pg->empty_since = 0;
      return;
    }
    queue_remove(h, pg);
    hak_segment_return_page(seg, pg, hak_os_now_ms());
  }
}

void hak_heap_free_slow(hak_segment_t *seg, hak_page_t *pg) { local_free_slow(seg->heap, seg, pg); }

void hak_heap_free_remote(hak_segment_t *seg, hak_page_t *pg, void *p) {
  hak_profile_note_free(p);  // sampled blocks' pages route their frees here
  hak_block_t *b;
  if (HAK_UNLIKELY(hak_checked)) b = hak_checked_pool_free(seg, pg, p);
  else b = atomic_load_explicit(&pg->aligned, memory_order_relaxed) ? hak_page_block_start(seg, pg, p) : p;
  HAK_POISON((char *)b + sizeof(hak_block_t), pg->block_size - sizeof(hak_block_t));  // before anyone can reuse it
  if (seg->heap == hak_tls_heap) {  // an aligned block of our own heap
    if (HAK_UNLIKELY(pg->free == b)) hak_heap_double_free(p);
    b->next = pg->free;
    pg->free = b;
    if (--pg->used == 0 || pg->state != HAK_PAGE_ACTIVE) local_free_slow(seg->heap, seg, pg);
    return;
  }
  hak_heap_t *owner = seg->heap;
  hak_block_t *head = atomic_load_explicit(&owner->remote, memory_order_relaxed);
  do {
    b->next = head;
  } while (!atomic_compare_exchange_weak_explicit(&owner->remote, &head, b, memory_order_release,
                                                  memory_order_relaxed));
}

// Take the blocks other threads freed into h back onto their pages.
static void heap_collect(hak_heap_t *h) {
  if (!atomic_load_explicit(&h->remote, memory_order_relaxed)) return;
  hak_block_t *b = atomic_exchange_explicit(&h->remote, NULL, memory_order_acquire);
  uint64_t n = 0;
  while (b) {
    if (HAK_UNLIKELY(hak_checked)) hak_checked_remote(b);
    hak_block_t *next = b->next;
    hak_segment_t *seg = hak_segment_of(b);
    hak_page_t *pg = hak_page_of(seg, b);
    b->next = pg->free;
    pg->free = b;
    if (--pg->used == 0 || pg->state != HAK_PAGE_ACTIVE) local_free_slow(h, seg, pg);
    b = next;
    n++;
  }
  HAK_STAT_ADD(remote_frees, n);
}

// --- heaps: creation, exit, adoption ------------------------------------------------

static hak_heap_t *heap_new_locked(void) {
  size_t size = (sizeof(hak_heap_t) + 63) & ~(size_t)63;
  if (heaps.chunk_left < size) {
    heaps.chunk = hak_os_map((size_t)64 << 10, 0);
    if (!heaps.chunk) return NULL;
    heaps.chunk_left = (size_t)64 << 10;
  }
  hak_heap_t *h = (hak_heap_t *)heaps.chunk;
  heaps.chunk += size;
  heaps.chunk_left -= size;
  for (unsigned c = 0; c < HAK_CLASSES; c++) h->current[c] = &empty_page;
  h->next_all = heaps.all;
  heaps.all = h;
  HAK_STAT_INC(heaps_created);
  return h;
}

static hak_heap_t *abandoned_pop_locked(void) {
  hak_heap_t *h = heaps.abandoned;
  if (h) {
    heaps.abandoned = h->next_abandoned;
    h->next_abandoned = NULL;
    h->abandoned = false;
  }
  return h;
}

static void abandoned_push_locked(hak_heap_t *h) {
  h->abandoned = true;
  h->next_abandoned = heaps.abandoned;
  heaps.abandoned = h;
}

// This thread's heap: an exited thread's, or a new one.
static hak_heap_t *heap_acquire(void) {
  hak_lock(&heaps.lock);
  hak_heap_t *h = abandoned_pop_locked();
  if (h) HAK_STAT_INC(heaps_adopted);
  else h = heap_new_locked();
  hak_unlock(&heaps.lock);
  if (!h) return NULL;
  hak_tls_heap = h;
  pthread_setspecific(exit_key, h);  // so that thread exit gives it back
  return h;
}

static void heap_thread_exit(void *arg) {
  hak_heap_t *h = arg;
  if (h != hak_tls_heap) return;
  heap_collect(h);
  heap_maintain(h, hak_os_now_ms(), false);
  hak_tls_heap = NULL;  // frees after this point go through h's remote list
  hak_lock(&heaps.lock);
  abandoned_push_locked(h);
  hak_unlock(&heaps.lock);
  HAK_STAT_INC(heaps_abandoned);
}

// Tidy an abandoned heap popped off the list: its remote frees go home, its
// empty pages and segments go back to the OS. Nobody else can reach it
// meanwhile, so this thread works on it as its owner.
static size_t tidy(hak_heap_t *h, uint64_t now, bool force) {
  heap_collect(h);
  return heap_maintain(h, now, force);
}

// The slow path of a live thread tidies the oldest abandoned heap and puts
// it back at the end of the list, so all of them take turns.
static void tidy_one_abandoned(uint64_t now) {
  hak_lock(&heaps.lock);
  hak_heap_t *h = abandoned_pop_locked();
  hak_unlock(&heaps.lock);
  if (!h) return;
  tidy(h, now, false);
  hak_lock(&heaps.lock);
  h->abandoned = true;
  h->next_abandoned = NULL;
  hak_heap_t **tail = &heaps.abandoned;
  while (*tail) tail = &(*tail)->next_abandoned;
  *tail = h;
  hak_unlock(&heaps.lock);
}

// --- allocation ---------------------------------------------------------------------

static hak_page_t *fresh_page(hak_heap_t *h, unsigned cls) {
  hak_page_kind_t kind = hak_class_kind(cls);
  hak_segment_t *seg = h->segments[kind];
  while (seg && !seg->unused) seg = seg->next;
  if (!seg) {
    seg = hak_segment_new(kind, h);
    if (!seg) return NULL;
    seg->next = h->segments[kind];
    if (seg->next) seg->next->prev = seg;
    h->segments[kind] = seg;
  }
  hak_page_t *pg = seg->unused;
  reclaim_page(seg, pg);
  pg = hak_segment_take_page(seg, cls);
  // Checked mode: every free of this page takes the careful path.
  if (hak_checked) atomic_store_explicit(&pg->aligned, 1, memory_order_relaxed);
  return pg;
}

// A page of class cls with a free block, made current; NULL when out of memory.
static hak_page_t *find_page(hak_heap_t *h, unsigned cls) {
  hak_page_t *pg = h->current[cls];
  while (pg != &empty_page) {
    if (pg->free || hak_page_extend(pg)) return pg;
    queue_remove(h, pg);  // exhausted: FULL until a block comes back
    pg->state = HAK_PAGE_FULL;
    pg = h->current[cls];
  }
  pg = fresh_page(h, cls);
  if (!pg) return NULL;
  queue_push(h, pg);
  h->current[cls] = pg;
  hak_page_extend(pg);
  return pg;
}

void *hak_heap_alloc_slow(size_t size) {
  hak_heap_t *h = hak_tls_heap;
  if (!h && !(h = heap_acquire())) {
    errno = ENOMEM;
    return NULL;
  }
  heap_collect(h);
  if ((++h->slow_calls & 31) == 0) {
    uint64_t now = hak_os_now_ms();
    if (now - h->last_maintenance >= 16) {
      heap_maintain(h, now, false);
      tidy_one_abandoned(now);
      if (hak_learn_on) hak_learn_wake(now);
    }
  }
  hak_page_t *pg = find_page(h, hak_size_class(size));
  if (HAK_UNLIKELY(!pg)) {
    // The kernel refused a segment: cached large blocks and empty pool
    // memory may hold the address space (RLIMIT_AS). Give it back, retry once.
    hak_large_trim();
    hak_heap_trim();
    pg = find_page(h, hak_size_class(size));
  }
  if (!pg) {
    errno = ENOMEM;
    return NULL;
  }
  hak_block_t *b = pg->free;
  pg->free = b->next;
  pg->used++;
  HAK_UNPOISON(b, pg->block_size);
  return b;
}

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

// --- process-wide -------------------------------------------------------------------

void hak_heap_global_init(void) { pthread_key_create(&exit_key, heap_thread_exit); }

size_t hak_heap_trim(void) {
  uint64_t now = hak_os_now_ms();
  size_t n = 0;
  hak_heap_t *h = hak_tls_heap;
  if (h) {
    heap_collect(h);
    n += heap_maintain(h, now, true);
  }
  // Every abandoned heap, each once: take the whole list, then give it back.
  hak_lock(&heaps.lock);
  hak_heap_t *list = heaps.abandoned;
  heaps.abandoned = NULL;
  hak_unlock(&heaps.lock);
  hak_heap_t *last = NULL;
  for (hak_heap_t *a = list; a; a = a->next_abandoned) {
    n += tidy(a, now, true);
    last = a;
  }
  if (last) {
    hak_lock(&heaps.lock);
    last->next_abandoned = heaps.abandoned;
    heaps.abandoned = list;
    hak_unlock(&heaps.lock);
  }
  return n;
}

bool hak_heap_is_valid(void) {
  hak_heap_t *h = hak_tls_heap;
  if (!h) return true;
  for (unsigned c = 0; c < HAK_CLASSES; c++) {
    bool current_seen = h->current[c] == &empty_page;
    const hak_page_t *prev = NULL;
    unsigned n = 0;
    for (const hak_page_t *pg = h->queue[c]; pg; pg = pg->next) {
      if (pg->cls != c || pg->state != HAK_PAGE_ACTIVE || pg->prev != prev || ++n > 1u << 20) return false;
      current_seen |= pg == h->current[c];
      prev = pg;
    }
    if (!current_seen) return false;
  }
  for (unsigned k = 0; k < HAK_PAGE_KINDS; k++)
    for (const hak_segment_t *seg = h->segments[k]; seg; seg = seg->next)
      if (seg->heap != h || seg->kind != k || !hak_segment_is_valid(seg)) return false;
  return true;
}

void hak_heap_fork_prepare(void) { hak_lock(&heaps.lock); }
void hak_heap_fork_parent(void) { hak_unlock(&heaps.lock); }

// In the child only this thread lives: every other owned heap is abandoned.
void hak_heap_fork_child(void) {
  for (hak_heap_t *h = heaps.all; h; h = h->next_all)
    if (h != hak_tls_heap && !h->abandoned) abandoned_push_locked(h);
  hak_unlock(&heaps.lock);
}
