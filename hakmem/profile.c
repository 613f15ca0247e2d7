/* profile.c — the sampled per-site heap profile and its writer (layer L5).
 * See profile.h for how allocations and frees reach it.
 *
 * State: per (site, log2 size bucket) counters of sampled allocations (all
 * and live), a pointer table of the live samples (open addressing, linear
 * probing, backward-shift deletion) and a counting filter over the table's
 * keys. All three are mapped through os.h when the profile is first turned
 * on and are only changed under `prof.lock`; the filter is also read without
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

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>  // rename(2) only: no FILE here
#include <string.h>
#include <unistd.h>

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

#define FILTER_SLOTS HAK_PROFILE_FILTER_SLOTS
#define FRAMES_MAX 32u
#define TABLE_MIN 4096u

typedef struct cell {
  uint64_t alloc_n, alloc_b, live_n, live_b;
} cell_t;

typedef struct sample {
  uintptr_t p; /* 0: empty slot */
  uint64_t size;
  uint32_t cell; /* site * HAK_SITE_HIST + bucket */
  uint32_t pad;
} sample_t;

static struct {
  hak_lock_t lock;
  cell_t *cells;                /* HAK_SITE_CAP * HAK_SITE_HIST */
  sample_t *table;
  size_t cap, live;             /* cap: a power of two */
  uint64_t period;
  uint64_t interval_ms, last_write_ms;
  uint64_t samples, dropped;
  bool mapped, atfork;
} prof = {.lock = HAK_LOCK_INIT};

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

// --- the pointer table and the filter (under prof.lock) ----------------------------

#define hash_ptr hak_profile_hash

static bool table_grow(void) {
  size_t cap = prof.cap ? prof.cap * 2 : TABLE_MIN;
  sample_t *t = hak_os_map(cap * sizeof(sample_t), hak_os_page_size());
  if (!t) return false;
  for (size_t i = 0; i < prof.cap; i++) {
    if (!prof.table[i].p) continue;
    size_t j = hash_ptr(prof.table[i].p) & (cap - 1);
    while (t[j].p) j = (j + 1) & (cap - 1);
    t[j] = prof.table[i];
  }
  if (prof.table) hak_os_unmap(prof.table, prof.cap * sizeof(sample_t));
  prof.table = t;
  prof.cap = cap;
  return true;
}

static bool table_insert(uintptr_t p, uint64_t size, uint32_t cell) {
  if ((prof.live + 1) * 2 > prof.cap && !table_grow()) return false;
  size_t j = hash_ptr(p) & (prof.cap - 1);
  while (prof.table[j].p && prof.table[j].p != p) j = (j + 1) & (prof.cap - 1);
  if (prof.table[j].p == p) return false;  // cannot happen: p was handed out once
  prof.table[j] = (sample_t){.p = p, .size = size, .cell = cell};
  prof.live++;
  atomic_fetch_add_explicit(&hak_profile_filter[hash_ptr(p) & (FILTER_SLOTS - 1)], 1, memory_order_relaxed);
  return true;
}

// Remove p; true (and *out) when it was there.
static bool table_remove(uintptr_t p, sample_t *out) {
  if (!prof.cap) return false;
  size_t mask = prof.cap - 1, j = hash_ptr(p) & mask;
  while (prof.table[j].p != p) {
    if (!prof.table[j].p) return false;
    j = (j + 1) & mask;
  }
  *out = prof.table[j];
  // Backward-shift deletion: move later members of the run into the hole
  // when their home is at or before it, so lookups never need tombstones.
  size_t hole = j;
  for (size_t k = (j + 1) & mask; prof.table[k].p; k = (k + 1) & mask) {
    size_t home = hash_ptr(prof.table[k].p) & mask;
    if (((k - home) & mask) >= ((k - hole) & mask)) {
      prof.table[hole] = prof.table[k];
      hole = k;
    }
  }
  prof.table[hole].p = 0;
  prof.live--;
  atomic_fetch_sub_explicit(&hak_profile_filter[hash_ptr(p) & (FILTER_SLOTS - 1)], 1, memory_order_relaxed);
  return true;
}

