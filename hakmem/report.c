/* report.c — hak_stats_json and hak_stats_print (layer L5).
 *
 * Reads the counters (stats.c), the options (options.c), the site table
 * (site.c) and the caches' current sizes. Formats into the caller's buffer
 * or a stack buffer with log.c's formatter: no allocation, so it is safe
 * from inside malloc, at exit and from a signal-free context of any thread.
 */
#include <string.h>

#include "hakmem/batch.h"
#include "hakmem/bigcache.h"
#include "hakmem/include/hakmem.h"
#include "hakmem/learn.h"
#include "hakmem/log.h"
#include "hakmem/options.h"
#include "hakmem/site.h"
#include "hakmem/spare.h"
#include "hakmem/stats.h"

#define TOP_SITES 16u

static const char *const counter_names[] = {
#define HAK_STAT_NAME(name, meaning) #name,
    HAK_STATS_COUNTERS(HAK_STAT_NAME)
#undef HAK_STAT_NAME
};

// Ids of the busiest sites by bytes, best first; returns how many (<= max).
// Sites with learning state come first, whatever their byte counts (a site
// the pools serve records no bytes).
static unsigned top_sites(hak_site_id_t *ids, unsigned max) {
  unsigned n = 0;
  for (unsigned i = 0; i < HAK_SITE_CAP && n < max; i++)
    if (hak_learn_has((hak_site_id_t)i)) ids[n++] = (hak_site_id_t)i;
  unsigned learning = n;
  for (unsigned i = 0; i < HAK_SITE_CAP; i++) {
    const hak_site_t *s = hak_site_get((hak_site_id_t)i);
    uint64_t allocs = atomic_load_explicit(&s->allocs, memory_order_relaxed);
    if (!allocs || hak_learn_has((hak_site_id_t)i)) continue;
    uint64_t bytes = atomic_load_explicit(&s->bytes, memory_order_relaxed);
    unsigned pos = n < max ? n++ : max;
    while (pos > learning && atomic_load_explicit(&hak_site_get(ids[pos - 1])->bytes, memory_order_relaxed) < bytes) {
      if (pos < max) ids[pos] = ids[pos - 1];
      pos--;
    }
    if (pos < max) ids[pos] = (hak_site_id_t)i;
  }
  return n;
}

static uint64_t load(const _Atomic uint64_t *v) { return atomic_load_explicit(v, memory_order_relaxed); }

size_t hak_stats_json(char *buf, size_t cap) {
  hak_buf_t b;
  hak_buf_init(&b, buf, cap);
  hak_buf_printf(&b, "{\"version\":%u,\"mode\":\"%s\",\"options\":{", HAK_STATS_VERSION,
                 hak_mode_name(hak_options.mode));
  for (unsigned i = 0; i < HAK_OPT_COUNT; i++) {
    char v[32];
    hak_option_format((hak_opt_id_t)i, hak_options.v[i], v, sizeof v);
    hak_buf_printf(&b, "%s\"%s\":\"%s\"", i ? "," : "", hak_option_info[i].name, v);
  }
  hak_buf_puts(&b, "},\"counters\":{");
  for (unsigned i = 0; i < HAK_STAT_COUNT; i++)
    hak_buf_printf(&b, "%s\"%s\":%llu", i ? "," : "", counter_names[i],
                   (unsigned long long)hak_stat_read((hak_stat_id_t)i));
  hak_buf_printf(&b, "},\"bigcache\":{\"bytes\":%zu,\"blocks\":%zu}", hak_bigcache_bytes(), hak_bigcache_count());
  hak_buf_printf(&b, ",\"spare\":{\"bytes\":%zu,\"hot_bytes\":%zu}", hak_spare_bytes(), hak_spare_resident_bytes());
  hak_buf_printf(&b, ",\"batch\":{\"queued_bytes\":%zu,\"queued_ranges\":%u}", hak_batch_queued_bytes(),
                 hak_batch_queued_ranges());
  hak_buf_puts(&b, ",\"sites\":[");
  hak_site_id_t ids[TOP_SITES];
  unsigned n = top_sites(ids, TOP_SITES);
  for (unsigned k = 0; k < n; k++) {
    const hak_site_t *s = hak_site_get(ids[k]);
    hak_buf_printf(&b, "%s{\"id\":%u,\"site\":\"%p\",\"allocs\":%llu,\"frees\":%llu,\"bytes\":%llu,\"size_log2_hist\":{",
                   k ? "," : "", (unsigned)ids[k], (void *)load(&s->addr), (unsigned long long)load(&s->allocs),
                   (unsigned long long)load(&s->frees), (unsigned long long)load(&s->bytes));
    unsigned shown = 0;
    for (unsigned h = 0; h < HAK_SITE_HIST; h++) {
      uint64_t c = load(&s->hist[h]);
      if (c) hak_buf_printf(&b, "%s\"%u\":%llu", shown++ ? "," : "", h, (unsigned long long)c);
    }
    hak_buf_puts(&b, "},\"learn\":");
    hak_learn_json(&b, ids[k]);
    hak_buf_puts(&b, "}");
  }
  hak_buf_puts(&b, "]}");
  return hak_buf_finish(&b);
}

void hak_stats_print(int fd) {
  hak_dprintf(fd, "hakmem statistics (mode %s)\n", hak_mode_name(hak_options.mode));
  for (unsigned i = 0; i < HAK_STAT_COUNT; i++) {
    uint64_t v = hak_stat_read((hak_stat_id_t)i);
    if (v) hak_dprintf(fd, "  %s: %llu\n", counter_names[i], (unsigned long long)v);
  }
  if (hak_learn_on) {
    hak_dprintf(fd, "  learning sites (state, strategy in force):\n");
    hak_learn_print(fd);
  }
  hak_site_id_t ids[TOP_SITES];
  unsigned n = top_sites(ids, hak_options.v[HAK_OPT_VERBOSE] >= 2 ? TOP_SITES : 5);
  if (n) hak_dprintf(fd, "  busiest call sites (by bytes):\n");
  for (unsigned k = 0; k < n; k++) {
    const hak_site_t *s = hak_site_get(ids[k]);
    hak_dprintf(fd, "    site %u at %p: %llu allocations, %llu frees, %llu bytes\n", (unsigned)ids[k],
                (void *)load(&s->addr), (unsigned long long)load(&s->allocs), (unsigned long long)load(&s->frees),
                (unsigned long long)load(&s->bytes));
  }
}
