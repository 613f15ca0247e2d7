/* ucb1.h — UCB1 strategy selection for one site, with hysteresis (layer L4).
 *
 * Convention: the learner is fed COSTS, lower is better (e.g. CPU cycles per
 * operation over a window). One update per window: the arm played in that
 * window and its cost.
 *
 * Selection (which arm to play next window): every arm once, in arm order
 * starting with the initial arm; then the arm minimising
 *     norm(mean_i) - sqrt(explore * ln N / n_i)        (explore = 2.0)
 * where N is the total number of updates, n_i the arm's, and norm() maps
 * mean costs onto [0, 1], the lowest arm mean to 0 and the highest to 1
 * (UCB1's bonus assumes rewards in [0, 1]; single-window extremes, e.g. a
 * start-up window, would squeeze the means together and leave the choice to
 * the bonus alone).
 *
 * Hysteresis (which arm is ADOPTED, the incumbent the lifecycle freezes):
 * after each update the leader is the arm with the lowest mean cost. When
 * the leader is not the incumbent and its mean is at least `margin` (8%)
 * below the incumbent's, the leader's streak grows (a different leader
 * restarts it at 1); any other window resets it. At `streak` (3) windows in
 * a row the leader is adopted, and for the next `cooldown` (10) updates no
 * switch can happen (streaks do not count during the cooldown).
 * Exploration (what is played) is never held back; only adoption is.
 *
 * Pure, no allocation; one owner per learner (not thread-safe).
 */
#ifndef HAK_POLICY_UCB1_H
#define HAK_POLICY_UCB1_H

#include <stdbool.h>
#include <stdint.h>

#include "hakmem/config.h"
#include "hakmem/policy/strategy.h"

typedef struct hak_ucb1_config {
  double explore;    /* c in sqrt(c ln N / n): 2.0 */
  double margin;     /* a challenger must be this much cheaper (0.08 = 8%) */
  uint32_t streak;   /* ... this many windows in a row (3) */
  uint32_t cooldown; /* updates after a switch with no new switch (10) */
} hak_ucb1_config_t;

#define HAK_UCB1_CONFIG_DEFAULT ((hak_ucb1_config_t){.explore = 2.0, .margin = 0.08, .streak = 3, .cooldown = 10})

typedef struct hak_ucb1 {
  hak_ucb1_config_t cfg;
  uint8_t n;                         /* arms */
  uint8_t arm[HAK_STRATEGY_MAX];     /* strategy row of each arm */
  uint64_t pulls[HAK_STRATEGY_MAX];  /* updates per arm */
  double sum[HAK_STRATEGY_MAX];      /* summed cost per arm */
  uint64_t total;                    /* N: all updates */
  uint8_t first;                     /* the initial arm (played first) */
  uint8_t incumbent;                 /* the adopted arm (index into arm[]) */
  uint8_t streak_arm;                /* leader whose streak is counting */
  uint32_t streak;                   /* windows in a row streak_arm led by margin */
  uint32_t cooldown_left;            /* updates until a switch may happen again */
  uint32_t switches;                 /* incumbent changes so far */
} hak_ucb1_t;

/* arms: strategy rows (n in 1..HAK_STRATEGY_MAX); initial: index into arms,
 * the incumbent until another arm is adopted. */
HAK_INTERNAL void hak_ucb1_init(hak_ucb1_t *u, const uint8_t *arms, unsigned n, unsigned initial,
                                const hak_ucb1_config_t *cfg);
/* The arm (index) to play in the next window. */
HAK_INTERNAL unsigned hak_ucb1_select(const hak_ucb1_t *u);
/* The same among the arms of allowed (bit i: arm i) alone: the unplayed
 * ones first, then the rule above with the means normalised over those arms
 * (an arm left out, e.g. one never explored, cannot squeeze the others'
 * range). allowed selecting no arm: the leader. */
HAK_INTERNAL unsigned hak_ucb1_select_among(const hak_ucb1_t *u, uint32_t allowed);
/* Forget what arm was credited (its pulls and sum; the total follows): the
 * behaviour it stood for has changed, and it is to be measured again. */
HAK_INTERNAL void hak_ucb1_forget(hak_ucb1_t *u, unsigned arm);
/* Credit cost (>= 0) to arm (index) for one window; runs the hysteresis.
 * Returns 1 when the incumbent changed. */
HAK_INTERNAL int hak_ucb1_update(hak_ucb1_t *u, unsigned arm, double cost);
HAK_INTERNAL double hak_ucb1_mean(const hak_ucb1_t *u, unsigned arm);
/* The arm with the lowest mean cost among those played (the incumbent when
 * none has been played). */
HAK_INTERNAL unsigned hak_ucb1_leader(const hak_ucb1_t *u);
/* Arms ranked best first by mean cost (unplayed arms last), into order[n]. */
HAK_INTERNAL void hak_ucb1_rank(const hak_ucb1_t *u, uint8_t *order);
/* Invariant walker (HAK_DEBUG_WALK): arms are strategy rows, indices in
 * range, total is the sum of the pulls, sums are finite and >= 0. */
HAK_INTERNAL bool hak_ucb1_is_valid(const hak_ucb1_t *u);

#endif /* HAK_POLICY_UCB1_H */
