/* learn.h — the learning engine wired into the front door (layer L5): per
 * call site, which strategy (policy/strategy.h: placement and free policy)
 * serves requests of 64 KiB and more, chosen by the pure lifecycle in
 * policy/evo.h, on windows whose length (policy/window.h) and cost (time and
 * memory, policy/meter.h) are pure rules too: this file only wires them to
 * the clocks, the counters and the requests.
 *
 * Off (HAKMEM_EVO=off, MINIMAL/FAST): nothing here runs, and the front door
 * uses the static LARGE_THRESHOLD. On (BALANCED, LEARNING, RESEARCH):
 *   - requests below HAK_LEARN_MIN never see a site: the pools' fast path
 *     is unchanged;
 *   - a request of HAK_LEARN_MIN or more looks up its site, loads the site's
 *     8-byte record (one relaxed atomic load), and goes to the pools
 *     (size < threshold and within the pools) or to the large engine, with
 *     the record's free policy (hak_large_how_t) from the threshold up;
 *   - FROZEN (between watched windows) and OFF sites: the front door reads
 *     the site's quiet record (hak_learn_quiet) and routes the request
 *     itself: no counter, no clock; a size outside the record's range comes
 *     here and starts a watched window;
 *   - LEARN, CANARY and a FROZEN site's watched window count each request
 *     (window ops, size histogram: relaxed load+store each); the cost of a
 *     window is read at its boundary (cycle counter, getrusage page faults,
 *     the bytes the site holds resident) as whole-program cycles per request
 *     of the site plus the memory term (meter.h), from a mark: a quarter
 *     window after an arm switch of this site or any other (caches refill),
 *     so no window pays for a transition; a window is about 50 ms of the
 *     site's requests (window.h), so a site freezes after a number of its
 *     own windows, not after a wall-clock minimum;
 *   - each window end reads the site's large frees (the site table's
 *     count): until its first, the site's free-policy arms
 *     (HAKMEM_EVO_FREE_ARMS) are its placement's (evo.h), so a site that
 *     frees no large block never explores them;
 *   - one LEARN site at a time explores (plays an arm that is not its
 *     leader); the others play their leaders, so that whole-program costs
 *     can be attributed;
 *   - CANARY also times 2 requests in 20 (the challenger's and as many of the
 *     incumbent's: cycle counter around the call and around the free of a
 *     large block, plus first-touch faults estimated from the bytes handed
 *     out fresh);
 *   - a FROZEN site, once its baseline is measured, watches one window every
 *     HAKMEM_EVO_WATCH_MS (drift and p99 checks) and is quiet in between;
 *     hak_learn_wake, run by slow paths that read the clock anyway, starts
 *     the watched windows;
 *   - LEARN ends an exploring window early once its arm costs more than 1.1x
 *     the learner's leader, holds 1.1x the leader's resident bytes, or
 *     raises the process's peak RSS past 1.1x (window.h; checked every 8
 *     requests), so a bad arm is measured on a quarter of a window, and an
 *     arm that keeps memory cannot run long enough to raise the program's
 *     peak much;
 *   - an exploring window (and a canary) throws nothing of the leader's
 *     away: the large engine keeps the site's cached blocks until the site
 *     settles on an arm that does not use them, so going back to the
 *     leader refaults nothing; an arm alike with the leader (it routes the
 *     site's sizes the same way) is played as the leader.
 * Window ends run on the request that notices them, under the site's try
 * lock (a request that finds it taken just goes on).
 *
 * Per-site state (about 4 KiB) is allocated on a site's first large-enough
 * request, from an internal arena; the site table is bounded, so is this.
 */
#ifndef HAK_LEARN_H
#define HAK_LEARN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "hakmem/config.h"
#include "hakmem/heap.h"
#include "hakmem/large.h"
#include "hakmem/log.h"
#include "hakmem/policy/strategy.h"
#include "hakmem/route.h"
#include "hakmem/site.h"

