/* addrmap.h — which hakmem object owns an address (layer L2).
 *
 * The address space is cut into 4 MiB slots (HAK_SEGMENT_SIZE). Every slot
 * that holds hakmem memory has a one-byte entry; any other address reads 0,
 * so free() can tell in O(1), without reading memory it does not own, whether
 * a pointer is hakmem's. Entries:
 *   0                  not hakmem's
 *   HAK_ADDR_SEGMENT   a small/mid segment starts at this slot (pools issue)
 *   HAK_ADDR_LARGE+k   a large block; its header is k slots back (k < 250;
 *                      slots farther than that read HAK_ADDR_LARGE_FAR)
 * Entries live in 64 KiB leaves mapped on first use (each covers 256 GiB);
 * the root is a static array. Readers are lock-free; a slot is written only
 * by the thread that maps or unmaps the memory in it.
 */
#ifndef HAK_ADDRMAP_H
#define HAK_ADDRMAP_H

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

/* The entry for p (0 for addresses outside the map). */
HAK_INTERNAL uint8_t hak_addrmap_get(const void *p);

/* For an address inside a large block: the slot-aligned address of its
 * header, or NULL when p is not in a large block (or farther than the map
 * can say). */
HAK_INTERNAL void *hak_addrmap_large_base(const void *p);

#endif /* HAK_ADDRMAP_H */
