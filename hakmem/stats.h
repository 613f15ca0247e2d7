/* stats.h — process-wide counters (layer L0).
 *
 * One relaxed atomic per counter of HAK_STATS_COUNTERS (hakmem_stats.h). The
 * large path counts every event (its cost is dwarfed by the work it counts);
 * the small path only counts what the mode samples. At HAK_STATS=0 the
 * macros compile to nothing but still type-check their arguments.
 */
#ifndef HAK_STATS_H
#define HAK_STATS_H

#include <stdatomic.h>
#include <stdint.h>

#include "hakmem/config.h"
#include "hakmem/include/hakmem_stats.h"

typedef enum hak_stat_id {
#define HAK_STAT_ENUM(name, meaning) HAK_STAT_##name,
  HAK_STATS_COUNTERS(HAK_STAT_ENUM)
#undef HAK_STAT_ENUM
  HAK_STAT_COUNT
} hak_stat_id_t;

HAK_INTERNAL extern _Atomic uint64_t hak_stat_counters[HAK_STAT_COUNT];

#if HAK_STATS >= 1
#define HAK_STAT_ADD(name, n) \
  atomic_fetch_add_explicit(&hak_stat_counters[HAK_STAT_##name], (uint64_t)(n), memory_order_relaxed)
#define HAK_STAT_SUB(name, n) \
  atomic_fetch_sub_explicit(&hak_stat_counters[HAK_STAT_##name], (uint64_t)(n), memory_order_relaxed)
#else
#define HAK_STAT_ADD(name, n) ((void)(HAK_STAT_##name), (void)(n))
#define HAK_STAT_SUB(name, n) ((void)(HAK_STAT_##name), (void)(n))
#endif
#define HAK_STAT_INC(name) HAK_STAT_ADD(name, 1)

HAK_INLINE uint64_t hak_stat_read(hak_stat_id_t id) {
  return atomic_load_explicit(&hak_stat_counters[id], memory_order_relaxed);
}

/* Zero every counter (tests only: the process's counters are monotonic). */
HAK_INTERNAL void hak_stats_reset(void);

#endif /* HAK_STATS_H */
