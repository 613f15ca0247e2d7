/* evo.c — the per-site lifecycle LEARN -> FROZEN -> CANARY (layer L4).
 * Every rule is stated in evo.h; this file implements them in the order
 * the header lists them. Pure: the clock and costs come in as arguments.
 * The read-only views of a site (JSON, the invariant walker) are in
 * evo_inspect.c. */
#include "hakmem/policy/evo.h"

#include "hakmem/check.h"
#include "hakmem/log.h"
#include "hakmem/policy/evo_impl.h"

const char *const hak_evo_mode_names[] = {"auto", "learn", "frozen", "off", NULL};
const char *const hak_evo_state_names[] = {"LEARN", "FROZEN", "CANARY", "OFF"};
const char *const hak_evo_reason_names[] = {"start", "stable", "worse", "drift", "won", "lost"};

hak_evo_config_t hak_evo_config_default(void) {
  return (hak_evo_config_t){
      .mode = HAK_EVO_MODE_AUTO,
      .learner = HAK_EVO_UCB1,
      .sets = 0,
      .initial_threshold = 256u << 10,
      .initial_row = -1,
      .win = hak_window_rules_default(),
      .min_learn_ns = 0,
      .min_learn_windows = 0,
      .max_learn_windows = 20,
      .stable_tol = 0.01,
      .stable_windows = 3,
      .settle_pulls = 2,
      .worsen = 0.20,
      .worsen_windows = 3,
      .drift = HAK_DIST_DRIFT,
      .drift_min_count = 64,
      .canary_windows = 3,
      .canary_challengers = 2,
      .canary_margin = 0.05,
      .canary_min_ops = 50,
      .explore_after = 3,
      .cut_factor = 1.1,
      .cull_factor = 1.25,
      .reuse_share = 0.125,
      .canary_decisive = 0.5,
      .seed = 0x68616b6d656d21ull,
      .ucb1 = HAK_UCB1_CONFIG_DEFAULT,
      .elo = HAK_ELO_CONFIG_DEFAULT,
  };
}

// --- the learner, whichever it is (evo_impl.h) -----------------------------------------

unsigned hak_evo_arm_strategy(const hak_evo_site_t *s, unsigned arm) {
  return hak_evo_is_elo(s) ? s->l.elo.arm[arm] : s->l.ucb1.arm[arm];
}

// --- bookkeeping ----------------------------------------------------------------

static double clean_cost(double c) { return c >= 0 && c < 1e300 ? c : 0.0; }

static void log_event(hak_evo_site_t *s, hak_evo_state_t from, hak_evo_state_t to, hak_evo_reason_t why) {
  hak_evo_event_t *ev = &s->history[s->history_len % HAK_EVO_HISTORY];
  *ev = (hak_evo_event_t){.window = s->window, .from = (uint8_t)from, .to = (uint8_t)to, .reason = (uint8_t)why,
                          .strategy = (uint8_t)hak_evo_arm_strategy(s, s->cur)};
  s->history_len++;
}

static void set_state(hak_evo_site_t *s, hak_evo_state_t to, hak_evo_reason_t why, uint64_t now_ns) {
  hak_evo_state_t from = (hak_evo_state_t)s->state;
  s->state = (uint8_t)to;
  s->state_start_ns = now_ns;
  s->state_start_window = s->window;
  log_event(s, from, to, why);
}

static void reset_p99(hak_evo_site_t *s) {
  hak_p2_init(&s->p99, 0.99);
  s->last_p99 = 0;
  s->inc_windows = 0;
  s->stable = 0;
}

/* One window's cost into the running p99; counts stable windows. */
static void feed_p99(hak_evo_site_t *s, double c) {
  hak_p2_add(&s->p99, c);
  double v = hak_p2_value(&s->p99);
  if (s->inc_windows > 0) {
    double diff = v > s->last_p99 ? v - s->last_p99 : s->last_p99 - v;
    bool ok = s->last_p99 > 0 ? diff <= s->cfg->stable_tol * s->last_p99 : diff == 0;
    s->stable = ok ? s->stable + 1 : 0;
  }
  s->last_p99 = v;
  s->inc_windows++;
}

static void add_hist(uint64_t *dst, const uint64_t *src) {
  if (!src) return;
  for (unsigned b = 0; b < HAK_DIST_BUCKETS; b++) dst[b] += src[b];
}

