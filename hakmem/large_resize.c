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

// x rounded up to a slot: the first slot boundary at or past x.
static size_t slot_up(size_t x) { return (x + HAK_SEGMENT_SIZE - 1) & ~(HAK_SEGMENT_SIZE - 1); }

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
  size_t keep_slots = slot_up(bytes);
  size_t old_len = h->map_len;
  if (keep_slots < old_len) hak_addrmap_clear(base_of(h) + keep_slots, old_len - keep_slots);
  UNPOISON(base_of(h) + bytes, old_len - bytes);
  // A block whose pages came from several mappings cannot be resized by
  // mremap: its tail is unmapped instead.
  if (!hak_os_grow_in_place(h, old_len, bytes) && !hak_os_unmap(base_of(h) + bytes, old_len - bytes)) {
    HAK_CHECK(hak_addrmap_set_large(h, old_len), "large: cannot restore the address map");
    return false;
  }
  atomic_fetch_add_explicit(&hak_large_unmapped_total, old_len - bytes, memory_order_relaxed);
  HAK_STAT_SUB(os_bytes_mapped, old_len - bytes);
  h->map_len = bytes;
  h->cls = cls;
  return true;
}

// --- reuse across sizes: splitting a block and joining its neighbours ---------------
// A block taken for a smaller request keeps what the request needs, up to a
// slot boundary; the rest, a slot or more, becomes a spare of its own right
// after it (its header at that boundary, in the same mapping). A later
// request larger than a block joins the spares right after it back on.
// Both only move bookkeeping: the pages stay where they are, resident, and
// the mapping is one to the kernel (a mremap across the seam works).

// The largest class whose mapping fits in `bytes` (at least the smallest).
static uint8_t floor_class(size_t bytes) {
  uint8_t c = hak_large_class(bytes);
  if (c == HAK_LARGE_NO_CLASS) return HAK_LARGE_CLASSES - 1;
  return c && hak_large_class_bytes(c) > bytes ? (uint8_t)(c - 1) : c;
}

// h (a FREE block) cut to `bytes`, of class cls (hak_large_cut gives the
// rest back); false when the kernel refused (h is as it was).
static bool cut_to(hak_large_t *h, size_t bytes, uint8_t cls) {
  size_t len = h->map_len;
  if (bytes == len) h->cls = cls;
  else if (!hak_large_cut(h, bytes, cls)) {
    POISON(base_of(h) + bytes, len - bytes);  // freed bytes still (the cut unpoisoned them)
    return false;
  }
  return true;
}

// A cut the kernel refuses (vm.max_map_count) keeps the bytes with a block:
// a split's rest past its class stays with the split-off spare, whose
// mapping need not be a class's (as a joined spare's, hak_large_coalesce);
// a block with no such rest serves whole when its mapping is a class's,
// else it is refused (a live block's mapping is its class's).
bool hak_large_fit(hak_large_t *h, size_t need, uint64_t now) {
  size_t len = h->map_len;
  HAK_ASSERT_INTERNAL(len >= need);
  uint8_t c = hak_large_class(need);
  while (c + 1u < HAK_LARGE_CLASSES && hak_large_class_bytes(c) % HAK_SEGMENT_SIZE) c++;
  size_t at = hak_large_class_bytes(c);
  size_t rest = at < len ? hak_large_class_bytes(floor_class(len - at)) : 0;
  // The rest becomes a spare (the pool's caps and ageing apply to it as to
  // any freed block) when it can hold a slot; else it is given back when it
  // is a slot or more, as a cut always did.
  if (at + HAK_SEGMENT_SIZE > len) {
    if (len - need >= HAK_SEGMENT_SIZE && cut_to(h, need, hak_large_class(need))) return true;
    if (h->cls != HAK_LARGE_NO_CLASS && hak_large_class_bytes(h->cls) == len) return true;
    if (cut_to(h, hak_large_class_bytes(floor_class(len)), floor_class(len))) return true;
    hak_large_release(h, now);
    return false;
  }
  uint8_t tc = floor_class(len - at);
  if (!cut_to(h, at + rest, c)) rest = len - at;
  h->map_len = at;
  h->cls = c;
  hak_large_t *t = (hak_large_t *)(void *)(base_of(h) + at);
  UNPOISON(t, HAK_LARGE_HDR);
  *t = (hak_large_t){.state = HAK_LARGE_FREE, .cls = tc, .site = h->site, .user_off = HAK_LARGE_HDR,
                     .flags = h->flags & HAK_LARGE_NOCACHE, .map_len = rest, .how = h->how};
  t->magic = magic_for(t);
  HAK_CHECK(hak_addrmap_set_large(t, rest), "large: cannot mark a split block");
  hak_large_release(t, now);
  return true;
}

