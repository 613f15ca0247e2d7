/* large_free.c — the free side of the large-block engine (layer L3): where
 * a freed block goes (its site's BigCache ring, a HOT/WARM/COLD spare, or
 * munmap) by the how its request carried (hak_large_how_t, large.h), the
 * periodic ageing of BigCache and the spare pool, and the per-site resident
 * accounting. Shares large_impl.h with large.c, large_resize.c and
 * large_quarantine.c; called by alloc.c and learn.c through hak_large_free.
 *
 * Per-site resident bytes = live[site] (the mappings of its LIVE blocks,
 * kept here) + its blocks in BigCache rings + its HOT and WARM spares (those
 * two kept exactly by bigcache.c and spare.c under their locks, so a block
 * moving between the caches is charged by whichever holds it). A block
 * reused by another site leaves the first site's charge as it leaves the
 * cache and joins the second's live bytes. COLD spares, quarantined blocks
 * and unmapped ones are charged to nobody. fork() copies the counters with
 * the blocks, so the child's are as exact as the parent's.
 */
#include <stdatomic.h>

#include "hakmem/addrmap.h"
#include "hakmem/batch.h"
#include "hakmem/bigcache.h"
#include "hakmem/check.h"
#include "hakmem/freepolicy.h"
#include "hakmem/large.h"
#include "hakmem/large_impl.h"
#include "hakmem/log.h"
#include "hakmem/options.h"
#include "hakmem/os.h"
#include "hakmem/stats.h"

// --- per-site accounting ------------------------------------------------------------

_Static_assert(HAK_BIGCACHE_SITES == HAK_SITE_CAP && HAK_SPARE_SITES == HAK_SITE_CAP,
               "the caches count bytes for every site id");

static _Atomic size_t live_bytes[HAK_SITE_CAP];

void hak_large_charge_live(hak_site_id_t site, size_t bytes, bool add) {
  _Atomic size_t *c = &live_bytes[site % HAK_SITE_CAP];
  if (add) atomic_fetch_add_explicit(c, bytes, memory_order_relaxed);
  else atomic_fetch_sub_explicit(c, bytes, memory_order_relaxed);
}

size_t hak_large_site_live(hak_site_id_t site) {
  return atomic_load_explicit(&live_bytes[site % HAK_SITE_CAP], memory_order_relaxed);
}

// Freed blocks of site still resident: its rings and its HOT/WARM spares.
static size_t site_kept(hak_site_id_t site) { return hak_bigcache_site_bytes(site) + hak_spare_site_resident(site); }

size_t hak_large_site_resident(hak_site_id_t site) { return hak_large_site_live(site) + site_kept(site); }

// Room for one more freed block of `bytes` under the site's resident bound.
static bool site_has_room(const hak_large_t *h) {
  unsigned k = h->how.resident_shift;
  if (k == 0 || k >= 8 * sizeof(size_t)) return true;
  return site_kept(h->site) + h->map_len <= (size_t)1 << k;
}

#if HAK_DEBUG >= 3
void hak_large_validate(void) {
  HAK_CHECK(hak_bigcache_is_valid(), "large: BigCache invariants broken");
  HAK_CHECK(hak_spare_is_valid(), "large: spare pool invariants broken");
  HAK_CHECK(hak_batch_is_valid(), "large: batch queue invariants broken");
  // A live count that went below zero wrapped: a block uncharged twice or
  // charged to the wrong site.
  for (unsigned i = 0; i < HAK_SITE_CAP; i++)
    HAK_CHECK(atomic_load_explicit(&live_bytes[i], memory_order_relaxed) <= HAK_MAX_REQUEST * (size_t)HAK_SITE_CAP,
              "large: a site's live byte count wrapped");
}
#endif

// --- ranges the kernel would not unmap ---------------------------------------------
// munmap fails when it would split a mapping past vm.max_map_count (ENOMEM).
// Such a range stays hakmem's, counted as mapped: held on a stack (linked
// through a header at its start) that every trim and tick unmaps again, its
// pages past the first given back meanwhile (DONTNEED: only the address
// space and the commit charge stay). A held block (FREE) keeps its address
// map, so a second free of it aborts as one; a held piece (state 0: of a
// block the program never had, the hole a refused move left in it given
// back) has no entry, so the map never names what another thread may map in
// that hole. Lock-free: a push is a CAS, a retry takes the whole stack.
static _Atomic(hak_large_t *) held;
static _Atomic size_t held_bytes;

static void hold(char *p, size_t len, bool block) {
  hak_large_t *h = (hak_large_t *)(void *)p;
  if (block) HAK_CHECK(hak_addrmap_set_large(h, len), "large: cannot restore the address map");
  else *h = (hak_large_t){.map_len = len};
  size_t n;
  char *a = hak_large_advisable(h, &n);
  hak_os_advise(a, n, HAK_ADVISE_DONTNEED);
  POISON(p + HAK_LARGE_HDR, len - HAK_LARGE_HDR);
  atomic_fetch_add_explicit(&held_bytes, len, memory_order_relaxed);
  hak_large_t *top = atomic_load_explicit(&held, memory_order_relaxed);
  do h->node.cls_next = top ? &top->node : NULL;
  while (!atomic_compare_exchange_weak_explicit(&held, &top, h, memory_order_release, memory_order_relaxed));
}

