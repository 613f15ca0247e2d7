/* profile.c — the sampled per-site heap profile and its writer (layer L5).
 * See profile.h for how allocations and frees reach it.
 *
 * State: per (site, log2 size bucket) counters of sampled allocations (all
 * and live), a pointer table of the live samples (open addressing, linear
 * probing, backward-shift deletion) and a counting filter over the table's
 * keys. All three are mapped through os.h when the profile is first turned
 * on and are only changed under `hak_prof.lock`; the filter is also read without
 * it (hak_profile_note_free, profile.h). One lock is enough: with the default period a
 * sample is taken once per 512 KiB allocated.
 *
 * Records are per (site, size bucket) rather than per site because pprof
 * unsamples a record with its mean size: within one log2 bucket the mean is
 * close to every member, so the estimate stays unbiased for sites that mix
 * small and large requests.
 *
 * The writer formats into a static buffer and writes it with write(2) to
 * FILE.tmp, then renames it over FILE, so a reader never sees half a profile.
 * "%p" in FILE is replaced by the process id (children that inherit the
 * option would otherwise overwrite their parent's file).
 */
#include "hakmem/profile.h"
#include "hakmem/profile_impl.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "hakmem/addrmap.h"
#include "hakmem/callsite.h"
#include "hakmem/large.h"
#include "hakmem/lock.h"
#include "hakmem/log.h"
#include "hakmem/options.h"
#include "hakmem/os.h"
#include "hakmem/heap.h"
#include "hakmem/segment.h"
#include "hakmem/site.h"

bool hak_profile_on;

hak_profile_state_t hak_prof = {.lock = HAK_LOCK_INIT};

// --- sampling ---------------------------------------------------------------------

// FILTER_SLOTS counters of the table's keys hashing there (mapped once).
_Atomic uint32_t *hak_profile_filter;
__thread uint64_t hak_profile_until __attribute__((tls_model("initial-exec")));
static __thread uint64_t rng_state __attribute__((tls_model("initial-exec")));  // 0 until seeded

static uint64_t rng_next(uint64_t *s) {
  // xorshift64*: enough for sampling; seeded per thread.
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545F4914F6CDD1Dull;
}

// -ln(u) for u in (0, 1], without libm: u = m * 2^e with m in [1, 2), and
// ln(m) = 2 atanh((m-1)/(m+1)) by its series (|s| < 1/3: 6 terms, error < 1e-7).
static double neg_ln(double u) {
  union {
    double d;
    uint64_t b;
  } v = {.d = u};
  int e = (int)((v.b >> 52) & 0x7ff) - 1023;
  v.b = (v.b & ~(0x7ffull << 52)) | (1023ull << 52);
  double s = (v.d - 1) / (v.d + 1), s2 = s * s;
  double ln_m = 2 * s * (1 + s2 * (1.0 / 3 + s2 * (1.0 / 5 + s2 * (1.0 / 7 + s2 * (1.0 / 9 + s2 / 11)))));
  return -(e * 0.6931471805599453 + ln_m);
}

// Bytes to the next sample: exponential with mean `period`, at least 1.
static uint64_t next_gap(uint64_t period) {
  if (!rng_state) rng_state = ((uintptr_t)&rng_state ^ (hak_os_now_ms() << 20) ^ 0x9E3779B97F4A7C15ull) | 1;
  double u = (double)((rng_next(&rng_state) >> 11) + 1) * (1.0 / 9007199254740992.0);  // (0, 1]
  double gap = neg_ln(u) * (double)period;
  if (gap < 1) return 1;
  if (gap > 1e18) return (uint64_t)1e18;
  return (uint64_t)gap;
}

// --- the pointer table and the filter (under hak_prof.lock) ----------------------------

#define hash_ptr hak_profile_hash

static bool table_grow(void) {
  size_t cap = hak_prof.cap ? hak_prof.cap * 2 : TABLE_MIN;
  sample_t *t = hak_os_map(cap * sizeof(sample_t), hak_os_page_size());
  if (!t) return false;
  for (size_t i = 0; i < hak_prof.cap; i++) {
    if (!hak_prof.table[i].p) continue;
    size_t j = hash_ptr(hak_prof.table[i].p) & (cap - 1);
    while (t[j].p) j = (j + 1) & (cap - 1);
    t[j] = hak_prof.table[i];
  }
  if (hak_prof.table) hak_os_unmap(hak_prof.table, hak_prof.cap * sizeof(sample_t));
  hak_prof.table = t;
  hak_prof.cap = cap;
  return true;
}

