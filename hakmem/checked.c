/* checked.c — checked mode (layer L5). See checked.h. Called by alloc.c
 * (allocation, foreign pointers), the pools' watchers (heap.h: careful
 * frees and remote lists, from heap_free.c), large.c's
 * callers (large canaries) and the C++ entry layer (allocation kinds) when
 * hak_checked is set.
 *
 * Pool block layout while live: [canary .. p) p [request) [canary .. trailer)
 * [trailer: kind << 62 | check << 40 | size << 20 | offset of p]. While freed:
 * [next pointer (heap.c's)] [quarantine sequence number] [HAK_SCRUB ...]
 * [trailer: QTAG ^ block address].
 */
#include "hakmem/checked.h"

#include <stdatomic.h>
#include <string.h>

#include "hakmem/addrmap.h"
#include "hakmem/check.h"
#include "hakmem/fork.h"
#include "hakmem/heap.h"
#include "hakmem/large.h"
#include "hakmem/lock.h"
#include "hakmem/log.h"

bool hak_checked;

void hak_checked_configure(bool on) {
  hak_checked = on;
  hak_heap_watchers.all_careful = on;
  hak_heap_watchers.careful_free = on ? hak_checked_pool_free : NULL;
  hak_heap_watchers.remote_drained = on ? hak_checked_remote : NULL;
}

#define QTAG 0x5155415241544e45ull /* "QUARANTE" */
#define FIELD_BITS 20                /* size and offset: pool blocks are at most 512 KiB */
#define FIELD_MASK (((uint64_t)1 << FIELD_BITS) - 1)
#define CHECK_MASK (((uint64_t)1 << 22) - 1)

void hak_checked_misuse(const char *what, const void *p) {
  hak_log("checked mode: %s at %p", what, p);
  hak_fatal(what, __FILE__, __LINE__);
}

static inline size_t block_index(const hak_segment_t *seg, const hak_page_t *pg, const void *b) {
  return (size_t)((const char *)b - hak_page_start(seg, pg)) / pg->block_size;
}

static inline _Atomic uint64_t *live_word(hak_segment_t *seg, hak_page_t *pg, size_t i, uint64_t *bit) {
  *bit = (uint64_t)1 << (i & 63);
  return &seg->live[pg->index][i >> 6];
}

static inline uint64_t *trailer(char *b, const hak_page_t *pg) { return (uint64_t *)(b + pg->block_size - 8); }
// A word of a block that may be freed (ASan: heap.c poisons freed blocks).
#if HAK_ASAN
__attribute__((no_sanitize("address"))) static uint64_t peek(const void *a) { return *(const volatile uint64_t *)a; }
#else
static inline uint64_t peek(const void *a) { return *(const uint64_t *)a; }
#endif
static inline uint64_t freed_tag(const char *b) { return QTAG ^ (uint64_t)(uintptr_t)b; }
static inline size_t t_off(uint64_t t) { return (size_t)(t & FIELD_MASK); }
static inline size_t t_size(uint64_t t) { return (size_t)((t >> FIELD_BITS) & FIELD_MASK); }
static inline hak_alloc_kind_t t_kind(uint64_t t) { return (hak_alloc_kind_t)(t >> 62); }
// 22 check bits over the fields and the block's address: an overflow that
// reaches the trailer is told apart from an interior pointer.
static inline uint64_t t_check(const char *b, uint64_t fields) {
  uint64_t x = (fields ^ (uint64_t)(uintptr_t)b) * 0x9e3779b97f4a7c15ull;
  return (x >> 40) & CHECK_MASK;
}
static inline uint64_t t_make(const char *b, size_t size, size_t off, hak_alloc_kind_t kind) {
  uint64_t fields = (uint64_t)kind << 62 | (uint64_t)size << FIELD_BITS | off;
  return fields | t_check(b, fields) << (2 * FIELD_BITS);
}
static inline bool t_valid(const char *b, uint64_t t) {
  uint64_t fields = t & ~(CHECK_MASK << (2 * FIELD_BITS));
  return (t >> (2 * FIELD_BITS) & CHECK_MASK) == t_check(b, fields);
}