// Join to h the resident spares right after it while it is below need.
static size_t join_after(hak_large_t *h, size_t need) {
  size_t len = h->map_len;
  while (len < need && len % HAK_SEGMENT_SIZE == 0) {
    hak_large_t *t = (hak_large_t *)(void *)(base_of(h) + len);
    if (!hak_spare_take_node(&t->node, 0)) break;
    HAK_CHECK(t->magic == magic_for(t) && t->state == HAK_LARGE_FREE, "large: spare block header is corrupt");
    len += t->map_len;
    HAK_CHECK(hak_addrmap_set_large(h, len), "large: cannot mark a joined block");
    h->map_len = len;
  }
  return len;
}

hak_large_t *hak_large_coalesce(hak_large_t *h) {
  hak_spare_node_t *n = hak_spare_take_before(&h->node);
  if (n) {
    hak_large_t *p = hak_large_from_node(n);
    HAK_CHECK(p->magic == magic_for(p) && p->state == HAK_LARGE_FREE, "large: spare block header is corrupt");
    p->map_len += h->map_len;
    HAK_CHECK(hak_addrmap_set_large(p, p->map_len), "large: cannot mark a joined block");
    h = p;
  }
  join_after(h, HAK_MAX_REQUEST);
  h->cls = floor_class(h->map_len);
  return h;
}

// --- growing a reused block with other spares' pages -------------------------------
// A block grown for a larger request faults in what it gains, unless the
// pages of other resident spares move in there (mremap: page tables move,
// bytes do not). The block then spans several of the kernel's mappings: a
// later mremap that resizes it fails, and the callers fall back (a copy, a
// fresh block; a cut unmaps its tail instead).

#define GATHER_MAX 4u                   /* donors per growth: a system call each */
#define GATHER_MIN ((size_t)1 << 20)    /* smaller donors are not worth one */

// Move the last `bytes` of spare d (all of it, or a part that leaves it a
// slot or more) to dest, which is mapped; what stays of d goes back to the
// pool as a class's block. false: the kernel refused (d is back in the
// pool, unchanged; dest may have become a hole).
static bool move_in(hak_large_t *d, size_t bytes, char *dest, uint64_t now) {
  size_t len = d->map_len, keep = len - bytes;
  size_t from = slot_up(keep);
  if (from < len) hak_addrmap_clear(base_of(d) + from, len - from);
  UNPOISON(base_of(d) + keep, bytes);
  if (!hak_os_move(base_of(d) + keep, bytes, dest, bytes)) {
    HAK_CHECK(hak_addrmap_set_large(d, len), "large: cannot restore the address map");
    hak_large_release(d, now);
    return false;
  }
  HAK_STAT_SUB(os_bytes_mapped, bytes);  // counted again by the block it joins
  if (!keep) return true;
  uint8_t c = floor_class(keep);
  d->map_len = keep;
  if (!cut_to(d, hak_large_class_bytes(c), c)) d->cls = c;  // refused: a spare of any length (hak_large_fit)
  hak_large_release(d, now);
  return true;
}

