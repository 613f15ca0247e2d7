/* addrmap.c — the address → owner map (layer L2). See addrmap.h.
 *
 * One flat array indexed by slot number: 48-bit user addresses (x86-64,
 * AArch64) give 2^26 slots of 2 bytes. It lives in .bss, so the kernel maps
 * its pages on first write only: a process using a few GiB of address space
 * around one spot touches one or two 4 KiB pages of it. Addresses above 2^48
 * are never hakmem's (os.c never maps there) and read 0.
 *
 * Entries are stored with release and read with relaxed loads: a reader that
 * finds an entry for a pointer got the pointer after the entry was stored,
 * through a hand-over that orders the two.
 */
#include "hakmem/addrmap.h"

#include <stdatomic.h>

#include "hakmem/check.h"

#define SLOT_BITS HAK_ADDRMAP_SLOT_BITS  // 26

_Atomic uint16_t hak_addrmap[(size_t)1 << SLOT_BITS];

static inline uintptr_t slot_of(const void *p) { return (uintptr_t)p >> HAK_SEGMENT_SHIFT; }

static uintptr_t slots_in(size_t len) { return (uintptr_t)((len + HAK_SEGMENT_SIZE - 1) >> HAK_SEGMENT_SHIFT); }

static void set(uintptr_t s, uint16_t v) {
  HAK_ASSERT(!(s >> SLOT_BITS));
  atomic_store_explicit(&hak_addrmap[s], v, memory_order_release);
}

bool hak_addrmap_set_large(void *base, size_t len) {
  HAK_ASSERT(((uintptr_t)base & (HAK_SEGMENT_SIZE - 1)) == 0);
  uintptr_t first = slot_of(base), count = slots_in(len);
  for (uintptr_t i = 0; i < count; i++)
    set(first + i, (uint16_t)(i < HAK_ADDR_LARGE_FAR - HAK_ADDR_LARGE ? HAK_ADDR_LARGE + i : HAK_ADDR_LARGE_FAR));
  return true;
}

bool hak_addrmap_set_segment(void *base, uint16_t tag) {
  HAK_ASSERT(((uintptr_t)base & (HAK_SEGMENT_SIZE - 1)) == 0 && tag >= HAK_ADDR_TAG_MIN);
  set(slot_of(base), tag);
  return true;
}

void hak_addrmap_clear(void *base, size_t len) {
  uintptr_t first = slot_of(base), count = slots_in(len);
  for (uintptr_t s = first; s < first + count && !(s >> SLOT_BITS); s++)
    atomic_store_explicit(&hak_addrmap[s], 0, memory_order_release);
}

void *hak_addrmap_large_base(const void *p) {
  uint8_t e = hak_addrmap_get(p);
  if (e < HAK_ADDR_LARGE || e == HAK_ADDR_LARGE_FAR) return NULL;
  uintptr_t slot = slot_of(p) - (uintptr_t)(e - HAK_ADDR_LARGE);
  return (void *)(slot << HAK_SEGMENT_SHIFT);
}
