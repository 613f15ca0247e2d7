/* site.c — the call-site table (layer L3). See site.h for the contract.
 * Called by alloc.c on every recorded allocation and by large.c on free;
 * read by report.c and (later) the learning engine.
 */
#include "hakmem/site.h"

#include <string.h>

#include "hakmem/libc.h"
#include "hakmem/stats.h"

static hak_site_t sites[HAK_SITE_CAP];

static inline unsigned site_hash(uintptr_t addr) {
  // Fibonacci hashing: code addresses differ in their low and middle bits.
  return (unsigned)(((uint64_t)addr * 0x9E3779B97F4A7C15ull) >> 54) & (HAK_SITE_CAP - 1);
}

hak_site_id_t hak_site_id(uintptr_t addr) {
  if (!addr) return 0;
  unsigned h = site_hash(addr);
  for (unsigned probe = 0; probe < HAK_SITE_PROBES; probe++) {
    unsigned i = (h + probe) & (HAK_SITE_CAP - 1);
    if (i == 0) continue;  // id 0 is the shared overflow entry
    uintptr_t cur = atomic_load_explicit(&sites[i].addr, memory_order_acquire);
    if (cur == addr) return (hak_site_id_t)i;
    if (cur == 0) {
      uintptr_t expected = 0;
      if (atomic_compare_exchange_strong_explicit(&sites[i].addr, &expected, addr, memory_order_acq_rel,
                                                  memory_order_acquire)) {
        HAK_STAT_INC(sites_used);
        return (hak_site_id_t)i;
      }
      if (expected == addr) return (hak_site_id_t)i;  // another thread inserted it
    }
  }
  HAK_STAT_INC(sites_overflow);
  return 0;
}

void hak_site_record_alloc(hak_site_id_t id, size_t size, uint64_t weight) {
  hak_site_t *s = &sites[id];
  atomic_fetch_add_explicit(&s->allocs, weight, memory_order_relaxed);
  atomic_fetch_add_explicit(&s->bytes, (uint64_t)size * weight, memory_order_relaxed);
  atomic_fetch_add_explicit(&s->hist[hak_site_bucket(size)], weight, memory_order_relaxed);
}

void hak_site_record_free(hak_site_id_t id) { atomic_fetch_add_explicit(&sites[id].frees, 1, memory_order_relaxed); }

const hak_site_t *hak_site_get(hak_site_id_t id) { return &sites[id % HAK_SITE_CAP]; }

void hak_site_reset(void) { memset((void *)sites, 0, sizeof sites); }

/* --- site frames (placeholder) --- */
unsigned hak_site_frames(hak_site_id_t id, uintptr_t *out, unsigned max) {
  uintptr_t addr = atomic_load_explicit(&sites[id % HAK_SITE_CAP].addr, memory_order_acquire);
  if (!addr || !max) return 0;
  out[0] = addr;
  return 1;
}
/* --- end site frames --- */
