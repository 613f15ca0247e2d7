/* batch_madvise_fuzzer.c — the batched MADV_DONTNEED queue against a shadow
 * model (fuzz/, libFuzzer).
 *
 * The input is a configuration followed by operations over page ranges of a
 * region this harness maps: queue a range (hak_batch_add), reuse one
 * (hak_batch_take, also at addresses that start no range), flush, change the
 * configuration, and exit (flush, then start over). The OS seam records every
 * advice call instead of issuing it (suppress_advice), and can fail every Nth
 * one. After every operation:
 *   - the advice calls made are exactly the expected ones: nothing while a
 *     range waits; on a flush, one DONTNEED per run of adjacent queued
 *     ranges, in address order, covering each queued range exactly once;
 *     with batching off, one call per add, at once. So a range is advised
 *     exactly once, never after it was taken back, never while not queued;
 *   - the flush happens exactly when the queue reaches max_ranges ranges or
 *     max_bytes bytes (and on flush/exit/reconfiguration past the caps);
 *   - take returns TAKEN exactly for the start of a queued range;
 *   - a refused advice still leaves the range reading as zero (os.h);
 *   - queued bytes/ranges and the batch_* counters equal the model's, and
 *     hak_batch_is_valid() passes.
 * Queued ranges never overlap: the harness, like large.c, only queues memory
 * it owns, i.e. pages that are not queued.
 */
#include <string.h>

#include "fuzz/fuzz_input.h"
#include "hakmem/batch.h"
#include "hakmem/os.h"
#include "hakmem/stats.h"

#define PAGES 512u
#define MAX_CALLS 256u

typedef struct call {
  char *addr;
  size_t len;
  hak_advice_t advice;
  bool ok;
} call_t;

typedef struct mrange {
  unsigned first, pages;
} mrange_t;

static char *region;
static size_t page;

static struct {
  hak_batch_cfg_t cfg;  // as batch.c applies it (max_ranges clamped)
  mrange_t q[HAK_BATCH_MAX_RANGES];
  unsigned n;
  size_t bytes;
  bool queued[PAGES];
  uint64_t queued_total, flushes, advised, cancelled, merged;
} m;

static call_t calls[MAX_CALLS];
static unsigned ncalls;
static hak_os_hooks_t hooks;

static void observe(void *ctx, hak_os_call_t call, void *addr, size_t len, hak_advice_t advice, bool ok) {
  (void)ctx;
  FUZZ_CHECK(call == HAK_OS_ADVISE, "the batch queue made an OS call of kind %d", (int)call);
  FUZZ_CHECK(ncalls < MAX_CALLS, "too many advice calls in one operation");
  calls[ncalls++] = (call_t){addr, len, advice, ok};
  if (!ok && advice == HAK_ADVISE_DONTNEED) {  // refused: zeroed by hand (os.h)
    const char *p = addr;
    FUZZ_CHECK(p[0] == 0 && p[len - 1] == 0, "refused DONTNEED at %p left the range dirty", addr);
  }
}

static inline char *addr_of(unsigned first) { return region + (size_t)first * page; }

// --- the model ---------------------------------------------------------------------------

