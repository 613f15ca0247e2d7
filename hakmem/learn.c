/* learn.c — per-site strategies for requests of 64 KiB and more (layer L5).
 * See learn.h. Calls policy/evo.c on window boundaries; called by alloc.c
 * (requests), report.c (JSON) and init.c (the RESEARCH leaderboard).
 */
#include "hakmem/learn.h"

#include <stdatomic.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "hakmem/addrmap.h"
#include "hakmem/heap.h"
#include "hakmem/large.h"
#include "hakmem/lock.h"
#include "hakmem/options.h"
#include "hakmem/os.h"
#include "hakmem/policy/evo.h"
#include "hakmem/sizeclass.h"
#include "hakmem/stats.h"

_Static_assert(HAK_EVO_MODE_AUTO == 0 && HAK_EVO_MODE_LEARN == 1 && HAK_EVO_MODE_FROZEN == 2 && HAK_EVO_MODE_OFF == 3,
               "options.c's hak_evo_names follow hak_evo_mode_t");

// First-touch cost of one fresh page, in cycles, for the CANARY estimate (a
// minor fault with zeroing measures 0.5-1 us on the machines we know).
#define FAULT_CYCLES 1500u

enum { ROUTE_MAIN = 0, ROUTE_CANARY = 1 };

typedef struct site_learn {
  _Atomic uint64_t policy;         // hak_policy_t as a word: what requests read
  _Atomic int counting;            // LEARN, CANARY, a FROZEN watch window: count requests
  _Atomic uint64_t ops;            // CANARY: the router's op counter
  _Atomic uint64_t win_ops;        // requests counted in this window
  _Atomic uint64_t hist[HAK_DIST_BUCKETS];
  _Atomic uint64_t timed[2][3];    // CANARY: per route {ops, cycles, fresh pages}
  _Atomic uint64_t cut;            // LEARN: cycles per op that end an exploring window early (0: never)
  _Atomic uint64_t watch_at;       // FROZEN, quiet: when (ns) the next watched window starts; 0 otherwise
  hak_site_id_t id;
  uint8_t lo, hi;                  // size buckets seen while watched (the quiet record's range)
  uint32_t ref_events;             // evo.history_len when the range was last reset
  hak_lock_t lock;                 // window ends, waking
  _Atomic uint64_t win_tsc, win_faults;  // where the window's cost is measured from
  _Atomic uint64_t warm;           // requests of the window not costed (after an arm switch); 0: none
  _Atomic uint64_t warm_ops;       // win_ops when the cost measure started (0: at the window's start)
  _Atomic uint64_t limit;          // this window ends after this many requests (window_ops, or fewer)
  _Atomic uint64_t seen_switches;  // `switches` when this site last re-marked its cost
  _Atomic int learning;            // state LEARN (readable without the lock)
  hak_evo_site_t evo;
} site_learn_t;

bool hak_learn_on;
static hak_evo_config_t cfg;
static _Atomic(site_learn_t *) sites[HAK_SITE_CAP];
_Atomic uint64_t hak_learn_quiet[HAK_SITE_CAP];
static uint64_t watch_ns;                  // HAKMEM_EVO_WATCH_MS in ns
// The one LEARN site allowed to explore (play an arm that is not its
// leader) right now: id + 1, or 0. Costs are whole-program cycles, so a site
// exploring while another does would be charged for the other's trials.
static _Atomic uint32_t explorer;
static _Atomic uint64_t explorer_since;    // ns; a holder silent for 2 windows' time loses it
// Arm changes of LEARN sites so far. Each disturbs the whole program's cost
// for a while (caches refill), and every site's window cost is whole-program
// cycles: a site that sees a new switch measures its window from a little
// later (its warm-up mark moves on), not across another site's transition.
static _Atomic uint64_t switches;
static _Atomic uint64_t next_wake = UINT64_MAX;  // earliest watch_at of any quiet site
static struct {
  hak_lock_t lock;
  char *chunk;
  size_t left;
} arena;