// A free-list head (or remote-list entry) we are about to trust.
static void check_free_block(hak_segment_t *seg, hak_page_t *pg, const hak_block_t *b, const char *where) {
  if (!b) return;
  char *start = hak_page_start(seg, pg);
  if ((const char *)b < start || (const char *)b >= pg->end || (size_t)((const char *)b - start) % pg->block_size)
    hak_checked_misuse(where, b);
  uint64_t bit;
  if (atomic_load_explicit(live_word(seg, pg, block_index(seg, pg, b), &bit), memory_order_relaxed) & bit)
    hak_checked_misuse(where, b);
}

void hak_checked_not_malloc(hak_alloc_kind_t kind, const void *p) {
  hak_checked_misuse(kind == HAK_KIND_NEW ? "free() of memory from operator new" : "free() of memory from operator new[]",
                     p);
}

bool hak_checked_all_bytes(const unsigned char *c, const unsigned char *end, unsigned char v) {
  for (; c < end; c++)
    if (*c != v) return false;
  return true;
}

// --- the pool quarantine ------------------------------------------------------------
// heap.c puts every freed block back on its page's free list. A block freed
// by its own heap's thread is taken back off that list ("adopted", held) at
// this thread's next checked-mode operation, before anything can pop it: it
// is then counted as used again, so its page cannot be reset while checked
// mode holds it, and its scrub can be trusted when the ring evicts it. A
// block whose page was emptied and returned meanwhile, and blocks freed by
// other threads (they travel on a remote list), are not held: their writes
// after free are not caught.

typedef struct q_entry {
  char *b;
  uint64_t seq;
  uint32_t bytes;
} q_entry_t;

static struct {
  hak_lock_t lock;
  uint64_t head, tail;  // sequence numbers: [tail, head) are in the ring
  size_t bytes;
  q_entry_t e[HAK_CHECKED_QUARANTINE_BLOCKS];
} quarantine;

static __thread bool releasing;  // a held block on its way back to the pools
static __thread char *pending;   // freed by this thread, not adopted yet

static void q_lock(void) { hak_lock(&quarantine.lock); }
static void q_unlock(void) { hak_unlock(&quarantine.lock); }

static inline char *scrub_start(char *b) { return b + sizeof(hak_block_t); }

static void verify_scrub(char *b, const hak_page_t *pg) {
  const unsigned char *c = (const unsigned char *)scrub_start(b), *end = (const unsigned char *)trailer(b, pg);
  for (; c < end; c++)
    if (*c != HAK_SCRUB) {
      hak_log("checked mode: byte %u of the freed block at %p (%u bytes) was written to",
              (unsigned)((const char *)c - b), (void *)b, (unsigned)pg->block_size);
      hak_checked_misuse("write after free (a freed block's scrub pattern changed)", b);
    }
}

// fork(): a leaf lock (taken under no other, none taken under it), in the
// registry (fork.h) from hak_init on, used or not: calling pthread_atfork
// from the first quarantined free could itself allocate.
static void q_fork_prepare(void) { q_lock(); }
static void q_fork_release(void) { q_unlock(); }
static const hak_fork_handler_t quarantine_fork = {"checked quarantine", q_fork_prepare, q_fork_release, q_fork_release};

void hak_checked_fork_register(void) { hak_fork_register(&quarantine_fork); }

// Held blocks the ring evicted: verified, then given back to the pools.
static void q_release(char **blocks, unsigned n) {
  for (unsigned i = 0; i < n; i++) {
    char *b = blocks[i];
    hak_segment_t *seg = hak_segment_of(b);
    verify_scrub(b, hak_page_of(seg, b));
    releasing = true;
    hak_heap_free(b);
    releasing = false;
  }
}

