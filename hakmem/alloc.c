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
 * per-thread entry for their return address (below: quiet sites).
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

// --- quiet sites on the pools' path ----------------------------------------------
//
// A quiet learning site (FROZEN between watched windows, or OFF) whose
// record sends a malloc to the pools costs about what a static one does
// (8 instructions more: tests/fastpath_test.sh), and operator new's slow
// path (hak_new_at) takes the same entries. Each thread keeps, per return
// address (direct-mapped), what the slow path decided for such a request:
// the sizes that the record's range and threshold send to the pools
// quietly, the record word they come from, and the pool class of the last
// request with its sizes. A hit is a request of that class from that
// return address while the record still holds that word: it pops the class
// at once. Another of the record's sizes takes a short way out of line
// (quiet_other); anything else takes the slow path, which fills the entry
// again, so a size outside the record's range still leaves the quiet path
// at its first request (drift), and a change of the record (a watched
// window starts: 0; a new policy or range) is seen at the next request.
// Only plain sites are kept: a wrapper's return address stands for many
// sites. Hits need hak_fast_limit at HAK_LEARN_MIN: learning on, and no
// checked mode, profile or sampling (which set it to 0); entries are made
// only while learning is on, and the options change only at start-up
// outside tests. An entry stands for its address's site id: the site table
// keeps it for good (its test reset comes with the learning engine's,
// which zeroes every record). Only this thread writes its entries (the
// site last), and a signal handler that allocates while this thread is
// inside malloc is undefined, as for the pools.
typedef struct quiet_route {
  uintptr_t site;                  // return address (0: empty)
  const _Atomic uint64_t *record;  // &hak_learn_quiet[its site id]
  uint64_t word;                   // *record when filled (never 0: a quiet record)
  size_t lo, span;                 // sizes lo .. lo + span - 1: the last request's class, within ...
  size_t cls;
  size_t site_lo, site_span;       // ... every size that the record sends to the pools quietly
} quiet_route_t;
_Static_assert(sizeof(quiet_route_t) == 64, "an entry is one cache line");

// 8 entries (512 bytes): the library's initial-exec thread-local data must
// fit glibc's static TLS surplus (about 1.6 KiB), or a program cannot
// dlopen libhakmem.so ("cannot allocate memory in static TLS block"); 16
// entries (2 KiB of thread-local data in all) already did not
// (//tests/reliability:startup_test).
#define QUIET_ROUTES 8u
static __thread quiet_route_t quiet_routes[QUIET_ROUTES] __attribute__((tls_model("initial-exec"), aligned(64)));
static __thread unsigned quiet_conflicts __attribute__((tls_model("initial-exec")));  // quiet_fill's turns
static __thread unsigned quiet_reclass __attribute__((tls_model("initial-exec")));    // quiet_take's

HAK_INLINE bool quiet_valid(const quiet_route_t *r) {
  return atomic_load_explicit(r->record, memory_order_relaxed) == r->word;
}

// Requests this mode lets the entries serve. (The limit is read again, as
// an atomic: kept in a register from malloc's compare with it, it would
// cost every pool request above 1 KiB a load instruction of its own.)
HAK_INLINE bool quiet_on(size_t size) {
  return __atomic_load_n(&hak_fast_limit, __ATOMIC_RELAXED) == HAK_LEARN_MIN && size < HAK_POOL_MAX;
}

// The entry takes the class of size (one of the record's sizes).
static void quiet_class(quiet_route_t *r, size_t size) {
  size_t cls = hak_size_class(size);  // above 1 KiB: cls > 8
  size_t lo = hak_class_size((unsigned)cls - 1) + 1, hi = hak_class_size((unsigned)cls);
  size_t top = r->site_lo + r->site_span - 1;
  r->lo = lo > r->site_lo ? lo : r->site_lo;
  r->span = (hi < top ? hi : top) - r->lo + 1;
  r->cls = cls;
}

HAK_INLINE void *quiet_pop(const quiet_route_t *r, size_t size) {
  void *p = hak_heap_pop_fast(r->cls);
  return HAK_LIKELY(p != NULL) ? p : hak_heap_alloc_slow(size);
}

// The pool block for a request from site that its entry serves, in a class
// other than the entry's (a site whose sizes vary) or in its own; NULL: the
// slow path's (also when the pools have no memory: it tries again). The
// entry takes the new class one time in 8 only: a site whose sizes vary
// would pay for it at every request, one whose sizes moved on pays the
// class's computation for a few requests.
HAK_INLINE void *quiet_take(size_t size, uintptr_t site) {
  quiet_route_t *r = &quiet_routes[site % QUIET_ROUTES];
  if (r->site != site || size - r->site_lo >= r->site_span || !quiet_valid(r)) return NULL;  // empty: span 0
  if (HAK_LIKELY(size - r->lo < r->span)) return quiet_pop(r, size);
  if (!(++quiet_reclass & 7)) {
    quiet_class(r, size);
    return quiet_pop(r, size);
  }
  return hak_heap_alloc(size);
}