#define HAK_LEARN_MIN ((size_t)64 << 10) /* the smallest threshold of any strategy */

HAK_INTERNAL extern bool hak_learn_on;

/* Register the engine's fork handler (fork.h); called once by hak_init. */
HAK_INTERNAL void hak_learn_init(void);

/* Build the lifecycle configuration from the options (hak_apply_options). */
HAK_INTERNAL void hak_learn_configure(void);

/* What a quiet site's requests read (FROZEN between watched windows, OFF):
 * one 8-byte record, one relaxed load. The strategy's routing (threshold,
 * BigCache admission) and the range of size buckets (site.h's log2 buckets)
 * the site's requests fell in while it was watched. A request outside the
 * range is a size this site has not shown: it leaves the quiet path and
 * starts a watched window at once, so a change of sizes is seen at its
 * first request without counting anything. */
typedef struct hak_learn_quiet {
  uint16_t threshold_4k;  /* hak_policy_t's large_threshold / 4 KiB (every row is a multiple; never 0) */
  uint8_t cache_slots;    /* hak_policy_t's */
  uint8_t release;        /* hak_policy_t's */
  uint8_t resident_shift; /* hak_policy_t's */
  uint8_t lo, hi;         /* size buckets lo..hi, inclusive (lo <= hi) */
  uint8_t spare;          /* 0 */
} hak_learn_quiet_t;
_Static_assert(sizeof(hak_learn_quiet_t) == 8, "the quiet record must stay one word");

/* Per site: its quiet record as a word, or 0 while the site counts its
 * requests (LEARN, CANARY, a watched window) or has no learning state. */
HAK_INTERNAL extern _Atomic uint64_t hak_learn_quiet[HAK_SITE_CAP];

HAK_INLINE hak_learn_quiet_t hak_learn_quiet_load(hak_site_id_t id) {
  uint64_t w = atomic_load_explicit(&hak_learn_quiet[id], memory_order_relaxed);
  hak_learn_quiet_t q;
  __builtin_memcpy(&q, &w, sizeof q);
  return q;
}

/* True when a request of size may take the quiet route of record q (a zero
 * word, not quiet, has the range 0..0, which no request of HAK_LEARN_MIN or
 * more fits; buckets past 31 never fit: such sizes take the slow way). */
HAK_INLINE bool hak_learn_quiet_fits(hak_learn_quiet_t q, size_t size) {
  unsigned b = 63u - (unsigned)__builtin_clzll((unsigned long long)size | 1u);
  return b - q.lo <= (unsigned)(q.hi - q.lo);
}

/* The policy record a quiet record stands for (canary 0). */
HAK_INLINE hak_policy_t hak_learn_quiet_policy(hak_learn_quiet_t q) {
  hak_policy_t p = {(uint32_t)q.threshold_4k << 12, q.cache_slots, q.release, q.resident_shift, 0};
  return p;
}

_Static_assert(HAK_STRAT_POOL_MAX == HAK_POOL_MAX, "strategy.h's pool limit follows sizeclass.h's");
_Static_assert(HAK_STRAT_AUTO == HAK_RELEASE_AUTO && HAK_STRAT_KEEP == HAK_RELEASE_KEEP &&
                   HAK_STRAT_LAZY == HAK_RELEASE_LAZY && HAK_STRAT_RETURN == HAK_RELEASE_RETURN,
               "strategy.h's release values are large.h's");

/* The large engine's how for a request of size under pol: the strategy's
 * free policy from its threshold up, the plain route {0, AUTO, 0} below. */
HAK_INLINE hak_large_how_t hak_learn_how(hak_policy_t pol, size_t size) {
  hak_policy_t f = hak_policy_free_for(pol, size);
  return (hak_large_how_t){.cache_slots = f.cache_slots, .release = f.release, .resident_shift = f.resident_shift};
}

