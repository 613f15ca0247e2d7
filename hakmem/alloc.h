/* alloc.h — the front door's internal entry points (layer L5), for
 * override.c: each takes the call site explicitly so that the libc names can
 * pass their own caller's address.
 */
#ifndef HAK_ALLOC_H
#define HAK_ALLOC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hakmem/config.h"

#include "hakmem/addrmap.h"
#include "hakmem/checked.h"
#include "hakmem/heap.h"
#include "hakmem/init.h"
#include "hakmem/learn.h"
#include "hakmem/options.h"

HAK_INTERNAL void *hak_calloc_at(size_t n, size_t size, uintptr_t site);
HAK_INTERNAL void *hak_realloc_at(void *p, size_t size, uintptr_t site);
HAK_INTERNAL void *hak_aligned_at(size_t align, size_t size, uintptr_t site);

/* operator new's allocation off the fast path (new_delete.c): align 0 or
 * up to 16 for the default, else a power of two (another: NULL, EINVAL);
 * in checked mode the block remembers kind. NULL when out of memory (the
 * caller runs the new_handler). */
HAK_INTERNAL void *hak_new_at(size_t size, size_t align, uintptr_t site, hak_alloc_kind_t kind);
/* delete in checked mode: the kind and size (0: unsized) are verified
 * against the block's, then it is freed. */
HAK_INTERNAL void hak_delete_checked(void *p, hak_alloc_kind_t kind, size_t size);

// --- the fast paths, inlined into hak_* and into the libc names ---------------------

HAK_INTERNAL void *hak_alloc_slow(size_t size, uintptr_t site);
/* The pools above 1 KiB (below hak_fast_limit), else hak_alloc_slow. */
HAK_INTERNAL void *hak_alloc_above_small(size_t size, uintptr_t site);
/* A quiet learning site's pooled request from operator new (new_delete.c):
 * the block, or NULL when the thread's entry for site does not serve size or
 * the pools have no memory (then operator new's slow path decides, with its
 * new_handler loop). */
HAK_INTERNAL void *hak_new_quiet(size_t size, uintptr_t site);
/* The slow path's request of size from a plain site or a candidate wrapper
 * (callsite.h; id its own) that quiet record q sends to the pools: served,
 * and remembered in this thread's entry for site (alloc_quiet.c). Out of
 * line, a tail call: the slow path's other routes keep their registers. */
HAK_INTERNAL void *hak_quiet_pooled(size_t size, uintptr_t site, hak_site_id_t id, hak_learn_quiet_t q,
                                    bool candidate);
/* The same for a request the learning engine takes (hak_learn_alloc: site
 * id counting, or new): remembered while id's quiet record is 0, so the
 * thread's next requests of site (below HAK_POOL_MAX) go to hak_learn_alloc
 * without the slow path's site lookup. */
HAK_INTERNAL void *hak_quiet_learn(size_t size, uintptr_t site, hak_site_id_t id, bool candidate);
HAK_INTERNAL void hak_free_slow(void *p);
/* Test hook: the pool class that this thread's quiet-site entry for return
 * address site (alloc_quiet.c) would serve malloc(size) from without the
 * slow path (the mode's check aside); -1: the slow path; -3: the learning
 * engine, without the slow path (a counting site's entry). */
HAK_INTERNAL int hak_quiet_route_class(size_t size, uintptr_t site);
HAK_INTERNAL extern __thread uint32_t hak_sample_countdown __attribute__((tls_model("initial-exec")));


/* Up to 1 KiB inline (one compare: hak_fast_small); the rest of the pools'
 * sizes one call away. */
HAK_INLINE void *hak_front_alloc(size_t size, uintptr_t site) {
  if (HAK_LIKELY(size < hak_fast_small)) return hak_heap_alloc_small(size);
  return hak_alloc_above_small(size, site);
}

/* Everything but the owner's fast pool free goes to hak_free_slow: other
 * threads' pool blocks, careful frees, large blocks, NULL, foreign pointers. */
HAK_INLINE void hak_front_free(void *p) {
  if (HAK_LIKELY(hak_heap_free_fast(p))) return;
  hak_free_slow(p);
}

#endif /* HAK_ALLOC_H */