// Calls expected now: flush everything queued (sorted, adjacent runs merged).
static void expect_flush(const char *why) {
  mrange_t r[HAK_BATCH_MAX_RANGES];
  unsigned n = m.n;
  memcpy(r, m.q, sizeof r[0] * n);
  for (unsigned i = 1; i < n; i++)
    for (unsigned j = i; j > 0 && r[j - 1].first > r[j].first; j--) {
      mrange_t t = r[j];
      r[j] = r[j - 1];
      r[j - 1] = t;
    }
  unsigned c = 0;
  for (unsigned i = 0; i < n;) {
    unsigned first = r[i].first, end = r[i].first + r[i].pages, j = i + 1;
    for (; j < n && r[j].first == end; j++) end += r[j].pages;
    FUZZ_CHECK(c < ncalls, "%s: %u advice calls, expected one for pages [%u, %u)", why, ncalls, first, end);
    const call_t *k = &calls[c++];
    FUZZ_CHECK(k->addr == addr_of(first) && k->len == (size_t)(end - first) * page && k->advice == HAK_ADVISE_DONTNEED,
               "%s: call %u advised page %td (+%zu pages, advice %d), expected pages [%u, %u)", why, c - 1,
               (k->addr - region) / (ptrdiff_t)page, k->len / page, (int)k->advice, first, end);
    i = j;
  }
  FUZZ_CHECK(c == ncalls, "%s: %u advice calls, expected %u", why, ncalls, c);
  ncalls = 0;
  if (n) {
    m.flushes++;
    m.advised += c;
    m.merged += n - c;
  }
  for (unsigned i = 0; i < n; i++) memset(&m.queued[m.q[i].first], 0, m.q[i].pages);
  m.n = 0;
  m.bytes = 0;
}

static void expect_no_calls(const char *why) {
  FUZZ_CHECK(ncalls == 0, "%s: %u unexpected advice calls, the first at page %td", why, ncalls,
             (calls[0].addr - region) / (ptrdiff_t)page);
}

static bool over_caps(void) { return m.n >= m.cfg.max_ranges || m.bytes >= m.cfg.max_bytes; }

// --- operations --------------------------------------------------------------------------

static void op_add(fuzz_in_t *in) {
  uint8_t c = in_u8(in);
  unsigned first = in_u16(in) % PAGES;
  unsigned pages = c & 0x80 ? 1 + in_u8(in) % (PAGES / 2) : 1 + c % 16;
  if (first + pages > PAGES) pages = PAGES - first;
  for (unsigned p = first; p < first + pages; p++)
    if (m.queued[p]) return;  // not ours to queue: skip the operation
  char *a = addr_of(first);
  size_t len = (size_t)pages * page;
  a[0] = a[len - 1] = 0x5a;  // dirty, so a refused (zeroing) advice shows
  hak_batch_add(a, len);
  if (!m.cfg.enabled) {
    FUZZ_CHECK(ncalls == 1 && calls[0].addr == a && calls[0].len == len && calls[0].advice == HAK_ADVISE_DONTNEED,
               "add with batching off: %u calls, expected one for the range at once", ncalls);
    ncalls = 0;
    return;
  }
  m.q[m.n++] = (mrange_t){first, pages};
  m.bytes += len;
  memset(&m.queued[first], 1, pages);
  m.queued_total++;
  if (over_caps()) expect_flush("add past a cap");
  else expect_no_calls("add below the caps");
}

static void op_take(fuzz_in_t *in) {
  uint8_t c = in_u8(in);
  unsigned first;
  if (m.n && c & 1) {  // the start of a queued range, or just inside it
    mrange_t r = m.q[in_u8(in) % m.n];
    first = r.first + (c & 2 && r.pages > 1 ? 1 : 0);
  } else {
    first = in_u16(in) % PAGES;
  }
  hak_batch_take_t got = hak_batch_take(addr_of(first));
  expect_no_calls("take");
  int hit = -1;
  for (unsigned i = 0; i < m.n; i++)
    if (m.q[i].first == first) hit = (int)i;
  FUZZ_CHECK(got == (hit >= 0 ? HAK_BATCH_TAKEN : HAK_BATCH_NOT_QUEUED), "take(page %u) = %d, model %d", first,
             (int)got, hit >= 0);
  if (hit < 0) return;
  memset(&m.queued[m.q[hit].first], 0, m.q[hit].pages);
  m.bytes -= (size_t)m.q[hit].pages * page;
  m.q[hit] = m.q[--m.n];
  m.cancelled++;
}

