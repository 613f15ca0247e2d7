/* learn.c — per-site strategies for requests of 64 KiB and more (layer L5).
 * See learn.h. Calls policy/evo.c on window boundaries; called by alloc.c
 * (requests), report.c (JSON) and init.c (the RESEARCH leaderboard).
 */
#include "hakmem/learn.h"

#include <stdatomic.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "hakmem/heap.h"
#include "hakmem/large.h"
#include "hakmem/lock.h"
#include "hakmem/options.h"
#include "hakmem/os.h"
#include "hakmem/policy/evo.h"
#include "hakmem/sizeclass.h"
#include "hakmem/stats.h"

_Static_assert(HAK_EVO_MODE_AUTO == 0 && HAK_EVO_MODE_LEARN == 1 && HAK_EVO_MODE_FROZEN == 2 && HAK_EVO_MODE_OFF == 3,
               "options.c's hak_evo_names follow hak_evo_mode_t");

// First-touch cost of one fresh page, in cycles, for the CANARY estimate (a
// minor fault with zeroing measures 0.5-1 us on the machines we know).
#define FAULT_CYCLES 1500u

enum { ROUTE_MAIN = 0, ROUTE_CANARY = 1 };

typedef struct site_learn {
  _Atomic uint64_t policy;         // hak_policy_t as a word: what requests read
  _Atomic uint64_t ops;            // requests ever (the canary router's counter)
  _Atomic uint64_t win_ops;        // requests in this window
  _Atomic uint64_t hist[HAK_DIST_BUCKETS];
  _Atomic uint64_t timed[2][3];    // LEARN/CANARY: per route {ops, cycles, fresh pages}
  _Atomic int measuring;           // LEARN or CANARY: time requests
  hak_lock_t lock;                 // window ends
  uint64_t win_tsc, win_faults;    // at the window's start
  hak_evo_site_t evo;
} site_learn_t;

bool hak_learn_on;
static hak_evo_config_t cfg;
static _Atomic(site_learn_t *) sites[HAK_SITE_CAP];
static struct {
  hak_lock_t lock;
  char *chunk;
  size_t left;
} arena;

// --- clocks and counters ------------------------------------------------------------

