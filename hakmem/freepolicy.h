/* freepolicy.h — the HOT/WARM/COLD decision for a freed large block that no
 * BigCache ring keeps (layer L3). Pure: large.c acts on the answer.
 *   HOT   bytes <  hot_max            keep mapped as it is
 *   WARM  hot_max <= bytes < cold_min  MADV_FREE now (lazy release)
 *   COLD  bytes >= cold_min            batched MADV_DONTNEED
 * When hot_max > cold_min, HOT wins below hot_max.
 */
#ifndef HAK_FREEPOLICY_H
#define HAK_FREEPOLICY_H

#include <stddef.h>

#include "hakmem/spare.h"

HAK_INLINE hak_thermal_t hak_free_policy(size_t bytes, size_t hot_max, size_t cold_min) {
  if (bytes < hot_max) return HAK_HOT;
  if (bytes < cold_min) return HAK_WARM;
  return HAK_COLD;
}

#endif /* HAK_FREEPOLICY_H */
