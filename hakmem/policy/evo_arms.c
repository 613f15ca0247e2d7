/* evo_arms.c — which arms a learning site really chooses between (layer
 * L4): arms alike for the site's sizes (one choice, credited together),
 * which arms LEARN may explore (free-policy arms only within the placement
 * the site leads with, once every placement arm is measured, and no
 * give-back arm where the arm in force reuses its freed blocks; never a
 * culled arm), culling after one far worse window, and what a site's first
 * large free changes. Rules in evo.h; called by evo.c. Pure.
 */
#include "hakmem/policy/evo_impl.h"

#include "hakmem/policy/bucket.h"

// A row of the free-policy set: the engine's own placement at the default
// threshold, another way of keeping freed blocks (strategy.h).
static bool free_row(const hak_evo_site_t *s, unsigned a) {
  return (hak_strategy_info[hak_evo_arm_strategy(s, a)].sets & HAK_STRAT_SET_FREE) != 0;
}

// The engine a request goes to, without what becomes of its block once freed.
static hak_policy_t placement(hak_policy_t p) {
  p.cache_slots = 0, p.release = HAK_STRAT_AUTO, p.resident_shift = 0;
  return p;
}

static bool alike_by(const hak_evo_site_t *s, unsigned a, unsigned b, const uint64_t *hist, bool engine_only) {
  if (a == b) return true;
  hak_policy_t pa = hak_evo_record(s, a), pb = hak_evo_record(s, b);
  if (engine_only) pa = placement(pa), pb = placement(pb);
  bool any = false;
  for (unsigned k = 0; k < HAK_DIST_BUCKETS; k++) {
    if (!hist[k]) continue;
    any = true;
    if (hak_bucket_route(pa, k) != hak_bucket_route(pb, k)) return false;
  }
  return any;
}

// Until the site frees a large block, what an arm would do with one makes
// no difference (UCB1; ELO's set has one free policy).
static bool engine_only(const hak_evo_site_t *s) { return !hak_evo_is_elo(s) && !s->freed; }

bool hak_evo_alike(const hak_evo_site_t *s, unsigned a, unsigned b, const uint64_t *hist) {
  return alike_by(s, a, b, hist, engine_only(s));
}

static void learner_update(hak_evo_site_t *s, unsigned arm, uint64_t ops, double cpu, double faults_per_op,
                           double bytes) {
  if (hak_evo_is_elo(s)) {
    hak_elo_metrics_t m = {cpu, faults_per_op, bytes};
    hak_elo_update(&s->l.elo, arm, ops, &m);
  } else {
    hak_ucb1_update(&s->l.ucb1, arm, cpu);
  }
}

void hak_evo_update_alike(hak_evo_site_t *s, unsigned arm, const uint64_t *hist, uint64_t ops, double cpu,
                          double faults_per_op, double bytes) {
  for (unsigned a = 0; a < s->n_arms; a++)
    if (hak_evo_alike(s, a, arm, hist)) learner_update(s, a, ops, cpu, faults_per_op, bytes);
}

void hak_evo_note_faults(hak_evo_site_t *s, unsigned arm, const uint64_t *hist, double faults_per_op) {
  if (hak_evo_is_elo(s) || !(faults_per_op >= 0 && faults_per_op < 1e300)) return;
  for (unsigned a = 0; a < s->n_arms; a++)
    if (hak_evo_alike(s, a, arm, hist)) s->sig_faults[a] += faults_per_op, s->sig_n[a]++;
}

// An arm whose freed blocks' pages go back to the kernel at once or lazily.
static bool gives_back(hak_policy_t p) {
  return p.cache_slots == 0 && (p.release == HAK_STRAT_RETURN || p.release == HAK_STRAT_LAZY);
}

// Pages per request of the site (over hist) that a's free policy applies to:
// its requests from a's threshold up, each counted at its bucket's low end.
static double pages_kept_by(hak_policy_t p, const uint64_t *hist) {
  double pages = 0, all = 0;
  for (unsigned b = 0; b < HAK_DIST_BUCKETS; b++) {
    all += (double)hist[b];
    if (hist[b] && hak_bucket_place(p.large_threshold, b) != HAK_BUCKET_BELOW)
      pages += (double)hist[b] * (double)(1ull << b) / 4096.0;
  }
  return all > 0 ? pages / all : 0;
}

