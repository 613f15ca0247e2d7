/* alloc_quiet.c — the front door above 1 KiB and its per-thread entries for
 * quiet learning sites (layer L5, beside alloc.c): a quiet learning site
 * (FROZEN between watched windows, or OFF) whose record sends a malloc to
 * the pools costs about what a static one does (8 instructions more:
 * tests/fastpath_test.sh), and operator new's ways (hak_new_quiet ahead of
 * its retry loop, hak_new_at) take the same entries. Called by alloc.h's
 * inline front door (hak_alloc_above_small), alloc.c's slow path (which
 * fills the entries: hak_quiet_pooled) and new_delete.c.
 *
 * Each thread keeps, per return address (direct-mapped), what the slow path
 * decided for such a request: the sizes that the record's range and
 * threshold send to the pools quietly, the record word they come from, and
 * the pool class of the last request with its sizes. A hit is a request of
 * that class from that return address while the record still holds that
 * word: it pops the class at once. Another of the record's sizes takes a
 * short way out of line (quiet_other); anything else takes the slow path,
 * which fills the entry again, so a size outside the record's range still
 * leaves the quiet path at its first request (drift), and a change of the
 * record (a watched window starts: 0; a new policy or range) is seen at the
 * next request.
 *
 * While a kept site counts its requests (LEARN, CANARY, a watched window:
 * its quiet record is 0), its entry holds the word 0 and no class: every
 * request below the pools' limit goes to hak_learn_alloc with the site's id,
 * without the slow path's site lookup (which a candidate's costs about 100
 * instructions); the freeze makes the record non-zero, so the next request
 * misses and the slow path fills the pools' entry.
 *
 * Plain sites are kept, and candidate wrappers (callsite.h: code that hands
 * malloc's result straight back, seen with one caller so far, so its id is
 * its own) once past the lookups that walk at each of their requests
 * (HAK_CALLSITE_CANDIDATE_WALKS): a wrapper's return address stands for
 * many sites, and a candidate's may turn out to. A candidate's entry is keyed by its address
 * with QUIET_CANDIDATE set, so the inline hit never matches it: it takes
 * quiet_other's way (about 15 instructions more than a plain hit, against
 * some 100 for the slow path's site lookup), which sends one request in
 * QUIET_CANDIDATE_HITS to the slow path, whose lookup keeps testing the
 * candidate for a second caller (1 walk in 64 of its requests there): a
 * candidate found to be a wrapper loses its entries within that many of
 * each thread's requests. Hits need hak_fast_limit at HAK_LEARN_MIN:
 * learning on, and no checked mode, profile or sampling (which set it to
 * 0); entries are made only while learning is on, and the options change
 * only at start-up outside tests. An entry stands for its address's site
 * id: the site table keeps it for good (its test reset comes with the
 * learning engine's, which zeroes every record and counts the resets,
 * which a counting site's entry, word 0, checks). Only this thread writes
 * its entries (the site last), and a signal handler that allocates while
 * this thread is inside malloc is undefined, as for the pools.
 */
#include <stdatomic.h>
#include <string.h>

#include "hakmem/alloc.h"
#include "hakmem/heap.h"
#include "hakmem/learn.h"
#include "hakmem/sizeclass.h"

typedef struct quiet_route {
  uintptr_t site;                  // return address, | QUIET_CANDIDATE for a candidate wrapper's (0: empty)
  const _Atomic uint64_t *record;  // &hak_learn_quiet[its site id]
  uint64_t word;                   // *record when filled (never 0: a quiet record)
  size_t lo, span;                 // sizes lo .. lo + span - 1: the last request's class, within ...
  size_t site_lo, site_span;       // ... every size that the record sends to the pools quietly
  uint32_t cls;                    // (a counting site's entry: hak_learn_resets when made)
  uint32_t left;                   // a candidate's: requests it serves before one goes to the slow path
} quiet_route_t;
_Static_assert(sizeof(quiet_route_t) == 64, "an entry is one cache line");

// No return address has bit 63 set (user space is below 2^47).
#define QUIET_CANDIDATE ((uintptr_t)1 << 63)
#define QUIET_CANDIDATE_HITS 64u

