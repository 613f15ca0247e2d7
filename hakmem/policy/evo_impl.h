/* evo_impl.h — the lifecycle's view of its learner and of the arms a site
 * chooses between (layer L4): shared by evo.c (the lifecycle),
 * evo_arms.c (which arms are alike for a site, which may be explored,
 * culling) and evo_inspect.c. Nothing outside policy/ includes it; the rules
 * are stated in evo.h ("arms that route a site's sizes alike", "what LEARN
 * explores").
 *
 * The learner is UCB1 or ELO (s->cfg->learner); these wrappers hide which.
 * Pure: no state beyond the site.
 */
#ifndef HAK_POLICY_EVO_IMPL_H
#define HAK_POLICY_EVO_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "hakmem/config.h"
#include "hakmem/policy/evo.h"

HAK_INLINE bool hak_evo_is_elo(const hak_evo_site_t *s) { return s->cfg->learner == HAK_EVO_ELO; }

/* The adopted arm (UCB1: its incumbent; ELO: its leader). */
HAK_INLINE unsigned hak_evo_learner_incumbent(const hak_evo_site_t *s) {
  return hak_evo_is_elo(s) ? hak_elo_leader(&s->l.elo) : s->l.ucb1.incumbent;
}

/* The arm with the best measured cost (UCB1: lowest mean; ELO: top rating). */
HAK_INLINE unsigned hak_evo_learner_leader(const hak_evo_site_t *s) {
  return hak_evo_is_elo(s) ? hak_elo_leader(&s->l.elo) : hak_ucb1_leader(&s->l.ucb1);
}

HAK_INLINE void hak_evo_learner_rank(const hak_evo_site_t *s, uint8_t *order) {
  hak_evo_is_elo(s) ? hak_elo_rank(&s->l.elo, order) : hak_ucb1_rank(&s->l.ucb1, order);
}

/* The record arm stands for. */
HAK_INLINE hak_policy_t hak_evo_record(const hak_evo_site_t *s, unsigned arm) {
  return hak_strategy_info[hak_evo_arm_strategy(s, arm)].policy;
}

/* True when arms a and b treat every bucket of hist alike for this site
 * (hist non-empty): they route it alike, or (UCB1, a site that has freed
 * no large block) they send it to the same engine, whatever they would do
 * with a freed block (evo.h). */
HAK_INTERNAL bool hak_evo_alike(const hak_evo_site_t *s, unsigned a, unsigned b, const uint64_t *hist);

/* The learner's update for arm and every arm alike with it over hist. */
HAK_INTERNAL void hak_evo_update_alike(hak_evo_site_t *s, unsigned arm, const uint64_t *hist, uint64_t ops, double cpu,
                                       double faults_per_op, double bytes);

/* UCB1: every arm LEARN may still explore measured settle_pulls times, or
 * once at twice the leader's cost or more; culled arms and free-policy arms
 * LEARN does not explore count as measured. ELO: culled to its survivors. */
HAK_INTERNAL bool hak_evo_learner_settled(const hak_evo_site_t *s);

/* The arm LEARN explores next window (UCB1 among the arms it may explore;
 * ELO: its own pick). */
HAK_INTERNAL unsigned hak_evo_explore_pick(hak_evo_site_t *s);

/* After a LEARN window of cost c on arm played: the first window of an arm
 * at cull_factor x the leader's mean or more culls it and the arms alike
 * with it (UCB1). */
HAK_INTERNAL void hak_evo_cull(hak_evo_site_t *s, unsigned played, double c);

/* A window's page faults per op (< 0: unknown, nothing noted), noted for
 * arm and every arm alike with it over hist (UCB1): the give-back rule's
 * measure of reuse. */
HAK_INTERNAL void hak_evo_note_faults(hak_evo_site_t *s, unsigned arm, const uint64_t *hist, double faults_per_op);

/* True when arm a gives freed blocks back (no cache; RETURN or LAZY) and
 * the arm `from` reuses the site's freed blocks (evo.h, "what LEARN
 * explores"): a would refault them, not worth a window or a trial. UCB1
 * only. */
HAK_INTERNAL bool hak_evo_give_back_hopeless(const hak_evo_site_t *s, unsigned a, unsigned from);

/* A window's large frees (ws->large_frees): the first one ends "no large
 * frees" for good; the arms whose measurements stood for another's behaviour
 * only because nothing was freed are forgotten (UCB1), to be measured again. */
HAK_INTERNAL void hak_evo_saw_frees(hak_evo_site_t *s, uint64_t large_frees);

#endif /* HAK_POLICY_EVO_IMPL_H */
