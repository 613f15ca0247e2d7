/* heap_free.c — the pools' frees off the inline fast path, over-aligned
 * blocks (whose interior pointers those frees accept) and the heap walker
 * (layer L3): the careful path (interior, misaligned and header pointers,
 * double-free suspects, careful pages), remote frees batched per owner and
 * pushed onto the owner's list a batch at a time (one CAS per batch), and
 * the owner's drain of that list. See heap.h for the design and heap.c's
 * opening comment for the locking; shares heap_impl.h with heap.c, which
 * calls hak_heap_remote_flush on its maintenance and trim.
 *
 * Misuse: every free that leaves the fast path is checked here (block_of:
 * the header, UNUSED pages, interior and misaligned pointers), a block
 * holding the key is looked up on its page's list (after this thread's
 * batches are published and the remote list and the suspects are drained)
 * and, when not there, its link is read for the mark of a block waiting in
 * another thread's batch (remote_pending), so the answer is exact; every
 * link of the remote list is decoded and checked before it is followed.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "hakmem/addrmap.h"
#include "hakmem/fork.h"
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

static __attribute__((noreturn, cold)) void remote_corrupt(const void *where) {
  hak_log("corrupted free list at %p: its remote link names no freed block of its heap (a write after free?)", where);
  hak_fatal("corrupted remote free list", __FILE__, __LINE__);
}

// After a block went back to its page on a slow path: a FULL page is ACTIVE
// again, an empty one (never the current page) goes back to its segment.
static void local_free_slow(hak_heap_t *h, hak_segment_t *seg, hak_page_t *pg) {
  if (pg->state == HAK_PAGE_FULL) {
    __atomic_store_n(&pg->state, HAK_PAGE_ACTIVE, __ATOMIC_RELAXED);
    pg->limit = pg->careful ? 0 : pg->carved;
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


static bool remote_pending(hak_heap_t *h, const hak_block_t *b);

// The block holds the key: free, or a program stored that value in it.
// With this thread's batches published and the remote list and the
// suspects drained, a free block is on its page's list, its page is
// UNUSED, or it waits in another thread's batch: look.
static void confirm_not_free(hak_heap_t *h, hak_page_t *pg, uint64_t i, const void *p) {
  hak_heap_remote_flush();
  hak_heap_collect(h);
  if (pg->state == HAK_PAGE_UNUSED || i >= pg->carved || hak_page_list_has(pg, i)) double_free(p);
  if (remote_pending(h, hak_page_block(pg, i))) double_free(p);
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
  hak_page_push(pg, i);
  if (pg->used == 0 || pg->state != HAK_PAGE_ACTIVE) local_free_slow(h, seg, pg);
  WALK_AFTER("a careful free");
}

static inline uint64_t remote_link(const hak_block_t *b, const hak_block_t *next) {
  return (uintptr_t)next ^ HAK_RC(((uintptr_t)b >> 12) ^ hak_pool_secret);
}

// --- batched remote frees -----------------------------------------------------------
//
// A thread's remote frees wait in a small batch per target heap (a slot,
// picked by a hash of the owner) and go onto the owner's remote list with
// one CAS when the batch is full, when the slot is wanted for another owner,
// and on the thread's flushes (maintenance, trim, fork, thread exit). A
// waiting block already looks like a block on a remote list: it holds the
// key, and its link is a remote link to the next block of its batch (NULL
// at the batch's end), so a batch goes out as it is, only its last link
// rewritten. That is how a second free of it is told from a live block that
// holds the key's value: the owner's checks find such a link (remote_pending),
// the freeing thread finds the block in its own batches.
//
// The batches live in nodes of a static table, claimed lock-free by a
// thread at its first remote free and given back at its exit (a pthread
// key's destructor flushes them first); fork's child publishes the nodes of
// the threads it did not inherit. Every field of a node but `in_use` is
// written by its thread only.
#define REMOTE_BATCH 32u
#define REMOTE_SLOTS 4u
#define REMOTE_NODES 1024u  /* threads freeing at once with batches; more free one by one */

typedef struct remote_slot {
  hak_heap_t *owner;
  _Atomic(hak_block_t *) head;  // the last block freed (fork's child reads it)
  hak_block_t *tail;            // the first, whose link goes out NULL
  uint32_t n;
} remote_slot_t;

