/* site.c — the call-site table (layer L3). See site.h for the contract.
 * Called by alloc.c on every recorded allocation and by large.c on free;
 * read by report.c and the learning engine (hak_site_bucket, the address).
 */
#include "hakmem/site.h"

#include <stdbool.h>
#include <string.h>

#include "hakmem/libc.h"
#include "hakmem/stats.h"

hak_site_t hak_sites[HAK_SITE_CAP];
#define sites hak_sites

static inline unsigned site_hash(uintptr_t addr) {
  // Fibonacci hashing: code addresses differ in their low and middle bits.
  return (unsigned)(((uint64_t)addr * 0x9E3779B97F4A7C15ull) >> 54) & (HAK_SITE_CAP - 1);
}

// The slot of key addr, inserting it when new; *inserted tells the caller
// it owns the new entry (and must publish its frames).
static hak_site_id_t site_slot(uintptr_t addr, bool *inserted) {
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
        *inserted = true;
        return (hak_site_id_t)i;
      }
      if (expected == addr) return (hak_site_id_t)i;  // another thread inserted it
    }
  }
  HAK_STAT_INC(sites_overflow);
  return 0;
}

hak_site_id_t hak_site_id(uintptr_t addr) {
  if (!addr) return 0;
  bool inserted = false;
  return site_slot(addr, &inserted);
}

#define CTX_BIT ((uintptr_t)1 << 63)

hak_site_id_t hak_site_ctx_id(const uintptr_t *frames, unsigned n) {
  if (n <= 1) return hak_site_id(n ? frames[0] : 0);
  if (n > HAK_SITE_FRAMES) n = HAK_SITE_FRAMES;
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned k = 0; k < n; k++) h = (h ^ frames[k]) * 0x100000001b3ull + (h >> 29);
  bool inserted = false;
  hak_site_id_t id = site_slot((uintptr_t)h | CTX_BIT, &inserted);
  if (inserted) {  // readers (the reports) see the frames once nframes is set
    for (unsigned k = 0; k < n; k++) sites[id].frames[k] = frames[k];
    atomic_store_explicit(&sites[id].nframes, n, memory_order_release);
  }
  return id;
}

unsigned hak_site_frames(hak_site_id_t id, uintptr_t *out, unsigned max) {
  const hak_site_t *s = &sites[id % HAK_SITE_CAP];
  unsigned n = atomic_load_explicit(&s->nframes, memory_order_acquire);
  if (!n) {
    uintptr_t a = atomic_load_explicit(&s->addr, memory_order_relaxed);
    if (!a || (a & CTX_BIT) || !max) return 0;  // free, or a context still being published
    out[0] = a;
    return 1;
  }
  if (n > max) n = max;
  for (unsigned k = 0; k < n; k++) out[k] = s->frames[k];
  return n;
}

void hak_site_record_alloc(hak_site_id_t id, size_t size, uint64_t weight) {
  hak_site_t *s = &sites[id];
  atomic_fetch_add_explicit(&s->allocs, weight, memory_order_relaxed);
  atomic_fetch_add_explicit(&s->bytes, (uint64_t)size * weight, memory_order_relaxed);
  atomic_fetch_add_explicit(&s->hist[hak_site_bucket(size)], weight, memory_order_relaxed);
}

void hak_site_record_free(hak_site_id_t id) { atomic_fetch_add_explicit(&sites[id].frees, 1, memory_order_relaxed); }


void hak_site_reset(void) { memset((void *)sites, 0, sizeof sites); }
