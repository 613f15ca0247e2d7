/* alloc.c — the front door (layer L5): classifies every request by size and
 * sends it to the pools (heap.h) or the large-block engine (large.h); owns
 * the public hak_* allocation calls. Called by programs directly and by
 * override.c.
 *
 * Ownership: free/realloc/usable_size ask addrmap.c who owns a pointer: a
 * pool segment, a large block, or nobody (a pointer hakmem never handed
 * out: never followed; free and realloc abort as glibc does, or with
 * HAKMEM_FOREIGN_FREE=ignore count it and go on; usable size is 0). Every
 * free preserves errno.
 *
 * Sites: every request that looks its site up (large, sampled, learning,
 * checked) asks callsite.c, giving it the return address of the libc name
 * and the frame of the entry point here (its slot is found above that).
 * The fast paths take no lock and make no call but the pools' inline ones;
 * a quiet learning site's pooled requests take them too, through a
 * per-thread entry for their return address (alloc_quiet.c, which also
 * holds hak_alloc_above_small).
 */
#include "hakmem/alloc.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "hakmem/addrmap.h"
#include "hakmem/callsite.h"
#include "hakmem/checked.h"
#include "hakmem/heap.h"
#include "hakmem/include/hakmem.h"
#include "hakmem/large.h"
#include "hakmem/learn.h"
#include "hakmem/libc.h"
#include "hakmem/log.h"
#include "hakmem/options.h"
#include "hakmem/profile.h"
#include "hakmem/route.h"
#include "hakmem/site.h"
#include "hakmem/stats.h"

HAK_INLINE void ensure_init(void) {
  if (HAK_UNLIKELY(atomic_load_explicit(&hak_init_state, memory_order_acquire) != HAK_INIT_DONE)) hak_init();
}

// Pools serve sizes below the threshold (the option, at most HAK_POOL_MAX).
HAK_INLINE bool route_large(size_t size, size_t align) {
  return hak_route_large(size, align, hak_opt(HAK_OPT_LARGE_THRESHOLD));
}

// Record 1 in SITE_SAMPLE small allocations, weighted, in the site table.
__thread uint32_t hak_sample_countdown __attribute__((tls_model("initial-exec")));

HAK_INLINE void sample_small(size_t size, uintptr_t site, const void *frame) {
  uint64_t rate = hak_opt(HAK_OPT_SITE_SAMPLE);
  if (HAK_LIKELY(!rate) || HAK_LIKELY(hak_sample_countdown-- > 1)) return;
  hak_sample_countdown = (uint32_t)rate;
  hak_site_record_alloc(hak_callsite_id(site, frame), size, rate);
  HAK_STAT_ADD(small_allocs, rate);
}

// Callers have run start-up and checked size <= HAK_MAX_REQUEST.
static HAK_NOINLINE void *alloc_large(size_t size, size_t align, uintptr_t site, const void *frame, bool zero) {
  return hak_large_alloc(size, align, hak_callsite_id(site, frame), zero);
}

// Checked mode: pages of its own while the guard budget lasts, else pools
// with canary and trailer, or the large engine with canary bytes after the
// request.
static HAK_NOINLINE void *checked_alloc(size_t size, size_t align, uintptr_t site, const void *frame, bool zero) {
  size_t need = hak_checked_pool_need(size) + (align > HAK_MIN_ALIGN ? align : 0);
  if (size <= HAK_MAX_REQUEST - 4096 && !route_large(need, 0)) {
    void *g = hak_checked_guard_alloc(size, align, zero);
    return g ? g : hak_checked_pool_alloc(size, align, zero);
  }
  char *p = alloc_large(size, align > HAK_MIN_ALIGN ? align : 0, site, frame, zero);
  if (p) hak_checked_large_mark(p, size, hak_large_usable(hak_large_lookup(p)));
  return p;
}