// --- configuration ------------------------------------------------------------------

// The pools' careful and remote frees (heap.h's watchers): the pages of
// sampled blocks are careful, so every free of a sampled pool block passes.
static void pool_freeing(const void *p) { hak_profile_note_free(p); }

static void fork_prepare(void) { hak_lock(&prof.lock); }
static void fork_release(void) { hak_unlock(&prof.lock); }

void hak_profile_configure(void) {
  bool want = hak_opt_str(HAK_OPT_PROFILE)[0] != '\0';
  hak_lock(&prof.lock);
  if (want && !prof.mapped) {
    size_t page = hak_os_page_size();
    size_t cells = ((size_t)HAK_SITE_CAP * HAK_SITE_HIST * sizeof(cell_t) + page - 1) & ~(page - 1);
    size_t filter = (FILTER_SLOTS * sizeof(uint32_t) + page - 1) & ~(page - 1);
    prof.cells = hak_os_map(cells, page);
    hak_profile_filter = prof.cells ? hak_os_map(filter, page) : NULL;
    if (hak_profile_filter) {
      prof.mapped = true;
    } else {
      if (prof.cells) hak_os_unmap(prof.cells, cells);
      prof.cells = NULL;
      hak_log("profile: could not map its tables; HAKMEM_PROFILE is off");
    }
  }
  if (want && prof.mapped && !prof.atfork) {
    // A child of a thread that held the lock must not deadlock on it.
    pthread_atfork(fork_prepare, fork_release, fork_release);
    prof.atfork = true;
  }
  prof.period = hak_opt(HAK_OPT_PROFILE_SAMPLE);
  prof.interval_ms = hak_opt(HAK_OPT_PROFILE_INTERVAL) * 1000;
  hak_profile_on = want && prof.mapped;
  // Only a running profile needs the clock: reading it maps the vDSO's data
  // page, a fault in every process otherwise (configure runs again, and reads
  // it, when the profile is turned on later).
  if (hak_profile_on) prof.last_write_ms = hak_os_now_ms();
  hak_heap_watchers.freeing = hak_profile_on ? pool_freeing : NULL;
  hak_unlock(&prof.lock);
}

// --- the hooks ----------------------------------------------------------------------

static void write_locked(void);

static void take_sample(void *p, size_t size, uintptr_t site, const void *frame) {
  hak_site_id_t id = hak_callsite_id(site, frame);  // the calling context above any wrapper
  uint32_t c = (uint32_t)id * HAK_SITE_HIST + hak_site_bucket(size);
  hak_lock(&prof.lock);
  if (table_insert((uintptr_t)p, size, c)) {
    cell_t *cell = &prof.cells[c];
    cell->alloc_n++;
    cell->alloc_b += size;
    cell->live_n++;
    cell->live_b += size;
    prof.samples++;
    // A pool block's page routes all its frees to the slow path from now on
    // (see profile.h); the page stays careful for its whole life.
    if (hak_addrmap_get(p) == HAK_ADDR_SEGMENT) hak_heap_watch(p);
  } else {
    prof.dropped++;
  }
  // The interval is checked when a sample is taken: an existing slow path,
  // no thread of our own; a program that stops allocating has nothing new
  // to show anyway.
  if (prof.interval_ms && (prof.period >= 65536 || (prof.samples & 63) == 0)) {
    uint64_t now = hak_os_now_ms();
    if (now - prof.last_write_ms >= prof.interval_ms) {
      prof.last_write_ms = now;
      write_locked();
    }
  }
  hak_unlock(&prof.lock);
}