// 8 entries (512 bytes): the library's initial-exec thread-local data must
// fit glibc's static TLS surplus (about 1.6 KiB), or a program cannot
// dlopen libhakmem.so ("cannot allocate memory in static TLS block"); 16
// entries (2 KiB of thread-local data in all) already did not
// (//tests/reliability:startup_test).
#define QUIET_ROUTES 8u
static __thread quiet_route_t quiet_routes[QUIET_ROUTES] __attribute__((tls_model("initial-exec"), aligned(64)));
static __thread unsigned quiet_conflicts __attribute__((tls_model("initial-exec")));  // quiet_fill's turns
static __thread unsigned quiet_reclass __attribute__((tls_model("initial-exec")));    // quiet_serves'

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
  r->cls = (uint32_t)cls;
}

HAK_INLINE void *quiet_pop(const quiet_route_t *r, size_t size) {
  void *p = hak_heap_pop_fast(r->cls);
  return HAK_LIKELY(p != NULL) ? p : hak_heap_alloc_slow(size);
}

// A counting site's entry (word 0) is good for the learning reset it was
// made in; its requests go to the learning engine with the site's id.
HAK_INLINE bool quiet_counting_now(const quiet_route_t *r) {
  return r->cls == atomic_load_explicit(&hak_learn_resets, memory_order_relaxed);
}
HAK_INLINE void *quiet_learn(const quiet_route_t *r, size_t size) {
  return hak_learn_alloc(size, 0, (hak_site_id_t)(r->record - hak_learn_quiet), false);
}

enum { QUIET_NO = 0, QUIET_CLASS, QUIET_POOLS, QUIET_LEARN };

// How the entry serves a request of size from site: not (QUIET_NO: the
// slow path's), from its class (a hit, or a new class it takes), from the
// pools' class of size (another of the record's sizes), or by the learning
// engine (QUIET_LEARN: a counting site's entry, word 0). The entry takes
// a new class one time in 8 only: a site whose sizes vary would pay for it
// at every request, one whose sizes moved on pays the class's computation
// for a few requests. A candidate's entry is given up at its last request
// (the slow path makes it again while the address is still a candidate).
HAK_INLINE int quiet_serves(quiet_route_t *r, size_t size, uintptr_t site) {
  if ((r->site & ~QUIET_CANDIDATE) != site || size - r->site_lo >= r->site_span || !quiet_valid(r))
    return QUIET_NO;  // empty: span 0
  if (HAK_UNLIKELY(r->site != site) && !--r->left) {
    r->site = 0;
    return QUIET_NO;
  }
  if (HAK_LIKELY(size - r->lo < r->span)) return QUIET_CLASS;
  if (HAK_UNLIKELY(!r->word))
    return quiet_counting_now(r) ? QUIET_LEARN : QUIET_NO;
  if (!(++quiet_reclass & 7)) {
    quiet_class(r, size);
    return QUIET_CLASS;
  }
  return QUIET_POOLS;
}

// A request from the site of its entry in another class, after its record
// changed, or from a candidate's. Every way out is a tail call (no frame);
// the pools' answer when they have no memory is the static route's.
static HAK_NOINLINE void *quiet_other(size_t size, uintptr_t site) {
  quiet_route_t *r = &quiet_routes[site % QUIET_ROUTES];
  int how = quiet_serves(r, size, site);
  if (HAK_LIKELY(how == QUIET_POOLS)) return hak_heap_alloc(size);
  if (how == QUIET_CLASS) return quiet_pop(r, size);
  if (how == QUIET_LEARN) return quiet_learn(r, size);
  return hak_alloc_slow(size, site);
}

// Make site's entry (id's; a candidate's: see above). Another site's live
// entry is given up one time in 8 only: two sites that share an entry would
// refill it at every request. word 0: a counting site's entry (every size the
// entries see goes to hak_learn_alloc while the site's quiet record is 0).
static void quiet_fill(uintptr_t site, hak_site_id_t id, uint64_t word, size_t lo, size_t hi, size_t size,
                       bool candidate) {
  quiet_route_t *r = &quiet_routes[site % QUIET_ROUTES];
  if (r->site && (r->site & ~QUIET_CANDIDATE) != site && quiet_valid(r) && (++quiet_conflicts & 7)) return;
  r->site = 0;
  atomic_signal_fence(memory_order_seq_cst);
  r->record = &hak_learn_quiet[id];
  r->word = word;
  r->site_lo = lo;
  r->site_span = hi - lo + 1;
  r->left = QUIET_CANDIDATE_HITS;
  if (word) quiet_class(r, size);
  else r->lo = r->span = 0, r->cls = atomic_load_explicit(&hak_learn_resets, memory_order_relaxed);  // no class: every request takes quiet_other's way
  atomic_signal_fence(memory_order_seq_cst);
  r->site = candidate ? site | QUIET_CANDIDATE : site;
}

