/* heap.c — per-thread heaps: allocation slow paths (borrowing between
 * classes), thread exit and fork (layer L3). See heap.h for the design.
 *
 * Locking: everything in a heap belongs to its owning thread, except the
 * remote and suspect lists (atomic) and the fields marked "under the heaps
 * lock". A heap off the abandoned list and not in hak_tls_heap of any
 * thread can be worked on by whoever popped it, holding the tidy lock, so
 * that fork() (which takes it) never copies a heap in the middle of such
 * work into a child.
 *
 * The frees off the fast path (the careful path, remote frees and their
 * drain) are in heap_free.c, empty-page release and the periodic
 * maintenance in heap_release.c.
 */
#include "hakmem/heap.h"
#include "hakmem/heap_impl.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "hakmem/addrmap.h"
#include "hakmem/fork.h"
#include "hakmem/large.h"
#include "hakmem/lock.h"
#include "hakmem/log.h"
#include "hakmem/os.h"
#include "hakmem/stats.h"

hak_page_t hak_heap_empty_page = {.head = HAK_LIST_END};
const hak_heap_t hak_heap_none = {.current = NULL};  // never read: the fast paths read hak_tls_current

__thread hak_heap_t *hak_tls_heap __attribute__((tls_model("initial-exec"))) = NO_HEAP;
__thread uint16_t hak_tls_tag __attribute__((tls_model("initial-exec"))) = HAK_HEAP_TAG_NONE;
__thread hak_page_t *hak_tls_current[HAK_CLASSES] __attribute__((tls_model("initial-exec"))) = {
    [0 ...(HAK_CLASSES - 1)] = &hak_heap_empty_page};

static struct {
  hak_lock_t lock;
  hak_lock_t tidy;  // held while working on a heap popped off the abandoned list
  hak_heap_t *all, *abandoned;
  char *chunk;  // heaps are carved from 64 KiB chunks and never unmapped
  size_t chunk_left;
  uint16_t next_tag;  // the next heap's tag (heaps are never freed: each keeps its own)
} heaps = {.next_tag = HAK_ADDR_TAG_MIN};

static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

static void exit_key_create(void);

// --- class queues -------------------------------------------------------------------

void hak_heap_queue_push(hak_heap_t *h, hak_page_t *pg) {
  pg->prev = NULL;
  pg->next = h->queue[pg->cls];
  if (pg->next) pg->next->prev = pg;
  h->queue[pg->cls] = pg;
}

// The current page holds one extra count in `used`, so that the fast free
// never finds it empty (alloc/free pairs must not reach a slow path):
// whoever makes a page stop being current deals with it being empty.
static void set_current(hak_heap_t *h, unsigned cls, hak_page_t *pg) {
  hak_page_t *old = h->current[cls];
  h->current[cls] = pg;
  if (pg != &hak_heap_empty_page) {
    HAK_ASSERT_INTERNAL(pg->state == HAK_PAGE_ACTIVE && !pg->current);
    pg->used++;
    pg->current = 1;
  }
  if (old != &hak_heap_empty_page) {
    HAK_ASSERT_INTERNAL(old->current && old->used > 0);
    old->used--;
    old->current = 0;
  }
}

