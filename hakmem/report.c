/* report.c — hak_stats_json and hak_stats_print (layer L5).
 *
 * Reads the counters (stats.c), the options (options.c), the site table
 * (site.c) and the caches' current sizes. Formats into the caller's buffer
 * or a stack buffer with log.c's formatter: no allocation, so it is safe
 * from inside malloc, at exit and from a signal-free context of any thread.
 * Sites are named here (callsite.c's dladdr: function+offset and object
 * file), never on the allocation path.
 */
#include <string.h>

#include "hakmem/batch.h"
#include "hakmem/bigcache.h"
#include "hakmem/callsite.h"
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
// Only sites with requests in the site table are listed, except that with
// learning_first the sites with learning state come first whatever their
// counts: the JSON needs their learn objects, and a site the pools serve
// records no bytes (its requests are sampled, or not recorded at all). The
// text report lists learning sites in their own section, and a line of
// "0 allocations, 0 frees, 0 bytes" would claim a site did nothing.
static unsigned top_sites(hak_site_id_t *ids, unsigned max, bool learning_first) {
  unsigned n = 0;
  for (unsigned i = 0; learning_first && i < HAK_SITE_CAP && n < max; i++)
    if (hak_learn_has((hak_site_id_t)i)) ids[n++] = (hak_site_id_t)i;
  unsigned learning = n;
  for (unsigned i = 0; i < HAK_SITE_CAP; i++) {
    const hak_site_t *s = hak_site_get((hak_site_id_t)i);
    uint64_t allocs = atomic_load_explicit(&s->allocs, memory_order_relaxed);
    if (!allocs || (learning_first && hak_learn_has((hak_site_id_t)i))) continue;
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

// The site's name: its frames' names, innermost first, joined by " < "
// (a wrapper's return address, then its callers).
static void site_name(hak_site_id_t id, char *out, size_t cap) {
  uintptr_t frames[HAK_SITE_FRAMES];
  unsigned n = hak_site_frames(id, frames, HAK_SITE_FRAMES);
  hak_buf_t b;
  hak_buf_init(&b, out, cap);
  if (!n) hak_buf_puts(&b, id ? "?" : "(other sites)");
  for (unsigned k = 0; k < n; k++) {
    char one[160];
    hak_callsite_name(frames[k], one, sizeof one);
    hak_buf_printf(&b, "%s%s", k ? " < " : "", one);
  }
  hak_buf_finish(&b);
}

// s as a JSON string's contents (names may hold any byte a symbol has).
static void json_text(hak_buf_t *b, const char *s) {
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') hak_buf_printf(b, "\\%c", c);
    else if (c < 0x20) hak_buf_printf(b, "\\u00%c%c", "0123456789abcdef"[c >> 4], "0123456789abcdef"[c & 15]);
    else hak_buf_putc(b, (char)c);
  }
}

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
  unsigned n = top_sites(ids, TOP_SITES, true);
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
    char name[512];
    site_name(ids[k], name, sizeof name);
    hak_buf_puts(&b, "},\"name\":\"");
    json_text(&b, name);
    hak_buf_puts(&b, "\",\"frames\":[");
    uintptr_t frames[HAK_SITE_FRAMES];
    unsigned nf = hak_site_frames(ids[k], frames, HAK_SITE_FRAMES);
    for (unsigned f = 0; f < nf; f++) hak_buf_printf(&b, "%s\"0x%zx\"", f ? "," : "", (size_t)frames[f]);
    hak_buf_puts(&b, "],\"learn\":");
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
  unsigned n = top_sites(ids, hak_options.v[HAK_OPT_VERBOSE] >= 2 ? TOP_SITES : 5, false);
  if (n) hak_dprintf(fd, "  busiest call sites (by bytes):\n");
  for (unsigned k = 0; k < n; k++) {
    const hak_site_t *s = hak_site_get(ids[k]);
    char name[512];
    site_name(ids[k], name, sizeof name);
    hak_dprintf(fd, "    site %u %s: %llu allocations, %llu frees, %llu bytes\n", (unsigned)ids[k], name,
                (unsigned long long)load(&s->allocs), (unsigned long long)load(&s->frees),
                (unsigned long long)load(&s->bytes));
  }
}
