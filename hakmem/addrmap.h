/* addrmap.h — which hakmem object owns an address (layer L2).
 *
 * The address space is cut into 4 MiB slots (HAK_SEGMENT_SIZE). Every slot
 * that holds hakmem memory has a one-byte entry; any other address reads 0,
 * so free() can tell in O(1), without reading memory it does not own, whether
 * a pointer is hakmem's. Entries:
 *   0                  not hakmem's
 *   HAK_ADDR_SEGMENT   a small/mid segment starts at this slot
 *   HAK_ADDR_LARGE+k   a large block; its header is k slots back (k < 250;
 *                      slots farther than that read HAK_ADDR_LARGE_FAR)
 * Entries live in 64 KiB leaves mapped on first use (each covers 256 GiB);
 * the root is a static array whose empty entries point at a shared all-zero
 * leaf (static, never written, so it costs no memory). Readers are lock-free; a slot is written only
 * by the thread that maps or unmaps the memory in it.
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
  HAK_ADDR_SEGMENT = 1,
  HAK_ADDR_LARGE = 2,
  HAK_ADDR_LARGE_FAR = 255,
};

/* Mark [base, base+len) (base slot-aligned) as a large block whose header is
 * at base. False (ENOMEM) when a leaf could not be mapped; nothing is marked. */
HAK_INTERNAL bool hak_addrmap_set_large(void *base, size_t len);
HAK_INTERNAL bool hak_addrmap_set_segment(void *base);
/* Clear the entries of [base, base+len). */
HAK_INTERNAL void hak_addrmap_clear(void *base, size_t len);

// The map itself, for the inline lookup below (addrmap.c owns it).
#define HAK_ADDRMAP_LEAF_BITS 16
#define HAK_ADDRMAP_SLOT_BITS (48 - HAK_SEGMENT_SHIFT)
typedef struct hak_addrmap_leaf {
  _Atomic uint8_t e[(size_t)1 << HAK_ADDRMAP_LEAF_BITS];
} hak_addrmap_leaf_t;
HAK_INTERNAL extern _Atomic(hak_addrmap_leaf_t *) hak_addrmap_root[(size_t)1 << (HAK_ADDRMAP_SLOT_BITS - HAK_ADDRMAP_LEAF_BITS)];

/* The entry for p (0 for addresses outside the map). Two dependent loads:
 * root entries without a leaf point at an all-zero leaf, never written. */
HAK_INLINE uint8_t hak_addrmap_get(const void *p) {
  uintptr_t s = (uintptr_t)p >> HAK_SEGMENT_SHIFT;
  if (HAK_UNLIKELY(s >> HAK_ADDRMAP_SLOT_BITS)) return 0;
  hak_addrmap_leaf_t *leaf = atomic_load_explicit(&hak_addrmap_root[s >> HAK_ADDRMAP_LEAF_BITS], memory_order_acquire);
  return atomic_load_explicit(&leaf->e[s & (((uintptr_t)1 << HAK_ADDRMAP_LEAF_BITS) - 1)], memory_order_relaxed);
}

/* For an address inside a large block: the slot-aligned address of its
 * header, or NULL when p is not in a large block (or farther than the map
 * can say). */
HAK_INTERNAL void *hak_addrmap_large_base(const void *p);

#endif /* HAK_ADDRMAP_H */