void hak_heap_queue_remove(hak_heap_t *h, hak_page_t *pg) {
  if (pg->prev) pg->prev->next = pg->next;
  else h->queue[pg->cls] = pg->next;
  if (pg->next) pg->next->prev = pg->prev;
  pg->next = pg->prev = NULL;
  if (h->current[pg->cls] == pg) set_current(h, pg->cls, h->queue[pg->cls] ? h->queue[pg->cls] : &hak_heap_empty_page);
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
  for (unsigned c = 0; c < HAK_CLASSES; c++) h->own_current[c] = &hak_heap_empty_page;
  h->current = h->own_current;
  h->tag = heaps.next_tag;
  if (heaps.next_tag != HAK_HEAP_TAG_SHARED) heaps.next_tag++;
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

// The current pages move into this thread's TLS while it owns h, and back.
static void current_to_tls(hak_heap_t *h) {
  h->current = memcpy(hak_tls_current, h->own_current, sizeof hak_tls_current);
}
static void current_from_tls(hak_heap_t *h) {
  memcpy(h->own_current, hak_tls_current, sizeof h->own_current);
  h->current = h->own_current;
  for (unsigned c = 0; c < HAK_CLASSES; c++) hak_tls_current[c] = &hak_heap_empty_page;
}

// This thread's heap: an exited thread's, or a new one. The exit key is
// made here, before the first heap exists (hak_init may not have run yet,
// or be running in another thread, when a thread first allocates).
static hak_heap_t *heap_acquire(void) {
  pthread_once(&exit_key_once, exit_key_create);
  hak_lock(&heaps.lock);
  hak_pool_secrets_init();  // before the first segment; under the lock: once
  hak_heap_t *h = abandoned_pop_locked();
  if (h) HAK_STAT_INC(heaps_adopted);
  else h = heap_new_locked();
  hak_unlock(&heaps.lock);
  if (!h) return NULL;
  current_to_tls(h);
  hak_tls_heap = h;
  hak_tls_tag = h->tag == HAK_HEAP_TAG_SHARED ? HAK_HEAP_TAG_NONE : h->tag;
  pthread_setspecific(exit_key, h);  // so that thread exit gives it back
  return h;
}

static void heap_thread_exit(void *arg) {
  hak_heap_t *h = arg;
  if (h != hak_tls_heap) return;
  hak_lock(&heaps.tidy);  // a fork meanwhile must not copy h half-tidied into a child
  hak_heap_collect(h);
  hak_heap_maintain(h, hak_os_now_ms(), false);
  hak_tls_heap = NO_HEAP;  // frees after this point go through h's remote list
  hak_tls_tag = HAK_HEAP_TAG_NONE;
  current_from_tls(h);
  hak_lock(&heaps.lock);
  abandoned_push_locked(h);
  hak_unlock(&heaps.lock);
  hak_unlock(&heaps.tidy);
  HAK_STAT_INC(heaps_abandoned);
}

// Tidy an abandoned heap popped off the list (the tidy lock held): its
// remote frees go home, its empty pages and segments go back to the OS.
// Nobody else can reach it meanwhile, so this thread works on it as its
// owner.
static size_t tidy(hak_heap_t *h, uint64_t now, bool force) {
  hak_heap_collect(h);
  return hak_heap_maintain(h, now, force);
}

// The slow path of a live thread tidies the oldest abandoned heap and puts
// it back at the end of the list, so all of them take turns.
static void tidy_one_abandoned(uint64_t now) {
  if (!hak_trylock(&heaps.tidy)) return;  // another thread is tidying: its turn
  hak_lock(&heaps.lock);
  hak_heap_t *h = abandoned_pop_locked();
  hak_unlock(&heaps.lock);
  if (!h) {
    hak_unlock(&heaps.tidy);
    return;
  }
  tidy(h, now, false);
  hak_lock(&heaps.lock);
  h->abandoned = true;
  h->next_abandoned = NULL;
  hak_heap_t **tail = &heaps.abandoned;
  while (*tail) tail = &(*tail)->next_abandoned;
  *tail = h;
  hak_unlock(&heaps.lock);
  hak_unlock(&heaps.tidy);
}

// --- allocation ---------------------------------------------------------------------

static hak_page_t *fresh_page(hak_heap_t *h, unsigned cls) {
  hak_page_kind_t kind = hak_class_kind(cls);
  hak_segment_t *seg = h->segments[kind];
  while (seg && !hak_segment_has_unused(seg)) seg = seg->next;
  if (!seg) {
    seg = hak_segment_new(kind, h, h->tag);
    if (!seg) return NULL;
    seg->next = h->segments[kind];
    if (seg->next) seg->next->prev = seg;
    h->segments[kind] = seg;
  }
  if (seg->unused) hak_heap_reclaim_page(seg, seg->unused);  // the page take_page hands out next
  hak_page_t *pg = hak_segment_take_page(seg, cls);
  if (!pg) return NULL;  // the kernel refused to open its guard gap
  // Every page careful (checked mode): every malloc and free of it takes the slow path.
  if (hak_heap_watchers.all_careful) {
    pg->careful = 1;
    atomic_store_explicit(&pg->aligned, 1, memory_order_relaxed);
  }
  return pg;
}

// A page of class cls with a free block, other than its current one, among
// the first QUEUE_LOOK of its queue (a bound: the walk is on a slow path);
// NULL when none. Frees go to each block's own page, so a class with many
// pages has its free blocks spread over them.
#define QUEUE_LOOK 8u

static hak_page_t *queued_with_free(hak_heap_t *h, unsigned cls) {
  unsigned n = 0;
  for (hak_page_t *q = h->queue[cls]; q && n < QUEUE_LOOK; q = q->next, n++)
    if (q != h->current[cls] && q->head != HAK_LIST_END) return q;
  return NULL;
}

// Borrowing: a class of blocks from BORROW_MIN bytes up with no free block
// at hand takes a free block of a larger class (up to BORROW_CLASSES
// classes up: at most twice its size) before it carves a fresh one. Each
// class alone would keep as many blocks resident as it ever had live at
// once; borrowing makes resident blocks serve the classes below theirs, so
// the pools' footprint follows the live blocks of nearby sizes together
// (wl_json, wl_mir: a few live blocks in each of dozens of classes;
// wl_mixed_random: the live count of each class swings around its mean).
// From 2 KiB up a carve is at most two small blocks (hak_page_extend carves
// 4 KiB of them; of medium ones a run of random length, 1..8),
// so borrowing adds few slow calls. Only from classes whose size is
// a multiple of the lowest set bit of the request's class: a block of any
// such class is aligned as the request's class's blocks are (page areas
// start on 64 KiB boundaries), which hak_heap_aligned relies on. Never
// from careful pages (checked mode's trailers and the profile's watch need
// the page they chose).
#define BORROW_MIN ((size_t)2 << 10)
#define BORROW_CLASSES 8u

static hak_page_t *lender(hak_heap_t *h, unsigned cls) {
  size_t bs = hak_class_size(cls), low = bs & -bs;
  if (bs < BORROW_MIN || hak_heap_watchers.all_careful) return NULL;
  for (unsigned c = cls + 1; c <= cls + BORROW_CLASSES && c < HAK_CLASSES; c++) {
    if (hak_class_size(c) % low) continue;
    hak_page_t *pg = h->current[c];
    if (pg->head == HAK_LIST_END) pg = queued_with_free(h, c);
    if (pg && !pg->careful) return pg;
  }
  return NULL;
}

// A page with a free block for a request of class cls: its current page
// when it has one, else another page of the class (made current), else a
// lender's (borrowing), else the current page with fresh blocks carved
// (a fresh page when it has none left). NULL when out of memory.
static hak_page_t *find_page(hak_heap_t *h, unsigned cls) {
  hak_page_t *pg = h->current[cls];
  if (pg != &hak_heap_empty_page && pg->head == HAK_LIST_END) {
    hak_page_t *q = queued_with_free(h, cls);
    if (q) {
      set_current(h, cls, q);
      if (pg->used == 0) hak_heap_retire_if_empty(h, hak_segment_of(pg), pg, hak_os_now_ms());
      return q;
    }
  }
  if (pg->head == HAK_LIST_END) {
    hak_page_t *l = lender(h, cls);
    if (l) return l;
  }
  while (pg != &hak_heap_empty_page) {
    // A corrupt head is not the list's end: the pop will say so.
    if (pg->head != HAK_LIST_END || hak_page_extend(pg)) return pg;
    hak_heap_queue_remove(h, pg);  // exhausted: FULL until a block comes back
    HAK_ASSERT_INTERNAL(pg->used > 0);
    __atomic_store_n(&pg->state, HAK_PAGE_FULL, __ATOMIC_RELAXED);
    hak_page_set_limit(pg, 0);  // its frees take the slow path, which puts it back in the queue
    pg = h->current[cls];
  }
  pg = fresh_page(h, cls);
  if (!pg) return NULL;
  hak_heap_queue_push(h, pg);
  set_current(h, cls, pg);
  hak_page_extend(pg);
  return pg;
}

void *hak_heap_alloc_slow(size_t size) {
  hak_heap_t *h = hak_tls_heap;
  if (h == NO_HEAP && !(h = heap_acquire())) {
    errno = ENOMEM;
    return NULL;
  }
  hak_heap_collect(h);
  if ((++h->slow_calls & 31) == 0) {
    uint64_t now = hak_os_now_ms();
    if (now - h->last_maintenance >= 16) {
      hak_heap_maintain(h, now, false);
      tidy_one_abandoned(now);
      hak_os_tick(now);
    }
  }
  unsigned cls = (unsigned)hak_size_class(size);
  hak_page_t *pg = find_page(h, cls);
  if (HAK_UNLIKELY(!pg)) {
    // The kernel refused a segment: cached large blocks and empty pool
    // memory may hold the address space (RLIMIT_AS). Give it back, retry once.
    hak_large_trim();
    hak_heap_trim();
    pg = find_page(h, cls);
  }
  if (!pg) {
    errno = ENOMEM;
    return NULL;
  }
  hak_block_t *b = hak_page_pop(pg);
  HAK_ASSERT_INTERNAL(b != NULL);
  WALK_AFTER("a slow-path malloc");
  return b;
}

// --- process-wide -------------------------------------------------------------------

static void exit_key_create(void) { pthread_key_create(&exit_key, heap_thread_exit); }

static const hak_fork_handler_t heap_fork = {"heap", hak_heap_fork_prepare, hak_heap_fork_parent, hak_heap_fork_child};

void hak_heap_global_init(void) {
  hak_fork_register(&heap_fork);
  pthread_once(&exit_key_once, exit_key_create);
  hak_lock(&heaps.lock);
  hak_pool_secrets_init();
  hak_unlock(&heaps.lock);
}

size_t hak_heap_trim(void) {
  uint64_t now = hak_os_now_ms();
  size_t n = 0;
  hak_heap_t *h = hak_tls_heap;
  if (h != NO_HEAP) {
    hak_heap_collect(h);
    n += hak_heap_maintain(h, now, true);
  }
  // Every abandoned heap, each once: take the whole list, then give it back
  // (the tidy lock held: a fork meanwhile waits, so no child loses them).
  hak_lock(&heaps.tidy);
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
  hak_unlock(&heaps.tidy);
  WALK_AFTER("a trim");
  return n;
}

// The tidy lock too: no heap is off the abandoned list, half tidied, when
// the child is made.
void hak_heap_fork_prepare(void) {
  hak_lock(&heaps.tidy);
  hak_lock(&heaps.lock);
}
void hak_heap_fork_parent(void) {
  hak_unlock(&heaps.lock);
  hak_unlock(&heaps.tidy);
}

// A heap of a thread the child did not inherit. That thread may have been
// caught anywhere in an operation on it: the heap is made again from what
// each page says. Its current pages were in that thread's TLS, which the
// child does not read: the first flagged ACTIVE page of each class is
// current (a second flag is a set_current caught halfway), before the
// recount, which counts the flag. The segment lists are walked forward
// (an unlink caught halfway leaves a stale back link) and every class's
// queue is made again from the ACTIVE pages (an insert or removal caught
// halfway leaves a page in two places, or in none). The batch queue's lock
// is free again here (the large engine's handler ran before).
static void adopt(hak_heap_t *h) {
  for (unsigned c = 0; c < HAK_CLASSES; c++) {
    h->queue[c] = NULL;
    h->own_current[c] = &hak_heap_empty_page;
  }
  h->current = h->own_current;
  for (unsigned k = 0; k < HAK_PAGE_KINDS; k++)
    for (hak_segment_t *seg = h->segments[k], *prev = NULL; seg; prev = seg, seg = seg->next) {
      seg->prev = prev;
      for (unsigned i = 0; i < seg->page_count; i++) {
        hak_page_t *pg = &seg->pages[i];
        if (pg->current && pg->state == HAK_PAGE_ACTIVE && h->own_current[pg->cls] == &hak_heap_empty_page)
          h->own_current[pg->cls] = pg;
        else pg->current = 0;
      }
      hak_segment_recount(seg);
      hak_heap_fork_unqueue(seg);
      for (unsigned i = seg->page_count; i-- > 0;)
        if (seg->pages[i].state == HAK_PAGE_ACTIVE) hak_heap_queue_push(h, &seg->pages[i]);
    }
}

bool hak_heap_all_valid(void) {
  for (hak_heap_t *h = heaps.all; h; h = h->next_all)
    if (!hak_heap_is_valid_at(h)) return false;
  return true;
}

// In the child only this thread lives: every other owned heap is abandoned.
void hak_heap_fork_child(void) {
  for (hak_heap_t *h = heaps.all; h; h = h->next_all) {
    if (h == hak_tls_heap || h->abandoned) continue;
    adopt(h);
    abandoned_push_locked(h);
  }
  hak_unlock(&heaps.lock);
  hak_unlock(&heaps.tidy);
}