// Two cache lines of its own (the adjacent-line prefetcher pairs lines):
// the nodes of two freeing threads must not share one.
typedef struct remote_node {
  _Alignas(128) remote_slot_t slot[REMOTE_SLOTS];
  _Atomic uint32_t in_use;
} remote_node_t;

static remote_node_t remote_nodes[REMOTE_NODES];
static _Atomic uint32_t remote_nodes_top;  // nodes [0, top) were claimed at some point
static __thread remote_node_t *tls_remote __attribute__((tls_model("initial-exec")));
static __thread bool tls_remote_direct __attribute__((tls_model("initial-exec")));  // exited, or no node
static pthread_key_t remote_key;
static pthread_once_t remote_key_once = PTHREAD_ONCE_INIT;
static bool remote_key_ok;

// One CAS for the whole batch. The slot is emptied before the CAS: a fork
// caught in between leaks the batch in the child instead of publishing it
// twice.
static HAK_NOINLINE void remote_publish(remote_slot_t *s) {
  hak_block_t *head = atomic_load_explicit(&s->head, memory_order_relaxed), *tail = s->tail;
  hak_heap_t *owner = s->owner;
  atomic_store_explicit(&s->head, NULL, memory_order_relaxed);
  s->n = 0;
  hak_block_t *old = atomic_load_explicit(&owner->remote, memory_order_relaxed);
  do {
    __atomic_store_n(&tail->link, remote_link(tail, old), __ATOMIC_RELAXED);
  } while (!atomic_compare_exchange_weak_explicit(&owner->remote, &old, head, memory_order_release,
                                                  memory_order_relaxed));
}

static void remote_flush_node(remote_node_t *rn) {
  for (unsigned k = 0; k < REMOTE_SLOTS; k++)
    if (atomic_load_explicit(&rn->slot[k].head, memory_order_relaxed)) remote_publish(&rn->slot[k]);
}

void hak_heap_remote_flush(void) {
  remote_node_t *rn = tls_remote;
  if (rn) remote_flush_node(rn);
}

static void remote_thread_exit(void *arg) {
  remote_node_t *rn = arg;
  remote_flush_node(rn);
  tls_remote = NULL;
  tls_remote_direct = true;  // frees from later destructors go out one by one
  atomic_store_explicit(&rn->in_use, 0, memory_order_release);
}

static void remote_key_create(void) { remote_key_ok = pthread_key_create(&remote_key, remote_thread_exit) == 0; }

// This thread's node, claimed now; NULL when none is left (or no key): the
// thread frees one block at a time.
static HAK_NOINLINE remote_node_t *remote_claim(void) {
  if (tls_remote_direct) return NULL;
  tls_remote_direct = true;  // until the claim is done: a free from inside it goes out alone
  pthread_once(&remote_key_once, remote_key_create);
  if (!remote_key_ok) return NULL;
  remote_node_t *rn = NULL;
  uint32_t top = atomic_load_explicit(&remote_nodes_top, memory_order_acquire);
  for (uint32_t i = 0; i < top && !rn; i++) {
    uint32_t free_ = 0;
    if (atomic_compare_exchange_strong_explicit(&remote_nodes[i].in_use, &free_, 1, memory_order_acquire,
                                                memory_order_relaxed))
      rn = &remote_nodes[i];
  }
  while (!rn && top < REMOTE_NODES) {
    if (atomic_compare_exchange_weak_explicit(&remote_nodes_top, &top, top + 1, memory_order_acq_rel,
                                              memory_order_acquire)) {
      rn = &remote_nodes[top];
      atomic_store_explicit(&rn->in_use, 1, memory_order_relaxed);
    }
  }
  if (!rn) return NULL;
  // pthread_setspecific may allocate: this thread's frees meanwhile go out alone.
  if (pthread_setspecific(remote_key, rn) != 0) {
    atomic_store_explicit(&rn->in_use, 0, memory_order_release);
    return NULL;
  }
  tls_remote = rn;
  tls_remote_direct = false;
  return rn;
}

// Which slot an owner's batch takes (heaps are 64-byte aligned, far apart).
HAK_INLINE unsigned remote_slot_of(const hak_heap_t *owner) {
  return (unsigned)(((uintptr_t)owner * 0x9e3779b97f4a7c15ull) >> 62);
}
_Static_assert(REMOTE_SLOTS == 4, "remote_slot_of keeps two bits");