// g's whole mapping (len bytes) given back after a refused move into
// [hole, hole + hole_len): hak_os_move gave that range back itself, and
// someone else may have mapped there since, so only the pieces around it
// are unmapped (os.h), and only their slots' map entries cleared (gather
// cleared those of the slots that start in the hole before the move). The
// header page may be in the hole: not read. A refused unmap holds its piece.
static void drop_holed(hak_large_t *g, size_t len, size_t hole, size_t hole_len) {
  char *b = base_of(g);
  size_t after = hole + hole_len, rest = slot_up(after);
  if (hole) hak_addrmap_clear(b, hole);
  if (rest < len) hak_addrmap_clear(b + rest, len - rest);
  if (hole) hak_large_os_unmap(b, hole, false);
  if (after < len) hak_large_os_unmap(b + after, len - after, false);
  atomic_fetch_add_explicit(&hak_large_unmapped_total, hole_len, memory_order_relaxed);
  HAK_STAT_SUB(os_bytes_mapped, hole_len);
}

// Move donors' pages into [*off, need) of g (mapped, not the program's);
// *off: the end of what may hold old contents. false when the kernel
// refused (g is unmapped then, all of its mapping but the hole the refused
// move left).
static bool gather(hak_large_t *g, size_t *off, size_t need, uint64_t now) {
  hak_spare_node_t *n;
  size_t len = g->map_len;  // read while the header page is surely g's
  unsigned i;
  // Pieces move between huge-page boundaries only: a huge page moved
  // anywhere else is split, and its range faults 4 KiB at a time later.
  for (i = 0; i < GATHER_MAX && need - *off >= GATHER_MIN && *off % HAK_HUGE_PAGE == 0; i++) {
    if (!(n = hak_spare_get_donor(need - *off, GATHER_MIN, HAK_SEGMENT_SIZE))) break;
    hak_large_t *d = hak_large_from_node(n);
    HAK_CHECK(d->magic == magic_for(d) && d->state == HAK_LARGE_FREE, "large: spare block header is corrupt");
    size_t piece = d->map_len < need - *off ? d->map_len : need - *off;
    if (piece < d->map_len) piece -= (d->map_len - piece) % HAK_HUGE_PAGE;  // the part left starts on one
    if (piece < GATHER_MIN) {
      hak_large_release(d, now);
      break;
    }
    // A refused move may give its destination's slots to another thread:
    // their entries go first (g is marked whole again at the end).
    size_t from = slot_up(*off), to = slot_up(*off + piece) < len ? slot_up(*off + piece) : len;
    if (from < to) hak_addrmap_clear(base_of(g) + from, to - from);
    if (!move_in(d, piece, base_of(g) + *off, now)) {
      drop_holed(g, len, *off, piece);
      return false;
    }
    *off += piece;
  }
  if (i) HAK_CHECK(hak_addrmap_set_large(g, len), "large: cannot mark a gathered block");
  return true;
}

hak_large_t *hak_large_grow_reused(hak_large_t *h, size_t need, uint8_t cls, uint64_t now, size_t *dirty) {
  // Joined, the spares right after it may reach need (fitted then); short,
  // the grow that follows sets the class (or unmaps it all).
  if (join_after(h, need) >= need) {
    if (!hak_large_fit(h, need, now)) return NULL;
    *dirty = h->map_len;
    return h;
  }
  *dirty = h->map_len;
  bool moved;
  hak_large_t *g = hak_large_grow(h, need, cls, &moved);
  if (!g) {
    // The kernel refused (or h spans several mappings): h stays resident,
    // a donor for the fresh block that serves instead.
    hak_large_release(h, now);
    return NULL;
  }
  if (need < HAK_SEGMENT_SIZE) return g;  // the donors' walk is for the few blocks of a slot or more
  return gather(g, dirty, need, now) ? g : NULL;
}

size_t hak_large_fill(hak_large_t *h, uint64_t now) {
  size_t len = h->map_len, end = 0;
  if (!gather(h, &end, len, now)) return SIZE_MAX;
  h->map_len = len;  // the header page may have come with a donor's pages
  return end;
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
