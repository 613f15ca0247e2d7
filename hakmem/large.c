/* large.c — the large-block engine (layer L3). See large.h for the contract.
 * Called by alloc.c (the front door); calls bigcache.c, spare.c, batch.c,
 * addrmap.c and os.c.
 *
 * Block states: LIVE (the program has it) or FREE (in a BigCache ring, in
 * the spare pool, or on its way through the free policy). Advice never
 * touches the header page, so a header stays readable while its block is
 * FREE. A COLD spare's range is queued in the batch; it is taken back out
 * (hak_batch_take) before the block is reused or unmapped.
 *
 * Counters (stats.h) only count: nothing here reads them to decide or to
 * answer (HAK_STATS=0 behaves the same). At HAK_DEBUG >= 3 the caches'
 * walkers run after every slow-path operation.
 */
#include "hakmem/large.h"
#include "hakmem/large_impl.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "hakmem/addrmap.h"
#include "hakmem/batch.h"
#include "hakmem/bigcache.h"
#include "hakmem/check.h"
#include "hakmem/fork.h"
#include "hakmem/freepolicy.h"
#include "hakmem/libc.h"
#include "hakmem/lock.h"
#include "hakmem/log.h"
#include "hakmem/options.h"
#include "hakmem/os.h"
#include "hakmem/stats.h"

static inline hak_large_t *from_node(hak_spare_node_t *n) {
  return (hak_large_t *)((char *)n - offsetof(hak_large_t, node));
}

// The caches' own invariants, after each slow-path operation (HAK_DEBUG >= 3).
#if HAK_DEBUG >= 3
static void validate_caches(void) {
  HAK_CHECK(hak_bigcache_is_valid(), "large: BigCache invariants broken");
  HAK_CHECK(hak_spare_is_valid(), "large: spare pool invariants broken");
  HAK_CHECK(hak_batch_is_valid(), "large: batch queue invariants broken");
}
#else
static inline void validate_caches(void) {}
#endif

// Checked mode (HAKMEM_CHECK): freed blocks wait PROT_NONE in a quarantine.
static bool checked_mode;

// --- size classes -------------------------------------------------------------------
// Class 0 holds blocks up to 32 KiB; above, each doubling [2^b, 2^(b+1)) is cut
// into four classes whose upper bounds are 2^b * 5/4, 6/4, 7/4, 8/4.

uint8_t hak_large_class(size_t bytes) {
  if (bytes <= HAK_LARGE_MIN_CLASS_BYTES) return 0;
  if (bytes > HAK_LARGE_MAX_CLASS_BYTES) return HAK_LARGE_NO_CLASS;
  unsigned b = hak_log2(bytes - 1);  // 2^b < bytes <= 2^(b+1)
  unsigned sub = (unsigned)(((bytes - 1) >> (b - 2)) & 3);
  return (uint8_t)(1 + (b - 15) * 4 + sub);
}

size_t hak_large_class_bytes(uint8_t cls) {
  if (cls == 0) return HAK_LARGE_MIN_CLASS_BYTES;
  unsigned b = 15 + (cls - 1u) / 4, sub = (cls - 1u) % 4;
  return ((size_t)1 << b) + ((size_t)(sub + 1) << (b - 2));
}

// --- mapping ------------------------------------------------------------------------

static void advise_thp(hak_large_t *h) {
  hak_thp_t thp = (hak_thp_t)hak_opt(HAK_OPT_THP);
  if (thp == HAK_THP_OFF) {
    if (hak_os_advise(h, h->map_len, HAK_ADVISE_NOHUGEPAGE)) HAK_STAT_INC(thp_refused);
  } else if (thp == HAK_THP_ON || h->map_len >= HAK_HUGE_PAGE) {
    if (hak_os_advise(h, h->map_len, HAK_ADVISE_HUGEPAGE)) HAK_STAT_INC(thp_advised);
  }
}