// b (holding the key) waits in one of this thread's batches.
static bool remote_in_own_batch(const hak_heap_t *owner, const hak_block_t *b) {
  remote_node_t *rn = tls_remote;
  if (!rn) return false;
  remote_slot_t *s = &rn->slot[remote_slot_of(owner)];
  if (s->owner != owner) return false;
  const hak_block_t *x = atomic_load_explicit(&s->head, memory_order_relaxed);
  for (uint32_t k = 0; x && k < s->n; k++) {
    if (x == b) return true;
    x = (const hak_block_t *)(uintptr_t)remote_link(x, (const hak_block_t *)(uintptr_t)__atomic_load_n(&x->link, __ATOMIC_RELAXED));
    if (x && hak_addrmap_get(x) != HAK_ADDR_SEGMENT) remote_corrupt(b);
  }
  return false;
}

// b holds the key and is on none of h's page lists, with h's remote list
// drained (h's owner asks): true when b waits in some thread's batch, that
// is its link is a remote link to NULL or to a block of h holding the key.
// A live block that holds the key's value has a link that decodes to no
// such thing (a stale page link decodes to no address at all).
static bool remote_pending(hak_heap_t *h, const hak_block_t *b) {
  const hak_block_t *n = (const hak_block_t *)(uintptr_t)remote_link(
      b, (const hak_block_t *)(uintptr_t)__atomic_load_n(&b->link, __ATOMIC_RELAXED));
  if (!n) return true;
  if ((uintptr_t)n % HAK_MIN_ALIGN || hak_addrmap_get(n) != HAK_ADDR_SEGMENT) return false;
  hak_segment_t *seg = hak_segment_of(n);
  if (seg->heap != h) return false;
  hak_page_t *pg = hak_page_of(seg, n);
  if (pg->state == HAK_PAGE_UNUSED || hak_page_index(pg, n) >= pg->carved) return false;
  return __atomic_load_n(&n->key, __ATOMIC_RELAXED) == hak_pool_key;
}

static HAK_NOINLINE void remote_suspect(hak_heap_t *owner, hak_block_t *b, const void *p) {
  if (remote_in_own_batch(owner, b)) double_free(p);
  for (unsigned s = 0; s < HAK_HEAP_SUSPECTS; s++) {
    hak_block_t *expected = NULL;
    if (atomic_compare_exchange_strong_explicit(&owner->suspect[s], &expected, b, memory_order_release,
                                                memory_order_relaxed))
      return;
  }
  double_free(p);  // more suspects than slots before the owner looked: no program stores the key that often
}

// b starts s's batch for owner; the batch s held for another owner goes
// out first.
static HAK_NOINLINE void remote_push_other(remote_slot_t *s, hak_heap_t *owner, hak_block_t *b) {
  if (atomic_load_explicit(&s->head, memory_order_relaxed)) remote_publish(s);
  __atomic_store_n(&s->owner, owner, __ATOMIC_RELEASE);  // after the old batch left (fork's child)
  s->tail = b;
  __atomic_store_n(&b->link, remote_link(b, NULL), __ATOMIC_RELAXED);
  atomic_store_explicit(&s->head, b, memory_order_release);
  s->n = 1;
}

// Without a node yet: claim one; without any, straight onto the owner's
// list as a batch of one.
static HAK_NOINLINE void remote_push_alone(hak_heap_t *owner, hak_block_t *b) {
  remote_node_t *rn = remote_claim();
  if (rn) {
    remote_push_other(&rn->slot[remote_slot_of(owner)], owner, b);
    return;
  }
  remote_slot_t one = {.owner = owner, .head = b, .tail = b, .n = 1};
  remote_publish(&one);
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
  remote_node_t *rn = tls_remote;
  if (HAK_UNLIKELY(!rn)) {
    remote_push_alone(owner, b);
    return;
  }
  remote_slot_t *s = &rn->slot[remote_slot_of(owner)];
  if (HAK_UNLIKELY(s->owner != owner)) {
    remote_push_other(s, owner, b);
    return;
  }
  hak_block_t *head = atomic_load_explicit(&s->head, memory_order_relaxed);
  if (!head) s->tail = b;
  // The link before the head (fork's child walks from the head).
  __atomic_store_n(&b->link, remote_link(b, head), __ATOMIC_RELAXED);
  atomic_store_explicit(&s->head, b, memory_order_release);
  if (HAK_UNLIKELY(++s->n >= REMOTE_BATCH)) remote_publish(s);  // last: no register kept across it
}