void hak_evo_init(hak_evo_site_t *s, const hak_evo_config_t *cfg, uint64_t salt, uint64_t now_ns) {
  HAK_CHECK(cfg != NULL, "evo: no config");
  __builtin_memset(s, 0, sizeof *s);
  s->cfg = cfg;
  uint32_t ucb1 = HAK_STRAT_SET_UCB1 | HAK_STRAT_SET_FREE;
  uint32_t sets = cfg->sets ? cfg->sets : cfg->learner == HAK_EVO_ELO ? HAK_STRAT_SET_ELO : ucb1;
  uint8_t arms[HAK_STRATEGY_MAX];
  unsigned n = hak_strategy_set(sets, arms, HAK_STRATEGY_MAX);
  HAK_CHECK(n >= 1 && n <= HAK_STRATEGY_MAX, "evo: the candidate sets select no strategy");
  bool pinned = cfg->initial_row >= 0 && (hak_strategy_info[cfg->initial_row].sets & sets);
  int first = pinned ? cfg->initial_row : hak_strategy_nearest(cfg->initial_threshold, sets);
  unsigned initial = 0;
  for (unsigned i = 0; i < n; i++)
    if (arms[i] == (uint8_t)first) initial = i;
  s->n_arms = (uint8_t)n;
  if (cfg->learner == HAK_EVO_ELO) {
    hak_elo_init(&s->l.elo, arms, n, &cfg->elo, cfg->seed ^ (salt * 0x9e3779b97f4a7c15ull));
  } else {
    hak_ucb1_init(&s->l.ucb1, arms, n, initial, &cfg->ucb1);
  }
  reset_p99(s);
  hak_window_init(&s->win, &cfg->win, now_ns);
  s->cur = s->incumbent = (uint8_t)initial;
  hak_evo_state_t st = cfg->mode == HAK_EVO_MODE_OFF ? HAK_EVO_OFF
                       : cfg->mode == HAK_EVO_MODE_FROZEN ? HAK_EVO_FROZEN
                                                          : HAK_EVO_LEARN;
  s->initial = (uint8_t)initial;
  if (st == HAK_EVO_LEARN && cfg->explore_after == 0) s->cur = (uint8_t)hak_evo_explore_pick(s);
  if (st == HAK_EVO_FROZEN) s->baseline_pending = 1;
  s->state = (uint8_t)st;
  set_state(s, st, HAK_EVO_R_START, now_ns);
  s->policy = hak_evo_record(s, s->cur);
  HAK_DEBUG_WALK(hak_evo_is_valid(s));
}

bool hak_evo_window_due(const hak_evo_site_t *s, uint64_t ops_in_window, uint64_t now_ns) {
  if (s->state == HAK_EVO_OFF) return false;
  return hak_window_due(&s->cfg->win, &s->win, ops_in_window, now_ns);
}

void hak_evo_window_restart(hak_evo_site_t *s, uint64_t now_ns) { hak_window_restart(&s->win, now_ns); }

double hak_evo_cut_cost(const hak_evo_site_t *s) {
  if (s->state != HAK_EVO_LEARN || !(s->cfg->cut_factor > 0)) return 0;
  double lead;
  if (hak_evo_is_elo(s)) {
    unsigned a = hak_evo_learner_leader(s);
    if (a == s->cur || !s->l.elo.batches[a]) return 0;
    lead = hak_elo_mean(&s->l.elo, a).cpu;
  } else {
    unsigned a = hak_evo_learner_leader(s);
    if (a == s->cur || !s->l.ucb1.pulls[a]) return 0;
    lead = hak_ucb1_mean(&s->l.ucb1, a);
  }
  return lead > 0 ? s->cfg->cut_factor * lead : 0;
}

unsigned hak_evo_strategy(const hak_evo_site_t *s) { return hak_evo_arm_strategy(s, s->cur); }

// --- LEARN ------------------------------------------------------------------------

static double per_op(int64_t count, uint64_t ops) { return count < 0 ? -1.0 : (double)count / (double)ops; }

static void freeze(hak_evo_site_t *s, unsigned arm, hak_evo_reason_t why, uint64_t now_ns) {
  s->cur = (uint8_t)arm;
  s->worse = 0;
  set_state(s, HAK_EVO_FROZEN, why, now_ns);
  s->policy = hak_evo_record(s, arm);
}