static inline uint64_t cycles(void) {
#if defined(__x86_64__)
  return __builtin_ia32_rdtsc();
#else
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
#endif
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t minor_faults(void) {
  struct rusage ru;
  return getrusage(RUSAGE_SELF, &ru) == 0 ? (uint64_t)ru.ru_minflt : 0;
}

static int64_t bytes_mapped(void) {
  return (int64_t)(hak_stat_read(HAK_STAT_os_bytes_mapped) + hak_stat_read(HAK_STAT_os_bytes_mapped_pools));
}

// --- configuration ------------------------------------------------------------------

void hak_learn_configure(void) {
  hak_evo_config_t c = hak_evo_config_default();
  c.mode = (hak_evo_mode_t)hak_opt(HAK_OPT_EVO);
  c.learner = (hak_evo_learner_t)hak_opt(HAK_OPT_EVO_LEARNER);
  c.initial_threshold = hak_opt(HAK_OPT_EVO_INITIAL) ? hak_opt(HAK_OPT_EVO_INITIAL) : hak_opt(HAK_OPT_LARGE_THRESHOLD);
  c.window_ops = hak_opt(HAK_OPT_EVO_WINDOW_OPS);
  c.window_ns = hak_opt(HAK_OPT_EVO_WINDOW_MS) * 1000000u;
  c.min_learn_ns = hak_opt(HAK_OPT_EVO_MIN_LEARN_MS) * 1000000u;
  cfg = c;  // sites made before keep pointing at cfg: same storage, new values
  hak_learn_on = c.mode != HAK_EVO_MODE_OFF;
}

// --- per-site state -----------------------------------------------------------------

static site_learn_t *site_new(hak_site_id_t id) {
  size_t size = (sizeof(site_learn_t) + 63) & ~(size_t)63;
  hak_lock(&arena.lock);
  site_learn_t *sl = atomic_load_explicit(&sites[id], memory_order_acquire);
  if (!sl) {
    if (arena.left < size) {
      size_t chunk = (size_t)256 << 10;
      arena.chunk = hak_os_map(chunk, 0);
      arena.left = arena.chunk ? chunk : 0;
    }
    if (arena.left >= size) {
      sl = (site_learn_t *)arena.chunk;
      arena.chunk += size;
      arena.left -= size;
      uint64_t t = now_ns();
      hak_evo_init(&sl->evo, &cfg, id, t);
      sl->win_tsc = cycles();
      sl->win_faults = minor_faults();
      atomic_store_explicit(&sl->measuring, sl->evo.state == HAK_EVO_LEARN || sl->evo.state == HAK_EVO_CANARY,
                            memory_order_relaxed);
      atomic_store_explicit(&sl->policy, hak_policy_to_word(sl->evo.policy), memory_order_relaxed);
      atomic_store_explicit(&sites[id], sl, memory_order_release);
    }
  }
  hak_unlock(&arena.lock);
  return sl;
}

static inline uint64_t take(_Atomic uint64_t *v) { return atomic_exchange_explicit(v, 0, memory_order_relaxed); }

// Close the window: gather its signals, let the lifecycle decide, publish.
static void window_end(site_learn_t *sl, uint64_t t) {
  uint64_t tsc = cycles(), faults = minor_faults();
  uint64_t ops = take(&sl->win_ops);
  uint64_t hist[HAK_DIST_BUCKETS];
  for (unsigned i = 0; i < HAK_DIST_BUCKETS; i++) hist[i] = take(&sl->hist[i]);
  uint64_t timed[2][3];
  for (unsigned r = 0; r < 2; r++)
    for (unsigned k = 0; k < 3; k++) timed[r][k] = take(&sl->timed[r][k]);

  hak_window_stats_t ws = {.hist = hist};
  hak_policy_t pol = hak_policy_from_word(atomic_load_explicit(&sl->policy, memory_order_relaxed));
  if (pol.canary) {
    // Both sides from the timed requests (the same measure, so comparable).
    for (unsigned r = 0; r < 2; r++) {
      hak_evo_obs_t *o = r == ROUTE_MAIN ? &ws.main : &ws.canary;
      o->ops = timed[r][0];
      o->cpu_per_op = timed[r][0] ? (double)(timed[r][1] + timed[r][2] * FAULT_CYCLES) / (double)timed[r][0] : 0;
      o->faults = -1;
      o->bytes_mapped = -1;
    }
    ws.main.ops = ops - timed[ROUTE_CANARY][0];
  } else {
    // The whole program's cycles per request of this site over the window.
    ws.main.ops = ops;
    ws.main.cpu_per_op = ops ? (double)(tsc - sl->win_tsc) / (double)ops : 0;
    ws.main.faults = (int64_t)(faults - sl->win_faults);
    ws.main.bytes_mapped = bytes_mapped();
  }
  sl->win_tsc = tsc;
  sl->win_faults = faults;
  if (hak_evo_window_end(&sl->evo, &ws, t))
    atomic_store_explicit(&sl->policy, hak_policy_to_word(sl->evo.policy), memory_order_relaxed);
  atomic_store_explicit(&sl->measuring, sl->evo.state == HAK_EVO_LEARN || sl->evo.state == HAK_EVO_CANARY,
                        memory_order_relaxed);
}

// --- requests -----------------------------------------------------------------------

// Pools below the strategy's threshold when they can hold the block; the
// large engine otherwise, with BigCache admission only from the threshold
// up (the threshold is where the strategy wants caching to start).
HAK_INLINE void *route(size_t size, size_t align, hak_site_id_t id, bool zero, hak_policy_t p, size_t *fresh) {
  if (HAK_LIKELY(size < p.large_threshold && size < HAK_POOL_MAX && align <= HAK_MIN_ALIGN && !zero))
    return hak_heap_alloc(size);
  size_t span = align > HAK_MIN_ALIGN ? size + align : size;
  if (size >= p.large_threshold || span >= HAK_POOL_MAX)
    return hak_large_alloc_ex(size, align, id, zero, p.cache_on && size >= p.large_threshold, fresh);
  void *ptr = align > HAK_MIN_ALIGN ? hak_heap_aligned(align, size) : hak_heap_alloc(size);
  if (ptr && zero) memset(ptr, 0, size);
  return ptr;
}

// LEARN and CANARY: time the request (the challenger's 1 in 20, and as many
// of the incumbent's to compare with; in LEARN every request).
static HAK_NOINLINE void *measured(site_learn_t *sl, size_t size, size_t align, hak_site_id_t id, bool zero,
                                   hak_policy_t pol) {
  uint64_t op = atomic_fetch_add_explicit(&sl->ops, 1, memory_order_relaxed);
  bool canary = hak_policy_is_canary_op(pol, op);
  bool sample = !pol.canary || canary || op % HAK_CANARY_EVERY == HAK_CANARY_EVERY / 2;
  if (!sample) return route(size, align, id, zero, pol, NULL);
  size_t fresh = 0;
  uint64_t t0 = cycles();
  void *p = route(size, align, id, zero, hak_policy_route(pol, op), &fresh);
  if (p) {
    unsigned r = canary ? ROUTE_CANARY : ROUTE_MAIN;
    atomic_fetch_add_explicit(&sl->timed[r][0], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&sl->timed[r][1], cycles() - t0, memory_order_relaxed);
    atomic_fetch_add_explicit(&sl->timed[r][2], fresh / 4096, memory_order_relaxed);
  }
  return p;
}

// Window boundary: by count, or by time (checked every 64 requests).
static HAK_NOINLINE void window_check(site_learn_t *sl, uint64_t win) {
  uint64_t t = now_ns();
  if (hak_evo_window_due(&sl->evo, win, t) && hak_trylock(&sl->lock)) {
    if (hak_evo_window_due(&sl->evo, atomic_load_explicit(&sl->win_ops, memory_order_relaxed), t)) window_end(sl, t);
    hak_unlock(&sl->lock);
  }
}

void *hak_learn_alloc(size_t size, size_t align, hak_site_id_t id, bool zero) {
  site_learn_t *sl = atomic_load_explicit(&sites[id], memory_order_acquire);
  if (HAK_UNLIKELY(!sl) && !(sl = site_new(id))) {  // no memory for learning: the static way
    hak_policy_t p = {.large_threshold = (uint32_t)hak_opt(HAK_OPT_LARGE_THRESHOLD), .cache_on = 1};
    return route(size, align, id, zero, p, NULL);
  }
  hak_policy_t pol = hak_policy_from_word(atomic_load_explicit(&sl->policy, memory_order_relaxed));
  uint64_t win = atomic_fetch_add_explicit(&sl->win_ops, 1, memory_order_relaxed) + 1;
  atomic_fetch_add_explicit(&sl->hist[hak_site_bucket(size)], 1, memory_order_relaxed);
  void *p;
  if (HAK_LIKELY(!pol.canary && !atomic_load_explicit(&sl->measuring, memory_order_relaxed)))
    p = route(size, align, id, zero, pol, NULL);  // FROZEN, OFF: the record and nothing else
  else
    p = measured(sl, size, align, id, zero, pol);
  if (HAK_UNLIKELY(win >= cfg.window_ops || (win & 63) == 0)) window_check(sl, win);
  return p;
}

// --- reports ------------------------------------------------------------------------

void hak_learn_json(hak_buf_t *b, hak_site_id_t id) {
  site_learn_t *sl = atomic_load_explicit(&sites[id], memory_order_acquire);
  if (!sl) {
    hak_buf_puts(b, "null");
    return;
  }
  // hak_evo_to_json writes into a flat buffer: format into the space left.
  size_t room = b->len < b->cap ? b->cap - b->len : 0;
  size_t n = hak_evo_to_json(room ? b->data + b->len : NULL, room, &sl->evo);
  b->len += n;
}

void hak_learn_print(int fd) {
  for (unsigned id = 0; id < HAK_SITE_CAP; id++) {
    site_learn_t *sl = atomic_load_explicit(&sites[id], memory_order_acquire);
    if (!sl) continue;
    const hak_evo_site_t *e = &sl->evo;
    hak_dprintf(fd, "  site %u at %p: %s on %s after %llu windows (%u canaries, %u adoptions, %u rollbacks)\n", id,
                (void *)atomic_load_explicit(&hak_site_get((hak_site_id_t)id)->addr, memory_order_relaxed),
                hak_evo_state_names[e->state], hak_strategy_info[hak_evo_strategy(e)].name,
                (unsigned long long)e->window, e->canaries, e->adoptions, e->rollbacks);
    // The leaderboard itself: the site's ratings, best first, as JSON.
    char buf[2048];
    size_t n = hak_evo_to_json(buf, sizeof buf, e);
    char *r = strstr(buf, "\"ratings\":");
    char *h = r ? strstr(r, ",\"history\"") : NULL;
    if (r && h && n < sizeof buf) {
      *h = '\0';
      hak_dprintf(fd, "    %s\n", r);
    }
  }
}

bool hak_learn_has(hak_site_id_t id) { return atomic_load_explicit(&sites[id], memory_order_relaxed) != NULL; }

uint64_t hak_learn_policy_word(hak_site_id_t id) {
  site_learn_t *sl = atomic_load_explicit(&sites[id], memory_order_acquire);
  return sl ? atomic_load_explicit(&sl->policy, memory_order_relaxed) : 0;
}

void hak_learn_set_policy_word(hak_site_id_t id, uint64_t word) {
  site_learn_t *sl = atomic_load_explicit(&sites[id], memory_order_acquire);
  if (!sl) sl = site_new(id);
  if (sl) atomic_store_explicit(&sl->policy, word, memory_order_relaxed);
}

void hak_learn_reset(void) {
  for (unsigned id = 0; id < HAK_SITE_CAP; id++) atomic_store_explicit(&sites[id], NULL, memory_order_relaxed);
}
