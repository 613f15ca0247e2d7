/* learn.c — per-site strategies for requests of 64 KiB and more (layer L5).
 * See learn.h. Calls policy/evo.c on window boundaries; called by alloc.c
 * (requests), the OS seam's tick (hak_learn_wake, from both engines'
 * maintenance) and init.c (hak_learn_init). Making a site's state, publishing
 * what requests read, the configuration and the fork handler are in
 * learn_site.c; reports, test
 * hooks and the walker in learn_report.c; the state they share is
 * learn_site.h. The rules (window lengths, warm-up, the early cut, the cost)
 * are pure code in policy/window.c and policy/meter.c: this file reads the
 * clocks and counters and applies them.
 *
 * Locks: the arena lock (making a site's state) and one lock per site
 * (window ends, waking). Neither is held while taking another hakmem lock;
 * requests only try-lock a site. fork(): learn.c's handler takes the arena
 * lock, then every site's (fork.h).
 */
#include "hakmem/learn.h"

#include <stdatomic.h>
#include <string.h>

#include "hakmem/addrmap.h"
#include "hakmem/check.h"
#include "hakmem/heap.h"
#include "hakmem/fork.h"
#include "hakmem/large.h"
#include "hakmem/learn_site.h"
#include "hakmem/lock.h"
#include "hakmem/options.h"
#include "hakmem/os.h"
#include "hakmem/policy/bucket.h"
#include "hakmem/policy/evo.h"

_Static_assert(HAK_EVO_MODE_AUTO == 0 && HAK_EVO_MODE_LEARN == 1 && HAK_EVO_MODE_FROZEN == 2 && HAK_EVO_MODE_OFF == 3,
               "options.c's hak_evo_names follow hak_evo_mode_t");

// First-touch cost of one fresh page, in cycles, for the CANARY estimate (a
// minor fault with zeroing measures 0.5-1 us on the machines we know).
#define FAULT_CYCLES 1500u

enum { ROUTE_MAIN = 0, ROUTE_CANARY = 1 };

uint64_t (*hak_learn_clock)(void);         // test hook (hak_learn_set_clock)
// The one LEARN site allowed to explore (play an arm that is not its
// leader) right now: id + 1, or 0. Costs are whole-program cycles, so a site
// exploring while another does would be charged for the other's trials.
static _Atomic uint32_t explorer;
static _Atomic uint64_t explorer_since;    // ns; a holder silent for 2 windows' time loses it
// Arm changes of LEARN sites so far. Each disturbs the whole program's cost
// for a while (caches refill), and every site's window cost is whole-program
// cycles: a site that sees a new switch measures its window from a little
// later (its warm-up mark moves on), not across another site's transition.
_Atomic uint64_t hak_learn_switches;
static _Atomic uint64_t next_wake = UINT64_MAX;  // earliest watch_at of any quiet site

void hak_learn_set_clock(uint64_t (*now_ns)(void)) { hak_learn_clock = now_ns; }

static inline uint64_t bump(_Atomic uint64_t *v) {
  uint64_t n = atomic_load_explicit(v, memory_order_relaxed) + 1;
  atomic_store_explicit(v, n, memory_order_relaxed);
  return n;
}

static inline uint64_t take(_Atomic uint64_t *v) { return atomic_exchange_explicit(v, 0, memory_order_relaxed); }

// May this LEARN site explore next window? Yes when no other site does (it
// takes the turn), or the other has not ended a window for 2 windows' time.
static bool may_explore(hak_learn_site_t *sl, uint64_t t) {
  uint32_t me = sl->id + 1u, cur = atomic_load_explicit(&explorer, memory_order_relaxed);
  if (cur == me) return true;
  if (cur && t - atomic_load_explicit(&explorer_since, memory_order_relaxed) < 2 * hak_learn_cfg.win.max_ns) return false;
  if (!atomic_compare_exchange_strong_explicit(&explorer, &cur, me, memory_order_relaxed, memory_order_relaxed))
    return false;
  atomic_store_explicit(&explorer_since, t, memory_order_relaxed);
  return true;
}

