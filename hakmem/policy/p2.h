/* p2.h — the P² streaming quantile estimator (Jain & Chlamtac, CACM 1985)
 * (layer L4).
 *
 * Estimates one quantile p of a stream in O(1) memory (five markers) and O(1)
 * time per observation, with no allocation. The lifecycle (evo.c) uses it for
 * the p99 of a site's cost. Until five observations have arrived the value is
 * exact: the nearest-rank quantile of what has been seen (0 when empty).
 * Markers move by the piecewise-parabolic (P²) formula, falling back to
 * linear interpolation when the parabola would break marker order, as in the
 * paper. Not thread-safe: one owner per estimator.
 */
#ifndef HAK_POLICY_P2_H
#define HAK_POLICY_P2_H

#include <stdint.h>

#include "hakmem/config.h"

typedef struct hak_p2 {
  double p;         /* the quantile, in (0, 1) */
  double q[5];      /* marker heights */
  double n[5];      /* marker positions (1-based, as in the paper) */
  double np[5];     /* desired positions */
  double dn[5];     /* desired position increments */
  uint64_t count;   /* observations seen */
} hak_p2_t;

HAK_INTERNAL void hak_p2_init(hak_p2_t *e, double p);
HAK_INTERNAL void hak_p2_add(hak_p2_t *e, double x);
/* The current estimate (exact nearest-rank while count < 5; 0 when empty). */
HAK_INTERNAL double hak_p2_value(const hak_p2_t *e);

#endif /* HAK_POLICY_P2_H */