// Every request off the fast path: checked mode, the sites the learning
// engine decides, the large engine, and small requests while sampling is on
// (or before start-up). align: 0, or a power of two above 16. frame: the
// entry point's frame (__builtin_frame_address(0) of the public function
// here: the walk for wrappers starts there).
HAK_INLINE void *alloc_routed(size_t size, size_t align, uintptr_t site, const void *frame, bool zero) {
  ensure_init();  // the first request of the process decides the mode for all
  if (size > HAK_MAX_REQUEST) {
    errno = ENOMEM;
    return NULL;
  }
  if (HAK_UNLIKELY(hak_checked)) return checked_alloc(size, align, site, frame, zero);
  if (hak_learn_on && size >= HAK_LEARN_MIN && align <= HAK_LARGE_MAX_ALIGN) {
    bool plain;
    hak_site_id_t id = hak_callsite_id_plain(site, frame, &plain);
    hak_learn_quiet_t q = hak_learn_quiet_load(id);
    // A candidate wrapper's id is its own address's while its entry says
    // candidate (a ctx id's entry is never classified); it is kept once
    // past the lookups that walk at every request (callsite.h), which find
    // a second caller early.
    hak_site_t *e = hak_site_entry(id);
    bool kept = !align && !zero &&
                (plain || (atomic_load_explicit(&e->wrap_kind, memory_order_relaxed) == HAK_CALLSITE_CANDIDATE &&
                           atomic_load_explicit(&e->wrap_walks, memory_order_relaxed) >= HAK_CALLSITE_CANDIDATE_WALKS));
    // FROZEN (between watched windows) and OFF: the site's record and nothing else.
    if (HAK_LIKELY(hak_learn_quiet_fits(q, size))) {
      hak_policy_t pol = hak_learn_quiet_policy(q);
      if (kept && !hak_route_large(size, 0, pol.large_threshold))
        return hak_quiet_pooled(size, site, id, q, !plain);  // hak_learn_route's pools, remembered
      return hak_learn_route(size, align, id, zero, pol, NULL);
    }
    if (kept) return hak_quiet_learn(size, site, id, !plain);  // remembered while the site counts
    return hak_learn_alloc(size, align, id, zero);
  }
  if (route_large(size, align))
    return alloc_large(size, align, site, frame, zero);
  sample_small(size, site, frame);
  void *p = align ? hak_heap_aligned(align, size) : hak_heap_alloc(size);
  if (p && zero) memset(p, 0, size);
  return p;
}

// The heap profile's view of every request (profile.h); out of line so that
// without a profile the routes above keep their tail calls.
static HAK_NOINLINE void *alloc_profiled(size_t size, size_t align, uintptr_t site, const void *frame, bool zero) {
  return hak_profile_note(alloc_routed(size, align, site, frame, zero), size, site, frame);
}

void *hak_alloc_slow(size_t size, uintptr_t site) {
  if (HAK_UNLIKELY(hak_profile_on)) return alloc_profiled(size, 0, site, __builtin_frame_address(0), false);
  return alloc_routed(size, 0, site, __builtin_frame_address(0), false);
}

void *hak_alloc_at(size_t size, uintptr_t site) { return hak_front_alloc(size, site); }

HAK_NOINLINE void *hak_alloc_cs(size_t size) {
  return hak_alloc_at(size, (uintptr_t)__builtin_return_address(0));
}

// A pointer that no part of hakmem owns, given to free or realloc: glibc's
// answer (abort) unless HAKMEM_FOREIGN_FREE=ignore.
static HAK_NOINLINE void foreign_pointer(const void *p, const char *call) {
  static _Atomic int warned;
  if (hak_checked) hak_checked_foreign(p, call);
  if (hak_opt(HAK_OPT_FOREIGN_FREE) == HAK_FOREIGN_ABORT) {
    if (hak_large_gone(p))  // a large block hakmem unmapped: it was freed before
      hak_log("%s(): double free of %p (its large block was given back to the OS)", call, p);
    else
      hak_log("%s(): invalid pointer %p (not a pointer hakmem handed out; HAKMEM_FOREIGN_FREE=ignore to go on)",
              call, p);
    abort();
  }
  HAK_STAT_INC(foreign_frees);
  if (hak_opt(HAK_OPT_VERBOSE) && !atomic_exchange(&warned, 1))
    hak_log("%s(%p): not a pointer hakmem handed out; ignored", call, p);
}

// Large blocks, guarded blocks, NULL and foreign pointers.
static HAK_NOINLINE void free_not_pooled(void *p) {
  if (!p) return;
  hak_profile_note_free(p);
  int saved = errno;
  if (hak_checked_guarded(p)) {  // checked mode's, even after it was turned off
    hak_checked_guard_free(p);
    errno = saved;
    return;
  }
  hak_large_t *h = hak_large_lookup(p);
  if (h && hak_checked && h->state == HAK_LARGE_LIVE) hak_checked_large_verify(p, h->req, hak_large_usable(h));
  if (h && HAK_UNLIKELY(h->flags & (HAK_LARGE_TIMED_MAIN | HAK_LARGE_TIMED_CANARY))) hak_learn_free_timed(h);
  else if (h) hak_large_free(h);
  else foreign_pointer(p, "free");
  errno = saved;
}

// The fast path's misses: other threads' pool blocks (remote frees, which
// want few instructions too) and careful ones, then the rest.
void hak_free_slow(void *p) {
  if (HAK_LIKELY(hak_addrmap_entry(p) >= HAK_ADDR_TAG_MIN)) hak_heap_free(p);
  else free_not_pooled(p);
}

void hak_free(void *p) { hak_front_free(p); }

