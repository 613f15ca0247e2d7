/* large_impl.h — what large.c, large_free.c, large_resize.c and
 * large_quarantine.c share (layer L3), private to the four: the header's
 * magic, the block's base and user pointers, the running total of bytes
 * unmapped (hak_large_trim's answer counts with it, not with the statistics,
 * so HAK_STATS=0 answers the same), the free side's entry points and the
 * per-site live byte counts.
 */
#ifndef HAK_LARGE_IMPL_H
#define HAK_LARGE_IMPL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hakmem/config.h"
#include "hakmem/large.h"
#include "hakmem/os.h"

#define POISON HAK_POISON
#define UNPOISON HAK_UNPOISON

#define HAK_LARGE_MAGIC 0x4c4b4148u  // "HAKL"

HAK_INLINE uint32_t magic_for(const hak_large_t *h) {
  return HAK_LARGE_MAGIC ^ (uint32_t)((uintptr_t)h >> HAK_SEGMENT_SHIFT);
}
HAK_INLINE char *base_of(hak_large_t *h) { return (char *)h; }
HAK_INLINE char *user_of(hak_large_t *h) { return (char *)h + h->user_off; }
HAK_INLINE hak_large_t *hak_large_from_node(hak_spare_node_t *n) {
  return (hak_large_t *)((char *)n - offsetof(hak_large_t, node));
}

/* The word right before a live block's pointer (HAK_LARGE_GUARDED blocks):
 * the secret mixed with the pointer, set by every allocation and checked by
 * free and realloc, so an
 * underflow of 1 to 8 bytes or more (a store or memcpy before the block)
 * aborts there instead of going unnoticed. The secret is set once, at the
 * first configuration, from hak_os_secret(). */
HAK_INTERNAL extern uint64_t hak_large_canary_secret;
HAK_INLINE uint64_t *canary_of(hak_large_t *h) { return (uint64_t *)(void *)(user_of(h) - sizeof(uint64_t)); }
HAK_INLINE uint64_t canary_for(hak_large_t *h) { return hak_large_canary_secret ^ (uint64_t)(uintptr_t)user_of(h); }
_Static_assert(sizeof(hak_large_t) + sizeof(uint64_t) <= HAK_LARGE_HDR, "the canary must fit after the header");
/* Aborts, naming the block, when its canary was overwritten. what: "free" or "realloc". */
HAK_INTERNAL void hak_large_check_canary(hak_large_t *h, const char *what);

/* Checked mode (HAKMEM_CHECK) in force: frees go through the quarantine. */
HAK_INTERNAL extern bool hak_large_checked_mode;

/* Bytes this engine has unmapped since start-up (relaxed; only grows). */
HAK_INTERNAL extern _Atomic size_t hak_large_unmapped_total;

/* The part of a block that advice may touch: everything after the header page. */
HAK_INLINE char *hak_large_advisable(hak_large_t *h, size_t *len) {
  size_t page = hak_os_page_size();
  *len = h->map_len > page ? h->map_len - page : 0;
  return base_of(h) + page;
}

/* Unmap a block (its map entries first: once munmap returns, another thread
 * may map there). */
HAK_INTERNAL void hak_large_unmap_block(hak_large_t *h);
/* Unmap [p, p + len) (page-aligned, its map entries cleared) and count it;
 * false when the kernel refused: the range is held then (large_free.c), a
 * block (block: p is a FREE block's header, its map entries set again) or
 * a piece of one, and unmapped by a later trim or tick. */
HAK_INTERNAL bool hak_large_os_unmap(char *p, size_t len, bool block);
/* Try the held ranges' unmaps again, each once. */
HAK_INTERNAL void hak_large_unmap_held(void);
/* A FREE block, to BigCache or the free policy (large_free.c). */
HAK_INTERNAL void hak_large_give_back(hak_large_t *h);
/* A FREE block that no ring is to keep: a HOT/WARM/COLD spare by its how,
 * or unmapped (large_free.c). */
