/* learn_site.h — the learning engine's per-site state, shared by its two
 * files (layer L5): learn.c (requests, windows, start-up, fork) and
 * learn_report.c (JSON, the leaderboard, test hooks, the invariant walker).
 * Nothing outside them includes it; the rest of hakmem sees learn.h.
 *
 * A site's state is made once (hak_learn_site_new, from an internal arena)
 * and never freed; hak_learn_sites[id] publishes it (release). Fields marked
 * "lock" change only under the site's lock; the atomics are read by requests
 * without it.
 */
#ifndef HAK_LEARN_SITE_H
#define HAK_LEARN_SITE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <time.h>

#include "hakmem/config.h"
#include "hakmem/learn.h"
#include "hakmem/lock.h"
#include "hakmem/policy/evo.h"
#include "hakmem/policy/meter.h"
#include "hakmem/site.h"
#include "hakmem/stats.h"

typedef struct hak_learn_site {
  _Atomic uint64_t policy;         // hak_policy_t as a word: what requests read
  _Atomic int counting;            // LEARN, CANARY, a FROZEN watch window: count requests
  _Atomic uint64_t ops;            // CANARY: the router's op counter
  _Atomic uint64_t win_ops;        // requests counted in this window
  _Atomic uint64_t hist[HAK_DIST_BUCKETS];
  _Atomic uint64_t timed[2][3];    // CANARY: per route {ops, cycles, fresh pages}
  _Atomic uint64_t cut;            // LEARN: cycles per op that end an exploring window early (0: never)
  _Atomic uint64_t watch_at;       // FROZEN, quiet: when (ns) the next watched window starts; 0 otherwise
  hak_site_id_t id;
  uint8_t lo, hi;                  // lock: size buckets seen while watched (the quiet record's range)
  uint32_t ref_events;             // lock: evo.history_len when the range was last reset
  hak_lock_t lock;                 // window ends, waking
  _Atomic uint64_t win_tsc, win_faults;  // where the window's cost is measured from (the meter's mark) ...
  _Atomic int64_t win_resident;    // ... and the site's resident bytes there (-1: unknown)
  _Atomic uint64_t start_tsc;      // the cycle counter when the window began (the overspent cut, window.h)
  _Atomic uint64_t check_mask;     // window_check every (mask + 1) requests: 7 while exploring, 63 otherwise
  _Atomic int off_large;           // the arm in force sends none of the site's sizes to the large engine
  uint32_t pool_trims;             // lock: window ends left at which the pools trim (the site left them)
  uint32_t held;                   // lock: LEFT_* engines holding the site's freed bytes since it last settled (learn.c)
  uint64_t frees_mark;             // lock: the site's large frees (site.h) at the last window end
  _Atomic int64_t lead_resident;   // LEARN: resident bytes at the end of the last window on the leader (-1: none)
  _Atomic int64_t start_peak;      // an exploring window: the process's peak RSS (KiB) when it began; 0 otherwise
  _Atomic uint64_t warm;           // requests of the window not costed (after an arm switch); 0: none
  _Atomic uint64_t warm_ops;       // win_ops when the cost measure started (0: at the window's start)
  _Atomic uint64_t limit;          // this window ends after this many requests (window.h's limit, or a warm-up's extension)
  _Atomic uint64_t base;           // the window's own limit (the lifecycle's, before any extension)
  _Atomic uint64_t seen_switches;  // `switches` when this site last re-marked its cost
  _Atomic int learning;            // state LEARN (readable without the lock)
  _Atomic uint64_t due_ns;         // when (ns) the window ends by time (UINT64_MAX: never); evo's, readable without the lock
  hak_evo_site_t evo;              // lock
} hak_learn_site_t;

HAK_INTERNAL extern _Atomic(hak_learn_site_t *) hak_learn_sites[HAK_SITE_CAP];

/* Site id's state, made now if it has none (NULL: no memory for it). */
HAK_INTERNAL hak_learn_site_t *hak_learn_site_new(hak_site_id_t id);
/* Publish what requests read (the policy word, counting, the quiet record)
 * from the site's lifecycle state. Under the site's lock. */
HAK_INTERNAL void hak_learn_publish(hak_learn_site_t *sl, bool counting);
/* Invariant walker of one site (HAK_DEBUG_WALK; under its lock): published
 * words agree with the lifecycle, which is valid (hak_evo_is_valid). */
HAK_INTERNAL bool hak_learn_site_is_valid(const hak_learn_site_t *sl);

// --- what a window's cost is measured with ---------------------------------------

HAK_INLINE uint64_t hak_learn_cycles(void) {
#if defined(__x86_64__)
  return __builtin_ia32_rdtsc();
#else
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
#endif
}

HAK_INTERNAL extern uint64_t (*hak_learn_clock)(void); /* test hook: NULL outside tests */

