/* dist.h — a site's size-class distribution signature and its distance
 * (layer L4).
 *
 * The signature is the per-site histogram of request sizes in HAK_DIST_BUCKETS
 * log2 buckets, the same buckets as hakmem/site.h (bucket b holds sizes in
 * [2^b, 2^(b+1)); bucket 0 also holds 0). Counts are raw; the distance
 * normalises them.
 *
 * Distance: total variation distance between the two normalised histograms,
 *   d(P, Q) = 1/2 * sum_b |P_b - Q_b|,   in [0, 1];
 * 0 for the same shape (whatever the totals), 1 for disjoint supports,
 * symmetric, and it obeys the triangle inequality. It equals the largest
 * share of requests whose size class "moved". Two empty histograms are at
 * distance 0; an empty and a non-empty one at 1.
 * The site's distribution has drifted when d >= HAK_DIST_DRIFT (0.25: a
 * quarter of the requests now fall in other size classes).
 * Pure; no state.
 */
#ifndef HAK_POLICY_DIST_H
#define HAK_POLICY_DIST_H

#include <stdbool.h>
#include <stdint.h>

#include "hakmem/config.h"

#define HAK_DIST_BUCKETS 32u
#define HAK_DIST_DRIFT 0.25

/* Total variation distance of the normalised histograms a and b. */
HAK_INTERNAL double hak_dist_tv(const uint64_t a[HAK_DIST_BUCKETS], const uint64_t b[HAK_DIST_BUCKETS]);

/* True when hak_dist_tv(ref, now) >= threshold. */
HAK_INTERNAL bool hak_dist_drifted(const uint64_t ref[HAK_DIST_BUCKETS], const uint64_t now[HAK_DIST_BUCKETS],
                                   double threshold);

/* Total count of a histogram. */
HAK_INTERNAL uint64_t hak_dist_total(const uint64_t h[HAK_DIST_BUCKETS]);

#endif /* HAK_POLICY_DIST_H */