// Close the window: gather its signals, let the lifecycle decide, publish.
// The engines p sends the sizes of buckets (bit b: log2 bucket b) to:
// LEFT_LARGE the large engine, LEFT_POOLS the pools.
enum { LEFT_LARGE = 1, LEFT_POOLS = 2, POOL_TRIMS = 3 };
static unsigned engines_of(hak_policy_t p, uint32_t buckets) {
  unsigned e = 0;
  for (unsigned b = 0; b < 32; b++) {
    if (!(buckets >> b & 1u)) continue;
    unsigned side = hak_bucket_place(p.large_threshold, b);
    if (side != HAK_BUCKET_BELOW || (2ull << b) > HAK_STRAT_POOL_MAX) e |= LEFT_LARGE;
    if (side != HAK_BUCKET_ABOVE && (1ull << b) < HAK_STRAT_POOL_MAX) e |= LEFT_POOLS;
  }
  return e;
}

// was_cut: the window was cut early (window.h); it is charged every request
// since its start, warm-up included (cut in its warm-up, it would have no
// costed request, teach the learner nothing and be played again). Returns the engines the site's sizes left
// with the new arm (LEFT_*): the caller gives their freed bytes back.
static unsigned window_end(hak_learn_site_t *sl, uint64_t t, bool was_cut) {
  hak_meter_sample_t end = hak_learn_sample(sl->id, t, true);
  hak_meter_t meter = hak_learn_meter(sl);
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
  if (was_cut) {
    meter.from.cycles = atomic_load_explicit(&sl->start_tsc, memory_order_relaxed);
    costed = ops;
  }
  atomic_store_explicit(&sl->warm, 0, memory_order_relaxed);

  uint64_t frees = atomic_load_explicit(&hak_site_get(sl->id)->frees, memory_order_relaxed);
  hak_window_stats_t ws = {.hist = hist, .requests = ops, .exploit_only = sl->evo.state == HAK_EVO_LEARN && !may_explore(sl, t),
                           .large_frees = frees - sl->frees_mark};
  sl->frees_mark = frees;
  hak_policy_t pol = hak_policy_from_word(atomic_load_explicit(&sl->policy, memory_order_relaxed));
  if (pol.canary) {
    // Both sides from the timed requests (the same measure, so comparable).
    for (unsigned r = 0; r < 2; r++) {
      hak_evo_obs_t *o = r == ROUTE_MAIN ? &ws.main : &ws.canary;
      o->ops = timed[r][0];
      o->cpu_per_op = timed[r][0] ? (double)(timed[r][1] + timed[r][2] * FAULT_CYCLES) / (double)timed[r][0] : 0;
      o->faults = -1;
      o->bytes_mapped = -1;
      o->mem_per_op = 0;  // both sides share the site's blocks: memory is not attributed
    }
    ws.main.ops = ops - timed[ROUTE_CANARY][0];
  } else {
    // The whole program's cycles per request of this site over the window,
    // and the memory the site held (meter.h).
    ws.main = hak_meter_obs(&meter, end, costed, hak_learn_mem_rate);
  }
  atomic_store_explicit(&sl->win_tsc, end.cycles, memory_order_relaxed);
  atomic_store_explicit(&sl->start_tsc, end.cycles, memory_order_relaxed);
  atomic_store_explicit(&sl->win_faults, end.faults, memory_order_relaxed);
  atomic_store_explicit(&sl->win_resident, end.resident, memory_order_relaxed);
  // The leader's resident bytes: what an exploring window may hold (window.h's cut).
  if (sl->evo.state == HAK_EVO_LEARN && !hak_evo_exploring(&sl->evo))
    atomic_store_explicit(&sl->lead_resident, end.resident, memory_order_relaxed);
  uint64_t before = hak_policy_to_word(sl->evo.policy);
  hak_evo_window_end(&sl->evo, &ws, t);
  hak_policy_t now = sl->evo.policy;
  unsigned uses = engines_of(now, sl->evo.sizes_seen);  // the engines the arm uses now
  if (now.canary) uses |= engines_of(hak_strategy_info[now.canary - 1].policy, sl->evo.sizes_seen);
  hak_learn_set_limit(sl, sl->evo.win.limit);
  // A new arm starts with its caches cold: leave its first requests out.
  if (hak_policy_to_word(now) != before) {  // a new arm, a freeze on another, a canary starting or ending
    if (sl->evo.state == HAK_EVO_LEARN) atomic_store_explicit(&sl->warm, hak_learn_warm_len(sl), memory_order_relaxed);
    uint64_t sw = atomic_fetch_add_explicit(&hak_learn_switches, 1, memory_order_relaxed) + 1;
    atomic_store_explicit(&sl->seen_switches, sw, memory_order_relaxed);  // its own: the warm-up covers it
  }
  // What the site's sizes left in the large engine is given back when the
  // site settles on an arm (the leader, a frozen one): an exploring window
  // or a canary keeps the site's cached large blocks. Exploring from the
  // large engine to the pools and back would otherwise refault the site's
  // whole working set twice (the pools', then the engine's again:
  // wl_phase_life's 48 MiB generations took 17,000 page faults more than
  // static for one window of 56 requests on the pools); the leader's blocks
  // wait for it instead, and the explorer cannot hold much besides them
  // (window.h's resident cut: the engine counts the site's bytes). The
  // pools trim at every switch off them, exploring or not: their gauge is
  // the pools' mapped segments, not the site's resident bytes, so no cut
  // bounds what an explorer holds besides them.
  bool keep = hak_evo_exploring(&sl->evo) || now.canary;
  unsigned was = engines_of(hak_policy_from_word(before), sl->evo.sizes_seen);
  sl->held |= was | uses;
  unsigned left = was & ~uses & LEFT_POOLS;
  if (!keep) left |= sl->held & ~uses, sl->held = uses;
  // Off the large engine: its frees of blocks from before the switch come
  // back to the engine's caches for a while, so every check gives them
  // back, not only the switch.
  bool off = !keep && sl->evo.sizes_seen && !(uses & LEFT_LARGE);
  atomic_store_explicit(&sl->off_large, off, memory_order_relaxed);
  if (off) left |= LEFT_LARGE;  // and at every window end
  // Off the pools: the blocks live at the switch are freed later, and their
  // pages empty then; the pools trim at the switch and at the next windows'
  // ends (POOL_TRIMS of them).
  if (left & LEFT_POOLS) sl->pool_trims = POOL_TRIMS;
  else if (sl->pool_trims && !(uses & LEFT_POOLS)) left |= LEFT_POOLS, sl->pool_trims--;
  else sl->pool_trims = 0;
  // An exploring window is checked every 8 requests: an arm ~400x the
  // leader's cost would otherwise spend 64 of them before its first check.
  atomic_store_explicit(&sl->check_mask, hak_evo_exploring(&sl->evo) ? 7u : 63u, memory_order_relaxed);
  atomic_store_explicit(&sl->start_peak, hak_evo_exploring(&sl->evo) ? hak_learn_peak_kib() : 0, memory_order_relaxed);
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
  if (sl->evo.state == HAK_EVO_FROZEN && (!sl->evo.baseline_pending || hak_learn_cfg.mode == HAK_EVO_MODE_FROZEN) && hak_learn_watch_ns) {
    uint64_t at = t + hak_learn_watch_ns;
    atomic_store_explicit(&sl->watch_at, at, memory_order_relaxed);
    // Sizes join the range once a window could judge them (enough requests
    // for the drift test); a size seen in fewer stays out and wakes the site
    // again.
    hak_learn_widen_range(sl, hak_dist_total(hist) >= hak_learn_cfg.drift_min_count ? hist : NULL);
    hak_learn_publish(sl, false);
    uint64_t w = atomic_load_explicit(&next_wake, memory_order_relaxed);
    while (at < w && !atomic_compare_exchange_weak_explicit(&next_wake, &w, at, memory_order_relaxed,
                                                            memory_order_relaxed)) {
    }
  } else {
    hak_learn_publish(sl, sl->evo.state != HAK_EVO_OFF);
  }
  HAK_DEBUG_WALK(hak_learn_site_is_valid(sl));
  return left;
}