// A fresh block whose base is 4 MiB-aligned and whose base + off is aligned
// to align (off is the slot size when align is larger than a slot).
static hak_large_t *map_block(size_t bytes, size_t align, size_t off) {
  void *base = align > HAK_SEGMENT_SIZE ? hak_os_map_skewed(bytes, align, off) : hak_os_map(bytes, HAK_SEGMENT_SIZE);
  if (!base) return NULL;
  HAK_ASSERT_INTERNAL(((uintptr_t)base & (HAK_SEGMENT_SIZE - 1)) == 0);
  HAK_ASSERT_INTERNAL(align <= HAK_SEGMENT_SIZE || (((uintptr_t)base + off) & (align - 1)) == 0);
  if (!hak_addrmap_set_large(base, bytes)) {
    hak_os_unmap(base, bytes);
    HAK_STAT_INC(os_map_failures);
    return NULL;
  }
  HAK_STAT_ADD(os_bytes_mapped, bytes);
  hak_large_t *h = base;
  h->map_len = bytes;
  advise_thp(h);
  return h;
}

// Bytes unmapped, for hak_large_trim's answer (the counters only count).
_Atomic size_t hak_large_unmapped_total;

void hak_large_unmap_block(hak_large_t *h) {
  size_t len = h->map_len;
  // Clear the map first: once munmap returns, another thread may map here.
  hak_addrmap_clear(h, len);
  UNPOISON(h, len);
  hak_os_unmap(h, len);
  atomic_fetch_add_explicit(&hak_large_unmapped_total, len, memory_order_relaxed);
  HAK_STAT_SUB(os_bytes_mapped, len);
  HAK_STAT_INC(free_unmapped);
}


// --- the free side ------------------------------------------------------------------

static void release(hak_large_t *h, uint64_t now);

// Carry out what the spare pool asked for (after its lock is gone).
static void spare_work(const hak_spare_work_t *w, uint64_t now) {
  for (unsigned i = 0; i < w->n_unmap; i++) {
    hak_large_t *h = from_node(w->unmap[i]);
    size_t len;
    if (w->unmap[i]->thermal == HAK_COLD) hak_batch_take(hak_large_advisable(h, &len));
    hak_large_unmap_block(h);
  }
  for (unsigned i = 0; i < w->n_cool; i++) {
    hak_large_t *h = from_node(w->cool[i]);
    size_t len;
    hak_batch_add(hak_large_advisable(h, &len), len);
    HAK_STAT_INC(free_cold);
    hak_spare_work_t more;
    hak_spare_put(&h->node, h->cls, h->map_len, HAK_COLD, now, &more);
    spare_work(&more, now);  // a COLD put never cools: this recursion is one deep
  }
}

// An uncached FREE block: keep it as a spare (HOT/WARM/COLD) or unmap it.
static void release(hak_large_t *h, uint64_t now) {
  if (!hak_opt(HAK_OPT_FREE_POLICY) || h->cls == HAK_LARGE_NO_CLASS) {
    hak_large_unmap_block(h);
    return;
  }
  hak_thermal_t t = hak_free_policy(h->map_len, hak_opt(HAK_OPT_HOT_MAX), hak_opt(HAK_OPT_COLD_MIN));
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
  hak_spare_put(&h->node, h->cls, h->map_len, t, now, &w);
  spare_work(&w, now);
}

static void release_victims(hak_bigcache_victims_t *v, uint64_t now) {
  for (unsigned i = 0; i < v->n; i++) release((hak_large_t *)v->v[i].blk, now);
}

// Age BigCache and the spare pool, at most once per tick, by whoever comes;
// then the OS seam's tick (the learning engine's wake-ups).

static void tick(uint64_t now) {
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
    spare_work(&w, now);
  } while (w.n_unmap || w.n_cool);
  hak_os_tick(now);
}

// --- the allocation side ------------------------------------------------------------

