/* large_resize.c — realloc of a large block (layer L3): in place (the tail
 * given back when it shrinks to half its mapping or less, the mapping grown
 * where the address space after it is free), by moving its pages
 * (mremap), or as a last resort a new block and a copy. Called by alloc.c
 * through hak_large_realloc (large.h); shares large_impl.h with large.c.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "hakmem/addrmap.h"
#include "hakmem/check.h"
#include "hakmem/large.h"
#include "hakmem/large_impl.h"
#include "hakmem/libc.h"
#include "hakmem/log.h"
#include "hakmem/os.h"
#include "hakmem/stats.h"

size_t hak_large_usable(const hak_large_t *h) { return h->map_len - h->user_off; }

// Resize the mapping of h to `bytes` without moving it; false if impossible.
static bool grow_in_place(hak_large_t *h, size_t bytes) {
  if (!hak_os_grow_in_place(h, h->map_len, bytes)) return false;
  if (!hak_addrmap_set_large(h, bytes)) {
    hak_os_grow_in_place(h, bytes, h->map_len);  // shrink back; cannot fail
    return false;
  }
  HAK_STAT_ADD(os_bytes_mapped, bytes - h->map_len);
  h->map_len = bytes;
  return true;
}

// Cut the mapping of h to `bytes` (< map_len, page-aligned), class cls. The
// map's entries for the tail go first (another thread may map there once it
// is free); if the kernel refuses, the block stays as it was.
bool hak_large_cut(hak_large_t *h, size_t bytes, uint8_t cls) {
  HAK_ASSERT_INTERNAL(bytes < h->map_len && bytes >= HAK_LARGE_HDR);
  size_t keep_slots = (bytes + HAK_SEGMENT_SIZE - 1) & ~(HAK_SEGMENT_SIZE - 1);
  size_t old_len = h->map_len;
  if (keep_slots < old_len) hak_addrmap_clear(base_of(h) + keep_slots, old_len - keep_slots);
  UNPOISON(base_of(h) + bytes, old_len - bytes);
  if (!hak_os_grow_in_place(h, old_len, bytes)) {
    HAK_CHECK(hak_addrmap_set_large(h, old_len), "large: cannot restore the address map");
    return false;
  }
  atomic_fetch_add_explicit(&hak_large_unmapped_total, old_len - bytes, memory_order_relaxed);
  HAK_STAT_SUB(os_bytes_mapped, old_len - bytes);
  h->map_len = bytes;
  h->cls = cls;
  return true;
}

// A block that now needs at most half its mapping gives the tail back: the
// mapping is cut to the class (or pages) the new size needs.
static void shrink(hak_large_t *h, size_t total) {
  if (total > h->map_len / 2 || h->map_len <= HAK_LARGE_MIN_CLASS_BYTES) return;
  uint8_t cls = hak_large_class(total);
  size_t bytes;
  if (cls != HAK_LARGE_NO_CLASS) bytes = hak_large_class_bytes(cls);
  else if (!hak_align_up(total, hak_os_page_size(), &bytes)) return;
  if (bytes >= h->map_len) return;
  hak_large_cut(h, bytes, cls);
}

// Move the pages of h to a fresh aligned range of `bytes`; NULL if impossible.
static hak_large_t *move_pages(hak_large_t *h, size_t bytes) {
  // realloc keeps no alignment beyond malloc's: a slot boundary will do
  // (user_off is at most a slot, so base + user_off keeps its alignment up to there).
  void *dest = hak_os_map(bytes, HAK_SEGMENT_SIZE);
  if (!dest) return NULL;
  // Make sure the map's leaves exist (the only way setting can fail), then
  // leave dest unmarked until the move has worked: if it fails, the kernel may
  // already have unmapped dest and another thread may be marking a block there.
  if (!hak_addrmap_set_large(dest, bytes)) {
    hak_os_unmap(dest, bytes);
    return NULL;
  }
  hak_addrmap_clear(dest, bytes);
  size_t old_len = h->map_len;
  hak_addrmap_clear(h, old_len);  // before the old range can be reused by anyone
  // The gap before an aligned block's pointer may still be poisoned from an
  // earlier free; mremap leaves that shadow behind for the range's next owner.
  UNPOISON(h, old_len);
  if (!hak_os_move(h, old_len, dest, bytes)) {  // dest is given back by hak_os_move
    HAK_CHECK(hak_addrmap_set_large(h, old_len), "large: cannot restore the address map");
    return NULL;
  }
  HAK_CHECK(hak_addrmap_set_large(dest, bytes), "large: cannot mark a moved block");
  hak_large_t *n = dest;
  HAK_STAT_ADD(os_bytes_mapped, bytes - old_len);
  n->magic = magic_for(n);
  n->map_len = bytes;
  if (n->flags & HAK_LARGE_GUARDED) *canary_of(n) = canary_for(n);  // it names the pointer, which moved
  return n;
}

hak_large_t *hak_large_grow(hak_large_t *h, size_t bytes, uint8_t cls, bool *moved) {
  hak_large_t *n = h;
  *moved = false;
  if (!grow_in_place(h, bytes)) {
    if (!(n = move_pages(h, bytes))) return NULL;
    *moved = true;
  }
  n->cls = cls;
  return n;
}

void *hak_large_realloc(hak_large_t *h, size_t size) {
  // A FREE block may sit in a cache, about to be handed to someone else.
  if (HAK_UNLIKELY(h->state != HAK_LARGE_LIVE)) {
    hak_log("realloc of freed large block %p", (void *)user_of(h));
    hak_fatal("realloc of a freed block (double free)", __FILE__, __LINE__);
  }
  hak_large_check_canary(h, "realloc");
  size_t off = h->user_off;
  if (size > HAK_MAX_REQUEST - off) {
    errno = ENOMEM;
    return NULL;
  }
  size_t total = off + size;
  if (total <= h->map_len) {
    // Only a request that shrinks gives memory back: a growing one that fits
    // (a spare of a larger class serves it) must not cut what it grows into.
    size_t before = h->map_len;
    if (size < h->req) shrink(h, total);
    hak_large_charge_live(h->site, before - h->map_len, false);
    HAK_STAT_INC(realloc_in_place);
    HAK_STAT_ADD(large_bytes_live, size);
    HAK_STAT_SUB(large_bytes_live, h->req);
    h->req = size;
    return user_of(h);
  }
  uint8_t cls = hak_large_class(total);
  size_t bytes;
  if (cls != HAK_LARGE_NO_CLASS) bytes = hak_large_class_bytes(cls);
  else if (!hak_align_up(total, hak_os_page_size(), &bytes)) {
    errno = ENOMEM;
    return NULL;
  }
  size_t before = h->map_len;
  bool moved;
  hak_large_t *n = hak_large_grow(h, bytes, cls, &moved);
  if (n) {
    if (moved) HAK_STAT_INC(realloc_remapped);
    else HAK_STAT_INC(realloc_in_place);
    hak_large_charge_live(n->site, n->map_len - before, true);
    HAK_STAT_ADD(large_bytes_live, size);
    HAK_STAT_SUB(large_bytes_live, n->req);
    n->req = size;
    return user_of(n);
  }
  // Last resort: a new block and a copy.
  // The alignment asked is the offset's lowest set bit (large.c's random
  // offset moves in multiples of it).
  size_t align = off & (0 - off);
  void *p = hak_large_alloc(size, align > HAK_LARGE_HDR ? align : 0, h->site, false);
  if (!p) return NULL;
  memcpy(p, user_of(h), h->req);
  hak_large_free(h);
  HAK_STAT_INC(realloc_copied);
  return p;
}