static bool table_insert(uintptr_t p, uint64_t size, uint32_t cell) {
  if ((hak_prof.live + 1) * 2 > hak_prof.cap && !table_grow()) return false;
  size_t j = hash_ptr(p) & (hak_prof.cap - 1);
  while (hak_prof.table[j].p && hak_prof.table[j].p != p) j = (j + 1) & (hak_prof.cap - 1);
  if (hak_prof.table[j].p == p) return false;  // cannot happen: p was handed out once
  hak_prof.table[j] = (sample_t){.p = p, .size = size, .cell = cell};
  hak_prof.live++;
  atomic_fetch_add_explicit(&hak_profile_filter[hash_ptr(p) & (FILTER_SLOTS - 1)], 1, memory_order_relaxed);
  return true;
}

// Remove p; true (and *out) when it was there.
static bool table_remove(uintptr_t p, sample_t *out) {
  if (!hak_prof.cap) return false;
  size_t mask = hak_prof.cap - 1, j = hash_ptr(p) & mask;
  while (hak_prof.table[j].p != p) {
    if (!hak_prof.table[j].p) return false;
    j = (j + 1) & mask;
  }
  *out = hak_prof.table[j];
  // Backward-shift deletion: move later members of the run into the hole
  // when their home is at or before it, so lookups never need tombstones.
  size_t hole = j;
  for (size_t k = (j + 1) & mask; hak_prof.table[k].p; k = (k + 1) & mask) {
    size_t home = hash_ptr(hak_prof.table[k].p) & mask;
    if (((k - home) & mask) >= ((k - hole) & mask)) {
      hak_prof.table[hole] = hak_prof.table[k];
      hole = k;
    }
  }
  hak_prof.table[hole].p = 0;
  hak_prof.live--;
  atomic_fetch_sub_explicit(&hak_profile_filter[hash_ptr(p) & (FILTER_SLOTS - 1)], 1, memory_order_relaxed);
  return true;
}

// --- configuration ------------------------------------------------------------------

// The pools' careful and remote frees (heap.h's watchers): the pages of
// sampled blocks are careful, so every free of a sampled pool block passes.
static void pool_freeing(const void *p) { hak_profile_note_free(p); }

static void fork_prepare(void) { hak_lock(&hak_prof.lock); }
static void fork_release(void) { hak_unlock(&hak_prof.lock); }

void hak_profile_configure(void) {
  bool want = hak_opt_str(HAK_OPT_PROFILE)[0] != '\0';
  hak_lock(&hak_prof.lock);
  if (want && !hak_prof.mapped) {
    size_t page = hak_os_page_size();
    size_t cells = ((size_t)HAK_SITE_CAP * HAK_SITE_HIST * sizeof(cell_t) + page - 1) & ~(page - 1);
    size_t filter = (FILTER_SLOTS * sizeof(uint32_t) + page - 1) & ~(page - 1);
    hak_prof.cells = hak_os_map(cells, page);
    hak_profile_filter = hak_prof.cells ? hak_os_map(filter, page) : NULL;
    if (hak_profile_filter) {
      hak_prof.mapped = true;
    } else {
      if (hak_prof.cells) hak_os_unmap(hak_prof.cells, cells);
      hak_prof.cells = NULL;
      hak_log("profile: could not map its tables; HAKMEM_PROFILE is off");
    }
  }
  if (want && hak_prof.mapped && !hak_prof.atfork) {
    // A child of a thread that held the lock must not deadlock on it.
    pthread_atfork(fork_prepare, fork_release, fork_release);
    hak_prof.atfork = true;
  }
  hak_prof.period = hak_opt(HAK_OPT_PROFILE_SAMPLE);
  hak_prof.interval_ms = hak_opt(HAK_OPT_PROFILE_INTERVAL) * 1000;
  hak_profile_on = want && hak_prof.mapped;
  // Only a running profile needs the clock: reading it maps the vDSO's data
  // page, a fault in every process otherwise (configure runs again, and reads
  // it, when the profile is turned on later).
  if (hak_profile_on) hak_prof.last_write_ms = hak_os_now_ms();
  hak_heap_watchers.freeing = hak_profile_on ? pool_freeing : NULL;
  hak_unlock(&hak_prof.lock);
}

