/* strategy.c — the strategy table's rows and lookups (layer L4).
 * Read-only data; every function is pure (the text one formats into the
 * caller's buffer). See strategy.h. */
#include "hakmem/policy/strategy.h"

#include "hakmem/log.h"

#define HAK_STRAT_ROW(id, nm, thr, slots, rel, res, st)                                                             \
  {.name = nm,                                                                                                     \
   .policy = {.large_threshold = (thr), .cache_slots = (slots), .release = (rel), .resident_shift = (res), .canary = 0}, \
   .sets = (st)},
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

const char *const hak_release_names[] = {"auto", "keep", "lazy", "return"};

size_t hak_strategy_free_text(hak_policy_t p, char *buf, size_t cap) {
  hak_buf_t b;
  hak_buf_init(&b, buf, cap);
  if (p.cache_slots == 0) hak_buf_puts(&b, "no cache");
  else if (p.cache_slots == HAK_STRAT_RING) hak_buf_puts(&b, "cache");
  else hak_buf_printf(&b, "cache %u", (unsigned)p.cache_slots);
  hak_buf_printf(&b, ", %s", p.release < 4 ? hak_release_names[p.release] : "?");
  if (p.resident_shift >= 20 && p.resident_shift < 64) hak_buf_printf(&b, " <= %lluM", 1ull << (p.resident_shift - 20));
  else if (p.resident_shift >= 10) hak_buf_printf(&b, " <= %lluK", 1ull << (p.resident_shift - 10));
  else if (p.resident_shift) hak_buf_printf(&b, " <= %llu", 1ull << p.resident_shift);
  return hak_buf_finish(&b);
}
