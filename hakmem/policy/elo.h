/* elo.h — ELO-rated tournament of strategies for one site (layer L4).
 *
 * Ratings start at 1500 and move by K = 32 per match:
 *   E_a = 1 / (1 + 10^((R_b - R_a) / 400)),  R_a += K (S_a - E_a),  R_b -= K (S_a - E_a).
 *
 * Samples and matches. A window's result for the arm played in it is a
 * metrics triple (CPU cost per op, page faults per op, bytes mapped) and its
 * operation count. Results gather per arm (weighted by operations) until
 * they hold at least `min_samples` (50) operations; then that batch plays
 * one match against the mean of every other live arm that has also reached
 * 50 operations. So no rating moves on fewer than 50 samples on either side.
 *
 * Score of a match, lower is better (costs). Each metric is normalised by
 * the PAIR's mean for that metric, x_a / ((x_a + x_b) / 2), so the metric
 * becomes a dimensionless relative difference, and only then weighted:
 *   d = 0.4 * rel(cpu) + 0.3 * rel(faults) + 0.3 * rel(bytes),
 *   rel(x) = (x_a - x_b) / ((x_a + x_b) / 2)     (in [-2, 2]; 0 when both 0)
 * Thus "10% more CPU" weighs 0.4 * 0.1 and "10% more page faults" 0.3 * 0.1,
 * whatever the units: the weights mean what they say. A metric marked
 * unknown (negative) on either side is dropped and the remaining weights
 * are rescaled to sum to 1. a wins (S_a = 1) when d < -tie, loses when
 * d > tie, else draws (0.5); tie = 0.02.
 *
 * Selection (on a window boundary, never per allocation): epsilon-greedy,
 * epsilon = 0.10 with an injected random state (splitmix64, seeded at init):
 * with probability epsilon a uniformly random live arm; otherwise, while a
 * culling round runs, the live arm that has completed the fewest batches in
 * the round (a scheduled tournament), and once only `final_survivors` (2)
 * remain, the top-rated live arm (the leader). A round ends when every live
 * arm has completed `round_windows` (3) batches in it; then the top half by
 * rating survive (ceil(live / 2), never fewer than final_survivors):
 * 12 -> 6 -> 3 -> 2.
 *
 * Pure, no allocation; one owner per learner (not thread-safe).
 */
#ifndef HAK_POLICY_ELO_H
#define HAK_POLICY_ELO_H

#include <stdbool.h>
#include <stdint.h>

#include "hakmem/config.h"
#include "hakmem/policy/strategy.h"

typedef struct hak_elo_config {
  double initial;           /* 1500 */
  double k;                 /* 32 */
  double epsilon;           /* 0.10 */
  uint64_t min_samples;     /* operations before a batch counts (50) */
  uint32_t round_windows;   /* batches per live arm per culling round (3) */
  uint32_t final_survivors; /* culling stops here (2) */
  double w_cpu, w_faults, w_bytes; /* 0.4, 0.3, 0.3 */
  double tie;               /* |d| below this is a draw (0.02) */
} hak_elo_config_t;

#define HAK_ELO_CONFIG_DEFAULT                                                                        \
  ((hak_elo_config_t){.initial = 1500, .k = 32, .epsilon = 0.10, .min_samples = 50, .round_windows = 3, \
                      .final_survivors = 2, .w_cpu = 0.4, .w_faults = 0.3, .w_bytes = 0.3, .tie = 0.02})

/* One window (or batch) of an arm. A negative field means "unknown". */
typedef struct hak_elo_metrics {
  double cpu;    /* CPU cost per operation */
  double faults; /* page faults per operation */
  double bytes;  /* bytes mapped by the site */
} hak_elo_metrics_t;

typedef struct hak_elo {
  hak_elo_config_t cfg;
  uint8_t n;                          /* arms */
  uint8_t live;                       /* arms still in the tournament */
  uint8_t arm[HAK_STRATEGY_MAX];      /* strategy row of each arm */
  uint8_t alive[HAK_STRATEGY_MAX];
  double rating[HAK_STRATEGY_MAX];
  uint64_t samples[HAK_STRATEGY_MAX]; /* operations in completed batches */
  double sum[HAK_STRATEGY_MAX][3];    /* ops-weighted metric sums of completed batches */
  double known[HAK_STRATEGY_MAX][3];  /* ... and the ops for which each metric was known */
  uint64_t pend_ops[HAK_STRATEGY_MAX];   /* the batch being gathered */
  double pend[HAK_STRATEGY_MAX][3];
  double pend_known[HAK_STRATEGY_MAX][3];
  uint32_t batches[HAK_STRATEGY_MAX];    /* completed batches, all time */
  uint32_t in_round[HAK_STRATEGY_MAX];   /* completed batches this round */
  uint32_t round;                     /* culling rounds finished */
  uint64_t matches;
  uint64_t rng;                       /* splitmix64 state */
} hak_elo_t;

HAK_INTERNAL void hak_elo_init(hak_elo_t *e, const uint8_t *arms, unsigned n, const hak_elo_config_t *cfg,
                               uint64_t seed);
/* The arm (index) to play next window; advances the random state. */
HAK_INTERNAL unsigned hak_elo_select(hak_elo_t *e);
/* Credit one window of ops operations to arm (index). Plays matches when the
 * arm's batch reaches min_samples, and culls at the end of a round. */
HAK_INTERNAL void hak_elo_update(hak_elo_t *e, unsigned arm, uint64_t ops, const hak_elo_metrics_t *m);
/* The top-rated live arm (ties: lowest index). */
HAK_INTERNAL unsigned hak_elo_leader(const hak_elo_t *e);
/* Live arms ranked by rating, best first, then the eliminated ones; into order[n]. */
HAK_INTERNAL void hak_elo_rank(const hak_elo_t *e, uint8_t *order);
/* d of the header: a's weighted relative cost against b (< 0: a is cheaper). */
HAK_INTERNAL double hak_elo_pair_score(const hak_elo_config_t *cfg, const hak_elo_metrics_t *a,
                                       const hak_elo_metrics_t *b);
/* Mean metrics of an arm's completed batches (-1 for a metric never known). */
HAK_INTERNAL hak_elo_metrics_t hak_elo_mean(const hak_elo_t *e, unsigned arm);
/* The tournament has culled down to final_survivors. */
HAK_INTERNAL bool hak_elo_settled(const hak_elo_t *e);
/* Invariant walker (HAK_DEBUG_WALK): arms are strategy rows, live counts the
 * arms alive (at least one), ratings are finite. */
HAK_INTERNAL bool hak_elo_is_valid(const hak_elo_t *e);

#endif /* HAK_POLICY_ELO_H */