void *hak_calloc_at(size_t n, size_t size, uintptr_t site) {
  size_t total;
  if (__builtin_mul_overflow(n, size, &total)) {
    errno = ENOMEM;
    return NULL;
  }
  if (HAK_UNLIKELY(hak_profile_on)) return alloc_profiled(total, 0, site, __builtin_frame_address(0), true);
  return alloc_routed(total, 0, site, __builtin_frame_address(0), true);
}

HAK_NOINLINE void *hak_calloc(size_t n, size_t size) {
  return hak_calloc_at(n, size, (uintptr_t)__builtin_return_address(0));
}

void *hak_realloc_at(void *p, size_t size, uintptr_t site) {
  if (!p) return hak_alloc_at(size, site);
  if (size == 0) {  // glibc: free and return NULL
    hak_free(p);
    return NULL;
  }
  if (size > HAK_MAX_REQUEST) {
    errno = ENOMEM;
    return NULL;
  }
  size_t old;
  if (hak_addrmap_get(p) == HAK_ADDR_SEGMENT) {
    if (!hak_checked) hak_heap_check_block(p);  // an interior pointer aborts, as its free would
    old = hak_usable_size(p);
    // Checked mode always moves: the trailer holds the size asked for.
    if (!hak_checked && size <= old && (size >= old / 2 || old <= 64))
      return hak_profile_resized(p, size, site, __builtin_frame_address(0));  // fits, not much too big
  } else if (hak_checked_guarded(p)) {
    old = hak_checked_guard_req(p);  // a block not live aborts, as its free would
  } else {
    hak_large_t *h = hak_large_lookup(p);
    if (!h) {
      foreign_pointer(p, "realloc");
      errno = ENOMEM;
      return NULL;
    }
    if (route_large(size, 0) && !hak_checked)
      return HAK_UNLIKELY(hak_profile_on) ? hak_profile_large_realloc(h, p, size, site, __builtin_frame_address(0))
                                          : hak_large_realloc(h, size);
    old = h->req;
  }
  void *n = hak_alloc_at(size, site);
  if (!n) return NULL;
  memcpy(n, p, old < size ? old : size);
  hak_free(p);
  HAK_STAT_INC(realloc_copied);
  return n;
}

HAK_NOINLINE void *hak_realloc(void *p, size_t size) {
  return hak_realloc_at(p, size, (uintptr_t)__builtin_return_address(0));
}

void *hak_aligned_at(size_t align, size_t size, uintptr_t site) {
  if (!hak_is_pow2(align)) {
    errno = EINVAL;
    return NULL;
  }
  if (size > HAK_MAX_REQUEST) {
    errno = ENOMEM;
    return NULL;
  }
  if (align <= HAK_MIN_ALIGN) return hak_alloc_at(size, site);
  if (HAK_UNLIKELY(hak_profile_on)) return alloc_profiled(size, align, site, __builtin_frame_address(0), false);
  return alloc_routed(size, align, site, __builtin_frame_address(0), false);
}

HAK_NOINLINE void *hak_aligned_alloc(size_t align, size_t size) {
  return hak_aligned_at(align, size, (uintptr_t)__builtin_return_address(0));
}

void *hak_new_at(size_t size, size_t align, uintptr_t site, hak_alloc_kind_t kind) {
  void *p;
  void *q = align <= HAK_MIN_ALIGN ? hak_new_quiet(size, site) : NULL;  // as malloc's
  if (q) return q;
  if (align > HAK_MIN_ALIGN) {
    if (!hak_is_pow2(align)) {
      errno = EINVAL;
      return NULL;
    }
    p = HAK_UNLIKELY(hak_profile_on) ? alloc_profiled(size, align, site, __builtin_frame_address(0), false)
                                     : alloc_routed(size, align, site, __builtin_frame_address(0), false);
  } else {
    if (size > HAK_MAX_REQUEST) {
      errno = ENOMEM;
      return NULL;
    }
    p = HAK_UNLIKELY(hak_profile_on) ? alloc_profiled(size, 0, site, __builtin_frame_address(0), false)
                                     : alloc_routed(size, 0, site, __builtin_frame_address(0), false);
  }
  if (p && hak_checked) hak_checked_set_kind(p, kind);
  return p;
}

void hak_delete_checked(void *p, hak_alloc_kind_t kind, size_t size) {
  if (p) hak_checked_verify_free(p, kind, size);
  hak_front_free(p);
}

size_t hak_usable_size(const void *p) {
  uint8_t owner = hak_addrmap_get(p);
  if (owner == HAK_ADDR_SEGMENT) return hak_checked ? hak_checked_pool_usable(p) : hak_heap_usable(p);
  if (!p) return 0;
  if (hak_checked_guarded(p)) return hak_checked_guard_usable(p);
  hak_large_t *h = hak_large_lookup(p);
  if (!h) return 0;
  return hak_checked ? h->req : hak_large_usable(h);
}

size_t hak_trim(void) {
  ensure_init();
  size_t n = hak_heap_trim();
  return n + hak_large_trim();
}