bool hak_large_os_unmap(char *p, size_t len, bool block) {
  UNPOISON(p, len);
  if (!hak_os_unmap(p, len)) {
    hold(p, len, block);
    return false;
  }
  atomic_fetch_add_explicit(&hak_large_unmapped_total, len, memory_order_relaxed);
  HAK_STAT_SUB(os_bytes_mapped, len);
  return true;
}

void hak_large_unmap_held(void) {
  if (!atomic_load_explicit(&held, memory_order_relaxed)) return;  // the common case: one load
  hak_large_t *h = atomic_exchange_explicit(&held, NULL, memory_order_acquire);
  while (h) {
    hak_large_t *next = h->node.cls_next ? hak_large_from_node(h->node.cls_next) : NULL;
    size_t len = h->map_len;
    bool block = h->state == HAK_LARGE_FREE;
    atomic_fetch_sub_explicit(&held_bytes, len, memory_order_relaxed);
    if (block) hak_addrmap_clear(h, len);
    hak_large_os_unmap(base_of(h), len, block);
    h = next;
  }
}

size_t hak_large_held_bytes(void) { return atomic_load_explicit(&held_bytes, memory_order_relaxed); }

// --- the free side ------------------------------------------------------------------

void hak_large_spare_work(const hak_spare_work_t *w, uint64_t now) {
  for (unsigned i = 0; i < w->n_unmap; i++) {
    hak_large_t *h = hak_large_from_node(w->unmap[i]);
    size_t len;
    if (w->unmap[i]->thermal == HAK_COLD) hak_batch_take(hak_large_advisable(h, &len));
    hak_large_unmap_block(h);
  }
  for (unsigned i = 0; i < w->n_cool; i++) {
    hak_large_t *h = hak_large_from_node(w->cool[i]);
    size_t len;
    hak_batch_add(hak_large_advisable(h, &len), len);
    HAK_STAT_INC(free_cold);
    hak_spare_work_t more;
    hak_spare_put(&h->node, h->cls, h->map_len, HAK_COLD, h->site, now, &more);
    hak_large_spare_work(&more, now);  // a COLD put never cools: this recursion is one deep
  }
}

// The thermal state a freed block that no ring keeps takes, by its how.
static hak_thermal_t thermal_of(const hak_large_t *h) {
  switch (h->how.release) {
  case HAK_RELEASE_KEEP: return HAK_HOT;
  case HAK_RELEASE_LAZY: return HAK_WARM;
  default: return hak_free_policy(h->map_len, hak_opt(HAK_OPT_HOT_MAX), hak_opt(HAK_OPT_COLD_MIN));
  }
}

// An uncached FREE block: keep it as a spare (HOT/WARM/COLD) or unmap it.
void hak_large_release(hak_large_t *h, uint64_t now) {
  if (!hak_opt(HAK_OPT_FREE_POLICY) || h->cls == HAK_LARGE_NO_CLASS || h->how.release == HAK_RELEASE_RETURN) {
    hak_large_unmap_block(h);
    return;
  }
  hak_thermal_t t = thermal_of(h);
  if (t != HAK_COLD && !site_has_room(h)) t = HAK_COLD;  // over the site's resident bound
  // Joins look for neighbours by a walk of the pool: for blocks of a slot or
  // more, the few that split (the pool's caps are in bytes).
  if (t != HAK_COLD && h->map_len >= HAK_SEGMENT_SIZE) h = hak_large_coalesce(h);
  size_t len;
  char *a = hak_large_advisable(h, &len);
  if (t == HAK_WARM) {
    hak_os_advise(a, len, HAK_ADVISE_FREE);
    HAK_STAT_INC(free_warm);
  } else if (t == HAK_COLD) {
    hak_batch_add(a, len);
    HAK_STAT_INC(free_cold);
  } else {
    HAK_STAT_INC(free_hot);
  }
  hak_spare_work_t w;
  hak_spare_put(&h->node, h->cls, h->map_len, t, h->site, now, &w);
  hak_large_spare_work(&w, now);
}

static void release_victims(hak_bigcache_victims_t *v, uint64_t now) {
  for (unsigned i = 0; i < v->n; i++) hak_large_release((hak_large_t *)v->v[i].blk, now);
}

// The engine's clock: the latest reading, and a reading with the tick.
static _Atomic uint64_t clock_last;

uint64_t hak_large_now(bool read) {
  if (!read) return atomic_load_explicit(&clock_last, memory_order_relaxed);
  uint64_t now = hak_os_now_ms();
  atomic_store_explicit(&clock_last, now, memory_order_relaxed);
  hak_large_tick(now);
  return now;
}