// A spare back out of the pool, of class cls or up to SPARE_FIT_CLASSES
// larger; *clean: its advisable part reads as zero.
static hak_large_t *reuse_spare(uint8_t cls, uint64_t now, bool *clean) {
  uint64_t fit = hak_opt(HAK_OPT_SPARE_FIT_CLASSES);
  uint8_t max_cls = (uint8_t)(cls + fit < HAK_LARGE_CLASSES ? cls + fit : HAK_LARGE_CLASSES - 1);
  hak_spare_node_t *n = hak_spare_get(cls, max_cls, now);
  if (!n) return NULL;
  hak_large_t *h = from_node(n);
  *clean = false;
  if (n->thermal == HAK_COLD) {
    size_t len;
    *clean = hak_batch_take(hak_large_advisable(h, &len)) == HAK_BATCH_NOT_QUEUED;
  }
  return h;
}

// Where the program's pointer sits: after the header, at the alignment; a
// slot past the base for alignments above a slot (the mapping is placed so
// that this is aligned). Checked mode keeps the header page to itself, so
// that the rest of a freed block can be made PROT_NONE.
static size_t user_offset(size_t align) {
  if (align > HAK_SEGMENT_SIZE) return HAK_SEGMENT_SIZE;
  size_t min = checked_mode ? hak_os_page_size() : HAK_LARGE_HDR;
  return align > min ? align : min;
}

// Where in its first slot a fresh block's pointer sits, past user_offset:
// the slot's address carries os.c's random placement (about 23.6 bits); this
// adds a random number of cache lines (or alignment units) into the header
// page and of pages (up to 31) past it, all within room, what the class
// rounding leaves past the request: no block grows for it. Up to 63 x 32
// places, 11 more bits. Alignments above a page keep their offset.
static size_t random_offset(size_t off, size_t align, size_t room) {
  size_t page = hak_os_page_size(), unit = align > 64 ? align : 64;
  if (align > page) return off;
  uint64_t r = hak_os_random();
  size_t units = off < page ? (page - off) / unit : 0;
  if (units > room / unit) units = room / unit;
  size_t k = (size_t)((uint32_t)r % (units + 1));
  off += k * unit;
  room -= k * unit;
  size_t pages = room / page < 31 ? room / page : 31;
  return off + page * (size_t)((r >> 32) % (pages + 1));
}

void *hak_large_alloc(size_t size, size_t align, hak_site_id_t site, bool zero) {
  return hak_large_alloc_ex(size, align, site, zero, true, NULL);
}