void hak_profile_alloc(void *p, size_t size, uintptr_t site, const void *frame) {
  // A Poisson process over the bytes allocated: the request is sampled when
  // the next event falls inside its bytes (probability 1 - exp(-size/period),
  // what pprof's heap_v2 correction assumes). The gap is memoryless, so a
  // fresh draw after each sample keeps the process exact.
  if (!hak_profile_until) hak_profile_until = next_gap(prof.period);
  if (size < hak_profile_until) {
    hak_profile_until -= size;
    return;
  }
  hak_profile_until = next_gap(prof.period);
  take_sample(p, size, site, frame);
}

void hak_profile_free(const void *p) {
  if (!p || !prof.mapped) return;
  sample_t s;
  hak_lock(&prof.lock);
  if (table_remove((uintptr_t)p, &s)) {
    cell_t *cell = &prof.cells[s.cell];
    cell->live_n--;
    cell->live_b -= s.size;
  }
  hak_unlock(&prof.lock);
}

void *hak_profile_large_realloc(hak_large_t *h, void *p, size_t size, uintptr_t site, const void *frame) {
  // Forget first: once the block moved, another thread may be handed the
  // old address and sample it.
  sample_t s;
  bool had = false;
  hak_lock(&prof.lock);
  had = table_remove((uintptr_t)p, &s);
  hak_unlock(&prof.lock);
  void *n = hak_large_realloc(h, size);
  if (n) {
    if (had) {
      hak_lock(&prof.lock);
      prof.cells[s.cell].live_n--;
      prof.cells[s.cell].live_b -= s.size;
      hak_unlock(&prof.lock);
    }
    hak_profile_alloc(n, size, site, frame);
  } else if (had) {
    hak_lock(&prof.lock);
    if (!table_insert((uintptr_t)p, s.size, s.cell)) {
      prof.cells[s.cell].live_n--;  // p stays live but unsampled
      prof.cells[s.cell].live_b -= s.size;
    }
    hak_unlock(&prof.lock);
  }
  return n;
}

uint64_t hak_profile_samples(void) { return prof.samples; }
uint64_t hak_profile_live(void) { return prof.live; }

void hak_profile_reset(void) {
  hak_lock(&prof.lock);
  if (prof.mapped) {
    memset(prof.cells, 0, (size_t)HAK_SITE_CAP * HAK_SITE_HIST * sizeof(cell_t));
    for (unsigned i = 0; i < FILTER_SLOTS; i++) atomic_store_explicit(&hak_profile_filter[i], 0, memory_order_relaxed);
    if (prof.table) memset(prof.table, 0, prof.cap * sizeof(sample_t));
  }
  prof.live = prof.samples = prof.dropped = 0;
  hak_unlock(&prof.lock);
}

// --- the writer ---------------------------------------------------------------------

static char out_buf[64 * 1024];

typedef struct writer {
  int fd;
  size_t len;
  bool failed;
} writer_t;

static void w_flush(writer_t *w) {
  if (!w->len) return;
  const char *s = out_buf;
  size_t left = w->len;
  while (left) {
    ssize_t n = write(w->fd, s, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      w->failed = true;
      break;
    }
    s += n;
    left -= (size_t)n;
  }
  w->len = 0;
}

// Append one line (at most 1 KiB of formatted text).
static __attribute__((format(printf, 2, 3))) void w_printf(writer_t *w, const char *fmt, ...) {
  if (sizeof out_buf - w->len < 1024) w_flush(w);
  hak_buf_t b;
  hak_buf_init(&b, out_buf + w->len, 1024);
  va_list ap;
  va_start(ap, fmt);
  hak_buf_vprintf(&b, fmt, ap);
  va_end(ap);
  size_t n = hak_buf_finish(&b);
  w->len += n < 1023 ? n : 1023;
}

