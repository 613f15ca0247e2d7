/* strategy.c — the strategy table's rows and lookups (layer L4).
 * Read-only data; every function is pure. See strategy.h. */
#include "hakmem/policy/strategy.h"

#define HAK_STRAT_ROW(id, nm, thr, cache, hot, cold, st) \
  {.name = nm, .policy = {.large_threshold = (thr), .cache_on = (cache), .hot_shift = (hot), .cold_shift = (cold), .canary = 0}, .sets = (st)},
const hak_strategy_info_t hak_strategy_info[HAK_STRAT_COUNT] = {HAK_STRATEGIES(HAK_STRAT_ROW)};
#undef HAK_STRAT_ROW

static bool name_eq(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}

int hak_strategy_find(const char *name) {
  if (!name) return -1;
  for (unsigned i = 0; i < HAK_STRAT_COUNT; i++)
    if (name_eq(hak_strategy_info[i].name, name)) return (int)i;
  return -1;
}

int hak_strategy_nearest(uint64_t bytes, uint32_t mask) {
  int best = -1;
  uint64_t best_d = 0;
  for (unsigned i = 0; i < HAK_STRAT_COUNT; i++) {
    if (mask && !(hak_strategy_info[i].sets & mask)) continue;
    uint64_t t = hak_strategy_info[i].policy.large_threshold;
    uint64_t d = t > bytes ? t - bytes : bytes - t;
    if (best < 0 || d < best_d) best = (int)i, best_d = d;  // rows ascend: a tie keeps the smaller
  }
  return best;
}

unsigned hak_strategy_set(uint32_t mask, uint8_t *ids, unsigned cap) {
  unsigned n = 0;
  for (unsigned i = 0; i < HAK_STRAT_COUNT; i++) {
    if (!(hak_strategy_info[i].sets & mask)) continue;
    if (n < cap) ids[n] = (uint8_t)i;
    n++;
  }
  return n;
}
