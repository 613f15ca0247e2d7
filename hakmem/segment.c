/* segment.c — mapping, guarding, carving and walking pool segments, and
 * the pages' encoded free lists (layer L2). See segment.h. Called by heap.c;
 * the walkers by tests and fuzzers. The guards' budget
 * (hak_segment_guard_vmas) is process-wide, one relaxed atomic touched when
 * a segment is made, fills or is unmapped.
 */
#include "hakmem/segment.h"

#include <errno.h>
#include <string.h>
#include <sys/auxv.h>

#include "hakmem/addrmap.h"
#include "hakmem/check.h"
#include "hakmem/log.h"
#include "hakmem/os.h"
#include "hakmem/stats.h"

#define HAK_SEGMENT_MAGIC 0x47455348u  // "HSEG"

static const uint8_t kind_shift[HAK_PAGE_KINDS] = {16, 19, 22};

uint64_t hak_pool_key;
uint64_t hak_pool_secret;

static uint64_t mix64(uint64_t x) {  // splitmix64's finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Two draws of os.c's secret source (getrandom, else AT_RANDOM's second
// half and the clock), not hak_os_random: that is a splitmix sequence whose
// outputs give each other away (its finaliser is invertible), so a key read
// from any freed block would give away the secret and every placement.
// Without getrandom both draws come from the same 8 bytes: the secret also
// mixes in AT_RANDOM's first half, so that the key alone still says nothing
// of it.
void hak_pool_secrets_init(void) {
  if (hak_pool_key) return;
  const void *at = (const void *)getauxval(AT_RANDOM);  // not 8-byte aligned
  uint64_t first = 0, key = hak_os_secret();
  if (at) memcpy(&first, at, sizeof first);
  hak_pool_secret = (hak_os_secret() ^ mix64(first ^ 0x68616b6d656d6b65ull)) | 1;
  hak_pool_key = key ? key : 0x9e3779b97f4a7c15ull;  // never 0: malloc writes 0 there
}

_Atomic uint32_t hak_segment_guard_vmas;

// A guard is whole OS pages; above 16 KiB pages the header has no room for
// one and the top guard would cost a quarter of a small page: none.
static size_t guard_unit(void) {
  size_t ps = hak_os_page_size();
  return ps <= ((size_t)16 << 10) ? ps : 0;
}

// The guards a new segment can have within the budget (segment.h), charged.
static hak_segment_guard_t guard_claim(hak_page_kind_t kind, uint16_t *cost) {
  static const uint16_t gaps_cost[HAK_PAGE_KINDS] = {(HAK_SEGMENT_SIZE >> 16) + 2, (HAK_SEGMENT_SIZE >> 19) + 2, 3};
  if (!HAK_RELEASE_CHECKS || !guard_unit()) return HAK_GUARD_NONE;  // off: for measuring what they cost
  unsigned g = kind == HAK_PAGE_WHOLE ? HAK_GUARD_EDGES : HAK_GUARD_GAPS;  // one page: no gap
  for (; g != HAK_GUARD_NONE; g--) {
    *cost = g == HAK_GUARD_GAPS ? gaps_cost[kind] : 3;
    uint32_t was = atomic_fetch_add_explicit(&hak_segment_guard_vmas, *cost, memory_order_relaxed);
    if (was + *cost <= HAK_SEGMENT_GUARD_VMAS) return (hak_segment_guard_t)g;
    atomic_fetch_sub_explicit(&hak_segment_guard_vmas, *cost, memory_order_relaxed);
  }
  *cost = 0;
  return HAK_GUARD_NONE;
}

static void guard_cost_set(hak_segment_t *seg, uint16_t cost) {
  atomic_fetch_sub_explicit(&hak_segment_guard_vmas, (uint32_t)(seg->guard_cost - cost), memory_order_relaxed);
  seg->guard_cost = cost;
}

// The guards of a new segment (its header written: the kernel's anon_vma
// exists, so the pieces merge back when they are made read-write again).
static bool guard_make(hak_segment_t *seg) {
  size_t unit = guard_unit(), hdr = (sizeof(hak_segment_t) + unit - 1) & ~(unit - 1);
  char *base = (char *)seg;
  seg->top_guard = (uint32_t)unit;
  if (seg->guard == HAK_GUARD_GAPS) return hak_os_protect(base + hdr, HAK_SEGMENT_SIZE - hdr, false);
  return hak_os_protect(base + hdr, HAK_SEGMENT_HEADER - hdr, false) &&
         hak_os_protect(base + HAK_SEGMENT_SIZE - unit, unit, false);
}

hak_segment_t *hak_segment_new(hak_page_kind_t kind, struct hak_heap *heap, uint16_t tag) {
  HAK_ASSERT_INTERNAL(hak_pool_key != 0);
  hak_segment_t *seg = hak_os_map(HAK_SEGMENT_SIZE, HAK_SEGMENT_SIZE);
  if (!seg) return NULL;
  // Fresh memory is zero: only the non-zero fields need writing. The pages
  // stay zero (UNUSED, FRESH: nothing to give back) until taken; a zero page
  // struct has limit 0 and state UNUSED, so no fast path enters it and every
  // slow path rejects pointers into it. Writing all 64 would touch 8 KiB.
  seg->magic = HAK_SEGMENT_MAGIC;
  seg->kind = (uint8_t)kind;
  seg->page_shift = kind_shift[kind];
  seg->page_count = (uint16_t)(HAK_SEGMENT_SIZE >> seg->page_shift);
  seg->heap = heap;
  for (size_t g = 0; g < HAK_SEGMENT_GRANULES; g++)
    seg->granule[g] = &seg->pages[(g << HAK_SEGMENT_GRANULE_SHIFT) >> seg->page_shift];
  seg->fresh = (uint16_t)hak_segment_first(seg);  // a small page 0 is all header
  seg->order_start = (uint16_t)(hak_os_random() % hak_segment_order_pages(seg));  // the first page taken: random
  seg->pages[0].head = HAK_LIST_END;  // in the header's first OS page anyway: reads as an UNUSED page
  seg->guard = (uint8_t)guard_claim(kind, &seg->guard_cost);
  if (seg->guard != HAK_GUARD_NONE && !guard_make(seg)) {
    // The kernel refused to split the mapping (vm.max_map_count): out of memory.
    guard_cost_set(seg, 0);
    hak_os_unmap(seg, HAK_SEGMENT_SIZE);
    errno = ENOMEM;
    return NULL;
  }
  // Last: from here on a free finds the segment (the header is written).
  (void)hak_addrmap_set_segment(seg, tag);
  HAK_STAT_INC(pool_segments);
  HAK_STAT_ADD(os_bytes_mapped_pools, HAK_SEGMENT_SIZE);
  return seg;
}

void hak_segment_free(hak_segment_t *seg) {
  HAK_ASSERT_INTERNAL(seg->pages_used == 0);
  HAK_UNPOISON(seg, HAK_SEGMENT_SIZE);  // the next owner of these addresses starts clean
  hak_addrmap_clear(seg, HAK_SEGMENT_SIZE);
  guard_cost_set(seg, 0);
  seg->magic = 0;
  hak_os_unmap(seg, HAK_SEGMENT_SIZE);
  HAK_STAT_SUB(pool_segments, 1);
  HAK_STAT_SUB(os_bytes_mapped_pools, HAK_SEGMENT_SIZE);
}

// The multiplicative inverse of an odd d modulo 2^64 (Newton: each step
// doubles the correct low bits; d itself is right to 3 bits).
static uint64_t inverse_of(uint64_t d) {
  uint64_t x = d;
  for (int i = 0; i < 5; i++) x *= 2 - d * x;
  return x;
}

hak_page_t *hak_segment_take_page(hak_segment_t *seg, unsigned cls) {
  hak_page_t *pg = seg->unused;
  uint8_t clean = 0;  // a page taken again holds its last class's blocks
  if (pg) {
    seg->unused = pg->next;
  } else {
    clean = HAK_RELEASE_CHECKS;  // the frontier check (segment.h) is a release check
    // Same order as a stack filled in index order: returned pages first.
    if (seg->fresh >= seg->page_count) return NULL;
    unsigned i = hak_segment_fresh_index(seg, seg->fresh);
    pg = &seg->pages[i];
    pg->index = (uint8_t)i;
    if (seg->guard == HAK_GUARD_GAPS) {
      // Out of its gap. Refused (vm.max_map_count): the page stays fresh.
      if (!hak_os_protect(hak_page_start(seg, pg), hak_page_area(seg, pg), true)) {
        pg->index = 0;
        errno = ENOMEM;
        return NULL;
      }
      if (seg->fresh + 1u == seg->page_count) {  // no gap left: the pages merged back
        seg->guard = HAK_GUARD_EDGES;
        guard_cost_set(seg, 3);
      }
    }
    seg->fresh++;
  }
  HAK_ASSERT_INTERNAL(pg->state == HAK_PAGE_UNUSED && pg->used == 0 && !pg->current);
  seg->pages_used++;
  size_t bs = hak_class_size(cls);
  char *start = hak_page_start(seg, pg);
  HAK_UNPOISON(start, hak_page_area(seg, pg));  // the last class's freed blocks
  unsigned rot = (unsigned)__builtin_ctzll(bs);
  pg->head = HAK_LIST_END;
  hak_page_set_limit(pg, 0);
  pg->free = NULL;
  pg->used = 0;
  pg->capacity = (uint32_t)(hak_page_area(seg, pg) / bs);
  pg->end = start + (size_t)pg->capacity * bs;
  pg->cookie = hak_pool_secret ^ ((uintptr_t)start * 0x9e3779b97f4a7c15ull);
  pg->next = pg->prev = NULL;
  pg->cls = (uint16_t)cls;
  pg->careful = 0;
  pg->current = 0;
  pg->clean = clean;
  pg->commit = HAK_PAGE_COMMITTED;
  // Read by remote frees (hak_page_index_remote): their blocks were carved
  // after these stores, and a handover of the pointer orders them.
  __atomic_store_n(&pg->block_size, (uint32_t)bs, __ATOMIC_RELAXED);
  __atomic_store_n(&pg->start, start, __ATOMIC_RELAXED);
  __atomic_store_n(&pg->inverse, inverse_of(bs >> rot), __ATOMIC_RELAXED);
  __atomic_store_n(&pg->rot, (uint8_t)rot, __ATOMIC_RELAXED);
  __atomic_store_n(&pg->carved, 0, __ATOMIC_RELAXED);
  __atomic_store_n(&pg->state, HAK_PAGE_ACTIVE, __ATOMIC_RELAXED);
  atomic_store_explicit(&pg->aligned, 0, memory_order_relaxed);
  return pg;
}

void hak_segment_return_page(hak_segment_t *seg, hak_page_t *pg, uint64_t now) {
  HAK_ASSERT(pg->used == 0);
  HAK_ASSERT_INTERNAL(!pg->current && pg->state != HAK_PAGE_UNUSED);
  __atomic_store_n(&pg->state, HAK_PAGE_UNUSED, __ATOMIC_RELAXED);
  __atomic_store_n(&pg->carved, 0, __ATOMIC_RELAXED);
  pg->head = HAK_LIST_END;
  hak_page_set_limit(pg, 0);
  pg->free = NULL;
  pg->empty_since = now;
  pg->prev = NULL;
  pg->next = seg->unused;
  seg->unused = pg;
  if (--seg->pages_used == 0) seg->empty_since = now;
}

static inline void keep_free_pointer(hak_page_t *pg) {
  pg->free = pg->head < pg->carved ? hak_page_block(pg, pg->head) : NULL;
}

// Placement within a page (what the page and the segment's slot leave to
// chance, segment.h): medium blocks (above 8 KiB, up to 64 KiB) are carved
// in runs of a random length, 1 .. 8 blocks (as the page's room allows),
// handed out from the run's last block down. So the first block of a fresh
// page, and the first of every run, is a random one of the 8 after the
// carved ones: log2(8) = 3 more bits (29.6 with its page's 3 and its
// slot's 23.6; the later blocks of a run and of a page, which the runs
// before them place, 28.7 or more). The run's last
// block is the frontier (hak_page_has_frontier), so an overflow of the
// first block of a run is still caught at its free, and a loop reusing one
// block costs what it did. The price: a run writes the first 16 bytes of
// each of its blocks, so up to 7 OS pages are touched before a block there
// is handed out. Small blocks are carved about 4 KiB at a time upward from
// the page's start: their page alone gives them 29.6 bits, and a page's
// first block stays right after a guard, where an underflow faults. The
// one-page kind (above 64 KiB) carves one block at a time upward too: with
// runs of 1 .. 32 (28 bits up to 176 KiB) the 31 OS pages a run touched
// in each of its classes' pages raised wl_json's peak RSS from 7.4 to
// 10.4 MB and wl_mir's from 10.4 to 12.4 (medium runs alone: 7.7 - 8.0
// and 10.5), so its blocks have their slot's 23.6 bits.
static const uint8_t carve_spread[HAK_PAGE_KINDS] = {0, 8, 0};

bool hak_page_extend(hak_page_t *pg) {
  HAK_ASSERT_INTERNAL(pg->state == HAK_PAGE_ACTIVE && pg->carved <= pg->capacity);
  if (pg->carved >= pg->capacity) return false;
  size_t bs = pg->block_size, left = pg->capacity - pg->carved, spread = carve_spread[hak_class_kind(pg->cls)], n;
  if (spread) {
    n = 1 + (size_t)(hak_os_random() % (left < spread ? left : spread));
  } else {
    // About 4 KiB of blocks at a time (at least one, at most 64): page
    // memory is touched only as it is needed.
    n = 4096 / bs;
    if (n < 1) n = 1;
    if (n > 64) n = 64;
    if (n > left) n = left;
  }
  uint64_t first = pg->carved, last = first + n - 1;
  for (uint64_t i = first; i <= last; i++) {
    hak_block_t *b = hak_page_block(pg, i);
    uint64_t next = spread ? (i > first ? i - 1 : pg->head) : (i < last ? i + 1 : pg->head);
    b->link = hak_page_link(pg, next);
    b->key = hak_pool_key;
  }
  pg->head = spread ? last : first;
  __atomic_store_n(&pg->carved, (uint32_t)(last + 1), __ATOMIC_RELAXED);
  hak_page_set_limit(pg, pg->careful ? 0 : last + 1);
  keep_free_pointer(pg);
  return true;
}

void hak_page_corrupt(const hak_page_t *pg, const void *where) {
  if (!where) {
    // The head came from the block the fast path popped last: name it when
    // its link still reads so (the program may have written it since).
    where = pg->start;
    for (uint64_t i = 0; i < pg->carved; i++)
      if (hak_page_link(pg, hak_page_block(pg, i)->link) == pg->head) {
        where = hak_page_block(pg, i);
        break;
      }
  }
  hak_log("corrupted free list at %p: its link names no block of its page (free list corrupted by a write after free?)",
          where);
  hak_fatal("corrupted free list", __FILE__, __LINE__);
}

hak_block_t *hak_page_pop(hak_page_t *pg) {
  uint64_t i = pg->head;
  if (i == HAK_LIST_END) return NULL;
  if (HAK_UNLIKELY(i >= pg->carved)) hak_page_corrupt(pg, NULL);
  hak_block_t *b = hak_page_block(pg, i);
  HAK_UNPOISON(b, pg->block_size);
  uint64_t next = hak_page_link(pg, b->link);
  // Checked before anyone follows it (the fast path's next pop would too).
  if (HAK_UNLIKELY(next >= pg->carved && next != HAK_LIST_END)) hak_page_corrupt(pg, b);
  pg->head = next;
  b->key = 0;
  pg->used++;
  keep_free_pointer(pg);
  return b;
}

void hak_page_push(hak_page_t *pg, uint64_t i) {
  HAK_ASSERT_INTERNAL(i < pg->carved && pg->used > 0);
  hak_block_t *b = hak_page_block(pg, i);
  b->link = hak_page_link(pg, pg->head);
  b->key = hak_pool_key;
  pg->head = i;
  pg->used--;
  pg->free = b;
  HAK_POISON((char *)b + sizeof(hak_block_t), pg->block_size - sizeof(hak_block_t));
}

bool hak_page_list_has(const hak_page_t *pg, uint64_t want) {
  uint64_t i = pg->head, steps = 0;
  const void *where = pg;
  while (i != HAK_LIST_END) {
    if (i >= pg->carved || ++steps > pg->carved) hak_page_corrupt(pg, where);
    if (i == want) return true;
    const hak_block_t *b = hak_page_block(pg, i);
    where = b;
    i = hak_page_link(pg, b->link);
  }
  return false;
}

void *hak_page_block_start(const hak_segment_t *seg, const hak_page_t *pg, const void *p) {
  char *start = hak_page_start(seg, pg);
  size_t off = (size_t)((const char *)p - start);
  return start + off - off % pg->block_size;
}

bool hak_page_is_valid(const hak_segment_t *seg, const hak_page_t *pg) {
  if (pg->state == HAK_PAGE_UNUSED) return pg->head == HAK_LIST_END && pg->limit == 0 && !pg->used && !pg->current;
  char *start = hak_page_start(seg, pg);
  size_t bs = pg->block_size;
  if (!bs || bs != hak_class_size(pg->cls) || pg->start != start) return false;
  if (pg->capacity != hak_page_area(seg, pg) / bs || pg->end != start + (size_t)pg->capacity * bs) return false;
  if (pg->carved > pg->capacity || pg->rot != __builtin_ctzll(bs) || pg->inverse * (bs >> pg->rot) != 1) return false;
  uint64_t limit = pg->careful || pg->state == HAK_PAGE_FULL ? 0 : pg->carved;
  if (pg->limit != limit || pg->used < pg->current) return false;
  if (pg->free_limit != (hak_page_has_frontier(pg, limit) ? limit - 1 : limit)) return false;
  // Walk with a step cap: a cycle shows as more blocks than were carved.
  // Every link must decode to a carved block, every free block hold the key.
  uint64_t nfree = 0;
  for (uint64_t i = pg->head; i != HAK_LIST_END;) {
    if (i >= pg->carved || ++nfree > pg->carved) return false;
    const hak_block_t *b = hak_page_block(pg, i);
    if (b->key != hak_pool_key) return false;
    i = hak_page_link(pg, b->link);
  }
  if (pg->careful && pg->free != (pg->head == HAK_LIST_END ? NULL : hak_page_block(pg, pg->head))) return false;
  return nfree + pg->used - pg->current == pg->carved;
}

// A carve caught halfway (the run's links and the head written, `carved`
// not yet): the head names a block past `carved`. The run's links lead
// back to the old head (hak_page_extend): undo the carve.
static void undo_half_carve(hak_page_t *pg) {
  uint64_t k = pg->head;
  for (unsigned steps = 0; k != HAK_LIST_END && k >= pg->carved && k < pg->capacity && steps <= 64; steps++)
    k = hak_page_link(pg, hak_page_block(pg, k)->link);
  if (k == HAK_LIST_END || k < pg->carved) pg->head = k;
}

void hak_segment_recount(hak_segment_t *seg) {
  seg->unused = NULL;
  seg->pages_used = 0;
  for (unsigned pos = hak_segment_first(seg); pos < seg->fresh && pos < seg->page_count; pos++) {
    hak_page_t *pg = &seg->pages[hak_segment_fresh_index(seg, pos)];
    if (pg->state != HAK_PAGE_UNUSED) {
      undo_half_carve(pg);
      uint64_t nfree = 0, k = pg->head;
      for (; k != HAK_LIST_END && k < pg->carved && nfree <= pg->carved; nfree++)
        k = hak_page_link(pg, hak_page_block(pg, k)->link);
      // A list that does not end well is left for the checks that follow it.
      if (k == HAK_LIST_END && nfree <= pg->carved) pg->used = pg->carved - nfree + pg->current;
      // A free caught between its push and the page's requeue, or a page
      // caught between being taken and queued, or emptied and returned.
      if (pg->state == HAK_PAGE_FULL && pg->head != HAK_LIST_END) pg->state = HAK_PAGE_ACTIVE;
      if (pg->used == 0 && !pg->current && k == HAK_LIST_END) pg->state = HAK_PAGE_UNUSED;
    }
    if (pg->state == HAK_PAGE_UNUSED) {  // restacked whatever step of a take or return it was caught in
      pg->head = HAK_LIST_END;
      pg->used = pg->current = 0;
      __atomic_store_n(&pg->carved, 0, __ATOMIC_RELAXED);
      pg->prev = NULL;
      pg->next = seg->unused;
      seg->unused = pg;
    } else {
      seg->pages_used++;
    }
    pg->clean = 0;
    hak_page_set_limit(pg, pg->careful || pg->state != HAK_PAGE_ACTIVE ? 0 : pg->carved);
    keep_free_pointer(pg);
  }
}

bool hak_segment_is_valid(const hak_segment_t *seg) {
  if (seg->magic != HAK_SEGMENT_MAGIC || seg->kind >= HAK_PAGE_KINDS) return false;
  unsigned first = hak_segment_first(seg);
  if (seg->guard > HAK_GUARD_GAPS || (seg->guard == HAK_GUARD_NONE) != (seg->top_guard == 0)) return false;
  if (seg->fresh < first || seg->fresh > seg->page_count || seg->order_start >= hak_segment_order_pages(seg)) return false;
  unsigned unused = 0, in_stack = 0;
  for (unsigned i = 0; i < seg->page_count; i++) {
    const hak_page_t *pg = &seg->pages[i];
    if (i < first) {
      if (pg->state != HAK_PAGE_UNUSED || pg->limit) return false;  // the header: no fast path into it
      continue;
    }
    if (hak_segment_position(seg, i) >= seg->fresh) {  // never taken: still zero
      if (pg->state != HAK_PAGE_UNUSED || pg->limit || pg->used || pg->carved || pg->commit != HAK_PAGE_FRESH ||
          pg->current)
        return false;
      continue;
    }
    if (pg->index != i || !hak_page_is_valid(seg, pg)) return false;
    unused += pg->state == HAK_PAGE_UNUSED;
  }
  for (const hak_page_t *pg = seg->unused; pg; pg = pg->next) {
    if (pg->state != HAK_PAGE_UNUSED || hak_segment_position(seg, pg->index) >= seg->fresh || ++in_stack > seg->page_count) return false;
  }
  return in_stack == unused && seg->pages_used == seg->fresh - first - unused;
}
