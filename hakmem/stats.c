/* stats.c — process-wide counters and their versioned snapshot (layer L0).
 * Incremented everywhere through HAK_STAT_*; read by hak_stats_get and by
 * report.c (JSON, text).
 */
#include "hakmem/stats.h"

#include <errno.h>
#include <string.h>

_Atomic uint64_t hak_stat_counters[HAK_STAT_COUNT];

void hak_stats_reset(void) {
  for (unsigned i = 0; i < HAK_STAT_COUNT; i++) atomic_store_explicit(&hak_stat_counters[i], 0, memory_order_relaxed);
}

int hak_stats_get(hak_stats_t *out, size_t out_size) {
  if (!out || out_size < offsetof(hak_stats_t, large_allocs)) return EINVAL;
  hak_stats_t s;
  s.version = HAK_STATS_VERSION;
  s.size = (uint32_t)sizeof s;
#define HAK_STAT_COPY(name, meaning) s.name = hak_stat_read(HAK_STAT_##name);
  HAK_STATS_COUNTERS(HAK_STAT_COPY)
#undef HAK_STAT_COPY
  memcpy(out, &s, out_size < sizeof s ? out_size : sizeof s);
  return 0;
}