HAK_INTERNAL void hak_large_release(hak_large_t *h, uint64_t now);
/* Age BigCache and the spare pool when a tick is due. */
HAK_INTERNAL void hak_large_tick(uint64_t now);
/* The clock in milliseconds: read (and the tick run) when `read`, else the
 * latest reading any thread took (never ahead of the clock). */
HAK_INTERNAL uint64_t hak_large_now(bool read);
/* Allocations between two clock readings on a thread whose allocations all
 * hit a cache (a miss to mmap reads it, and so does every free). */
#define HAK_LARGE_CLOCK_EVERY 16u
/* Carry out what the spare pool asked for (after its lock is gone). */
HAK_INTERNAL void hak_large_spare_work(const hak_spare_work_t *w, uint64_t now);
/* A LIVE block's mapping charged to (add) or taken from its site. */
HAK_INTERNAL void hak_large_charge_live(hak_site_id_t site, size_t bytes, bool add);
HAK_INTERNAL size_t hak_large_site_live(hak_site_id_t site);
/* The caches' walkers and the per-site counts' sanity (HAK_DEBUG >= 3). */
#if HAK_DEBUG >= 3
HAK_INTERNAL void hak_large_validate(void);
#else
HAK_INLINE void hak_large_validate(void) {}
#endif

/* Cut a block's mapping to `bytes` (< map_len, class cls; the tail is
 * unmapped); false when the kernel refuses (the block is unchanged). */
HAK_INTERNAL bool hak_large_cut(hak_large_t *h, size_t bytes, uint8_t cls);
/* Make a block taken for reuse, of map_len >= need (a class's mapping;
 * map_len need not be a class's), a class's block of at least need: the
 * part past the smallest class >= need that ends on a slot boundary becomes
 * a spare of its own (the largest class it holds, the rest unmapped) when
 * it is a slot or more, so its pages serve the next request instead of
 * being faulted in again; a smaller rest stays with the block. A cut the
 * kernel refuses loses nothing (the rule: large_resize.c); false when h
 * cannot serve then (it went back to the pool: hak_large_release). */
HAK_INTERNAL bool hak_large_fit(hak_large_t *h, size_t need, uint64_t now);
/* A FREE block about to become a resident spare, joined with the resident
 * spares right before and after it (its split-off neighbours, most
 * often): the joined block's header (the one before, when there is one),
 * its mapping any length, its class the largest that mapping holds (the
 * pool's index; hak_large_fit makes it a class's block again on reuse). */
HAK_INTERNAL hak_large_t *hak_large_coalesce(hak_large_t *h);
/* Grow h, a block taken for reuse that is smaller than need (a class's
 * mapping, class cls), to need: by joining the spares right after it, else
 * by hak_large_grow with the pages of up to 4 other resident spares moved
 * into what it gains. The block (*dirty: the bytes from its base that may
 * hold old contents), or NULL when the kernel refused (h went back to the
 * spare pool, or was unmapped). */
HAK_INTERNAL hak_large_t *hak_large_grow_reused(hak_large_t *h, size_t need, uint8_t cls, uint64_t now, size_t *dirty);
/* A fresh block (map_block's, before its header is filled in): the pages of
 * up to 4 resident spares moved into it from its base, so that they do not
 * fault in. The bytes from the base that may hold old contents now (0:
 * none came), or SIZE_MAX when the kernel refused a move (h is unmapped:
 * map another). */
HAK_INTERNAL size_t hak_large_fill(hak_large_t *h, uint64_t now);
/* Grow a block's mapping to `bytes` (class cls) in place or by moving its
 * pages (*moved); its new header, or NULL (the block is unchanged). */
HAK_INTERNAL hak_large_t *hak_large_grow(hak_large_t *h, size_t bytes, uint8_t cls, bool *moved);

/* Checked mode's quarantine (large_quarantine.c): hold a freed block
 * PROT_NONE; give them all back (trim, a refused mmap); its lock, for fork. */
HAK_INTERNAL void hak_large_quarantine(hak_large_t *h);
HAK_INTERNAL void hak_large_quarantine_drain(void);
HAK_INTERNAL void hak_large_quarantine_lock(void);
HAK_INTERNAL void hak_large_quarantine_unlock(void);

#endif /* HAK_LARGE_IMPL_H */