/* The arm LEARN freezes on (UCB1): the incumbent, unless another arm played
 * settle_pulls times measured cheaper. The adoption hysteresis (ucb1.h)
 * guards LEARN against noise; freezing is the last switch, so it takes the
 * best measured arm (a site's gain diluted in the whole program's cost may
 * stay below the margin). The choice moves only for an arm 2% cheaper, so
 * two arms measuring alike do not restart the p99. ELO: its leader. */
static unsigned candidate(const hak_evo_site_t *s) {
  unsigned inc = hak_evo_learner_incumbent(s), had = s->incumbent;
  if (hak_evo_is_elo(s)) return inc;
  const hak_ucb1_t *u = &s->l.ucb1;
  unsigned lead = hak_ucb1_leader(u);
  bool better = u->pulls[lead] >= s->cfg->settle_pulls && u->pulls[inc] && hak_ucb1_mean(u, lead) < hak_ucb1_mean(u, inc);
  unsigned best = better ? lead : inc;
  if (best == had || !u->pulls[had]) return best;
  return hak_ucb1_mean(u, best) < 0.98 * hak_ucb1_mean(u, had) ? best : had;
}

static void learn_window(hak_evo_site_t *s, const hak_window_stats_t *ws, double c, uint64_t now_ns) {
  const hak_evo_config_t *cfg = s->cfg;
  unsigned played = s->cur;
  add_hist(s->new_hist, ws->hist);
  // The first explore_after - 1 windows are the program's start-up (evo.h).
  if (s->window - s->state_start_window >= cfg->explore_after) {
    hak_evo_update_alike(s, played, s->new_hist, ws->main.ops, c, per_op(ws->main.faults, ws->main.ops),
                         ws->main.bytes_mapped < 0 ? -1.0 : (double)ws->main.bytes_mapped);
    hak_evo_cull(s, played, c);
    hak_evo_note_faults(s, played, s->new_hist, per_op(ws->main.faults, ws->main.ops));
  }
  // The arm whose p99 is tracked: the learner's incumbent; once settled,
  // the arm LEARN freezes on, which then plays (every arm is measured: no
  // more exploring) until its p99 holds still.
  bool settled = cfg->mode == HAK_EVO_MODE_AUTO && hak_evo_learner_settled(s);
  unsigned inc = settled ? candidate(s) : hak_evo_learner_incumbent(s);
  if (inc != s->incumbent) s->incumbent = (uint8_t)inc, reset_p99(s);
  if (hak_evo_alike(s, played, inc, s->new_hist)) feed_p99(s, c);

  uint64_t learned = s->window - s->state_start_window;
  bool ready = settled && learned >= cfg->min_learn_windows && now_ns - s->state_start_ns >= cfg->min_learn_ns &&
               (s->stable >= cfg->stable_windows || (cfg->max_learn_windows && learned >= cfg->max_learn_windows));
  if (ready) {
    __builtin_memcpy(s->ref_hist, s->new_hist, sizeof s->ref_hist);
    s->baseline = hak_p2_value(&s->p99);
    s->baseline_pending = s->inc_windows == 0;  // FROZEN measures it when LEARN did not
    if (s->baseline_pending) reset_p99(s);
    freeze(s, inc, HAK_EVO_R_STABLE, now_ns);
    return;
  }
  if (learned < cfg->explore_after) {
    s->cur = s->initial;
  } else if (settled) {
    s->cur = (uint8_t)inc;
  } else {
    // An arm that routes the site's sizes like the leader is the leader's
    // behaviour (its measurements are the leader's): play the leader. As
    // another arm it would count as exploring, and be cut on the refaults
    // of the switch back from a real exploration, charged to the leader too.
    unsigned lead = hak_evo_learner_leader(s), next = ws->exploit_only ? lead : hak_evo_explore_pick(s);
    s->cur = (uint8_t)(hak_evo_alike(s, next, lead, s->new_hist) ? lead : next);
  }
  s->policy = hak_evo_record(s, s->cur);
}

bool hak_evo_exploring(const hak_evo_site_t *s) {
  return s->state == HAK_EVO_LEARN && s->cur != hak_evo_learner_leader(s) && s->cur != s->incumbent &&
         s->window - s->state_start_window >= s->cfg->explore_after;
}

// --- CANARY -------------------------------------------------------------------------

/* The best arm in the learner's order (as it stands now) that routes the
 * site's sizes (new_hist) unlike the one in force and unlike every arm tried
 * in this CANARY, and is no give-back arm the one in force would lose its
 * reuse to (evo.h); the one in force when there is none. */