// Take the pending block off its page's free list if it is still its head.
static void q_adopt(void) {
  char *b = pending;
  if (!b) return;
  pending = NULL;
  if (hak_addrmap_get(b) != HAK_ADDR_SEGMENT) return;  // its segment is gone
  hak_segment_t *seg = hak_segment_of(b);
  hak_page_t *pg = hak_page_of(seg, b);
  if (seg->heap != hak_tls_heap || pg->state == HAK_PAGE_UNUSED || pg->free != (hak_block_t *)b ||
      peek(trailer(b, pg)) != freed_tag(b))
    return;
  // The pop decodes and checks the link before anyone follows it (a
  // corrupted one aborts), counts the block as used and keeps pg->free.
  hak_block_t *got = hak_page_pop(pg);
  HAK_CHECK(got == (hak_block_t *)b, "checked mode: the quarantined block is no longer its page's head");
  memset(b, HAK_SCRUB, sizeof(hak_block_t));
  // What holding it costs: its block, or its whole page when it is the
  // page's only block in use (it alone keeps the page from being reset).
  size_t cost = pg->used == 1 ? hak_page_area(seg, pg) : pg->block_size;
  if (cost > UINT32_MAX) cost = UINT32_MAX;
  char *out[8];
  unsigned n = 0;
  q_lock();
  while (quarantine.head - quarantine.tail >= HAK_CHECKED_QUARANTINE_BLOCKS ||
         (quarantine.head != quarantine.tail && quarantine.bytes + cost > HAK_CHECKED_QUARANTINE_BYTES)) {
    if (n == 8) break;
    q_entry_t *e = &quarantine.e[quarantine.tail % HAK_CHECKED_QUARANTINE_BLOCKS];
    quarantine.tail++;
    quarantine.bytes -= e->bytes;
    out[n++] = e->b;
  }
  bool room = quarantine.head - quarantine.tail < HAK_CHECKED_QUARANTINE_BLOCKS;
  if (room) {
    q_entry_t *e = &quarantine.e[quarantine.head % HAK_CHECKED_QUARANTINE_BLOCKS];
    *e = (q_entry_t){.b = b, .seq = quarantine.head, .bytes = (uint32_t)cost};
    quarantine.head++;
    quarantine.bytes += cost;
  }
  q_unlock();
  if (!room) out[n++] = b;
  q_release(out, n);
}

// At exit every held block is verified: a write after free is caught even
// when the program made too few frees afterwards for the ring to evict it.
__attribute__((destructor)) static void q_verify_at_exit(void) {
  if (!hak_checked) return;
  q_lock();
  for (uint64_t s = quarantine.tail; s < quarantine.head; s++) {
    char *b = quarantine.e[s % HAK_CHECKED_QUARANTINE_BLOCKS].b;
    hak_segment_t *seg = hak_segment_of(b);
    verify_scrub(b, hak_page_of(seg, b));
  }
  q_unlock();
}

// --- pool blocks --------------------------------------------------------------------

void *hak_checked_pool_alloc(size_t size, size_t align, bool zero) {
  size_t need = hak_checked_pool_need(size) + (align > HAK_MIN_ALIGN ? align : 0);
  char *b;
  hak_segment_t *seg;
  hak_page_t *pg;
  q_adopt();
  b = hak_heap_alloc(need);
  if (!b) return NULL;
  seg = hak_segment_of(b);
  pg = hak_page_of(seg, b);
  check_free_block(seg, pg, pg->free, "free list corrupted (a freed block was written to)");
  uint64_t bit;
  _Atomic uint64_t *w = live_word(seg, pg, block_index(seg, pg, b), &bit);
  if (atomic_fetch_or_explicit(w, bit, memory_order_relaxed) & bit)
    hak_checked_misuse("block handed out twice (free list corrupted)", b);
  size_t a = align > HAK_MIN_ALIGN ? align : HAK_MIN_ALIGN;
  char *p = (char *)(((uintptr_t)b + HAK_CHECKED_HEAD + a - 1) & ~(uintptr_t)(a - 1));
  size_t off = (size_t)(p - b);
  char *end = (char *)trailer(b, pg);
  HAK_ASSERT_INTERNAL(p + size <= end);
  memset(b, HAK_CANARY, off);
  memset(p + size, HAK_CANARY, (size_t)(end - (p + size)));
  *trailer(b, pg) = t_make(b, size, off, HAK_KIND_MALLOC);
  if (zero) memset(p, 0, size);
  return p;
}

