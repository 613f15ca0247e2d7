/* batch.c — the batched MADV_DONTNEED queue (layer L3). See batch.h.
 * Called by large.c (COLD frees, spare reuse and unmap); fuzzed alone by
 * fuzz/batch_madvise_fuzzer.c with the OS seam recording advice.
 *
 * A flush moves the whole queue to `inflight` under the lock, advises it
 * without the lock, then clears `inflight` and bumps `epoch`. A take that
 * finds its range in flight waits for the epoch to move on.
 */
#include "hakmem/batch.h"

#include <sched.h>
#include <stdatomic.h>

#include "hakmem/check.h"
#include "hakmem/lock.h"
#include "hakmem/os.h"
#include "hakmem/stats.h"

typedef struct range {
  char *addr;
  size_t len;
} range_t;

static struct {
  hak_lock_t lock;
  hak_batch_cfg_t cfg;
  range_t q[HAK_BATCH_MAX_RANGES];
  unsigned n;
  size_t bytes;
  range_t inflight[HAK_BATCH_MAX_RANGES];
  unsigned inflight_n;       // > 0 while a flush advises outside the lock
  unsigned waiting;          // threads waiting (lock released) for that flush
  _Atomic uint64_t epoch;    // completed flushes
} bq = {.cfg = {.enabled = true, .max_bytes = (size_t)16 << 20, .max_ranges = HAK_BATCH_MAX_RANGES}};

static void flush_locked(void);
static void wait_inflight_locked(void);

void hak_batch_configure(const hak_batch_cfg_t *cfg) {
  hak_lock(&bq.lock);
  bq.cfg = *cfg;
  if (bq.cfg.max_ranges < 1) bq.cfg.max_ranges = 1;
  if (bq.cfg.max_ranges > HAK_BATCH_MAX_RANGES) bq.cfg.max_ranges = HAK_BATCH_MAX_RANGES;
  // What the new caps would not have let wait goes now (the caps hold after every call).
  if (bq.n && (!bq.cfg.enabled || bq.n >= bq.cfg.max_ranges || bq.bytes >= bq.cfg.max_bytes)) {
    wait_inflight_locked();
    flush_locked();
  }
  hak_unlock(&bq.lock);
}

// Sort by address (insertion sort: at most 64) and advise runs of adjacent ranges.
static void advise_ranges(range_t *r, unsigned n) {
  for (unsigned i = 1; i < n; i++) {
    range_t x = r[i];
    unsigned j = i;
    for (; j > 0 && r[j - 1].addr > x.addr; j--) r[j] = r[j - 1];
    r[j] = x;
  }
  unsigned calls = 0;
  for (unsigned i = 0; i < n;) {
    char *start = r[i].addr;
    char *end = start + r[i].len;
    unsigned j = i + 1;
    for (; j < n && r[j].addr == end; j++) end += r[j].len;
    hak_os_advise(start, (size_t)(end - start), HAK_ADVISE_DONTNEED);
    calls++;
    i = j;
  }
  HAK_STAT_ADD(batch_advised, calls);
  HAK_STAT_ADD(batch_merged, n - calls);
  HAK_STAT_ADD(batch_syscalls_saved, n - calls);
}

// Called with the lock held and no flush in flight; returns with it held.
static void flush_locked(void) {
  HAK_ASSERT_INTERNAL(bq.inflight_n == 0);
  if (!bq.n) return;
  for (unsigned i = 0; i < bq.n; i++) bq.inflight[i] = bq.q[i];
  bq.inflight_n = bq.n;
  bq.n = 0;
  bq.bytes = 0;
  hak_unlock(&bq.lock);
  // inflight[] is only written by the flusher; takers read it under the lock.
  range_t local[HAK_BATCH_MAX_RANGES];
  unsigned n = bq.inflight_n;
  for (unsigned i = 0; i < n; i++) local[i] = bq.inflight[i];
  advise_ranges(local, n);
  HAK_STAT_INC(batch_flushes);
  hak_lock(&bq.lock);
  bq.inflight_n = 0;
  atomic_fetch_add_explicit(&bq.epoch, 1, memory_order_release);
}