// A request from the site of its entry in another class, or after its
// record changed.
static HAK_NOINLINE void *quiet_other(size_t size, uintptr_t site) {
  void *p = quiet_take(size, site);
  return p ? p : hak_alloc_slow(size, site);
}

// Keep in site's entry the sizes that record q sends to the pools as it
// sent size. Another site's live entry is given up one time in 8 only: two
// sites that share an entry would refill it at every request.
static void quiet_fill(uintptr_t site, hak_site_id_t id, hak_learn_quiet_t q, size_t size) {
  quiet_route_t *r = &quiet_routes[site % QUIET_ROUTES];
  if (r->site && r->site != site && quiet_valid(r) && (++quiet_conflicts & 7)) return;
  size_t top = (size_t)q.threshold_4k << 12 < HAK_POOL_MAX ? (size_t)q.threshold_4k << 12 : HAK_POOL_MAX;
  size_t lo = (size_t)1 << q.lo, hi = ((size_t)2 << q.hi) - 1;  // the record's buckets
  if (lo < HAK_LEARN_MIN) lo = HAK_LEARN_MIN;
  if (hi > top - 1) hi = top - 1;
  if (lo > size || size > hi) return;  // (never: the slow path just served size so)
  r->site = 0;
  atomic_signal_fence(memory_order_seq_cst);
  r->record = &hak_learn_quiet[id];
  memcpy(&r->word, &q, sizeof r->word);
  r->site_lo = lo;
  r->site_span = hi - lo + 1;
  quiet_class(r, size);
  atomic_signal_fence(memory_order_seq_cst);
  r->site = site;
}

// A request of size from plain site (id) that quiet record q sends to the
// pools: served, and remembered for the next. Out of line, a tail call: the
// slow path's other routes keep their registers.
static HAK_NOINLINE void *quiet_pooled(size_t size, uintptr_t site, hak_site_id_t id, hak_learn_quiet_t q) {
  if (site && hak_fast_limit == HAK_LEARN_MIN) quiet_fill(site, id, q, size);  // else no hit could use it
  return hak_heap_alloc(size);
}

// operator new's way to the entries (new_delete.c), ahead of its retry
// loop: the hit hak_new_at would make, two calls sooner.
void *hak_new_quiet(size_t size, uintptr_t site) { return quiet_on(size) ? quiet_take(size, site) : NULL; }

int hak_quiet_route_class(size_t size, uintptr_t site) {
  const quiet_route_t *r = &quiet_routes[site % QUIET_ROUTES];
  if (!site || r->site != site || !quiet_valid(r)) return -1;
  if (size - r->lo < r->span) return (int)r->cls;  // the fast path's hit
  if (size - r->site_lo >= r->site_span) return -1;
  quiet_route_t other = *r;  // quiet_other's
  quiet_class(&other, size);
  return size - other.lo < other.span ? (int)other.cls : -2;  // (-2: a class that does not hold size)
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
    // FROZEN (between watched windows) and OFF: the site's record and nothing else.
    if (HAK_LIKELY(hak_learn_quiet_fits(q, size))) {
      hak_policy_t pol = hak_learn_quiet_policy(q);
      if (!hak_route_large(size, 0, pol.large_threshold) && !align && !zero && plain)
        return quiet_pooled(size, site, id, q);  // hak_learn_route's pools, remembered
      return hak_learn_route(size, align, id, zero, pol, NULL);
    }
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

void *hak_alloc_above_small(size_t size, uintptr_t site) {
  if (HAK_LIKELY(size < hak_fast_limit)) return hak_heap_alloc(size);
  if (quiet_on(size)) {  // a quiet site, served as the slow path would
    const quiet_route_t *r = &quiet_routes[site % QUIET_ROUTES];
    if (r->site == site) {
      if (HAK_LIKELY(size - r->lo < r->span && quiet_valid(r))) return quiet_pop(r, size);
      return quiet_other(size, site);
    }
  }
  return hak_alloc_slow(size, site);  // a tail call: its frame is the entry point's, as from malloc
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
  void *q = align <= HAK_MIN_ALIGN && quiet_on(size) ? quiet_take(size, site) : NULL;  // as malloc's
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
