/* elo.c — ELO tournament with epsilon-greedy selection (layer L4). See
 * elo.h for the rules; the random state is the caller's seed, never rand(). */
#include "hakmem/policy/elo.h"

#include "hakmem/check.h"
#include "hakmem/policy/fmath.h"

static uint64_t splitmix64(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static double uniform01(uint64_t *s) { return (double)(splitmix64(s) >> 11) * 0x1.0p-53; }

void hak_elo_init(hak_elo_t *e, const uint8_t *arms, unsigned n, const hak_elo_config_t *cfg, uint64_t seed) {
  HAK_CHECK(n >= 1 && n <= HAK_STRATEGY_MAX, "elo: bad arm count");
  *e = (hak_elo_t){.cfg = cfg ? *cfg : HAK_ELO_CONFIG_DEFAULT, .n = (uint8_t)n, .live = (uint8_t)n, .rng = seed};
  if (e->cfg.final_survivors < 1) e->cfg.final_survivors = 1;
  if (e->cfg.min_samples < 1) e->cfg.min_samples = 1;
  for (unsigned i = 0; i < n; i++) e->arm[i] = arms[i], e->alive[i] = 1, e->rating[i] = e->cfg.initial;
}

bool hak_elo_settled(const hak_elo_t *e) { return e->live <= e->cfg.final_survivors; }

unsigned hak_elo_leader(const hak_elo_t *e) {
  unsigned best = e->n;
  for (unsigned i = 0; i < e->n; i++)
    if (e->alive[i] && (best == e->n || e->rating[i] > e->rating[best])) best = i;
  return best;
}

static unsigned nth_live(const hak_elo_t *e, unsigned k) {
  for (unsigned i = 0; i < e->n; i++)
    if (e->alive[i] && k-- == 0) return i;
  return hak_elo_leader(e);
}

unsigned hak_elo_select(hak_elo_t *e) {
  if (uniform01(&e->rng) < e->cfg.epsilon) return nth_live(e, (unsigned)(splitmix64(&e->rng) % e->live));
  if (hak_elo_settled(e)) return hak_elo_leader(e);
  unsigned pick = e->n;
  for (unsigned i = 0; i < e->n; i++)
    if (e->alive[i] && (pick == e->n || e->in_round[i] < e->in_round[pick])) pick = i;
  return pick;
}

hak_elo_metrics_t hak_elo_mean(const hak_elo_t *e, unsigned arm) {
  double x[3];
  for (int k = 0; k < 3; k++) x[k] = e->known[arm][k] > 0 ? e->sum[arm][k] / e->known[arm][k] : -1.0;
  return (hak_elo_metrics_t){x[0], x[1], x[2]};
}

double hak_elo_pair_score(const hak_elo_config_t *cfg, const hak_elo_metrics_t *a, const hak_elo_metrics_t *b) {
  const double xa[3] = {a->cpu, a->faults, a->bytes}, xb[3] = {b->cpu, b->faults, b->bytes};
  const double w[3] = {cfg->w_cpu, cfg->w_faults, cfg->w_bytes};
  double d = 0, wsum = 0;
  for (int k = 0; k < 3; k++) {
    if (!(xa[k] >= 0) || !(xb[k] >= 0)) continue;  // unknown (negative or NaN)
    wsum += w[k];
    double mid = (xa[k] + xb[k]) / 2;
    if (mid > 0) d += w[k] * (xa[k] - xb[k]) / mid;
  }
  return wsum > 0 ? d / wsum : 0.0;
}

static void play(hak_elo_t *e, unsigned a, unsigned b, const hak_elo_metrics_t *ma, const hak_elo_metrics_t *mb) {
  double d = hak_elo_pair_score(&e->cfg, ma, mb);
  double s = d < -e->cfg.tie ? 1.0 : d > e->cfg.tie ? 0.0 : 0.5;
  double expect = 1.0 / (1.0 + hak_fmath_pow10((e->rating[b] - e->rating[a]) / 400.0));
  double delta = e->cfg.k * (s - expect);
  e->rating[a] += delta;
  e->rating[b] -= delta;
  e->matches++;
}

void hak_elo_rank(const hak_elo_t *e, uint8_t *order) {
  for (unsigned i = 0; i < e->n; i++) order[i] = (uint8_t)i;
  for (unsigned i = 1; i < e->n; i++) {  // insertion sort, n <= HAK_STRATEGY_MAX
    uint8_t a = order[i];
    unsigned j = i;
    while (j > 0) {
      uint8_t b = order[j - 1];
      bool before = e->alive[a] > e->alive[b] || (e->alive[a] == e->alive[b] && e->rating[a] > e->rating[b]);
      if (!before) break;
      order[j] = b, j--;
    }
    order[j] = a;
  }
}

static void cull(hak_elo_t *e) {
  uint8_t order[HAK_STRATEGY_MAX];
  hak_elo_rank(e, order);
  unsigned keep = (e->live + 1u) / 2u;
  if (keep < e->cfg.final_survivors) keep = e->cfg.final_survivors;
  for (unsigned r = keep; r < e->live; r++) e->alive[order[r]] = 0;
  if (keep < e->live) e->live = (uint8_t)keep;
  for (unsigned i = 0; i < e->n; i++) e->in_round[i] = 0;
  e->round++;
}

void hak_elo_update(hak_elo_t *e, unsigned arm, uint64_t ops, const hak_elo_metrics_t *m) {
  HAK_CHECK(arm < e->n, "elo: arm out of range");
  if (ops == 0) return;
  const double x[3] = {m->cpu, m->faults, m->bytes};
  for (int k = 0; k < 3; k++)
    if (x[k] >= 0) e->pend[arm][k] += x[k] * (double)ops, e->pend_known[arm][k] += (double)ops;
  e->pend_ops[arm] += ops;
  if (e->pend_ops[arm] < e->cfg.min_samples) return;

  // A complete batch: match it against every other live arm with data.
  double bx[3];
  for (int k = 0; k < 3; k++) bx[k] = e->pend_known[arm][k] > 0 ? e->pend[arm][k] / e->pend_known[arm][k] : -1.0;
  hak_elo_metrics_t batch = {bx[0], bx[1], bx[2]};
  if (e->alive[arm]) {
    for (unsigned b = 0; b < e->n; b++) {
      if (b == arm || !e->alive[b] || e->samples[b] < e->cfg.min_samples) continue;
      hak_elo_metrics_t mb = hak_elo_mean(e, b);
      play(e, arm, b, &batch, &mb);
    }
  }
  for (int k = 0; k < 3; k++) {
    e->sum[arm][k] += e->pend[arm][k], e->known[arm][k] += e->pend_known[arm][k];
    e->pend[arm][k] = 0, e->pend_known[arm][k] = 0;
  }
  e->samples[arm] += e->pend_ops[arm];
  e->pend_ops[arm] = 0;
  e->batches[arm]++;
  e->in_round[arm]++;

  if (!hak_elo_settled(e)) {
    bool round_done = true;
    for (unsigned i = 0; i < e->n; i++)
      if (e->alive[i] && e->in_round[i] < e->cfg.round_windows) round_done = false;
    if (round_done) cull(e);
  }
  HAK_DEBUG_WALK(hak_elo_is_valid(e));
}

bool hak_elo_is_valid(const hak_elo_t *e) {
  if (e->n < 1 || e->n > HAK_STRATEGY_MAX || e->live < 1 || e->live > e->n) return false;
  unsigned live = 0;
  for (unsigned i = 0; i < e->n; i++) {
    if (e->arm[i] >= HAK_STRAT_COUNT || e->alive[i] > 1 || !(e->rating[i] > -1e300 && e->rating[i] < 1e300))
      return false;
    live += e->alive[i];
  }
  return live == e->live;
}