static void configure(fuzz_in_t *in) {
  hak_batch_cfg_t cfg;
  uint8_t c = in_u8(in);
  cfg.enabled = c % 8 != 0;
  uint8_t b = in_u8(in);
  cfg.max_bytes = b < 200 ? (size_t)(b + 1) * page : b < 250 ? (size_t)in_u16(in) * page / 16 : (size_t)in_u32(in);
  if (cfg.max_bytes < 4096) cfg.max_bytes = 4096;  // HAKMEM_BATCH_BYTES's minimum (0 would be "always over")
  cfg.max_ranges = in_u8(in) % 70;  // 0 and > 64 test the clamp
  hak_batch_configure(&cfg);
  m.cfg = cfg;
  if (m.cfg.max_ranges < 1) m.cfg.max_ranges = 1;
  if (m.cfg.max_ranges > HAK_BATCH_MAX_RANGES) m.cfg.max_ranges = HAK_BATCH_MAX_RANGES;
}

static void check_all(const char *after) {
  expect_no_calls(after);
  FUZZ_CHECK(hak_batch_is_valid(), "hak_batch_is_valid() failed after %s", after);
  FUZZ_CHECK(hak_batch_queued_ranges() == m.n && hak_batch_queued_bytes() == m.bytes,
             "after %s: queue holds %u ranges / %zu bytes, model %u / %zu", after, hak_batch_queued_ranges(),
             hak_batch_queued_bytes(), m.n, m.bytes);
  FUZZ_CHECK(!m.cfg.enabled || !over_caps(), "after %s: model queue over its caps", after);
#define STAT_IS(name, want)                                                                                   \
  FUZZ_CHECK(hak_stat_read(HAK_STAT_##name) == (uint64_t)(want), "after %s: counter " #name " %llu != model %llu", \
             after, (unsigned long long)hak_stat_read(HAK_STAT_##name), (unsigned long long)(want))
  STAT_IS(batch_queued, m.queued_total);
  STAT_IS(batch_flushes, m.flushes);
  STAT_IS(batch_advised, m.advised);
  STAT_IS(batch_cancelled, m.cancelled);
  STAT_IS(batch_merged, m.merged);
  STAT_IS(batch_syscalls_saved, m.cancelled + m.merged);
  STAT_IS(os_madvise, 0);  // everything was suppressed or refused
#undef STAT_IS
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!region) {
    page = hak_os_page_size();
    // Through the seam (before any hooks), so that fake_os.c does the
    // zeroing of refused advice cheaply.
    region = hak_os_map(PAGES * page, 0);
    FUZZ_CHECK(region, "cannot map the test region");
  }
  fuzz_in_t in = {data, size};
  hak_batch_flush();  // nothing should be queued, but start clean regardless
  memset(&m, 0, sizeof m);
  memset(&hooks, 0, sizeof hooks);
  hooks.observe = observe;
  hooks.suppress_advice = true;
  uint8_t f = in_u8(&in);
  hooks.fail_every[HAK_OS_ADVISE] = f >= 224 ? 1 + f % 4 : 0;
  hak_os_set_hooks(&hooks);
  ncalls = 0;
  hak_stats_reset();
  configure(&in);
  check_all("configure");

  for (unsigned steps = 0; in_more(&in) && steps < 4096; steps++) {
    uint8_t op = in_u8(&in);
    switch (op % 8) {
      case 0: case 1: case 2: case 3:
        op_add(&in);
        check_all("add");
        break;
      case 4: case 5:
        op_take(&in);
        check_all("take");
        break;
      case 6:
        hak_batch_flush();
        expect_flush("flush");
        check_all("flush");
        break;
      default:
        if (op & 0x80) {  // exit: everything is advised, then a new start
          hak_batch_flush();
          expect_flush("exit");
          check_all("exit");
        }
        // A new configuration: what it would not have let wait is flushed.
        configure(&in);
        if (m.n && (!m.cfg.enabled || over_caps())) expect_flush("configure past the caps");
        check_all("configure");
        break;
    }
  }
  hak_batch_flush();
  expect_flush("final flush");
  check_all("final flush");
  hak_os_set_hooks(NULL);
  return 0;
}