static void w_maps(writer_t *w) {
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  for (;;) {
    if (w->len == sizeof out_buf) w_flush(w);
    ssize_t n = read(fd, out_buf + w->len, sizeof out_buf - w->len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    w->len += (size_t)n;
  }
  close(fd);
}

// FILE with "%p" replaced by the pid; false when it does not fit.
static bool profile_path(char *path, size_t cap) {
  const char *f = hak_opt_str(HAK_OPT_PROFILE);
  hak_buf_t b;
  hak_buf_init(&b, path, cap);
  for (; *f; f++) {
    if (f[0] == '%' && f[1] == 'p') {
      hak_buf_printf(&b, "%d", (int)getpid());
      f++;
    } else {
      hak_buf_putc(&b, *f);
    }
  }
  return hak_buf_finish(&b) < cap;
}

static void write_records(writer_t *w) {
  uint64_t in_n = 0, in_b = 0, al_n = 0, al_b = 0;
  const size_t cells = (size_t)HAK_SITE_CAP * HAK_SITE_HIST;
  for (size_t c = 0; c < cells; c++) {
    in_n += prof.cells[c].live_n;
    in_b += prof.cells[c].live_b;
    al_n += prof.cells[c].alloc_n;
    al_b += prof.cells[c].alloc_b;
  }
  w_printf(w, "heap profile: %llu: %llu [%llu: %llu] @ heap_v2/%llu\n", (unsigned long long)in_n,
           (unsigned long long)in_b, (unsigned long long)al_n, (unsigned long long)al_b,
           (unsigned long long)prof.period);
  for (size_t c = 0; c < cells; c++) {
    const cell_t *cell = &prof.cells[c];
    if (!cell->alloc_n) continue;
    uintptr_t frames[FRAMES_MAX];
    unsigned n = hak_site_frames((hak_site_id_t)(c / HAK_SITE_HIST), frames, FRAMES_MAX);
    if (!n) frames[n++] = 0;  // the shared "other sites" entry has no address
    w_printf(w, "%llu: %llu [%llu: %llu] @", (unsigned long long)cell->live_n, (unsigned long long)cell->live_b,
             (unsigned long long)cell->alloc_n, (unsigned long long)cell->alloc_b);
    // Frames are return addresses. pprof subtracts 1 from every frame but
    // the first (it expects the first to be a PC), so the first is written
    // as the call instruction's last byte: its line, not the next one's.
    for (unsigned i = 0; i < n; i++)
      w_printf(w, " 0x%llx", (unsigned long long)(i == 0 && frames[0] ? frames[0] - 1 : frames[i]));
    w_printf(w, "\n");
  }
  w_printf(w, "\nMAPPED_LIBRARIES:\n");
  w_maps(w);
}

static bool write_failed(const char *path, int err) {
  static _Atomic int warned;
  if (!atomic_exchange(&warned, 1)) hak_log("profile: could not write %s (errno %d)", path, err);
  return false;
}

static bool write_profile(void) {
  char path[HAK_OPT_STR_MAX + 16], tmp[HAK_OPT_STR_MAX + 48];
  if (!profile_path(path, sizeof path)) return write_failed(hak_opt_str(HAK_OPT_PROFILE), ENAMETOOLONG);
  hak_buf_t b;
  hak_buf_init(&b, tmp, sizeof tmp);
  hak_buf_printf(&b, "%s.tmp.%d", path, (int)getpid());
  hak_buf_finish(&b);
  int saved = errno;
  writer_t w = {.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
  if (w.fd < 0) {
    bool r = write_failed(tmp, errno);
    errno = saved;
    return r;
  }
  write_records(&w);
  w_flush(&w);
  bool ok = !w.failed && close(w.fd) == 0;
  if (ok && rename(tmp, path) != 0) ok = false;
  if (!ok) {
    int err = errno;
    unlink(tmp);
    write_failed(path, err);
  }
  errno = saved;
  return ok;
}

static void write_locked(void) { (void)write_profile(); }

bool hak_profile_write(void) {
  if (!hak_profile_on) return false;
  hak_lock(&prof.lock);
  bool ok = write_profile();
  prof.last_write_ms = hak_os_now_ms();
  hak_unlock(&prof.lock);
  return ok;
}