// Fork: the forking thread's batches go out before; the child publishes
// those of the threads it did not inherit (their nodes are in its memory,
// each batch whole: a block is linked before it becomes a head).
static void remote_fork_prepare(void) { hak_heap_remote_flush(); }

static void remote_fork_child(void) {
  uint32_t top = atomic_load_explicit(&remote_nodes_top, memory_order_relaxed);
  for (uint32_t i = 0; i < top; i++) {
    remote_node_t *rn = &remote_nodes[i];
    if (rn == tls_remote || !atomic_load_explicit(&rn->in_use, memory_order_relaxed)) continue;
    remote_flush_node(rn);
    atomic_store_explicit(&rn->in_use, 0, memory_order_relaxed);
  }
}

static const hak_fork_handler_t remote_fork = {"remote frees", remote_fork_prepare, NULL, remote_fork_child};

void hak_heap_remote_init(void) { hak_fork_register(&remote_fork); }

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
  pg->limit = 0;
  pg->free = pg->head < pg->carved ? hak_page_block(pg, pg->head) : NULL;  // exact on careful pages from now on
}

// Every pool free the inline fast path left: the owner's go the careful
// way (which checks everything the fast path checks, and more), the others'
// onto the owner's remote list.
HAK_INLINE void free_remote(hak_segment_t *seg, hak_page_t *pg, void *p) {
  if (hak_heap_watchers.freeing) hak_heap_watchers.freeing(p);
  if (HAK_LIKELY(!hak_heap_watchers.careful_free && carved_block(pg, p, true))) remote_push(seg, pg, (hak_block_t *)p, p);
  else free_remote_slow(seg, pg, p);
}

void hak_heap_free(void *p) {
  hak_segment_t *seg = hak_segment_of(p);
  hak_page_t *pg = hak_page_of(seg, p);
  if (seg->heap == hak_tls_heap) hak_heap_free_careful(seg, pg, p);
  else free_remote(seg, pg, p);
}

void hak_heap_free_remote(hak_segment_t *seg, hak_page_t *pg, void *p) { free_remote(seg, pg, p); }

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
    if (pg->state == HAK_PAGE_UNUSED || i >= pg->carved || hak_page_list_has(pg, i) || remote_pending(h, b))
      double_free(b);
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

// This thread's batches (blocks of any heap): each chain as long as its
// count says, every block a carved block of its owner's holding the key.
static bool batches_are_valid(void) {
  remote_node_t *rn = tls_remote;
  for (unsigned k = 0; rn && k < REMOTE_SLOTS; k++) {
    const remote_slot_t *s = &rn->slot[k];
    uint32_t len = 0;
    for (const hak_block_t *b = atomic_load_explicit(&s->head, memory_order_relaxed); b; len++) {
      if (len >= s->n || hak_addrmap_get(b) != HAK_ADDR_SEGMENT || b->key != hak_pool_key) return false;
      const hak_segment_t *seg = hak_segment_of(b);
      const hak_page_t *pg = hak_page_of((hak_segment_t *)seg, b);
      if (seg->heap != s->owner || hak_page_index_remote(pg, b) >= __atomic_load_n(&pg->carved, __ATOMIC_RELAXED))
        return false;
      if (len + 1 == s->n && b != s->tail) return false;
      b = (const hak_block_t *)(uintptr_t)remote_link(b, (const hak_block_t *)(uintptr_t)b->link);
    }
    if (len != s->n) return false;
  }
  return true;
}

bool hak_heap_is_valid(void) {
  hak_heap_t *h = hak_tls_heap;
  if (h == NO_HEAP) return batches_are_valid();
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
  }
  for (unsigned k = 0; k < HAK_PAGE_KINDS; k++)
    for (const hak_segment_t *seg = h->segments[k]; seg; seg = seg->next)
      if (seg->heap != h || seg->kind != k || !hak_segment_is_valid(seg)) return false;
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
  return batches_are_valid();
}