void *hak_large_alloc_ex(size_t size, size_t align, hak_site_id_t site, bool zero, bool cache, size_t *fresh_out) {
  size_t off = user_offset(align);
  if (size > HAK_MAX_REQUEST - off) {
    errno = ENOMEM;
    return NULL;
  }
  // At least one byte past the pointer: with size 0 and an alignment that is a
  // class bound, the pointer would be the block's end, outside its mapping.
  size_t total = off + (size ? size : 1), bytes;
  uint8_t cls = hak_large_class(total);
  if (cls != HAK_LARGE_NO_CLASS) bytes = hak_large_class_bytes(cls);
  else if (!hak_align_up(total, hak_os_page_size(), &bytes)) {
    errno = ENOMEM;
    return NULL;
  }
  uint64_t now = hak_os_now_ms();
  tick(now);

  hak_large_t *h = NULL;
  bool fresh = false, clean = false;
  // Reused blocks are 4 MiB-aligned: good for any alignment up to that.
  bool reusable = cls != HAK_LARGE_NO_CLASS && align <= HAK_SEGMENT_SIZE;
  if (reusable && hak_opt(HAK_OPT_BIGCACHE)) {
    size_t got;
    h = hak_bigcache_get(site, cls, now, &got);
  }
  if (!h && reusable && hak_opt(HAK_OPT_FREE_POLICY)) h = reuse_spare(cls, now, &clean);
  if (!h) {
    h = map_block(bytes, align, off);
    if (HAK_UNLIKELY(!h)) {
      // Refused: cached blocks may hold the address space (RLIMIT_AS).
      hak_large_trim();
      h = map_block(bytes, align, off);
    }
    if (!h) {
      errno = ENOMEM;
      return NULL;
    }
    fresh = true;
    h->cls = cls;
  } else {
    // A reused block keeps its own class (a spare may be a larger one).
    HAK_CHECK(h->magic == magic_for(h) && h->state == HAK_LARGE_FREE, "large: cached block header is corrupt");
  }
  // A reused block keeps its pointer when it still fits the request.
  size_t unit = align > 16 ? align : 16, was = h->user_off;
  if (fresh || was < off || was % unit || was > bytes - (total - off)) off = random_offset(off, align, bytes - total);
  else off = was;
  h->magic = magic_for(h);
  h->state = HAK_LARGE_LIVE;
  h->site = site;
  h->user_off = (uint32_t)off;
  h->flags = cache ? 0 : HAK_LARGE_NOCACHE;
  h->req = size;
  if (fresh_out) *fresh_out = fresh ? size : clean ? (size > hak_os_page_size() ? size - hak_os_page_size() : 0) : 0;
  char *p = user_of(h);
  UNPOISON(p, h->map_len - off);
  if (zero && !fresh) {
    // A DONTNEED'd block is zero past the header page; anything else is dirty.
    size_t dirty = size;
    if (clean) {
      size_t page = hak_os_page_size();
      dirty = off >= page ? 0 : page - off;
      if (dirty > size) dirty = size;
    }
    memset(p, 0, dirty);
  }
  HAK_ASSERT_INTERNAL(off + size <= h->map_len);
  HAK_ASSERT_INTERNAL(h->cls == HAK_LARGE_NO_CLASS || h->map_len == hak_large_class_bytes(h->cls));
  HAK_STAT_INC(large_allocs);
  HAK_STAT_ADD(large_bytes_live, size);
  hak_site_record_alloc(site, size, 1);
  validate_caches();
  return p;
}

// The header of the block a slot marked HAK_ADDR_LARGE_FAR belongs to: walk
// back by the farthest distance the map can say until a slot says more.
// NULL when the map changes under us (the block is being unmapped).
static hak_large_t *far_base(const void *p) {
  const uintptr_t step = (uintptr_t)(HAK_ADDR_LARGE_FAR - 1 - HAK_ADDR_LARGE) << HAK_SEGMENT_SHIFT;
  uintptr_t a = (uintptr_t)p;
  for (;;) {
    if (a < step) return NULL;
    a -= step;
    uint8_t e = hak_addrmap_get((const void *)a);
    if (e != HAK_ADDR_LARGE_FAR) return e >= HAK_ADDR_LARGE ? hak_addrmap_large_base((const void *)a) : NULL;
  }
}

hak_large_t *hak_large_lookup(const void *p) {
  hak_large_t *h = hak_addrmap_large_base(p);
  if (!h) {
    if (HAK_LIKELY(hak_addrmap_get(p) != HAK_ADDR_LARGE_FAR)) return NULL;
    h = far_base(p);
    if (!h) return NULL;
  }
  if (HAK_UNLIKELY(h->magic != magic_for(h) || user_of(h) != (const char *)p)) {
    // A block owns only its mapping: the rest of its last 4 MiB slot is free
    // address space, where the kernel may have put anyone's memory.
    if (h->magic == magic_for(h) && (const char *)p >= base_of(h) + h->map_len) return NULL;
    hak_log("invalid pointer %p: inside the large block at %p, not its start", p, (void *)h);
    hak_fatal("invalid pointer inside a large block", __FILE__, __LINE__);
  }
  return h;
}