bool hak_evo_give_back_hopeless(const hak_evo_site_t *s, unsigned a, unsigned from) {
  if (hak_evo_is_elo(s) || !(s->cfg->reuse_share > 0) || !s->sig_n[from]) return false;
  hak_policy_t p = hak_evo_record(s, a);
  if (!gives_back(p)) return false;
  return s->sig_faults[from] / (double)s->sig_n[from] < s->cfg->reuse_share * pages_kept_by(p, s->new_hist);
}

// --- what LEARN explores (UCB1) -------------------------------------------------------

// Measured enough: settle_pulls windows, or one at twice the leader's cost
// or more (a second would not change the ranking), or culled.
static bool measured(const hak_evo_site_t *s, unsigned a, double lead) {
  const hak_ucb1_t *u = &s->l.ucb1;
  if (s->culled >> a & 1u) return true;
  return u->pulls[a] >= s->cfg->settle_pulls || (u->pulls[a] && lead > 0 && hak_ucb1_mean(u, a) >= 2 * lead);
}

static bool placement_measured(const hak_evo_site_t *s, double lead) {
  for (unsigned a = 0; a < s->n_arms; a++)
    if (!free_row(s, a) && !measured(s, a, lead)) return false;
  return true;
}

// May LEARN explore arm a now? Not when culled; a free-policy arm only once
// the placement arms are measured, and only when it places the site's sizes
// as the leader does: it refines the placement the site leads with (as a
// placement alternative it would be the leader's rival T256K again, kept
// another way).
static bool explorable(const hak_evo_site_t *s, unsigned a, unsigned lead, bool placed) {
  if (s->culled >> a & 1u) return false;
  if (!free_row(s, a)) return true;
  return placed && alike_by(s, a, lead, s->new_hist, true) && !hak_evo_give_back_hopeless(s, a, lead);
}

bool hak_evo_learner_settled(const hak_evo_site_t *s) {
  if (hak_evo_is_elo(s)) return hak_elo_settled(&s->l.elo);
  unsigned lead = hak_ucb1_leader(&s->l.ucb1);
  double m = hak_ucb1_mean(&s->l.ucb1, lead);
  if (!placement_measured(s, m)) return false;
  for (unsigned a = 0; a < s->n_arms; a++)
    if (explorable(s, a, lead, true) && !measured(s, a, m)) return false;
  return true;
}

unsigned hak_evo_explore_pick(hak_evo_site_t *s) {
  if (hak_evo_is_elo(s)) return hak_elo_select(&s->l.elo);
  unsigned lead = hak_ucb1_leader(&s->l.ucb1);
  bool placed = placement_measured(s, hak_ucb1_mean(&s->l.ucb1, lead));
  uint32_t allowed = 0;
  for (unsigned a = 0; a < s->n_arms; a++)
    if (explorable(s, a, lead, placed)) allowed |= 1u << a;
  return hak_ucb1_select_among(&s->l.ucb1, allowed);
}

void hak_evo_cull(hak_evo_site_t *s, unsigned played, double c) {
  if (hak_evo_is_elo(s) || !(s->cfg->cull_factor > 0)) return;
  const hak_ucb1_t *u = &s->l.ucb1;
  unsigned lead = hak_ucb1_leader(u);
  if (u->pulls[played] != 1 || !u->pulls[lead] || hak_evo_alike(s, played, lead, s->new_hist)) return;
  if (!(c >= s->cfg->cull_factor * hak_ucb1_mean(u, lead))) return;
  for (unsigned a = 0; a < s->n_arms; a++)
    if (hak_evo_alike(s, a, played, s->new_hist)) s->culled |= 1u << a;
}

void hak_evo_saw_frees(hak_evo_site_t *s, uint64_t large_frees) {
  if (!large_frees || s->freed) return;
  s->freed = 1;
  if (hak_evo_is_elo(s)) return;
  // An arm credited with another's windows because their free policies
  // could not matter stands for nothing measured now.
  for (unsigned a = 0; a < s->n_arms; a++) {
    if (!s->l.ucb1.pulls[a]) continue;
    for (unsigned b = 0; b < s->n_arms; b++) {
      if (alike_by(s, a, b, s->new_hist, true) && !alike_by(s, a, b, s->new_hist, false)) {
        hak_ucb1_forget(&s->l.ucb1, a);
        s->sig_faults[a] = 0, s->sig_n[a] = 0;
        s->culled &= ~(1u << a);
        break;
      }
    }
  }
}