// Age BigCache and the spare pool, at most once per tick, by whoever comes;
// then the OS seam's tick (the learning engine's wake-ups).
void hak_large_tick(uint64_t now) {
  static _Atomic uint64_t last;
  uint64_t prev = atomic_load_explicit(&last, memory_order_relaxed);
  if (now - prev < HAK_LARGE_TICK_MS && now >= prev) return;
  if (!atomic_compare_exchange_strong_explicit(&last, &prev, now, memory_order_relaxed, memory_order_relaxed)) return;
  hak_bigcache_victims_t v;
  do {
    hak_bigcache_expire(now, &v);
    release_victims(&v, now);
  } while (v.n);
  hak_spare_work_t w;
  do {
    hak_spare_expire(now, &w);
    hak_large_spare_work(&w, now);
  } while (w.n_unmap || w.n_cool);
  hak_large_unmap_held();
  hak_os_tick(now);
}

size_t hak_large_site_give_back(hak_site_id_t site) {
  if (!site_kept(site)) return 0;  // the common case: two relaxed loads
  size_t n = 0;
  hak_bigcache_victims_t v;
  do {
    hak_bigcache_drain_site(site, &v);
    for (unsigned i = 0; i < v.n; i++) {  // unmapped: the site will not ask for them again soon
      hak_large_t *h = (hak_large_t *)v.v[i].blk;
      n += h->map_len;
      hak_large_unmap_block(h);
    }
  } while (v.n);
  hak_spare_work_t w;
  do {  // its resident spares, found by the pool's walk (other sites' stay as they are)
    hak_spare_take_site((uint16_t)site, &w);
    for (unsigned i = 0; i < w.n_unmap; i++) {
      hak_large_t *h = hak_large_from_node(w.unmap[i]);
      n += h->map_len;
      hak_large_unmap_block(h);
    }
  } while (w.n_unmap == HAK_SPARE_WORK);
  return n;
}

// A site's first large free gives its block back to the OS at once, as
// glibc's first free of a mapped chunk does: until the site has freed once,
// nothing says it will ask again, and a block unmapped is one whose use
// after free faults. From its second free on, the site's how decides. One
// bit per site (ids wrap at HAK_SITE_CAP, as every per-site table here).
static _Atomic uint64_t freed_once[HAK_SITE_CAP / 64];

static bool first_free_of(hak_site_id_t site) {
  unsigned i = site % HAK_SITE_CAP;
  uint64_t bit = (uint64_t)1 << (i & 63);
  _Atomic uint64_t *w = &freed_once[i >> 6];
  if (HAK_LIKELY(atomic_load_explicit(w, memory_order_relaxed) & bit)) return false;
  return !(atomic_fetch_or_explicit(w, bit, memory_order_relaxed) & bit);
}

void hak_large_set_freed_before(bool all) {
  for (unsigned i = 0; i < HAK_SITE_CAP / 64; i++)
    atomic_store_explicit(&freed_once[i], all ? ~(uint64_t)0 : 0, memory_order_relaxed);
}

void hak_large_free(hak_large_t *h) {
  if (HAK_UNLIKELY(h->state != HAK_LARGE_LIVE)) {
    hak_log("double free of large block %p", (void *)user_of(h));
    hak_fatal("double free", __FILE__, __LINE__);
  }
  hak_large_check_canary(h, "free");
  h->state = HAK_LARGE_FREE;
  HAK_STAT_INC(large_frees);
  HAK_STAT_SUB(large_bytes_live, h->req);
  hak_site_record_free(h->site);
  hak_large_charge_live(h->site, h->map_len, false);
  POISON(base_of(h) + HAK_LARGE_HDR, h->map_len - HAK_LARGE_HDR);
  if (hak_large_checked_mode) {
    hak_large_quarantine(h);
    return;
  }
  if (HAK_RELEASE_CHECKS && HAK_UNLIKELY(first_free_of(h->site))) {
    (void)hak_large_now(true);  // the tick a free owes ageing
    hak_large_unmap_block(h);
    hak_large_validate();
    return;
  }
  hak_large_give_back(h);
}

// A FREE block, to its site's BigCache ring (as many as its how lets the
// ring hold, while the site is under its resident bound) or the free policy.
void hak_large_give_back(hak_large_t *h) {
  // Every free reads the clock: its block's stamp is what ageing measures.
  uint64_t now = hak_large_now(true);
  if (h->how.cache_slots && hak_opt(HAK_OPT_BIGCACHE) && h->cls != HAK_LARGE_NO_CLASS &&
      h->user_off <= HAK_SEGMENT_SIZE && site_has_room(h)) {
    hak_bigcache_victims_t v;
    bool kept = hak_bigcache_put_capped(h->site, h->cls, h, h->map_len, h->how.cache_slots, now, &v);
    release_victims(&v, now);
    if (kept) {
      hak_large_validate();
      return;
    }
  }
  hak_large_release(h, now);
  hak_large_validate();
}
