/* bucket.h — where a strategy sends the requests of one log2 size bucket,
 * and how it keeps them (layer L4). The one rule the lifecycle (evo.c: arms
 * that treat a site's sizes alike are one choice) and the comparison suite
 * (//compare:strategy_table, which prints it for every row) share.
 *
 * Pure: no state, no calls.
 */
#ifndef HAK_POLICY_BUCKET_H
#define HAK_POLICY_BUCKET_H

#include <stdint.h>

#include "hakmem/config.h"
#include "hakmem/policy/strategy.h"

#define HAK_BUCKET_BELOW 1u /* the whole bucket is below the threshold: the pools (past their limit the
                               large engine's plain route {0, AUTO, 0}, the same for every threshold above) */
#define HAK_BUCKET_ABOVE 2u /* the whole bucket is at or above it: the large engine with p's free policy */
#define HAK_BUCKET_SPLIT 3u /* split at the threshold itself: unlike any other threshold */

/* Which side of threshold t bucket b = [2^b, 2^(b+1)) lies on, b < 63:
 * HAK_BUCKET_BELOW, _ABOVE, or _SPLIT (placement alone). */
HAK_INLINE unsigned hak_bucket_place(uint64_t t, unsigned b) {
  uint64_t lo = 1ull << b, hi = lo << 1;
  return hi <= t ? HAK_BUCKET_BELOW : lo >= t ? HAK_BUCKET_ABOVE : HAK_BUCKET_SPLIT;
}

/* A code for how p treats bucket b = [2^b, 2^(b+1)), b < 63: equal codes,
 * the same code runs. The low 8 bits are HAK_BUCKET_*; above them the free
 * policy (cache_slots, release, resident_shift) where it applies, and for a
 * split the threshold (bits 32 up). */
HAK_INLINE uint64_t hak_bucket_route(hak_policy_t p, unsigned b) {
  uint64_t t = p.large_threshold;
  uint64_t how = (uint64_t)p.cache_slots | (uint64_t)p.release << 8 | (uint64_t)p.resident_shift << 16;
  unsigned side = hak_bucket_place(t, b);
  if (side == HAK_BUCKET_BELOW) return HAK_BUCKET_BELOW;
  if (side == HAK_BUCKET_ABOVE)
    return how == 0 && (1ull << b) >= HAK_STRAT_POOL_MAX ? HAK_BUCKET_BELOW : HAK_BUCKET_ABOVE | how << 8;
  return HAK_BUCKET_SPLIT | how << 8 | t << 32;
}

#endif /* HAK_POLICY_BUCKET_H */