void *hak_quiet_pooled(size_t size, uintptr_t site, hak_site_id_t id, hak_learn_quiet_t q, bool candidate) {
  if (site && hak_fast_limit == HAK_LEARN_MIN) {  // else no hit could use it
    // The sizes that record q sends to the pools as it sent size.
    size_t top = (size_t)q.threshold_4k << 12 < HAK_POOL_MAX ? (size_t)q.threshold_4k << 12 : HAK_POOL_MAX;
    size_t lo = (size_t)1 << q.lo, hi = ((size_t)2 << q.hi) - 1;  // the record's buckets
    if (lo < HAK_LEARN_MIN) lo = HAK_LEARN_MIN;
    if (hi > top - 1) hi = top - 1;
    uint64_t w;
    memcpy(&w, &q, sizeof w);
    if (lo <= size && size <= hi) quiet_fill(site, id, w, lo, hi, size, candidate);  // (always: the slow path just served size so)
  }
  return hak_heap_alloc(size);
}

void *hak_quiet_learn(size_t size, uintptr_t site, hak_site_id_t id, bool candidate) {
  if (site && hak_fast_limit == HAK_LEARN_MIN && size < HAK_POOL_MAX &&
      !atomic_load_explicit(&hak_learn_quiet[id], memory_order_relaxed))
    quiet_fill(site, id, 0, HAK_LEARN_MIN, HAK_POOL_MAX - 1, size, candidate);
  return hak_learn_alloc(size, 0, id, false);
}

// The front door's miss: a candidate's entry, or the slow path.
static HAK_NOINLINE void *quiet_miss(size_t size, uintptr_t site) {
  if (quiet_routes[site % QUIET_ROUTES].site == (site | QUIET_CANDIDATE)) return quiet_other(size, site);
  return hak_alloc_slow(size, site);  // a tail call: its frame is the entry point's, as from malloc
}

void *hak_new_quiet(size_t size, uintptr_t site) {
  if (!quiet_on(size)) return NULL;
  quiet_route_t *r = &quiet_routes[site % QUIET_ROUTES];
  if (HAK_LIKELY(r->site == site && size - r->lo < r->span && quiet_valid(r))) return quiet_pop(r, size);  // a hit
  int how = quiet_serves(r, size, site);
  if (how == QUIET_LEARN) return quiet_learn(r, size);
  return how == QUIET_CLASS ? quiet_pop(r, size) : how == QUIET_POOLS ? hak_heap_alloc(size) : NULL;
}

int hak_quiet_route_class(size_t size, uintptr_t site) {
  const quiet_route_t *r = &quiet_routes[site % QUIET_ROUTES];
  if (!site || (r->site & ~QUIET_CANDIDATE) != site || !quiet_valid(r)) return -1;
  if (!r->word)  // a counting site's: hak_learn_alloc
    return size - r->site_lo < r->site_span && quiet_counting_now(r) ? -3 : -1;
  if (size - r->lo < r->span) return (int)r->cls;  // the fast path's hit (quiet_other's for a candidate)
  if (size - r->site_lo >= r->site_span) return -1;
  quiet_route_t other = *r;  // quiet_other's
  quiet_class(&other, size);
  return size - other.lo < other.span ? (int)other.cls : -2;  // (-2: a class that does not hold size)
}

void *hak_alloc_above_small(size_t size, uintptr_t site) {
  if (HAK_LIKELY(size < hak_fast_limit)) return hak_heap_alloc(size);
  if (quiet_on(size)) {  // a quiet site, served as the slow path would
    const quiet_route_t *r = &quiet_routes[site % QUIET_ROUTES];
    if (r->site == site) {
      if (HAK_LIKELY(size - r->lo < r->span && quiet_valid(r))) return quiet_pop(r, size);
      return quiet_other(size, site);
    }
    return quiet_miss(size, site);
  }
  return hak_alloc_slow(size, site);  // a tail call: its frame is the entry point's, as from malloc
}
