/* addrmap.h — which hakmem object owns an address (layer L2).
 *
 * The address space below 2^48 is cut into 4 MiB slots (HAK_SEGMENT_SIZE).
 * Every slot that holds hakmem memory has a 16-bit entry; any other address
 * reads 0, so free() can tell in O(1), without reading memory it does not
 * own, whether a pointer is hakmem's. Entries:
 *   0                  not hakmem's
 *   HAK_ADDR_LARGE+k   a large block; its header is k slots back (k < 253;
 *                      slots farther than that read HAK_ADDR_LARGE_FAR)
 *   a tag >= HAK_ADDR_TAG_MIN  a small/mid segment starts at this slot; the
 *                      tag is its heap's (heap.h), so that one load tells
 *                      the owner's free both "a segment" and "mine"
 * hak_addrmap_get folds every tag into HAK_ADDR_SEGMENT for callers that
 * only ask what kind of owner a pointer has.
 *
 * The map is one flat array of 2^26 entries (128 MiB of address space in
 * .bss, never written but for the few OS pages that cover mapped slots:
 * one 4 KiB page of entries per 8 GiB of address space in use), so a lookup
 * is one load and setting an entry never fails. Readers are lock-free; a
 * slot is written only by the thread that maps or unmaps the memory in it.
 */
#ifndef HAK_ADDRMAP_H
#define HAK_ADDRMAP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hakmem/config.h"

enum {
  HAK_ADDR_NONE = 0,
  HAK_ADDR_SEGMENT = 1, /* what hak_addrmap_get says for any segment tag (never stored) */
  HAK_ADDR_LARGE = 2,
  HAK_ADDR_LARGE_FAR = 255,
  HAK_ADDR_TAG_MIN = 256, /* segment tags: HAK_ADDR_TAG_MIN .. UINT16_MAX */
};

/* Mark [base, base+len) (base slot-aligned) as a large block whose header is
 * at base. True (the map cannot run out: the bool is for the callers'
 * all-or-nothing protocol). */
HAK_INTERNAL bool hak_addrmap_set_large(void *base, size_t len);
/* Mark the slot at base (slot-aligned) as a segment of the heap with tag
 * (>= HAK_ADDR_TAG_MIN). True. */
HAK_INTERNAL bool hak_addrmap_set_segment(void *base, uint16_t tag);
/* Clear the entries of [base, base+len). */
HAK_INTERNAL void hak_addrmap_clear(void *base, size_t len);

// The map itself, for the inline lookups below (addrmap.c owns it).
#define HAK_ADDRMAP_SLOT_BITS (48 - HAK_SEGMENT_SHIFT)
HAK_INTERNAL extern _Atomic uint16_t hak_addrmap[(size_t)1 << HAK_ADDRMAP_SLOT_BITS];

/* The raw entry for p: 0 for addresses outside the map, else the slot's. */
HAK_INLINE uint16_t hak_addrmap_entry(const void *p) {
  uintptr_t s = (uintptr_t)p >> HAK_SEGMENT_SHIFT;
  if (HAK_UNLIKELY(s >> HAK_ADDRMAP_SLOT_BITS)) return 0;
  return atomic_load_explicit(&hak_addrmap[s], memory_order_relaxed);
}

/* The kind of owner of p: HAK_ADDR_NONE, HAK_ADDR_SEGMENT, or a large entry. */
HAK_INLINE uint8_t hak_addrmap_get(const void *p) {
  uint16_t e = hak_addrmap_entry(p);
  return e >= HAK_ADDR_TAG_MIN ? (uint8_t)HAK_ADDR_SEGMENT : (uint8_t)e;
}

/* For an address inside a large block: the slot-aligned address of its
 * header, or NULL when p is not in a large block (or farther than the map
 * can say). */
HAK_INTERNAL void *hak_addrmap_large_base(const void *p);

#endif /* HAK_ADDRMAP_H */