void hak_large_free(hak_large_t *h) {
  if (HAK_UNLIKELY(h->state != HAK_LARGE_LIVE)) {
    hak_log("double free of large block %p", (void *)user_of(h));
    hak_fatal("double free", __FILE__, __LINE__);
  }
  h->state = HAK_LARGE_FREE;
  HAK_STAT_INC(large_frees);
  HAK_STAT_SUB(large_bytes_live, h->req);
  hak_site_record_free(h->site);
  POISON(base_of(h) + HAK_LARGE_HDR, h->map_len - HAK_LARGE_HDR);
  if (checked_mode) {
    hak_large_quarantine(h);
    return;
  }
  hak_large_give_back(h);
}

// A FREE block, to BigCache or the free policy.
void hak_large_give_back(hak_large_t *h) {
  uint64_t now = hak_os_now_ms();
  tick(now);
  if (hak_opt(HAK_OPT_BIGCACHE) && h->cls != HAK_LARGE_NO_CLASS && h->user_off <= HAK_SEGMENT_SIZE &&
      !(h->flags & HAK_LARGE_NOCACHE)) {
    hak_bigcache_victims_t v;
    bool kept = hak_bigcache_put(h->site, h->cls, h, h->map_len, now, &v);
    release_victims(&v, now);
    if (kept) {
      validate_caches();
      return;
    }
  }
  release(h, now);
  validate_caches();
}

// --- configuration and trimming -----------------------------------------------------

void hak_large_configure(void) {
  checked_mode = hak_opt(HAK_OPT_CHECK) != 0;
  hak_bigcache_cfg_t bc = {
      .enabled = hak_opt(HAK_OPT_BIGCACHE) != 0,
      .slots = (unsigned)hak_opt(HAK_OPT_BIGCACHE_SLOTS),
      .max_bytes = hak_opt(HAK_OPT_BIGCACHE_MAX_BYTES),
      .age_ms = hak_opt(HAK_OPT_BIGCACHE_AGE_MS),
  };
  hak_bigcache_configure(&bc);
  hak_spare_cfg_t sc = {
      .max_bytes = hak_opt(HAK_OPT_SPARE_MAX_BYTES),
      .resident_bytes = hak_opt(HAK_OPT_SPARE_RESIDENT_BYTES),
      .age_ms = hak_opt(HAK_OPT_SPARE_AGE_MS),
  };
  hak_spare_configure(&sc);
  hak_batch_cfg_t bq = {
      .enabled = hak_opt(HAK_OPT_BATCH) != 0,
      .max_bytes = hak_opt(HAK_OPT_BATCH_BYTES),
      .max_ranges = (unsigned)hak_opt(HAK_OPT_BATCH_RANGES),
  };
  hak_batch_configure(&bq);
}

size_t hak_large_trim(void) {
  size_t before = atomic_load_explicit(&hak_large_unmapped_total, memory_order_relaxed);
  uint64_t now = hak_os_now_ms();
  hak_bigcache_victims_t v;
  do {  // out of BigCache, straight to munmap
    hak_bigcache_drain(&v);
    for (unsigned i = 0; i < v.n; i++) hak_large_unmap_block((hak_large_t *)v.v[i].blk);
  } while (v.n);
  hak_spare_work_t w;
  do {
    hak_spare_drain(&w);
    spare_work(&w, now);
  } while (w.n_unmap);
  hak_batch_flush();
  hak_large_quarantine_drain();
  validate_caches();
  // Other threads' unmaps in the meantime count too: trim's answer is a hint.
  return atomic_load_explicit(&hak_large_unmapped_total, memory_order_relaxed) - before;
}

static const hak_fork_handler_t large_fork = {"large", hak_large_fork_prepare, hak_large_fork_release,
                                              hak_large_fork_release};

void hak_large_global_init(void) { hak_fork_register(&large_fork); }

void hak_large_fork_prepare(void) {
  hak_large_quarantine_lock();
  hak_batch_fork_prepare();
  hak_bigcache_fork_prepare();
  hak_spare_fork_prepare();
}

void hak_large_fork_release(void) {
  hak_spare_fork_release();
  hak_bigcache_fork_release();
  hak_batch_fork_release();
  hak_large_quarantine_unlock();
}
