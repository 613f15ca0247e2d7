/* learn_site.c — the learning engine's per-site state (layer L5): making a
 * site's state (from an internal arena), publishing what its requests read
 * (the policy word, the counting flag, the quiet record), the quiet range,
 * the configuration from the options, and the fork handler. learn.c runs the windows; learn_report.c reads the
 * state for reports. See learn_site.h.
 *
 * Locks: the arena lock (making a site's state) and one lock per site.
 * fork(): the arena lock, then every site's (fork.h).
 */
#include <stdatomic.h>

#include "hakmem/check.h"
#include "hakmem/fork.h"
#include "hakmem/learn.h"
#include "hakmem/learn_site.h"
#include "hakmem/lock.h"
#include "hakmem/options.h"
#include "hakmem/os.h"
#include "hakmem/policy/evo.h"

_Atomic(hak_learn_site_t *) hak_learn_sites[HAK_SITE_CAP];
_Atomic uint64_t hak_learn_quiet[HAK_SITE_CAP];

static struct {
  hak_lock_t lock;
  char *chunk;
  size_t left;
} arena;

// --- configuration ------------------------------------------------------------------

bool hak_learn_on;
hak_evo_config_t hak_learn_cfg;
uint64_t hak_learn_watch_ns;
double hak_learn_mem_rate;

void hak_learn_configure(void) {
  hak_evo_config_t c = hak_evo_config_default();
  c.mode = (hak_evo_mode_t)hak_opt(HAK_OPT_EVO);
  c.learner = (hak_evo_learner_t)hak_opt(HAK_OPT_EVO_LEARNER);
  c.initial_threshold = hak_opt(HAK_OPT_EVO_INITIAL) ? hak_opt(HAK_OPT_EVO_INITIAL) : hak_opt(HAK_OPT_LARGE_THRESHOLD);
  const char *row = hak_opt_str(HAK_OPT_EVO_STRATEGY);
  c.initial_row = row[0] ? hak_strategy_find(row) : -1;
  if (row[0] && c.initial_row < 0) hak_log("hakmem: HAKMEM_EVO_STRATEGY=%s is no strategy; ignored\n", row);
  // BALANCED's UCB1 explores placement only: trying the free policies,
  // even only at sites that free large blocks, after placement, and no
  // give-back arm where the arm in force reuses its blocks (evo.h), still
  // costs a little more than it wins (paired times 1.03-1.09x on
  // two-sites and phase-life, at about the same page faults). A pinned
  // row's sets stay in, so any row can be pinned.
  if (!hak_opt(HAK_OPT_EVO_FREE_ARMS) && c.learner == HAK_EVO_UCB1)
    c.sets = HAK_STRAT_SET_UCB1 | (c.initial_row >= 0 ? hak_strategy_info[c.initial_row].sets : 0u);
  c.win.max_ops = hak_opt(HAK_OPT_EVO_WINDOW_OPS);
  c.win.max_ns = hak_opt(HAK_OPT_EVO_WINDOW_MS) * 1000000u;
  c.win.target_ns = hak_opt(HAK_OPT_EVO_TARGET_MS) * 1000000u;
  c.min_learn_ns = hak_opt(HAK_OPT_EVO_MIN_LEARN_MS) * 1000000u;
  hak_learn_mem_rate = (double)hak_opt(HAK_OPT_EVO_MEM_COST) * 1000.0;
  hak_learn_watch_ns = hak_opt(HAK_OPT_EVO_WATCH_MS) * 1000000u;
  hak_learn_cfg = c;  // sites made before keep pointing at hak_learn_cfg: same storage, new values
  hak_learn_on = c.mode != HAK_EVO_MODE_OFF;
  hak_os_tick_hook = hak_learn_on ? hak_learn_wake : NULL;  // both engines' maintenance ticks
}

// --- start-up and fork --------------------------------------------------------------

// The arena lock first (no site is made while it is held), then every
// site's lock: a child inherits neither held by a thread it does not have
// (site_new would spin on the arena lock, and a site whose lock stayed
// taken would never end a window again).
static void fork_prepare(void) {
  hak_lock(&arena.lock);
  for (unsigned id = 0; id < HAK_SITE_CAP; id++) {
    hak_learn_site_t *sl = atomic_load_explicit(&hak_learn_sites[id], memory_order_acquire);
    if (sl) hak_lock(&sl->lock);
  }
}

static void fork_release(void) {
  for (unsigned id = HAK_SITE_CAP; id-- > 0;) {
    hak_learn_site_t *sl = atomic_load_explicit(&hak_learn_sites[id], memory_order_relaxed);
    if (sl) hak_unlock(&sl->lock);
  }
  hak_unlock(&arena.lock);
}

static const hak_fork_handler_t learn_fork = {"learn", fork_prepare, fork_release, fork_release};

