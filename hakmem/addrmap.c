/* addrmap.c — the address → owner map (layer L2). See addrmap.h.
 *
 * Two levels: ROOT_BITS of the slot number pick a leaf, LEAF_BITS an entry.
 * 48-bit user addresses (x86-64, AArch64) give 2^26 slots: at most 1024
 * leaves of 64 KiB, a handful in practice. Addresses above 2^48 are never
 * hakmem's (os.c never maps there) and read 0.
 */
#include "hakmem/addrmap.h"

#include <stdatomic.h>

#include "hakmem/check.h"
#include "hakmem/os.h"

#define SLOT_BITS HAK_ADDRMAP_SLOT_BITS  // 26
#define LEAF_BITS HAK_ADDRMAP_LEAF_BITS  // 16
#define ROOT_BITS (SLOT_BITS - LEAF_BITS)  // 10
#define LEAF_SIZE ((size_t)1 << LEAF_BITS)

typedef hak_addrmap_leaf_t leaf_t;

// Read by lookups of addresses in no leaf; never written (it stays in the
// zero page). A range initialiser (GNU C) points every root entry at it.
static leaf_t zero_leaf;
_Atomic(leaf_t *) hak_addrmap_root[(size_t)1 << ROOT_BITS] = {[0 ...((1 << ROOT_BITS) - 1)] = &zero_leaf};

static inline uintptr_t slot_of(const void *p) { return (uintptr_t)p >> HAK_SEGMENT_SHIFT; }

static leaf_t *leaf_for(uintptr_t slot, bool create) {
  if (slot >> SLOT_BITS) return NULL;
  _Atomic(leaf_t *) *r = &hak_addrmap_root[slot >> LEAF_BITS];
  leaf_t *leaf = atomic_load_explicit(r, memory_order_acquire);
  if (leaf != &zero_leaf) return leaf;
  if (!create) return NULL;
  leaf_t *fresh = hak_os_map(sizeof(leaf_t), 0);
  if (!fresh) return NULL;
  leaf_t *expected = &zero_leaf;
  if (atomic_compare_exchange_strong_explicit(r, &expected, fresh, memory_order_acq_rel, memory_order_acquire))
    return fresh;
  hak_os_unmap(fresh, sizeof(leaf_t));  // another thread installed one first
  return expected;
}

static bool set_range(uintptr_t first, uintptr_t count, bool large) {
  // Make sure every leaf exists before writing anything: all or nothing.
  for (uintptr_t s = first; s < first + count; s = (s | (LEAF_SIZE - 1)) + 1)
    if (!leaf_for(s, true)) return false;
  for (uintptr_t i = 0; i < count; i++) {
    uintptr_t s = first + i;
    uint8_t v = large ? (uint8_t)(i < HAK_ADDR_LARGE_FAR - HAK_ADDR_LARGE ? HAK_ADDR_LARGE + i : HAK_ADDR_LARGE_FAR)
                      : (uint8_t)HAK_ADDR_SEGMENT;
    atomic_store_explicit(&leaf_for(s, false)->e[s & (LEAF_SIZE - 1)], v, memory_order_release);
  }
  return true;
}

static uintptr_t slots_in(size_t len) { return (uintptr_t)((len + HAK_SEGMENT_SIZE - 1) >> HAK_SEGMENT_SHIFT); }

bool hak_addrmap_set_large(void *base, size_t len) {
  HAK_ASSERT(((uintptr_t)base & (HAK_SEGMENT_SIZE - 1)) == 0);
  return set_range(slot_of(base), slots_in(len), true);
}

bool hak_addrmap_set_segment(void *base) {
  HAK_ASSERT(((uintptr_t)base & (HAK_SEGMENT_SIZE - 1)) == 0);
  return set_range(slot_of(base), 1, false);
}

void hak_addrmap_clear(void *base, size_t len) {
  uintptr_t first = slot_of(base), count = slots_in(len);
  for (uintptr_t s = first; s < first + count; s++) {
    leaf_t *leaf = leaf_for(s, false);
    if (leaf) atomic_store_explicit(&leaf->e[s & (LEAF_SIZE - 1)], 0, memory_order_release);
  }
}

void *hak_addrmap_large_base(const void *p) {
  uint8_t e = hak_addrmap_get(p);
  if (e < HAK_ADDR_LARGE || e == HAK_ADDR_LARGE_FAR) return NULL;
  uintptr_t slot = slot_of(p) - (uintptr_t)(e - HAK_ADDR_LARGE);
  return (void *)(slot << HAK_SEGMENT_SHIFT);
}