// Wait, with the lock held on entry and exit, until no flush is in flight.
static void wait_inflight_locked(void) {
  bq.waiting++;  // the queue may sit at a threshold meanwhile (see the walker)
  while (bq.inflight_n) {
    hak_unlock(&bq.lock);
    sched_yield();
    hak_lock(&bq.lock);
  }
  bq.waiting--;
}

void hak_batch_add(void *addr, size_t len) {
  if (!len) return;
  hak_lock(&bq.lock);
  if (!bq.cfg.enabled) {
    hak_unlock(&bq.lock);
    hak_os_advise(addr, len, HAK_ADVISE_DONTNEED);
    return;
  }
#if HAK_DEBUG >= 2
  for (unsigned i = 0; i < bq.n; i++)
    HAK_CHECK((char *)addr + len <= bq.q[i].addr || bq.q[i].addr + bq.q[i].len <= (char *)addr,
              "batch: overlapping ranges queued");
#endif
  // Room first: while this thread waited for a flush in flight (lock
  // released), others may have filled the queue.
  while (bq.n >= bq.cfg.max_ranges) {
    wait_inflight_locked();
    if (bq.n >= bq.cfg.max_ranges) flush_locked();
  }
  HAK_ASSERT_INTERNAL(bq.n < bq.cfg.max_ranges && bq.n < HAK_BATCH_MAX_RANGES);
  bq.q[bq.n++] = (range_t){addr, len};
  bq.bytes += len;
  HAK_STAT_INC(batch_queued);
  if (bq.n >= bq.cfg.max_ranges || bq.bytes >= bq.cfg.max_bytes) {
    wait_inflight_locked();
    if (bq.n >= bq.cfg.max_ranges || bq.bytes >= bq.cfg.max_bytes) flush_locked();
  }
  hak_unlock(&bq.lock);
}

hak_batch_take_t hak_batch_take(void *addr) {
  hak_lock(&bq.lock);
  for (unsigned i = 0; i < bq.n; i++) {
    if (bq.q[i].addr != addr) continue;
    HAK_ASSERT_INTERNAL(bq.bytes >= bq.q[i].len);
    bq.bytes -= bq.q[i].len;
    bq.q[i] = bq.q[--bq.n];
    hak_unlock(&bq.lock);
    HAK_STAT_INC(batch_cancelled);
    HAK_STAT_INC(batch_syscalls_saved);
    return HAK_BATCH_TAKEN;
  }
  for (unsigned i = 0; i < bq.inflight_n; i++) {
    if (bq.inflight[i].addr != addr) continue;
    wait_inflight_locked();  // the advice lands before the caller reuses it
    break;
  }
  hak_unlock(&bq.lock);
  return HAK_BATCH_NOT_QUEUED;
}

void hak_batch_flush(void) {
  hak_lock(&bq.lock);
  wait_inflight_locked();
  flush_locked();
  hak_unlock(&bq.lock);
}

size_t hak_batch_queued_bytes(void) {
  hak_lock(&bq.lock);
  size_t b = bq.bytes;
  hak_unlock(&bq.lock);
  return b;
}

unsigned hak_batch_queued_ranges(void) {
  hak_lock(&bq.lock);
  unsigned n = bq.n;
  hak_unlock(&bq.lock);
  return n;
}

bool hak_batch_is_valid(void) {
  bool ok = true;
  hak_lock(&bq.lock);
  size_t bytes = 0;
  for (unsigned i = 0; i < bq.n; i++) {
    bytes += bq.q[i].len;
    if (!bq.q[i].len) ok = false;
    for (unsigned j = i + 1; j < bq.n; j++)
      if (bq.q[i].addr < bq.q[j].addr + bq.q[j].len && bq.q[j].addr < bq.q[i].addr + bq.q[i].len) ok = false;
  }
  if (bytes != bq.bytes || bq.n > HAK_BATCH_MAX_RANGES) ok = false;
  // Past a threshold only while a flush is in flight or a thread waits to flush.
  if (bq.cfg.enabled && !bq.inflight_n && !bq.waiting && (bq.n >= bq.cfg.max_ranges || bq.bytes >= bq.cfg.max_bytes))
    ok = false;
  hak_unlock(&bq.lock);
  return ok;
}

void hak_batch_fork_prepare(void) {
  hak_lock(&bq.lock);
  wait_inflight_locked();
}
void hak_batch_fork_release(void) { hak_unlock(&bq.lock); }