// The live block at p (aborts unless p is exactly a live block's pointer).
static char *live_pool_block(hak_segment_t *seg, hak_page_t *pg, const void *p, _Atomic uint64_t **w,
                             uint64_t *bit) {
  if (pg->state == HAK_PAGE_UNUSED || (const char *)p < hak_page_start(seg, pg) || (const char *)p >= pg->end)
    hak_checked_misuse("invalid free (not a live block)", p);
  char *b = hak_page_block_start(seg, pg, p);
  *w = live_word(seg, pg, block_index(seg, pg, b), bit);
  if (!(atomic_load_explicit(*w, memory_order_relaxed) & *bit)) {
    if (peek(trailer(b, pg)) == freed_tag(b)) hak_checked_misuse("double free (the block is in the quarantine)", p);
    hak_checked_misuse("double free (or free of a block never handed out)", p);
  }
  uint64_t t = *trailer(b, pg);
  if (!t_valid(b, t)) hak_checked_misuse("heap overflow: the block's trailer was overwritten, found at free", p);
  if ((const char *)p != b + t_off(t)) hak_checked_misuse("invalid free (pointer inside a block)", p);
  return b;
}

hak_block_t *hak_checked_pool_free(hak_segment_t *seg, hak_page_t *pg, const void *p) {
  if (releasing) {  // a held block leaving the quarantine: the pools take it back
    HAK_CHECK(*trailer((char *)p, pg) == freed_tag(p), "checked mode: quarantine release of a block not held");
    return (hak_block_t *)p;
  }
  q_adopt();
  _Atomic uint64_t *w;
  uint64_t bit;
  char *b = live_pool_block(seg, pg, p, &w, &bit);
  uint64_t t = *trailer(b, pg);
  size_t size = t_size(t), off = t_off(t);
  if (t_kind(t) != HAK_KIND_MALLOC) hak_checked_not_malloc(t_kind(t), p);
  const unsigned char *c = (const unsigned char *)p + size, *end = (const unsigned char *)trailer(b, pg);
  if (c > end) hak_checked_misuse("block trailer corrupted (overflow)", p);
  if (!hak_checked_all_bytes(c, end, HAK_CANARY))
    hak_checked_misuse("heap overflow past the end of a block, found at free", p);
  if (!hak_checked_all_bytes((const unsigned char *)b, (const unsigned char *)b + off, HAK_CANARY))
    hak_checked_misuse("heap underflow before the start of a block, found at free", p);
  // Clear the bit before scrubbing: of two racing frees exactly one gets here first.
  if (!(atomic_fetch_and_explicit(w, ~bit, memory_order_relaxed) & bit)) hak_checked_misuse("double free", p);
  memset(scrub_start(b), HAK_SCRUB, (size_t)((char *)trailer(b, pg) - scrub_start(b)));
  *trailer(b, pg) = freed_tag(b);
  if (seg->heap == hak_tls_heap) pending = b;
  return (hak_block_t *)b;
}

void hak_checked_remote(const hak_block_t *b) {
  if (hak_addrmap_get(b) != HAK_ADDR_SEGMENT) hak_checked_misuse("remote free list corrupted", b);
  hak_segment_t *seg = hak_segment_of(b);
  check_free_block(seg, hak_page_of(seg, b), b, "remote free list corrupted");
}

size_t hak_checked_pool_usable(const void *p) {
  hak_segment_t *seg = hak_segment_of(p);
  hak_page_t *pg = hak_page_of(seg, p);
  char *b = hak_page_block_start(seg, pg, p);
  return t_size(*trailer(b, pg));
}

// --- large blocks -------------------------------------------------------------------

// The canary before a large block's pointer: the gap after its header, at
// most a page (large.c gives checked-mode blocks a page of gap).
static size_t large_head(const char *p, const hak_large_t *h) {
  size_t gap = (size_t)(p - (const char *)h) - sizeof(hak_large_t);
  return gap < 4096 ? gap : 4096;
}

void hak_checked_large_mark(char *p, size_t req, size_t usable) {
  size_t n = usable - req < 64 ? usable - req : 64;
  memset(p + req, HAK_CANARY, n);
  hak_large_t *h = hak_large_lookup(p);
  size_t head = large_head(p, h);
  HAK_UNPOISON(p - head, head);  // the gap may still be poisoned from the block's last free (ASan)
  memset(p - head, HAK_CANARY, head);
}

