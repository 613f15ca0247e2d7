/* bucket.h — where a strategy's large threshold sends the requests of one
 * log2 size bucket (layer L4). The one rule the lifecycle (evo.c: arms that
 * route a site's sizes alike are one choice) and the comparison suite
 * (//compare:strategy_table, which prints it for every row) share.
 *
 * Pure: no state, no calls.
 */
#ifndef HAK_POLICY_BUCKET_H
#define HAK_POLICY_BUCKET_H

#include <stdint.h>

#include "hakmem/config.h"

#define HAK_BUCKET_BELOW 1u /* the whole bucket is below t: the pools (past their limit the
                               large engine without BigCache, the same for every t above) */
#define HAK_BUCKET_ABOVE 2u /* the whole bucket is at or above t: the large engine with BigCache */

/* HAK_BUCKET_BELOW, HAK_BUCKET_ABOVE, or (split at t itself, unlike any
 * other threshold) 3 + t, for bucket b = [2^b, 2^(b+1)), b < 63. */
HAK_INLINE uint64_t hak_bucket_route(uint32_t t, unsigned b) {
  uint64_t lo = 1ull << b, hi = lo << 1;
  if (hi <= t) return HAK_BUCKET_BELOW;
  if (lo >= t) return HAK_BUCKET_ABOVE;
  return 3 + (uint64_t)t;
}

#endif /* HAK_POLICY_BUCKET_H */