static unsigned pick_challenger(const hak_evo_site_t *s) {
  uint8_t order[HAK_STRATEGY_MAX];
  hak_evo_learner_rank(s, order);
  for (unsigned r = 0; r < s->n_arms; r++) {
    bool seen = hak_evo_alike(s, order[r], s->cur, s->new_hist) || hak_evo_give_back_hopeless(s, order[r], s->cur);
    for (unsigned q = 0; q < s->n_arms && !seen; q++)
      seen = (s->tried_mask >> q & 1u) && hak_evo_alike(s, order[r], q, s->new_hist);
    if (!seen) return order[r];
  }
  return s->cur;
}

static void end_canary(hak_evo_site_t *s, hak_evo_reason_t why, uint64_t now_ns);

static void begin_trial(hak_evo_site_t *s, uint64_t now_ns) {
  s->challenger = (uint8_t)pick_challenger(s);
  if (s->challenger == s->cur) {  // every other arm routes these sizes the same way: nothing to try
    end_canary(s, HAK_EVO_R_LOST, now_ns);
    return;
  }
  s->canary_done = 0;
  __builtin_memset(s->acc, 0, sizeof s->acc);
  __builtin_memset(s->acc_known, 0, sizeof s->acc_known);
  s->policy = hak_evo_record(s, s->cur);
  s->policy.canary = (uint8_t)(1 + hak_evo_arm_strategy(s, s->challenger));
}

/* hist: the window that triggered it (the sizes the challengers must
 * route differently). */
static void start_canary(hak_evo_site_t *s, hak_evo_reason_t why, const uint64_t *hist, uint64_t now_ns) {
  if (s->n_arms < 2) return;
  if (why == HAK_EVO_R_DRIFT) s->drifts++;
  s->canaries++;
  s->tried = 0;
  s->tried_mask = 0;
  s->worse = 0;
  __builtin_memset(s->new_hist, 0, sizeof s->new_hist);
  add_hist(s->new_hist, hist);
  if (!hak_dist_total(s->new_hist)) add_hist(s->new_hist, s->ref_hist);
  set_state(s, HAK_EVO_CANARY, why, now_ns);
  begin_trial(s, now_ns);
}

static void accumulate(double *acc, double *known, const hak_evo_obs_t *o) {
  if (o->ops == 0) return;
  acc[0] += (double)o->ops;
  acc[1] += (double)o->ops * (clean_cost(o->cpu_per_op) + clean_cost(o->mem_per_op));
  if (o->faults >= 0) acc[2] += (double)o->faults, known[0] += (double)o->ops;
  if (o->bytes_mapped >= 0) acc[3] += (double)o->bytes_mapped * (double)o->ops, known[1] += (double)o->ops;
}

/* Mean metrics of one side of the trial; -1 where unknown. */
static hak_elo_metrics_t trial_mean(const hak_evo_site_t *s, int side) {
  const double *a = s->acc[side], *k = s->acc_known[side];
  hak_elo_metrics_t m = {a[0] > 0 ? a[1] / a[0] : 0.0, k[0] > 0 ? a[2] / k[0] : -1.0, k[1] > 0 ? a[3] / k[1] : -1.0};
  return m;
}

static void end_canary(hak_evo_site_t *s, hak_evo_reason_t why, uint64_t now_ns) {
  if (why == HAK_EVO_R_WON) s->cur = s->challenger, s->adoptions++;
  else s->rollbacks++;
  if (hak_dist_total(s->new_hist)) __builtin_memcpy(s->ref_hist, s->new_hist, sizeof s->ref_hist);
  reset_p99(s);
  s->baseline_pending = 1;
  freeze(s, s->cur, why, now_ns);
}

