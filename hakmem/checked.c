/* checked.c — checked mode (layer L5). See checked.h. Called by alloc.c
 * (allocation, foreign pointers), heap.c (frees, remote lists) and large.c
 * (large canaries) when hak_checked is set.
 */
#include "hakmem/checked.h"

#include <stdatomic.h>
#include <string.h>

#include "hakmem/addrmap.h"
#include "hakmem/check.h"
#include "hakmem/heap.h"
#include "hakmem/large.h"
#include "hakmem/log.h"

bool hak_checked;

static __attribute__((noreturn)) void misuse(const char *what, const void *p) {
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

// The trailer: the last 8 bytes of a block hold the requested size and the
// program pointer's offset in the block.
static inline uint64_t *trailer(char *b, const hak_page_t *pg) { return (uint64_t *)(b + pg->block_size - 8); }

// A free-list head (or remote-list entry) we are about to trust.
static void check_free_block(hak_segment_t *seg, hak_page_t *pg, const hak_block_t *b, const char *where) {
  if (!b) return;
  char *start = hak_page_start(seg, pg);
  if ((const char *)b < start || (const char *)b >= pg->end || (size_t)((const char *)b - start) % pg->block_size)
    misuse(where, b);
  uint64_t bit;
  if (atomic_load_explicit(live_word(seg, pg, block_index(seg, pg, b), &bit), memory_order_relaxed) & bit)
    misuse(where, b);
}

void *hak_checked_pool_alloc(size_t size, size_t align, bool zero) {
  size_t need = hak_checked_pool_need(size) + (align > HAK_MIN_ALIGN ? align : 0);
  char *b = hak_heap_alloc(need);
  if (!b) return NULL;
  hak_segment_t *seg = hak_segment_of(b);
  hak_page_t *pg = hak_page_of(seg, b);
  check_free_block(seg, pg, pg->free, "free list corrupted (a freed block was written to)");
  uint64_t bit;
  _Atomic uint64_t *w = live_word(seg, pg, block_index(seg, pg, b), &bit);
  if (atomic_fetch_or_explicit(w, bit, memory_order_relaxed) & bit) misuse("block handed out twice (free list corrupted)", b);
  char *p = align > HAK_MIN_ALIGN ? (char *)(((uintptr_t)b + align - 1) & ~(uintptr_t)(align - 1)) : b;
  size_t off = (size_t)(p - b);
  char *end = b + pg->block_size - 8;
  memset(p + size, HAK_CANARY, (size_t)(end - (p + size)));
  *trailer(b, pg) = (uint64_t)size << 16 | off;
  if (zero) memset(p, 0, size);
  return p;
}

hak_block_t *hak_checked_pool_free(hak_segment_t *seg, hak_page_t *pg, const void *p) {
  if (pg->state == HAK_PAGE_UNUSED || (const char *)p < hak_page_start(seg, pg) || (const char *)p >= pg->end)
    misuse("invalid free (not a live block)", p);
  char *b = hak_page_block_start(seg, pg, p);
  uint64_t bit;
  _Atomic uint64_t *w = live_word(seg, pg, block_index(seg, pg, b), &bit);
  if (!(atomic_load_explicit(w, memory_order_relaxed) & bit)) misuse("double free (or free of a block never handed out)", p);
  uint64_t t = *trailer(b, pg);
  size_t size = (size_t)(t >> 16), off = (size_t)(t & 0xffff);
  if ((const char *)p != b + off) misuse("invalid free (pointer inside a block)", p);
  const unsigned char *c = (const unsigned char *)p + size, *end = (const unsigned char *)b + pg->block_size - 8;
  if (c > end) misuse("block trailer corrupted (overflow)", p);
  for (; c < end; c++)
    if (*c != HAK_CANARY) misuse("heap overflow past the end of a block, found at free", p);
  // Clear the bit last: of two racing frees exactly one gets here first.
  if (!(atomic_fetch_and_explicit(w, ~bit, memory_order_relaxed) & bit)) misuse("double free", p);
  return (hak_block_t *)b;
}

void hak_checked_remote(const hak_block_t *b) {
  if (hak_addrmap_get(b) != HAK_ADDR_SEGMENT) misuse("remote free list corrupted", b);
  hak_segment_t *seg = hak_segment_of(b);
  check_free_block(seg, hak_page_of(seg, b), b, "remote free list corrupted");
}

size_t hak_checked_pool_usable(const void *p) {
  hak_segment_t *seg = hak_segment_of(p);
  hak_page_t *pg = hak_page_of(seg, p);
  char *b = hak_page_block_start(seg, pg, p);
  return (size_t)(*trailer(b, pg) >> 16);
}

void hak_checked_large_mark(char *p, size_t req, size_t usable) {
  size_t n = usable - req < 64 ? usable - req : 64;
  memset(p + req, HAK_CANARY, n);
}

void hak_checked_large_verify(const char *p, size_t req, size_t usable) {
  size_t n = usable - req < 64 ? usable - req : 64;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)p[req + i] != HAK_CANARY) misuse("heap overflow past the end of a large block, found at free", p);
}