// --- the hooks ----------------------------------------------------------------------


static void take_sample(void *p, size_t size, uintptr_t site, const void *frame) {
  hak_site_id_t id = hak_callsite_id(site, frame);  // the calling context above any wrapper
  uint32_t c = (uint32_t)id * HAK_SITE_HIST + hak_site_bucket(size);
  hak_lock(&hak_prof.lock);
  if (table_insert((uintptr_t)p, size, c)) {
    cell_t *cell = &hak_prof.cells[c];
    cell->alloc_n++;
    cell->alloc_b += size;
    cell->live_n++;
    cell->live_b += size;
    hak_prof.samples++;
    // A pool block's page routes all its frees to the slow path from now on
    // (see profile.h); the page stays careful for its whole life.
    if (hak_addrmap_get(p) == HAK_ADDR_SEGMENT) hak_heap_watch(p);
  } else {
    hak_prof.dropped++;
  }
  // The interval is checked when a sample is taken: an existing slow path,
  // no thread of our own; a program that stops allocating has nothing new
  // to show anyway.
  if (hak_prof.interval_ms && (hak_prof.period >= 65536 || (hak_prof.samples & 63) == 0)) {
    uint64_t now = hak_os_now_ms();
    if (now - hak_prof.last_write_ms >= hak_prof.interval_ms) {
      hak_prof.last_write_ms = now;
      (void)hak_profile_write_locked();
    }
  }
  hak_unlock(&hak_prof.lock);
}

void hak_profile_alloc(void *p, size_t size, uintptr_t site, const void *frame) {
  // A Poisson process over the bytes allocated: the request is sampled when
  // the next event falls inside its bytes (probability 1 - exp(-size/period),
  // what pprof's heap_v2 correction assumes). The gap is memoryless, so a
  // fresh draw after each sample keeps the process exact.
  if (!hak_profile_until) hak_profile_until = next_gap(hak_prof.period);
  if (size < hak_profile_until) {
    hak_profile_until -= size;
    return;
  }
  hak_profile_until = next_gap(hak_prof.period);
  take_sample(p, size, site, frame);
}

void hak_profile_free(const void *p) {
  if (!p || !hak_prof.mapped) return;
  sample_t s;
  hak_lock(&hak_prof.lock);
  if (table_remove((uintptr_t)p, &s)) {
    cell_t *cell = &hak_prof.cells[s.cell];
    cell->live_n--;
    cell->live_b -= s.size;
  }
  hak_unlock(&hak_prof.lock);
}

void *hak_profile_large_realloc(hak_large_t *h, void *p, size_t size, uintptr_t site, const void *frame) {
  // Forget first: once the block moved, another thread may be handed the
  // old address and sample it.
  sample_t s;
  bool had = false;
  hak_lock(&hak_prof.lock);
  had = table_remove((uintptr_t)p, &s);
  hak_unlock(&hak_prof.lock);
  void *n = hak_large_realloc(h, size);
  if (n) {
    if (had) {
      hak_lock(&hak_prof.lock);
      hak_prof.cells[s.cell].live_n--;
      hak_prof.cells[s.cell].live_b -= s.size;
      hak_unlock(&hak_prof.lock);
    }
    hak_profile_alloc(n, size, site, frame);
  } else if (had) {
    hak_lock(&hak_prof.lock);
    if (!table_insert((uintptr_t)p, s.size, s.cell)) {
      hak_prof.cells[s.cell].live_n--;  // p stays live but unsampled
      hak_prof.cells[s.cell].live_b -= s.size;
    }
    hak_unlock(&hak_prof.lock);
  }
  return n;
}

uint64_t hak_profile_samples(void) { return hak_prof.samples; }
uint64_t hak_profile_live(void) { return hak_prof.live; }

void hak_profile_reset(void) {
  hak_lock(&hak_prof.lock);
  if (hak_prof.mapped) {
    memset(hak_prof.cells, 0, (size_t)HAK_SITE_CAP * HAK_SITE_HIST * sizeof(cell_t));
    for (unsigned i = 0; i < FILTER_SLOTS; i++) atomic_store_explicit(&hak_profile_filter[i], 0, memory_order_relaxed);
    if (hak_prof.table) memset(hak_prof.table, 0, hak_prof.cap * sizeof(sample_t));
  }
  hak_prof.live = hak_prof.samples = hak_prof.dropped = 0;
  hak_unlock(&hak_prof.lock);
}