static void canary_window(hak_evo_site_t *s, const hak_window_stats_t *ws, uint64_t now_ns) {
  const hak_evo_config_t *cfg = s->cfg;
  accumulate(s->acc[0], s->acc_known[0], &ws->main);
  accumulate(s->acc[1], s->acc_known[1], &ws->canary);
  add_hist(s->new_hist, ws->hist);
  s->canary_done++;
  bool enough = s->acc[1][0] >= (double)cfg->canary_min_ops;
  hak_elo_metrics_t inc = trial_mean(s, 0), ch = trial_mean(s, 1);
  // A verdict no further window could change (one side costs less than
  // `decisive` x the other) comes at once; otherwise after canary_windows.
  bool decisive = enough && s->acc[0][0] > 0 && cfg->canary_decisive > 0 &&
                  (ch.cpu < cfg->canary_decisive * inc.cpu || inc.cpu < cfg->canary_decisive * ch.cpu);
  if (!decisive && (s->canary_done < cfg->canary_windows || (!enough && s->canary_done < 3 * cfg->canary_windows)))
    return;

  bool won = false;
  if (enough && s->acc[0][0] > 0) {
    if (hak_evo_is_elo(s)) won = hak_elo_pair_score(&cfg->elo, &ch, &inc) <= -cfg->canary_margin;
    else won = ch.cpu <= (1.0 - cfg->canary_margin) * inc.cpu;
    // What the trial measured also teaches the learner (for the next canary's order).
    hak_evo_update_alike(s, s->challenger, s->new_hist, (uint64_t)s->acc[1][0], ch.cpu, ch.faults, ch.bytes);
    hak_evo_update_alike(s, s->cur, s->new_hist, (uint64_t)s->acc[0][0], inc.cpu, inc.faults, inc.bytes);
  }
  if (won) {
    end_canary(s, HAK_EVO_R_WON, now_ns);
    return;
  }
  s->tried++;
  s->tried_mask |= 1u << s->challenger;
  if (s->tried < cfg->canary_challengers && s->tried + 1u < s->n_arms) {
    begin_trial(s, now_ns);
    return;
  }
  end_canary(s, HAK_EVO_R_LOST, now_ns);
}

// --- FROZEN -----------------------------------------------------------------------------

static void frozen_window(hak_evo_site_t *s, const hak_window_stats_t *ws, double c, uint64_t now_ns) {
  const hak_evo_config_t *cfg = s->cfg;
  feed_p99(s, c);
  if (cfg->mode == HAK_EVO_MODE_FROZEN) return;  // pinned: record only
  if (ws->hist) hak_evo_note_faults(s, s->cur, ws->hist, per_op(ws->main.faults, ws->main.ops));
  if (s->baseline_pending) {
    if (s->inc_windows >= cfg->stable_windows) s->baseline = hak_p2_value(&s->p99), s->baseline_pending = 0;
  } else {
    s->worse = c >= (1.0 + cfg->worsen) * s->baseline ? s->worse + 1 : 0;
  }
  if (ws->hist && hak_dist_total(ws->hist) >= cfg->drift_min_count) {
    if (!hak_dist_total(s->ref_hist)) __builtin_memcpy(s->ref_hist, ws->hist, sizeof s->ref_hist);
    else if (hak_dist_drifted(s->ref_hist, ws->hist, cfg->drift)) {
      start_canary(s, HAK_EVO_R_DRIFT, ws->hist, now_ns);
      return;
    }
  }
  if (s->worse >= cfg->worsen_windows) start_canary(s, HAK_EVO_R_WORSE, ws->hist, now_ns);
}

bool hak_evo_window_end(hak_evo_site_t *s, const hak_window_stats_t *ws, uint64_t now_ns) {
  if (s->state == HAK_EVO_OFF) return false;
  // The rate counts every request of the window (CANARY's both sides, the
  // warm-up's too).
  hak_window_close(&s->win, &s->cfg->win, ws->requests ? ws->requests : ws->main.ops + ws->canary.ops, now_ns);
  if (ws->main.ops == 0) return false;
  hak_policy_t before = s->policy;
  double c = clean_cost(ws->main.cpu_per_op) + clean_cost(ws->main.mem_per_op);
  s->window++;
  for (unsigned b = 0; ws->hist && b < HAK_DIST_BUCKETS; b++)
    if (ws->hist[b]) s->sizes_seen |= 1u << b;
  hak_evo_saw_frees(s, ws->large_frees);
  switch ((hak_evo_state_t)s->state) {
    case HAK_EVO_LEARN: learn_window(s, ws, c, now_ns); break;
    case HAK_EVO_FROZEN: frozen_window(s, ws, c, now_ns); break;
    case HAK_EVO_CANARY: canary_window(s, ws, now_ns); break;
    case HAK_EVO_OFF: break;
  }
  HAK_DEBUG_WALK(hak_evo_is_valid(s));
  return hak_policy_to_word(before) != hak_policy_to_word(s->policy);
}