// --- clocks and counters ------------------------------------------------------------

static inline uint64_t cycles(void) {
#if defined(__x86_64__)
  return __builtin_ia32_rdtsc();
#else
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
#endif
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t minor_faults(void) {
  struct rusage ru;
  return getrusage(RUSAGE_SELF, &ru) == 0 ? (uint64_t)ru.ru_minflt : 0;
}

static int64_t bytes_mapped(void) {
  return (int64_t)(hak_stat_read(HAK_STAT_os_bytes_mapped) + hak_stat_read(HAK_STAT_os_bytes_mapped_pools));
}

// --- configuration ------------------------------------------------------------------

void hak_learn_configure(void) {
  hak_evo_config_t c = hak_evo_config_default();
  c.mode = (hak_evo_mode_t)hak_opt(HAK_OPT_EVO);
  c.learner = (hak_evo_learner_t)hak_opt(HAK_OPT_EVO_LEARNER);
  c.initial_threshold = hak_opt(HAK_OPT_EVO_INITIAL) ? hak_opt(HAK_OPT_EVO_INITIAL) : hak_opt(HAK_OPT_LARGE_THRESHOLD);
  c.window_ops = hak_opt(HAK_OPT_EVO_WINDOW_OPS);
  c.window_ns = hak_opt(HAK_OPT_EVO_WINDOW_MS) * 1000000u;
  c.min_learn_ns = hak_opt(HAK_OPT_EVO_MIN_LEARN_MS) * 1000000u;
  watch_ns = hak_opt(HAK_OPT_EVO_WATCH_MS) * 1000000u;
  cfg = c;  // sites made before keep pointing at cfg: same storage, new values
  hak_learn_on = c.mode != HAK_EVO_MODE_OFF;
  hak_large_tick_hook = hak_learn_on ? hak_learn_wake : NULL;
}

// What requests read: the record, and (quiet sites only) the quiet record
// in hak_learn_quiet[id], which lets the front door skip this file.
static void publish(site_learn_t *sl, bool counting) {
  uint64_t w = hak_policy_to_word(sl->evo.policy);
  atomic_store_explicit(&sl->policy, w, memory_order_relaxed);
  atomic_store_explicit(&sl->counting, counting, memory_order_relaxed);
  atomic_store_explicit(&sl->learning, sl->evo.state == HAK_EVO_LEARN, memory_order_relaxed);
  hak_learn_quiet_t q = {.large_threshold = sl->evo.policy.large_threshold, .cache_on = sl->evo.policy.cache_on,
                         .lo = sl->lo, .hi = sl->hi, .valid = 1};
  if (sl->evo.state == HAK_EVO_OFF) q.lo = 0, q.hi = HAK_SITE_HIST - 1;  // OFF: nothing to watch for
  uint64_t qw = 0;
  if (!counting && q.lo <= q.hi) __builtin_memcpy(&qw, &q, sizeof qw);
  atomic_store_explicit(&hak_learn_quiet[sl->id], qw, memory_order_relaxed);
}

// The quiet range: the buckets of the reference distribution (reset when the
// lifecycle moved on) and of every watched window since (hist NULL: none).
static void widen(site_learn_t *sl, const uint64_t *hist) {
  for (unsigned b = 0; hist && b < HAK_DIST_BUCKETS; b++)
    if (hist[b]) sl->lo = (uint8_t)(b < sl->lo ? b : sl->lo), sl->hi = (uint8_t)(b > sl->hi ? b : sl->hi);
}

static void widen_range(site_learn_t *sl, const uint64_t *hist) {
  if (sl->ref_events != sl->evo.history_len) {
    sl->ref_events = sl->evo.history_len;
    sl->lo = HAK_SITE_HIST - 1, sl->hi = 0;
    widen(sl, sl->evo.ref_hist);
  }
  widen(sl, hist);
}

// Requests left out of a window's cost after an arm switch.
static uint64_t warm_len(void) { return cfg.window_ops / 4; }

// The request count from which the window's cost is (or will be) measured:
// the pending warm-up mark, or the one taken (0: the window's start).
static uint64_t cost_mark(site_learn_t *sl) {
  uint64_t warm = atomic_load_explicit(&sl->warm, memory_order_relaxed);
  uint64_t from = atomic_load_explicit(&sl->warm_ops, memory_order_relaxed);
  return warm > from ? warm : from;
}

// Start measuring the window's cost here.
static void mark_start(site_learn_t *sl) {
  atomic_store_explicit(&sl->win_tsc, cycles(), memory_order_relaxed);
  atomic_store_explicit(&sl->win_faults, minor_faults(), memory_order_relaxed);
}

// --- per-site state -----------------------------------------------------------------

static site_learn_t *site_new(hak_site_id_t id) {
  size_t size = (sizeof(site_learn_t) + 63) & ~(size_t)63;
  hak_lock(&arena.lock);
  site_learn_t *sl = atomic_load_explicit(&sites[id], memory_order_acquire);
  if (!sl) {
    if (arena.left < size) {
      size_t chunk = (size_t)256 << 10;
      arena.chunk = hak_os_map(chunk, 0);
      arena.left = arena.chunk ? chunk : 0;
    }
    if (arena.left >= size) {
      sl = (site_learn_t *)arena.chunk;
      arena.chunk += size;
      arena.left -= size;
      uint64_t t = now_ns();
      hak_evo_init(&sl->evo, &cfg, id, t);
      mark_start(sl);
      sl->id = id;
      atomic_store_explicit(&sl->limit, cfg.window_ops, memory_order_relaxed);
      if (sl->evo.state == HAK_EVO_LEARN)  // the first arm starts cold too (and with the program's start-up)
        atomic_store_explicit(&sl->warm, warm_len(), memory_order_relaxed);
      atomic_store_explicit(&sl->seen_switches, atomic_load_explicit(&switches, memory_order_relaxed),
                            memory_order_relaxed);
      sl->lo = HAK_SITE_HIST - 1, sl->hi = 0;  // empty: any size wakes it
      sl->ref_events = sl->evo.history_len;
      publish(sl, sl->evo.state != HAK_EVO_OFF);
      atomic_store_explicit(&sites[id], sl, memory_order_release);
    }
  }
  hak_unlock(&arena.lock);
  return sl;
}

static inline uint64_t bump(_Atomic uint64_t *v) {
  uint64_t n = atomic_load_explicit(v, memory_order_relaxed) + 1;
  atomic_store_explicit(v, n, memory_order_relaxed);
  return n;
}

static inline uint64_t take(_Atomic uint64_t *v) { return atomic_exchange_explicit(v, 0, memory_order_relaxed); }

// May this LEARN site explore next window? Yes when no other site does (it
// takes the turn), or the other has not ended a window for 2 windows' time.
static bool may_explore(site_learn_t *sl, uint64_t t) {
  uint32_t me = sl->id + 1u, cur = atomic_load_explicit(&explorer, memory_order_relaxed);
  if (cur == me) return true;
  if (cur && t - atomic_load_explicit(&explorer_since, memory_order_relaxed) < 2 * cfg.window_ns) return false;
  if (!atomic_compare_exchange_strong_explicit(&explorer, &cur, me, memory_order_relaxed, memory_order_relaxed))
    return false;
  atomic_store_explicit(&explorer_since, t, memory_order_relaxed);
  return true;
}

// Close the window: gather its signals, let the lifecycle decide, publish.
static void window_end(site_learn_t *sl, uint64_t t) {
  uint64_t tsc = cycles(), faults = minor_faults();
  uint64_t ops = take(&sl->win_ops);
  uint64_t hist[HAK_DIST_BUCKETS];
  for (unsigned i = 0; i < HAK_DIST_BUCKETS; i++) hist[i] = take(&sl->hist[i]);
  uint64_t timed[2][3];
  for (unsigned r = 0; r < 2; r++)
    for (unsigned k = 0; k < 3; k++) timed[r][k] = take(&sl->timed[r][k]);

  // The requests before the warm-up mark are not costed (the window's cost
  // runs from the mark), unless the window ended before reaching it.
  uint64_t warm = atomic_exchange_explicit(&sl->warm_ops, 0, memory_order_relaxed);
  uint64_t costed = ops > warm ? ops - warm : warm ? 0 : ops;  // 0: nothing costed yet (the mark is now)
  atomic_store_explicit(&sl->warm, 0, memory_order_relaxed);
  atomic_store_explicit(&sl->limit, cfg.window_ops, memory_order_relaxed);

  hak_window_stats_t ws = {.hist = hist, .exploit_only = sl->evo.state == HAK_EVO_LEARN && !may_explore(sl, t)};
  hak_policy_t pol = hak_policy_from_word(atomic_load_explicit(&sl->policy, memory_order_relaxed));
  if (pol.canary) {
    // Both sides from the timed requests (the same measure, so comparable).
    for (unsigned r = 0; r < 2; r++) {
      hak_evo_obs_t *o = r == ROUTE_MAIN ? &ws.main : &ws.canary;
      o->ops = timed[r][0];
      o->cpu_per_op = timed[r][0] ? (double)(timed[r][1] + timed[r][2] * FAULT_CYCLES) / (double)timed[r][0] : 0;
      o->faults = -1;
      o->bytes_mapped = -1;
    }
    ws.main.ops = ops - timed[ROUTE_CANARY][0];
  } else {
    // The whole program's cycles per request of this site over the window.
    ws.main.ops = costed;
    ws.main.cpu_per_op = costed ? (double)(tsc - atomic_load_explicit(&sl->win_tsc, memory_order_relaxed)) / (double)costed : 0;
    ws.main.faults = (int64_t)(faults - atomic_load_explicit(&sl->win_faults, memory_order_relaxed));
    ws.main.bytes_mapped = bytes_mapped();
  }
  atomic_store_explicit(&sl->win_tsc, tsc, memory_order_relaxed);
  atomic_store_explicit(&sl->win_faults, faults, memory_order_relaxed);
  uint64_t before = hak_policy_to_word(sl->evo.policy);
  hak_evo_window_end(&sl->evo, &ws, t);
  // A new arm starts with its caches cold: leave its first requests out.
  if (hak_policy_to_word(sl->evo.policy) != before) {  // a new arm, a freeze on another, a canary starting or ending
    if (sl->evo.state == HAK_EVO_LEARN) atomic_store_explicit(&sl->warm, warm_len(), memory_order_relaxed);
    uint64_t sw = atomic_fetch_add_explicit(&switches, 1, memory_order_relaxed) + 1;
    atomic_store_explicit(&sl->seen_switches, sw, memory_order_relaxed);  // its own: the warm-up covers it
  }
  if (hak_evo_exploring(&sl->evo)) {  // keep the turn
    atomic_store_explicit(&explorer_since, t, memory_order_relaxed);
  } else {  // give it back if it was ours (back on the leader, or no longer learning)
    uint32_t me = sl->id + 1u;
    atomic_compare_exchange_strong_explicit(&explorer, &me, 0, memory_order_relaxed, memory_order_relaxed);
  }
  double cut = hak_evo_cut_cost(&sl->evo);
  atomic_store_explicit(&sl->cut, (uint64_t)cut, memory_order_relaxed);
  // A FROZEN site with its baseline (pinned FROZEN: after any window) goes
  // quiet until the next watched window.
  if (sl->evo.state == HAK_EVO_FROZEN && (!sl->evo.baseline_pending || cfg.mode == HAK_EVO_MODE_FROZEN) && watch_ns) {
    uint64_t at = t + watch_ns;
    atomic_store_explicit(&sl->watch_at, at, memory_order_relaxed);
    // Sizes join the range once a window could judge them (enough requests
    // for the drift test); a size seen in fewer stays out and wakes the site
    // again.
    widen_range(sl, hak_dist_total(hist) >= cfg.drift_min_count ? hist : NULL);
    publish(sl, false);
    uint64_t w = atomic_load_explicit(&next_wake, memory_order_relaxed);
    while (at < w && !atomic_compare_exchange_weak_explicit(&next_wake, &w, at, memory_order_relaxed,
                                                            memory_order_relaxed)) {
    }
  } else {
    publish(sl, sl->evo.state != HAK_EVO_OFF);
  }
}

// A quiet site starts a watched window: what it counts from now on is the
// window (nothing was counted while it was quiet).
static void wake_site(site_learn_t *sl, uint64_t t) {
  for (unsigned i = 0; i < HAK_DIST_BUCKETS; i++) atomic_store_explicit(&sl->hist[i], 0, memory_order_relaxed);
  atomic_store_explicit(&sl->win_ops, 0, memory_order_relaxed);
  mark_start(sl);
  hak_evo_window_restart(&sl->evo, t);
  atomic_store_explicit(&sl->watch_at, 0, memory_order_relaxed);
  publish(sl, true);
}

void hak_learn_wake(uint64_t now_ms) {
  uint64_t w = atomic_load_explicit(&next_wake, memory_order_relaxed);
  if (HAK_LIKELY(now_ms * 1000000u < w)) return;
  uint64_t t = now_ns(), given = now_ms * 1000000u;
  if (given > t) t = given;  // the caller's clock is coarse: it can only lag, unless a test moves it on
  if (t < w || !atomic_compare_exchange_strong_explicit(&next_wake, &w, UINT64_MAX, memory_order_relaxed,
                                                        memory_order_relaxed))
    return;  // another thread is waking
  uint64_t next = UINT64_MAX;
  for (unsigned id = 0; id < HAK_SITE_CAP; id++) {
    site_learn_t *sl = atomic_load_explicit(&sites[id], memory_order_acquire);
    if (!sl) continue;
    uint64_t at = atomic_load_explicit(&sl->watch_at, memory_order_relaxed);
    if (!at) continue;
    if (at <= t && hak_trylock(&sl->lock)) {
      if (atomic_load_explicit(&sl->watch_at, memory_order_relaxed)) wake_site(sl, t);
      hak_unlock(&sl->lock);
    } else if (at < next) {
      next = at > t ? at : t + 1000000u;  // locked: try again in a millisecond
    }
  }
  // Sites that went quiet meanwhile lowered next_wake themselves: keep the minimum.
  w = atomic_load_explicit(&next_wake, memory_order_relaxed);
  while (next < w && !atomic_compare_exchange_weak_explicit(&next_wake, &w, next, memory_order_relaxed,
                                                            memory_order_relaxed)) {
  }
}

// --- requests -----------------------------------------------------------------------

// CANARY: time the challenger's requests (1 in 20) and as many of the
// incumbent's, to compare the two on the same measure.
static HAK_NOINLINE void *canary_route(site_learn_t *sl, size_t size, size_t align, hak_site_id_t id, bool zero,
                                       hak_policy_t pol) {
  uint64_t op = atomic_fetch_add_explicit(&sl->ops, 1, memory_order_relaxed);
  bool canary = hak_policy_is_canary_op(pol, op);
  if (!canary && op % HAK_CANARY_EVERY != HAK_CANARY_EVERY / 2) return hak_learn_route(size, align, id, zero, pol.large_threshold, pol.cache_on, NULL);
  size_t fresh = 0;
  uint64_t t0 = cycles();
  hak_policy_t to = hak_policy_route(pol, op);
  void *p = hak_learn_route(size, align, id, zero, to.large_threshold, to.cache_on, &fresh);
  if (p) {
    unsigned r = canary ? ROUTE_CANARY : ROUTE_MAIN;
    atomic_fetch_add_explicit(&sl->timed[r][0], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&sl->timed[r][1], cycles() - t0, memory_order_relaxed);
    atomic_fetch_add_explicit(&sl->timed[r][2], fresh / 4096, memory_order_relaxed);
    if (hak_addrmap_get(p) != HAK_ADDR_SEGMENT) {  // a large block: its free is timed too
      hak_large_t *h = hak_large_lookup(p);
      if (h) h->flags |= canary ? HAK_LARGE_TIMED_CANARY : HAK_LARGE_TIMED_MAIN;
    }
  }
  return p;
}

void hak_learn_free_timed(hak_large_t *h) {
  unsigned r = h->flags & HAK_LARGE_TIMED_CANARY ? ROUTE_CANARY : ROUTE_MAIN;
  site_learn_t *sl = atomic_load_explicit(&sites[h->site], memory_order_acquire);
  uint64_t t0 = cycles();
  hak_large_free(h);
  if (sl) atomic_fetch_add_explicit(&sl->timed[r][1], cycles() - t0, memory_order_relaxed);
}

// Window boundary: by count, by time, or (LEARN) early when the arm being
// explored already costs more than the cut (checked every 64 requests).
static HAK_NOINLINE void window_check(site_learn_t *sl, uint64_t win) {
  uint64_t sw = atomic_load_explicit(&switches, memory_order_relaxed);
  if (sw != atomic_load_explicit(&sl->seen_switches, memory_order_relaxed)) {
    atomic_store_explicit(&sl->seen_switches, sw, memory_order_relaxed);
    if (atomic_load_explicit(&sl->learning, memory_order_relaxed))  // another site switched: measure from later
      atomic_store_explicit(&sl->warm, win + warm_len(), memory_order_relaxed);
  }
  uint64_t t = now_ns();
  uint64_t cut = atomic_load_explicit(&sl->cut, memory_order_relaxed);
  uint64_t from = atomic_load_explicit(&sl->warm_ops, memory_order_relaxed);
  // Not before a quarter of a window: a site whose requests come in bursts
  // (a batch of allocations, then other work) would look costlier at a
  // check mid-burst; over a quarter window that error is small.
  uint64_t least = cfg.window_ops / 4 > 256 ? cfg.window_ops / 4 : 256;
  bool losing = cut && win >= from + least &&
                cycles() - atomic_load_explicit(&sl->win_tsc, memory_order_relaxed) > cut * (win - from);
  uint64_t limit = atomic_load_explicit(&sl->limit, memory_order_relaxed);
  // The count is ours (limit: window_ops, or a drift check's own length;
  // a window whose warm-up mark was moved runs on until it has costed
  // requests, up to twice window_ops: the new end is stored, so requests up
  // to it are not each sent here); hak_evo_window_due with no ops asks about
  // the time.
  uint64_t mark = cost_mark(sl);
  uint64_t want = least < limit / 2 ? least : limit / 2;
  if (mark && mark + want > win && limit < 2 * cfg.window_ops) {  // too little costed yet
    uint64_t until = mark + want < 2 * cfg.window_ops ? mark + want : 2 * cfg.window_ops;
    if (until > limit) atomic_store_explicit(&sl->limit, limit = until, memory_order_relaxed);
  }
  if ((losing || win >= limit || hak_evo_window_due(&sl->evo, 0, t)) && hak_trylock(&sl->lock)) {
    uint64_t now_win = atomic_load_explicit(&sl->win_ops, memory_order_relaxed);
    if (now_win && atomic_load_explicit(&sl->counting, memory_order_relaxed) &&
        (losing || now_win >= limit || hak_evo_window_due(&sl->evo, 0, t)))
      window_end(sl, t);
    hak_unlock(&sl->lock);
  }
}

// LEARN, CANARY and watched FROZEN windows: count the request for the
// window (ops, size histogram), route it, and end the window when due.
static HAK_NOINLINE void *counted(site_learn_t *sl, size_t size, size_t align, hak_site_id_t id, bool zero,
                                  hak_policy_t pol) {
  // Statistics, not bookkeeping: a relaxed load and store each (no locked
  // read-modify-write; threads of one site racing may lose a count, which
  // only makes a window a little longer).
  uint64_t win = bump(&sl->win_ops);
  bump(&sl->hist[hak_site_bucket(size)]);
  if (HAK_UNLIKELY(win == atomic_load_explicit(&sl->warm, memory_order_relaxed))) {  // warmed up: cost from here
    mark_start(sl);
    atomic_store_explicit(&sl->warm_ops, win, memory_order_relaxed);
  }
  void *p = pol.canary ? canary_route(sl, size, align, id, zero, pol) : hak_learn_route(size, align, id, zero, pol.large_threshold, pol.cache_on, NULL);
  if (HAK_UNLIKELY(win >= atomic_load_explicit(&sl->limit, memory_order_relaxed) || (win & 63) == 0))
    window_check(sl, win);
  return p;
}

// A site's first request (make its state), and requests of a site that is
// not counting (quiet, or a size it has not shown while watched): off the
// counting path, which LEARN takes for every request.
static HAK_NOINLINE void *learn_alloc_rare(site_learn_t *sl, size_t size, size_t align, hak_site_id_t id, bool zero) {
  if (!sl && !(sl = site_new(id))) {  // no memory for learning: the static way
    hak_policy_t p = {.large_threshold = (uint32_t)hak_opt(HAK_OPT_LARGE_THRESHOLD), .cache_on = 1};
    return hak_learn_route(size, align, id, zero, p.large_threshold, p.cache_on, NULL);
  }
  hak_policy_t pol = hak_policy_from_word(atomic_load_explicit(&sl->policy, memory_order_relaxed));
  if (!atomic_load_explicit(&sl->counting, memory_order_relaxed)) {
    if (hak_learn_quiet_fits(hak_learn_quiet_load(id), size))  // quiet (the front door usually saw it)
      return hak_learn_route(size, align, id, zero, pol.large_threshold, pol.cache_on, NULL);
    // A size the site has not shown while watched: watch it now, for a
    // short window (enough requests to judge a drift).
    if (hak_trylock(&sl->lock)) {
      if (!atomic_load_explicit(&sl->counting, memory_order_relaxed) &&
          atomic_load_explicit(&sl->watch_at, memory_order_relaxed)) {
        atomic_store_explicit(&sl->limit, 4 * cfg.drift_min_count, memory_order_relaxed);
        wake_site(sl, now_ns());
      }
      hak_unlock(&sl->lock);
    }
    pol = hak_policy_from_word(atomic_load_explicit(&sl->policy, memory_order_relaxed));
    if (!atomic_load_explicit(&sl->counting, memory_order_relaxed))
      return hak_learn_route(size, align, id, zero, pol.large_threshold, pol.cache_on, NULL);
  }
  return counted(sl, size, align, id, zero, pol);
}

void *hak_learn_alloc(size_t size, size_t align, hak_site_id_t id, bool zero) {
  site_learn_t *sl = atomic_load_explicit(&sites[id], memory_order_acquire);
  if (HAK_LIKELY(sl && atomic_load_explicit(&sl->counting, memory_order_relaxed)))  // LEARN, CANARY, watched
    return counted(sl, size, align, id, zero,
                   hak_policy_from_word(atomic_load_explicit(&sl->policy, memory_order_relaxed)));
  return learn_alloc_rare(sl, size, align, id, zero);
}

// --- reports ------------------------------------------------------------------------

void hak_learn_json(hak_buf_t *b, hak_site_id_t id) {
  site_learn_t *sl = atomic_load_explicit(&sites[id], memory_order_acquire);
  if (!sl) {
    hak_buf_puts(b, "null");
    return;
  }
  // sizes_seen also shows the window in progress and the quiet range (a
  // quiet site's requests are not counted, but fall inside that range).
  uint32_t more = 0;
  for (unsigned k = 0; k < HAK_DIST_BUCKETS; k++)
    if (atomic_load_explicit(&sl->hist[k], memory_order_relaxed) || (k >= sl->lo && k <= sl->hi)) more |= 1u << k;
  // hak_evo_to_json writes into a flat buffer: format into the space left.
  size_t room = b->len < b->cap ? b->cap - b->len : 0;
  size_t n = hak_evo_to_json(room ? b->data + b->len : NULL, room, &sl->evo, more);
  b->len += n;
}

void hak_learn_print(int fd) {
  for (unsigned id = 0; id < HAK_SITE_CAP; id++) {
    site_learn_t *sl = atomic_load_explicit(&sites[id], memory_order_acquire);
    if (!sl) continue;
    const hak_evo_site_t *e = &sl->evo;
    hak_dprintf(fd, "  site %u at %p: %s on %s after %llu windows (%u canaries, %u adoptions, %u rollbacks)\n", id,
                (void *)atomic_load_explicit(&hak_site_get((hak_site_id_t)id)->addr, memory_order_relaxed),
                hak_evo_state_names[e->state], hak_strategy_info[hak_evo_strategy(e)].name,
                (unsigned long long)e->window, e->canaries, e->adoptions, e->rollbacks);
    // The leaderboard itself: the site's ratings, best first, as JSON.
    char buf[4096];  // ELO's 12 ratings and 8 events: ~2 KB
    size_t n = hak_evo_to_json(buf, sizeof buf, e, 0);
    char *r = strstr(buf, "\"ratings\":");
    char *h = r ? strstr(r, ",\"history\"") : NULL;
    if (r && h && n < sizeof buf) {
      *h = '\0';
      hak_dprintf(fd, "    %s\n", r);
    }
  }
}

bool hak_learn_has(hak_site_id_t id) { return atomic_load_explicit(&sites[id], memory_order_relaxed) != NULL; }

uint64_t hak_learn_policy_word(hak_site_id_t id) {
  site_learn_t *sl = atomic_load_explicit(&sites[id], memory_order_acquire);
  return sl ? atomic_load_explicit(&sl->policy, memory_order_relaxed) : 0;
}

void hak_learn_set_policy_word(hak_site_id_t id, uint64_t word) {
  site_learn_t *sl = atomic_load_explicit(&sites[id], memory_order_acquire);
  if (!sl) sl = site_new(id);
  if (!sl) return;
  hak_lock(&sl->lock);
  sl->evo.policy = hak_policy_from_word(word);
  publish(sl, atomic_load_explicit(&sl->counting, memory_order_relaxed));
  hak_unlock(&sl->lock);
}

void hak_learn_window_marks(hak_site_id_t id, uint64_t *counted, uint64_t *cost_from) {
  site_learn_t *sl = atomic_load_explicit(&sites[id], memory_order_acquire);
  *counted = sl ? atomic_load_explicit(&sl->win_ops, memory_order_relaxed) : 0;
  *cost_from = sl ? cost_mark(sl) : 0;
}

unsigned hak_learn_exploring(void) {
  unsigned n = 0;
  for (unsigned id = 0; id < HAK_SITE_CAP; id++) {
    site_learn_t *sl = atomic_load_explicit(&sites[id], memory_order_acquire);
    if (sl && hak_trylock(&sl->lock)) {
      n += hak_evo_exploring(&sl->evo);
      hak_unlock(&sl->lock);
    }
  }
  return n;
}

void hak_learn_reset(void) {
  for (unsigned id = 0; id < HAK_SITE_CAP; id++) {
    atomic_store_explicit(&sites[id], NULL, memory_order_relaxed);
    atomic_store_explicit(&hak_learn_quiet[id], 0, memory_order_relaxed);
  }
  atomic_store_explicit(&next_wake, UINT64_MAX, memory_order_relaxed);
  atomic_store_explicit(&explorer, 0, memory_order_relaxed);
}