// A site whose sizes left an engine: that engine gives back the freed bytes
// it kept for them (without it a site trying the other engine holds both
// engines' bytes, and exploring doubled the program's peak RSS). The large
// engine's are the site's (its rings, its spares), given back at every check
// while the site is off it (window_check) and at every window end; the pools do not
// count per site: this thread's empty pages go back at the switch. Outside
// the site's lock.
static void give_back(hak_site_id_t id, unsigned left) {
  if (left & LEFT_LARGE) hak_large_site_give_back(id);
  if (left & LEFT_POOLS) hak_heap_trim();
}

// A quiet site starts a watched window: what it counts from now on is the
// window (nothing was counted while it was quiet).
static void wake_site(hak_learn_site_t *sl, uint64_t t) {
  for (unsigned i = 0; i < HAK_DIST_BUCKETS; i++) atomic_store_explicit(&sl->hist[i], 0, memory_order_relaxed);
  atomic_store_explicit(&sl->win_ops, 0, memory_order_relaxed);
  hak_learn_mark_start(sl, true);
  hak_evo_window_restart(&sl->evo, t);
  atomic_store_explicit(&sl->watch_at, 0, memory_order_relaxed);
  hak_learn_publish(sl, true);
  HAK_DEBUG_WALK(hak_learn_site_is_valid(sl));
}

