/* ucb1.c — UCB1 with adoption hysteresis (layer L4). See ucb1.h for the
 * rules; this file only implements them. */
#include "hakmem/policy/ucb1.h"

#include <math.h>  // sqrt: an instruction here (-fno-math-errno), no libm

#include "hakmem/check.h"
#include "hakmem/policy/fmath.h"

void hak_ucb1_init(hak_ucb1_t *u, const uint8_t *arms, unsigned n, unsigned initial, const hak_ucb1_config_t *cfg) {
  HAK_CHECK(n >= 1 && n <= HAK_STRATEGY_MAX && initial < n, "ucb1: bad arm count or initial arm");
  *u = (hak_ucb1_t){.cfg = cfg ? *cfg : HAK_UCB1_CONFIG_DEFAULT, .n = (uint8_t)n};
  for (unsigned i = 0; i < n; i++) u->arm[i] = arms[i];
  u->first = u->incumbent = u->streak_arm = (uint8_t)initial;
}

double hak_ucb1_mean(const hak_ucb1_t *u, unsigned arm) {
  return u->pulls[arm] ? u->sum[arm] / (double)u->pulls[arm] : 0.0;
}

unsigned hak_ucb1_select_among(const hak_ucb1_t *u, uint32_t allowed) {
  allowed &= u->n < 32 ? (1u << u->n) - 1u : ~0u;
  if (!allowed) return hak_ucb1_leader(u);
  for (unsigned k = 0; k < u->n; k++) {
    unsigned i = (u->first + k) % u->n;
    if ((allowed >> i & 1u) && u->pulls[i] == 0) return i;
  }
  // Normalise over the arms' MEAN costs (best 0, worst 1): single-window
  // extremes (a start-up window, one stall) would squeeze every mean
  // together and leave the bonus to decide alone.
  double lo = 0, hi = 0;
  bool any = false;
  for (unsigned i = 0; i < u->n; i++) {
    if (!(allowed >> i & 1u)) continue;
    double m = hak_ucb1_mean(u, i);
    if (!any || m < lo) lo = m;
    if (!any || m > hi) hi = m;
    any = true;
  }
  double range = hi - lo, ln_n = hak_fmath_ln((double)u->total);
  unsigned best = 0;
  double best_v = 0;
  any = false;
  for (unsigned i = 0; i < u->n; i++) {
    if (!(allowed >> i & 1u)) continue;
    double m = hak_ucb1_mean(u, i);
    double norm = range > 0 ? (m - lo) / range : 0.0;
    double v = norm - sqrt(u->cfg.explore * ln_n / (double)u->pulls[i]);
    if (!any || v < best_v) best = i, best_v = v;
    any = true;
  }
  return best;
}

unsigned hak_ucb1_select(const hak_ucb1_t *u) { return hak_ucb1_select_among(u, ~0u); }

void hak_ucb1_forget(hak_ucb1_t *u, unsigned arm) {
  HAK_CHECK(arm < u->n, "ucb1: arm out of range");
  u->total -= u->pulls[arm];
  u->pulls[arm] = 0;
  u->sum[arm] = 0;
}

unsigned hak_ucb1_leader(const hak_ucb1_t *u) {
  unsigned best = u->incumbent;
  for (unsigned i = 0; i < u->n; i++) {
    if (!u->pulls[i]) continue;
    if (!u->pulls[best] || hak_ucb1_mean(u, i) < hak_ucb1_mean(u, best)) best = i;
  }
  return best;
}

void hak_ucb1_rank(const hak_ucb1_t *u, uint8_t *order) {
  for (unsigned i = 0; i < u->n; i++) order[i] = (uint8_t)i;
  for (unsigned i = 1; i < u->n; i++) {  // insertion sort: n <= HAK_STRATEGY_MAX
    uint8_t a = order[i];
    unsigned j = i;
    while (j > 0) {
      uint8_t b = order[j - 1];
      bool before = u->pulls[a] && (!u->pulls[b] || hak_ucb1_mean(u, a) < hak_ucb1_mean(u, b));
      if (!before) break;
      order[j] = b, j--;
    }
    order[j] = a;
  }
}

int hak_ucb1_update(hak_ucb1_t *u, unsigned arm, double cost) {
  HAK_CHECK(arm < u->n, "ucb1: arm out of range");
  if (!(cost >= 0)) cost = 0;  // NaN or negative: treat as free, never poison the sums
  u->pulls[arm]++;
  u->sum[arm] += cost;
  u->total++;

  if (u->cooldown_left) {
    u->cooldown_left--;
    u->streak = 0;
    return 0;
  }
  unsigned lead = hak_ucb1_leader(u);
  double inc = hak_ucb1_mean(u, u->incumbent);
  bool wins = lead != u->incumbent && u->pulls[u->incumbent] &&
              hak_ucb1_mean(u, lead) <= (1.0 - u->cfg.margin) * inc;
  if (!u->pulls[u->incumbent] && lead != u->incumbent) wins = true;  // never-played incumbent: anything measured beats it
  if (!wins) {
    u->streak = 0;
    return 0;
  }
  if (u->streak_arm == lead && u->streak) u->streak++;
  else u->streak_arm = (uint8_t)lead, u->streak = 1;
  if (u->streak < u->cfg.streak) return 0;
  u->incumbent = (uint8_t)lead;
  u->streak = 0;
  u->cooldown_left = u->cfg.cooldown;
  u->switches++;
  HAK_DEBUG_WALK(hak_ucb1_is_valid(u));
  return 1;
}

bool hak_ucb1_is_valid(const hak_ucb1_t *u) {
  if (u->n < 1 || u->n > HAK_STRATEGY_MAX || u->incumbent >= u->n || u->first >= u->n || u->streak_arm >= u->n ||
      u->cooldown_left > u->cfg.cooldown)
    return false;
  uint64_t total = 0;
  for (unsigned i = 0; i < u->n; i++) {
    if (u->arm[i] >= HAK_STRAT_COUNT || !(u->sum[i] >= 0 && u->sum[i] < 1e308)) return false;
    total += u->pulls[i];
  }
  return total == u->total;
}