/* Where a request goes under a strategy: the pools below its threshold when
 * they can hold the block; the large engine otherwise, with the strategy's
 * free policy only from the threshold up (the threshold is where the
 * strategy wants its blocks kept its way; below, the plain route).
 * fresh: see hak_large_alloc_ex. */
HAK_INLINE void *hak_learn_route(size_t size, size_t align, hak_site_id_t id, bool zero, hak_policy_t pol,
                                 size_t *fresh) {
  uint32_t threshold = pol.large_threshold;
  if (HAK_LIKELY(align <= HAK_MIN_ALIGN && !zero && !hak_route_large(size, 0, threshold))) return hak_heap_alloc(size);
  if (hak_route_large(size, align, threshold))
    return hak_large_alloc_ex(size, align, id, zero, hak_learn_how(pol, size), fresh);
  void *ptr = align > HAK_MIN_ALIGN ? hak_heap_aligned(align, size) : hak_heap_alloc(size);
  if (ptr && zero) memset(ptr, 0, size);
  return ptr;
}

/* A request of size >= HAK_LEARN_MIN from site id (align 0: default) that
 * the quiet record did not settle: LEARN, CANARY, watched windows, new
 * sites, new sizes. */
HAK_INTERNAL void *hak_learn_alloc(size_t size, size_t align, hak_site_id_t id, bool zero);

/* Free a large block whose request CANARY timed (HAK_LARGE_TIMED_*): the
 * free's cycles count for the same side, so strategies whose cost lies in
 * freeing (no BigCache: madvise, unmapping) are compared fairly. */
HAK_INTERNAL void hak_learn_free_timed(hak_large_t *h);

/* Start the watched window of every quiet FROZEN site whose time has come.
 * Called from slow paths that already read the clock (the large engine's
 * tick, the pools' maintenance), never from a FROZEN site's requests; one
 * load and compare when nothing is due. */
HAK_INTERNAL void hak_learn_wake(uint64_t now_ms);

/* The site's learning state as a JSON value ("null" when it has none). */
HAK_INTERNAL void hak_learn_json(hak_buf_t *b, hak_site_id_t id);

/* True when site id has learning state (the stats JSON lists such sites
 * even when the pools served all their requests). */
HAK_INTERNAL bool hak_learn_has(hak_site_id_t id);

/* The strategy leaderboard of every learning site, as text. */
HAK_INTERNAL void hak_learn_print(int fd);

/* Test hook: the clock the engine reads (ns; NULL: CLOCK_MONOTONIC), so a
 * test can play a program of a given length in no time. */
HAK_INTERNAL void hak_learn_set_clock(uint64_t (*now_ns)(void));

/* Test hooks: the site's policy record as a word (0: none yet), and
 * replacing it (the next window end may change it again). */
HAK_INTERNAL uint64_t hak_learn_policy_word(hak_site_id_t id);
HAK_INTERNAL void hak_learn_set_policy_word(hak_site_id_t id, uint64_t word);
/* Test hook: site id's requests counted in its window so far, and the count
 * from which the window's cost is (or will be) measured (0: its start). */
HAK_INTERNAL void hak_learn_window_marks(hak_site_id_t id, uint64_t *counted, uint64_t *cost_from);
/* Test hook: how many LEARN sites play an arm other than their leader now
 * (at most one: the exploration turn). */
HAK_INTERNAL unsigned hak_learn_exploring(void);
/* Invariant walker: every site with learning state whose lock is free
 * (hak_learn_site_is_valid). True when there is none. */
HAK_INTERNAL bool hak_learn_is_valid(void);
/* Forget every site's learning state (tests; no allocation may run). */
HAK_INTERNAL void hak_learn_reset(void);
/* How many times hak_learn_reset ran: an entry that stands for a site id
 * with no record to watch (alloc_quiet.c's for counting sites) is only good
 * for the resets it was made in (the site table is reset with it). */
HAK_INTERNAL extern _Atomic uint32_t hak_learn_resets;

#endif /* HAK_LEARN_H */