void hak_checked_foreign(const void *p, const char *call) {
  hak_log("checked mode: %s(%p): not a pointer hakmem handed out", call, p);
  hak_fatal("invalid free (not a pointer hakmem handed out)", __FILE__, __LINE__);
}

/* --- allocation kinds (placeholder) --- */
// A bounded side table of the blocks new and new[] handed out: a block
// found there has that kind; one not found is not checked (the table may
// have been full), so a kind is never reported wrongly.
#define KIND_SLOTS 4096u
#define KIND_GONE ((uintptr_t)1)
static _Atomic uintptr_t kind_keys[KIND_SLOTS];
static _Atomic uint8_t kind_vals[KIND_SLOTS];
static const char *const kind_names[] = {"malloc", "new", "new[]"};

static unsigned kind_hash(const void *p) { return (unsigned)(((uintptr_t)p * 0x9E3779B97F4A7C15ull) >> 52) % KIND_SLOTS; }

void hak_checked_set_kind(void *p, hak_alloc_kind_t kind) {
  unsigned h = kind_hash(p);
  for (unsigned i = 0; i < 16; i++) {
    unsigned k = (h + i) % KIND_SLOTS;
    uintptr_t cur = atomic_load_explicit(&kind_keys[k], memory_order_acquire);
    if ((cur == 0 || cur == KIND_GONE) &&
        atomic_compare_exchange_strong_explicit(&kind_keys[k], &cur, (uintptr_t)p, memory_order_acq_rel,
                                                memory_order_acquire)) {
      atomic_store_explicit(&kind_vals[k], (uint8_t)kind, memory_order_release);
      return;
    }
  }
}

void hak_checked_verify_free(const void *p, hak_alloc_kind_t kind, size_t size) {
  hak_alloc_kind_t was = kind;
  unsigned h = kind_hash(p);
  for (unsigned i = 0; i < 16; i++) {
    unsigned k = (h + i) % KIND_SLOTS;
    uintptr_t cur = atomic_load_explicit(&kind_keys[k], memory_order_acquire);
    if (cur == 0) break;
    if (cur == (uintptr_t)p) {
      was = (hak_alloc_kind_t)atomic_load_explicit(&kind_vals[k], memory_order_acquire);
      atomic_store_explicit(&kind_keys[k], KIND_GONE, memory_order_release);
      break;
    }
  }
  if (kind != HAK_KIND_MALLOC && was != kind) {
    hak_log("checked mode: %s of a block from %s at %p", kind == HAK_KIND_NEW ? "delete" : "delete[]",
            kind_names[was], p);
    hak_fatal("allocation and deallocation kinds do not match", __FILE__, __LINE__);
  }
  if (size) {
    size_t req = hak_addrmap_get(p) == HAK_ADDR_SEGMENT ? hak_checked_pool_usable(p) : 0;
    if (!req) {
      hak_large_t *lh = hak_large_lookup(p);
      req = lh ? lh->req : 0;
    }
    if (req != size) {
      hak_log("checked mode: sized free of %zu bytes of a block of %zu bytes at %p", size, req, p);
      hak_fatal("sized free does not match the block's size", __FILE__, __LINE__);
    }
  }
}
/* --- end allocation kinds --- */