HAK_INLINE uint64_t hak_learn_now_ns(void) {
  if (HAK_UNLIKELY(hak_learn_clock != NULL)) return hak_learn_clock();
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

HAK_INLINE uint64_t hak_learn_minor_faults(void) {
  struct rusage ru;
  return getrusage(RUSAGE_SELF, &ru) == 0 ? (uint64_t)ru.ru_minflt : 0;
}

/* The process's peak resident set so far, in KiB (-1: unknown). */
HAK_INLINE int64_t hak_learn_peak_kib(void) {
  struct rusage ru;
  return getrusage(RUSAGE_SELF, &ru) == 0 ? (int64_t)ru.ru_maxrss : -1;
}

/* The bytes site id holds: in the large engine its live mappings and the
 * freed blocks its policy keeps (hak_large_site_resident), plus the pools'
 * mapped bytes, which the pools do not count per site: like the time term
 * (whole-program cycles) the whole program's pools are charged to the site
 * whose window it is (one site explores at a time), so a site moving its
 * blocks from one engine to the other sees both engines' bytes. Without
 * HAK_STATS the pools' gauge reads 0: the large engine's bytes alone. */
HAK_INLINE int64_t hak_learn_resident(hak_site_id_t id) {
#if HAK_STATS
  return (int64_t)(hak_large_site_resident(id) + hak_stat_read(HAK_STAT_os_bytes_mapped_pools));
#else
  return (int64_t)hak_large_site_resident(id);
#endif
}

/* The meter's sample of site id now (faults: getrusage, a syscall; only at
 * marks and window ends). */
HAK_INLINE hak_meter_sample_t hak_learn_sample(hak_site_id_t id, uint64_t now_ns, bool faults) {
  hak_meter_sample_t m = {.now_ns = now_ns, .cycles = hak_learn_cycles(), .faults = faults ? hak_learn_minor_faults() : 0,
                          .resident = hak_learn_resident(id)};
  return m;
}

/* The meter as marked (the window's start or its warm-up mark). */
HAK_INLINE hak_meter_t hak_learn_meter(const hak_learn_site_t *sl) {
  hak_meter_t m = {.from = {.now_ns = 0,
                            .cycles = atomic_load_explicit(&sl->win_tsc, memory_order_relaxed),
                            .faults = atomic_load_explicit(&sl->win_faults, memory_order_relaxed),
                            .resident = atomic_load_explicit(&sl->win_resident, memory_order_relaxed)}};
  return m;
}

/* The request count from which the window's cost is (or will be) measured:
 * the pending warm-up mark, or the one taken (0: the window's start). */
HAK_INLINE uint64_t hak_learn_cost_mark(const hak_learn_site_t *sl) {
  uint64_t warm = atomic_load_explicit(&sl->warm, memory_order_relaxed);
  uint64_t from = atomic_load_explicit(&sl->warm_ops, memory_order_relaxed);
  return warm > from ? warm : from;
}

// --- shared by learn.c and learn_site.c ---------------------------------------------

HAK_INTERNAL extern hak_evo_config_t hak_learn_cfg;    /* the lifecycle's configuration (learn_site.c) */
HAK_INTERNAL extern uint64_t hak_learn_watch_ns;       /* HAKMEM_EVO_WATCH_MS in ns */
HAK_INTERNAL extern double hak_learn_mem_rate;         /* HAKMEM_EVO_MEM_COST in ns per MiB held a second (meter.h) */
HAK_INTERNAL extern _Atomic uint64_t hak_learn_switches; /* arm changes of LEARN sites so far (learn.c) */

/* The quiet range (learn_site.c): the buckets of the reference distribution
 * (reset when the lifecycle moved on) and of hist (NULL: none). Under the lock. */
HAK_INTERNAL void hak_learn_widen_range(hak_learn_site_t *sl, const uint64_t *hist);

// Requests left out of a window's cost after an arm switch (window.h).
HAK_INLINE uint64_t hak_learn_warm_len(const hak_learn_site_t *sl) {
  return hak_window_warm(&hak_learn_cfg.win, atomic_load_explicit(&sl->base, memory_order_relaxed));
}

// The window's own limit (the lifecycle's), before any warm-up extension.
HAK_INLINE void hak_learn_set_limit(hak_learn_site_t *sl, uint64_t limit) {
  atomic_store_explicit(&sl->base, limit, memory_order_relaxed);
  atomic_store_explicit(&sl->limit, limit, memory_order_relaxed);
}

// Start measuring the window's cost here (the meter's mark); begin: the
// window begins here too.
HAK_INLINE void hak_learn_mark_start(hak_learn_site_t *sl, bool begin) {
  hak_meter_sample_t m = hak_learn_sample(sl->id, 0, true);
  if (begin) atomic_store_explicit(&sl->start_tsc, m.cycles, memory_order_relaxed);
  atomic_store_explicit(&sl->win_tsc, m.cycles, memory_order_relaxed);
  atomic_store_explicit(&sl->win_faults, m.faults, memory_order_relaxed);
  atomic_store_explicit(&sl->win_resident, m.resident, memory_order_relaxed);
}

#endif /* HAK_LEARN_SITE_H */