void hak_learn_init(void) { hak_fork_register(&learn_fork); }

// --- what requests read ----------------------------------------------------------------

// What requests read: the record, and (quiet sites only) the quiet record
// in hak_learn_quiet[id], which lets the front door skip this file.
void hak_learn_publish(hak_learn_site_t *sl, bool counting) {
  uint64_t w = hak_policy_to_word(sl->evo.policy);
  atomic_store_explicit(&sl->policy, w, memory_order_relaxed);
  atomic_store_explicit(&sl->counting, counting, memory_order_relaxed);
  atomic_store_explicit(&sl->learning, sl->evo.state == HAK_EVO_LEARN, memory_order_relaxed);
  uint64_t due = hak_window_due_ns(&hak_learn_cfg.win, &sl->evo.win, sl->evo.win.limit);  // the time rule's earliest end
  atomic_store_explicit(&sl->due_ns, sl->evo.state == HAK_EVO_OFF ? UINT64_MAX : due, memory_order_relaxed);
  hak_policy_t p = sl->evo.policy;
  hak_learn_quiet_t q = {.threshold_4k = (uint16_t)(p.large_threshold >> 12), .cache_slots = p.cache_slots,
                         .release = p.release, .resident_shift = p.resident_shift, .lo = sl->lo, .hi = sl->hi, .spare = 0};
  if (sl->evo.state == HAK_EVO_OFF) q.lo = 0, q.hi = HAK_SITE_HIST - 1;  // OFF: nothing to watch for
  uint64_t qw = 0;
  if (!counting && q.lo <= q.hi) __builtin_memcpy(&qw, &q, sizeof qw);
  atomic_store_explicit(&hak_learn_quiet[sl->id], qw, memory_order_relaxed);
}

// The quiet range: the buckets of the reference distribution (reset when the
// lifecycle moved on) and of every watched window since (hist NULL: none).
static void widen(hak_learn_site_t *sl, const uint64_t *hist) {
  for (unsigned b = 0; hist && b < HAK_DIST_BUCKETS; b++)
    if (hist[b]) sl->lo = (uint8_t)(b < sl->lo ? b : sl->lo), sl->hi = (uint8_t)(b > sl->hi ? b : sl->hi);
}

void hak_learn_widen_range(hak_learn_site_t *sl, const uint64_t *hist) {
  if (sl->ref_events != sl->evo.history_len) {
    sl->ref_events = sl->evo.history_len;
    sl->lo = HAK_SITE_HIST - 1, sl->hi = 0;
    widen(sl, sl->evo.ref_hist);
  }
  widen(sl, hist);
}

// --- making a site's state -----------------------------------------------------------

hak_learn_site_t *hak_learn_site_new(hak_site_id_t id) {
  size_t size = (sizeof(hak_learn_site_t) + 63) & ~(size_t)63;
  hak_lock(&arena.lock);
  hak_learn_site_t *sl = atomic_load_explicit(&hak_learn_sites[id], memory_order_acquire);
  if (!sl) {
    if (arena.left < size) {
      size_t chunk = (size_t)256 << 10;
      arena.chunk = hak_os_map(chunk, 0);
      arena.left = arena.chunk ? chunk : 0;
    }
    if (arena.left >= size) {
      sl = (hak_learn_site_t *)arena.chunk;
      arena.chunk += size;
      arena.left -= size;
      uint64_t t = hak_learn_now_ns();
      hak_evo_init(&sl->evo, &hak_learn_cfg, id, t);
      sl->id = id;
      hak_learn_mark_start(sl, true);
      atomic_store_explicit(&sl->check_mask, 63, memory_order_relaxed);
      hak_learn_set_limit(sl, sl->evo.win.limit);
      atomic_store_explicit(&sl->lead_resident, -1, memory_order_relaxed);
      if (sl->evo.state == HAK_EVO_LEARN)  // the first arm starts cold too (and with the program's start-up)
        atomic_store_explicit(&sl->warm, hak_window_warm(&hak_learn_cfg.win, hak_learn_cfg.win.min_ops),
                              memory_order_relaxed);  // the first window ends by time (its rate is unknown)
      atomic_store_explicit(&sl->seen_switches, atomic_load_explicit(&hak_learn_switches, memory_order_relaxed),
                            memory_order_relaxed);
      sl->lo = HAK_SITE_HIST - 1, sl->hi = 0;  // empty: any size wakes it
      sl->ref_events = sl->evo.history_len;
      hak_learn_publish(sl, sl->evo.state != HAK_EVO_OFF);
      HAK_DEBUG_WALK(hak_learn_site_is_valid(sl));  // before others can change it
      atomic_store_explicit(&hak_learn_sites[id], sl, memory_order_release);
    }
  }
  hak_unlock(&arena.lock);
  return sl;
}