void hak_checked_large_verify(const char *p, size_t req, size_t usable) {
  size_t n = usable - req < 64 ? usable - req : 64;
  const hak_large_t *h = hak_large_lookup(p);
  hak_alloc_kind_t kind = (hak_alloc_kind_t)hak_large_kind(h);
  if (kind != HAK_KIND_MALLOC) hak_checked_not_malloc(kind, p);
  if (!hak_checked_all_bytes((const unsigned char *)p + req, (const unsigned char *)p + req + n, HAK_CANARY))
    hak_checked_misuse("heap overflow past the end of a large block, found at free", p);
  size_t head = large_head(p, h);
  if (!hak_checked_all_bytes((const unsigned char *)p - head, (const unsigned char *)p, HAK_CANARY))
    hak_checked_misuse("heap underflow before the start of a large block, found at free", p);
}

void hak_checked_foreign(const void *p, const char *call) {
  hak_log("checked mode: %s(%p): not a pointer hakmem handed out", call, p);
  hak_fatal("invalid free (not a pointer hakmem handed out)", __FILE__, __LINE__);
}

/* --- allocation kinds ------------------------------------------------------------ */
static const char *kind_name(hak_alloc_kind_t k) {
  return k == HAK_KIND_NEW ? "operator new" : k == HAK_KIND_NEW_ARRAY ? "operator new[]" : "malloc";
}
static const char *free_name(hak_alloc_kind_t k) {
  return k == HAK_KIND_NEW ? "delete" : k == HAK_KIND_NEW_ARRAY ? "delete[]" : "free";
}

void hak_checked_set_kind(void *p, hak_alloc_kind_t kind) {
  if (!hak_checked || !p) return;
  if (hak_checked_guarded(p)) {
    (void)hak_checked_guard_kind(p, NULL, true, kind);
    return;
  }
  if (hak_addrmap_get(p) == HAK_ADDR_SEGMENT) {
    hak_segment_t *seg = hak_segment_of(p);
    hak_page_t *pg = hak_page_of(seg, p);
    char *b = hak_page_block_start(seg, pg, p);
    uint64_t t = *trailer(b, pg);
    *trailer(b, pg) = t_make(b, t_size(t), t_off(t), kind);
    return;
  }
  hak_large_t *h = hak_large_lookup(p);
  if (h) hak_large_set_kind(h, (unsigned)kind);
}

void hak_checked_verify_free(const void *p, hak_alloc_kind_t kind, size_t size) {
  if (!hak_checked || !p) return;
  hak_alloc_kind_t was;
  size_t req;
  uint64_t *tp = NULL;
  char *blk = NULL;
  hak_large_t *h = NULL;
  bool guarded = hak_checked_guarded(p);
  if (guarded) {
    was = hak_checked_guard_kind(p, &req, false, HAK_KIND_MALLOC);
  } else if (hak_addrmap_get(p) == HAK_ADDR_SEGMENT) {
    hak_segment_t *seg = hak_segment_of(p);
    hak_page_t *pg = hak_page_of(seg, p);
    _Atomic uint64_t *w;
    uint64_t bit;
    blk = live_pool_block(seg, pg, p, &w, &bit);
    tp = trailer(blk, pg);
    was = t_kind(*tp);
    req = t_size(*tp);
  } else {
    h = hak_large_lookup(p);
    if (!h) hak_checked_foreign(p, free_name(kind));
    if (h->state != HAK_LARGE_LIVE) hak_checked_misuse("double free", p);
    was = (hak_alloc_kind_t)hak_large_kind(h);
    req = h->req;
  }
  if (was != kind) {
    hak_log("checked mode: %s of memory from %s at %p", free_name(kind), kind_name(was), p);
    hak_checked_misuse("allocation and deallocation functions do not match", p);
  }
  if (size && size != req) {
    hak_log("checked mode: sized free of %zu bytes, the block at %p was asked for %zu", size, p, req);
    hak_checked_misuse("sized free with the wrong size", p);
  }
  if (guarded) (void)hak_checked_guard_kind(p, NULL, true, HAK_KIND_MALLOC);
  else if (tp) *tp = t_make(blk, t_size(*tp), t_off(*tp), HAK_KIND_MALLOC);
  else hak_large_set_kind(h, (unsigned)HAK_KIND_MALLOC);
}