void hak_learn_wake(uint64_t now_ms) {
  uint64_t w = atomic_load_explicit(&next_wake, memory_order_relaxed);
  if (HAK_LIKELY(now_ms * 1000000u < w)) return;
  uint64_t t = hak_learn_now_ns(), given = now_ms * 1000000u;
  if (given > t) t = given;  // the caller's clock is coarse: it can only lag, unless a test moves it on
  if (t < w || !atomic_compare_exchange_strong_explicit(&next_wake, &w, UINT64_MAX, memory_order_relaxed,
                                                        memory_order_relaxed))
    return;  // another thread is waking
  uint64_t next = UINT64_MAX;
  for (unsigned id = 0; id < HAK_SITE_CAP; id++) {
    hak_learn_site_t *sl = atomic_load_explicit(&hak_learn_sites[id], memory_order_acquire);
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
static HAK_NOINLINE void *canary_route(hak_learn_site_t *sl, size_t size, size_t align, hak_site_id_t id, bool zero,
                                       hak_policy_t pol) {
  uint64_t op = atomic_fetch_add_explicit(&sl->ops, 1, memory_order_relaxed);
  bool canary = hak_policy_is_canary_op(pol, op);
  if (!canary && op % HAK_CANARY_EVERY != HAK_CANARY_EVERY / 2) return hak_learn_route(size, align, id, zero, pol, NULL);
  size_t fresh = 0;
  uint64_t t0 = hak_learn_cycles();
  hak_policy_t to = hak_policy_route(pol, op);
  void *p = hak_learn_route(size, align, id, zero, to, &fresh);
  if (p) {
    unsigned r = canary ? ROUTE_CANARY : ROUTE_MAIN;
    atomic_fetch_add_explicit(&sl->timed[r][0], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&sl->timed[r][1], hak_learn_cycles() - t0, memory_order_relaxed);
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
  hak_learn_site_t *sl = atomic_load_explicit(&hak_learn_sites[h->site], memory_order_acquire);
  uint64_t t0 = hak_learn_cycles();
  hak_large_free(h);
  if (sl) atomic_fetch_add_explicit(&sl->timed[r][1], hak_learn_cycles() - t0, memory_order_relaxed);
}

// Window boundary: by count, by time, or (LEARN) early when the arm being
// explored already costs more than the cut or holds more than the leader
// (window.h's rules; checked every 64 requests).
static HAK_NOINLINE void window_check(hak_learn_site_t *sl, uint64_t win) {
  uint64_t sw = atomic_load_explicit(&hak_learn_switches, memory_order_relaxed);
  if (sw != atomic_load_explicit(&sl->seen_switches, memory_order_relaxed)) {
    atomic_store_explicit(&sl->seen_switches, sw, memory_order_relaxed);
    if (atomic_load_explicit(&sl->learning, memory_order_relaxed))  // another site switched: measure from later
      atomic_store_explicit(&sl->warm, win + hak_learn_warm_len(sl), memory_order_relaxed);
  }
  if (atomic_load_explicit(&sl->off_large, memory_order_relaxed)) hak_large_site_give_back(sl->id);
  uint64_t t = hak_learn_now_ns();
  uint64_t base = atomic_load_explicit(&sl->base, memory_order_relaxed);
  uint64_t limit = atomic_load_explicit(&sl->limit, memory_order_relaxed);
  // A window whose warm-up mark was moved runs on until it has costed
  // requests (the new end is stored, so requests up to it are not each sent
  // here).
  uint64_t mark = hak_learn_cost_mark(sl);
  if (mark) {
    uint64_t until = hak_window_extend(&hak_learn_cfg.win, base, mark);
    if (until > limit) atomic_store_explicit(&sl->limit, limit = until, memory_order_relaxed);
  }
  uint64_t cut = atomic_load_explicit(&sl->cut, memory_order_relaxed);
  uint64_t from = atomic_load_explicit(&sl->warm_ops, memory_order_relaxed);
  bool losing = false, overspent = false;
  if (cut && win > from && atomic_load_explicit(&sl->learning, memory_order_relaxed)) {
    hak_meter_t m = hak_learn_meter(sl);
    hak_meter_sample_t now = hak_learn_sample(sl->id, t, false);
    now.faults = m.from.faults;  // the cut weighs time and memory; no syscall for faults
    uint64_t begun = atomic_load_explicit(&sl->start_tsc, memory_order_relaxed);
    overspent = hak_window_overspent(limit, now.cycles > begun ? (double)(now.cycles - begun) : 0, (double)cut);
    int64_t peak = atomic_load_explicit(&sl->start_peak, memory_order_relaxed);
    losing = overspent || (peak > 0 && hak_window_peak_cut(&hak_learn_cfg.win, hak_learn_peak_kib(), peak)) ||
             hak_window_cut(&hak_learn_cfg.win, base, win - from, hak_meter_cost_so_far(&m, now, win - from, hak_learn_mem_rate),
                            (double)cut, now.resident, atomic_load_explicit(&sl->lead_resident, memory_order_relaxed));
  }
  // The time is due_ns, the copy of the window's time rule that publish
  // keeps for readers without the lock; the lifecycle's clock decides.
  bool due = t >= atomic_load_explicit(&sl->due_ns, memory_order_relaxed);
  if ((losing || win >= limit || due) && hak_trylock(&sl->lock)) {
    uint64_t now_win = atomic_load_explicit(&sl->win_ops, memory_order_relaxed);
    unsigned left = 0;
    if (now_win && atomic_load_explicit(&sl->counting, memory_order_relaxed) &&
        (losing || now_win >= limit || hak_window_due_at(&hak_learn_cfg.win, &sl->evo.win, now_win, limit, t)))
      left = window_end(sl, t, losing);
    hak_unlock(&sl->lock);
    if (left) give_back(sl->id, left);
  }
}

// LEARN, CANARY and watched FROZEN windows: count the request for the
// window (ops, size histogram), route it, and end the window when due.
static HAK_NOINLINE void *counted(hak_learn_site_t *sl, size_t size, size_t align, hak_site_id_t id, bool zero,
                                  hak_policy_t pol) {
  // Statistics, not bookkeeping: a relaxed load and store each (no locked
  // read-modify-write; threads of one site racing may lose a count, which
  // only makes a window a little longer).
  uint64_t win = bump(&sl->win_ops);
  bump(&sl->hist[hak_site_bucket(size)]);
  if (HAK_UNLIKELY(win == atomic_load_explicit(&sl->warm, memory_order_relaxed))) {  // warmed up: cost from here
    hak_learn_mark_start(sl, false);
    atomic_store_explicit(&sl->warm_ops, win, memory_order_relaxed);
  }
  void *p = pol.canary ? canary_route(sl, size, align, id, zero, pol) : hak_learn_route(size, align, id, zero, pol, NULL);
  if (HAK_UNLIKELY(win >= atomic_load_explicit(&sl->limit, memory_order_relaxed) ||
                   (win & atomic_load_explicit(&sl->check_mask, memory_order_relaxed)) == 0))
    window_check(sl, win);
  return p;
}

// A site's first request (make its state), and requests of a site that is
// not counting (quiet, or a size it has not shown while watched): off the
// counting path, which LEARN takes for every request.
static HAK_NOINLINE void *learn_alloc_rare(hak_learn_site_t *sl, size_t size, size_t align, hak_site_id_t id, bool zero) {
  if (!sl && !(sl = hak_learn_site_new(id))) {  // no memory for learning: the static way
    hak_policy_t p = {.large_threshold = (uint32_t)hak_opt(HAK_OPT_LARGE_THRESHOLD), .cache_slots = HAK_STRAT_RING};
    return hak_learn_route(size, align, id, zero, p, NULL);
  }
  hak_policy_t pol = hak_policy_from_word(atomic_load_explicit(&sl->policy, memory_order_relaxed));
  if (!atomic_load_explicit(&sl->counting, memory_order_relaxed)) {
    if (hak_learn_quiet_fits(hak_learn_quiet_load(id), size))  // quiet (the front door usually saw it)
      return hak_learn_route(size, align, id, zero, pol, NULL);
    // A size the site has not shown while watched: watch it now, for a
    // short window (enough requests to judge a drift).
    if (hak_trylock(&sl->lock)) {
      if (!atomic_load_explicit(&sl->counting, memory_order_relaxed) &&
          atomic_load_explicit(&sl->watch_at, memory_order_relaxed)) {
        hak_learn_set_limit(sl, 4 * hak_learn_cfg.drift_min_count);
        wake_site(sl, hak_learn_now_ns());
      }
      hak_unlock(&sl->lock);
    }
    pol = hak_policy_from_word(atomic_load_explicit(&sl->policy, memory_order_relaxed));
    if (!atomic_load_explicit(&sl->counting, memory_order_relaxed))
      return hak_learn_route(size, align, id, zero, pol, NULL);
  }
  return counted(sl, size, align, id, zero, pol);
}

void *hak_learn_alloc(size_t size, size_t align, hak_site_id_t id, bool zero) {
  hak_learn_site_t *sl = atomic_load_explicit(&hak_learn_sites[id], memory_order_acquire);
  if (HAK_LIKELY(sl && atomic_load_explicit(&sl->counting, memory_order_relaxed)))  // LEARN, CANARY, watched
    return counted(sl, size, align, id, zero,
                   hak_policy_from_word(atomic_load_explicit(&sl->policy, memory_order_relaxed)));
  return learn_alloc_rare(sl, size, align, id, zero);
}

_Atomic uint32_t hak_learn_resets;

void hak_learn_reset(void) {
  atomic_fetch_add_explicit(&hak_learn_resets, 1, memory_order_relaxed);
  for (unsigned id = 0; id < HAK_SITE_CAP; id++) {
    atomic_store_explicit(&hak_learn_sites[id], NULL, memory_order_relaxed);
    atomic_store_explicit(&hak_learn_quiet[id], 0, memory_order_relaxed);
  }
  atomic_store_explicit(&next_wake, UINT64_MAX, memory_order_relaxed);
  atomic_store_explicit(&explorer, 0, memory_order_relaxed);
}
