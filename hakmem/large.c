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
#include "hakmem/libc.h"
#include "hakmem/lock.h"
#include "hakmem/log.h"
#include "hakmem/options.h"
#include "hakmem/os.h"
#include "hakmem/stats.h"

// Checked mode (HAKMEM_CHECK): freed blocks wait PROT_NONE in a quarantine.
bool hak_large_checked_mode;

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

// The program pointers of the last GONE_RING blocks unmapped, so that a
// second free of one is told from a pointer hakmem never handed out (the
// address map forgets a block once it is gone).
#define GONE_RING 64u
static _Atomic uintptr_t gone[GONE_RING];
static _Atomic unsigned gone_next;

bool hak_large_gone(const void *p) {
  for (unsigned i = 0; i < GONE_RING; i++)
    if (atomic_load_explicit(&gone[i], memory_order_relaxed) == (uintptr_t)p) return true;
  return false;
}

void hak_large_unmap_block(hak_large_t *h) {
  size_t len = h->map_len;
  unsigned at = atomic_fetch_add_explicit(&gone_next, 1, memory_order_relaxed) % GONE_RING;
  atomic_store_explicit(&gone[at], (uintptr_t)user_of(h), memory_order_relaxed);
  // Clear the map first: once munmap returns, another thread may map here.
  hak_addrmap_clear(h, len);
  if (hak_large_os_unmap(base_of(h), len, true)) HAK_STAT_INC(free_unmapped);
}


// --- the allocation side: the fit rule ----------------------------------------------
// A request whose class maps `need` bytes takes, in order (reused blocks are
// 4 MiB-aligned: only requests aligned to at most that reuse), resident
// memory first (a ring block or a HOT/WARM spare), the site's own rings
// before the shared spare pool at each step:
//   1. a block of a class whose mapping M is in [need, need + slack],
//      slack = max(need / 4, 256 KiB): the tail waste is bounded, the block
//      is used as it is;
//   2. a block of a larger class (up to SPARE_FIT_CLASSES larger, or any
//      larger one a split leaves a slot or more), the smallest: its
//      resident pages save the faults. It keeps the smallest class >= need
//      that ends on a slot boundary; the rest, a slot (4 MiB) or more,
//      becomes a spare of its own right after it (large_resize.c), so no
//      large waste stays with a long-lived block and the rest's pages serve
//      the next request instead of faulting in again (unmapping the rest, a
//      program whose blocks vary in size gave back and faulted in the same
//      memory again and again: wl_wrapper 2.5x slower);
//   3. a block of a smaller class, the largest (the site's ring, else the
//      spare that starts the longest run of spares back to back): joined
//      with the spares right after it, else grown (mremap) with the pages
//      of other resident spares moved into what it gains, so only what
//      they do not cover faults in;
//   4. a COLD spare of a class up to SPARE_FIT_CLASSES larger, as it is (its
//      pages are gone: only the address space is reused, unless it was still
//      queued for MADV_DONTNEED);
//   5. a fresh mapping, with the pages of resident spares moved in.
// The block's mapping is a class's then, as every block's.

#define FIT_MIN_SLACK ((size_t)256 << 10)
#define FIT_CUT_MIN HAK_SEGMENT_SIZE

typedef struct reuse {
  hak_large_t *h;
  size_t dirty; /* bytes from the base that may hold old contents (resident) */
} reuse_t;

static uint8_t fit_hi(uint8_t cls, size_t need) {
  size_t slack = need / 4 > FIT_MIN_SLACK ? need / 4 : FIT_MIN_SLACK;
  uint8_t hi = cls;
  while (hi + 1u < HAK_LARGE_CLASSES && hak_large_class_bytes((uint8_t)(hi + 1)) <= need + slack) hi++;
  return hi;
}

static reuse_t from_spare(hak_spare_node_t *n) {
  hak_large_t *h = hak_large_from_node(n);
  reuse_t r = {h, h->map_len};
  if (n->thermal == HAK_COLD) {
    size_t len;
    // Advised already: only the header page holds anything.
    if (hak_batch_take(hak_large_advisable(h, &len)) == HAK_BATCH_NOT_QUEUED) r.dirty = hak_os_page_size();
  }
  return r;
}

// A resident block of a class in [lo, hi] (the smallest, or the largest):
// the site's rings first, then the spare pool.
static hak_large_t *take_resident(hak_site_id_t site, unsigned lo, unsigned hi, bool largest, uint64_t now) {
  if (lo > hi) return NULL;
  hak_large_t *h = NULL;
  size_t got;
  if (hak_opt(HAK_OPT_BIGCACHE)) h = hak_bigcache_get_fit(site, (uint8_t)lo, (uint8_t)hi, largest, now, &got);
  if (!h && hak_opt(HAK_OPT_FREE_POLICY)) {
    hak_spare_node_t *n = hak_spare_get_resident((uint8_t)lo, (uint8_t)hi, largest);
    if (n) h = hak_large_from_node(n);
  }
  return h;
}

static reuse_t reuse(hak_site_id_t site, uint8_t cls, size_t need, uint64_t now) {
  // The site's ring of the request's own class first: the common hit costs
  // one lookup, the window's bounds are worked out only on a miss.
  size_t got;
  hak_large_t *h = hak_opt(HAK_OPT_BIGCACHE) ? hak_bigcache_get_fit(site, cls, cls, false, now, &got) : NULL;
  if (h) return (reuse_t){h, h->map_len};
  unsigned hi = fit_hi(cls, need), fit = (unsigned)hak_opt(HAK_OPT_SPARE_FIT_CLASSES);
  unsigned far = cls + fit < HAK_LARGE_CLASSES ? cls + fit : HAK_LARGE_CLASSES - 1;
  if (hak_opt(HAK_OPT_BIGCACHE) && hi > cls) h = hak_bigcache_get_fit(site, cls + 1, (uint8_t)hi, false, now, &got);
  if (!h && hak_opt(HAK_OPT_FREE_POLICY)) {
    hak_spare_node_t *n = hak_spare_get_resident(cls, (uint8_t)hi, false);
    if (n) h = hak_large_from_node(n);
  }
  if (!h) {
    h = take_resident(site, hi + 1, far, false, now);
    // Past SPARE_FIT_CLASSES only a block whose tail would be cut off.
    uint8_t lo = hak_large_class(need + FIT_CUT_MIN);
    if (!h && lo != HAK_LARGE_NO_CLASS) h = take_resident(site, lo > far ? lo : far + 1, HAK_LARGE_CLASSES - 1, false, now);
    if (h && !hak_large_fit(h, need, now)) h = NULL;  // refused: back in the pool
  }
  if (h) return (reuse_t){h, h->map_len};
  // A smaller block, grown, the largest: its site's ring first (down to
  // SPARE_FIT_CLASSES smaller); then, for a request past a slot, the spare
  // of a slot or more that starts the longest run of spares back to back
  // (joined, they may reach need with no page faulted in; the walks are
  // for the few spares that large: the pool's caps are in bytes); else a
  // spare down to SPARE_FIT_CLASSES smaller.
  uint8_t small = cls > fit ? (uint8_t)(cls - fit) : 1, slot = hak_large_class(HAK_SEGMENT_SIZE);
  if (cls > 1 && hak_opt(HAK_OPT_BIGCACHE)) h = hak_bigcache_get_fit(site, small, cls - 1u, true, now, &got);
  if (cls > 1 && !h && hak_opt(HAK_OPT_FREE_POLICY)) {
    size_t run;
    hak_spare_node_t *n = cls > slot ? hak_spare_get_run(slot, cls - 1u, need, &run) : NULL;
    if (!n) n = hak_spare_get_resident(small, cls - 1u, true);
    if (n) h = hak_large_from_node(n);
  }
  if (h) {
    size_t dirty;
    hak_large_t *g = hak_large_grow_reused(h, need, cls, now, &dirty);
    if (g) return (reuse_t){g, dirty};
  }
  if (!hak_opt(HAK_OPT_FREE_POLICY)) return (reuse_t){NULL, 0};
  hak_spare_node_t *n = hak_spare_get(cls, (uint8_t)far, now);
  return n ? from_spare(n) : (reuse_t){NULL, 0};
}

// Where the program's pointer sits: after the header, at the alignment; a
// slot past the base for alignments above a slot (the mapping is placed so
// that this is aligned). Checked mode keeps the header page to itself, so
// that the rest of a freed block can be made PROT_NONE.
static size_t user_offset(size_t align) {
  if (align > HAK_SEGMENT_SIZE) return HAK_SEGMENT_SIZE;
  size_t min = hak_large_checked_mode ? hak_os_page_size() : HAK_LARGE_HDR;
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
  return hak_large_alloc_ex(size, align, site, zero, HAK_LARGE_HOW_DEFAULT, NULL);
}

void *hak_large_alloc_ex(size_t size, size_t align, hak_site_id_t site, bool zero, hak_large_how_t how,
                         size_t *fresh_out) {
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
  // The clock only every HAK_LARGE_CLOCK_EVERY allocations of a thread and
  // before a fresh mapping: an allocation stamps nothing (a free does), and
  // what it takes from a cache leaves that cache's ageing.
  static __thread uint8_t calls __attribute__((tls_model("initial-exec")));
  uint64_t now = hak_large_now(++calls % HAK_LARGE_CLOCK_EVERY == 0);

  // Reused blocks are 4 MiB-aligned: good for any alignment up to that.
  reuse_t r = {NULL, 0};
  if (cls != HAK_LARGE_NO_CLASS && align <= HAK_SEGMENT_SIZE) r = reuse(site, cls, bytes, now);
  hak_large_t *h = r.h;
  // A joined spare's mapping need not be a class's (hak_large_coalesce).
  if (h && h->map_len != hak_large_class_bytes(h->cls) && !hak_large_fit(h, bytes, now)) h = NULL, r.dirty = 0;
  bool fresh = !h;
  if (!h) {
    hak_large_now(true);
    h = map_block(bytes, align, off);
    if (HAK_UNLIKELY(!h)) {
      // Refused: cached blocks may hold the address space (RLIMIT_AS).
      hak_large_trim();
      h = map_block(bytes, align, off);
    }
    // Resident spares that no step above could use lend their pages.
    if (h && cls != HAK_LARGE_NO_CLASS && bytes >= HAK_SEGMENT_SIZE && hak_opt(HAK_OPT_FREE_POLICY) &&
        (r.dirty = hak_large_fill(h, now)) == SIZE_MAX) {
      r.dirty = 0;
      h = map_block(bytes, align, off);
    }
    if (!h) {
      errno = ENOMEM;
      return NULL;
    }
    h->cls = cls;
  } else {
    // A reused block keeps its own class (a spare may be a larger one).
    HAK_CHECK(h->magic == magic_for(h) && h->state == HAK_LARGE_FREE, "large: cached block header is corrupt");
  }
  // A reused block keeps its pointer when it still fits the request.
  // (h->map_len: a reused block may be of a larger class than the request's.)
  size_t unit = align > 16 ? align : 16, was = h->user_off, len = h->map_len;
  if (fresh || was < off || was % unit || was > len - (total - off)) off = random_offset(off, align, len - total);
  else off = was;
  h->magic = magic_for(h);
  h->state = HAK_LARGE_LIVE;
  h->site = site;
  h->user_off = (uint32_t)off;
  h->flags = (how.cache_slots ? 0 : HAK_LARGE_NOCACHE) | (hak_large_checked_mode ? 0 : HAK_LARGE_GUARDED);
  h->how = how;
  h->req = size;
  hak_large_charge_live(site, h->map_len, true);
  // What may hold old contents: the first r.dirty bytes of the mapping.
  size_t dirty = r.dirty > off ? r.dirty - off : 0;
  if (dirty > size) dirty = size;
  if (fresh_out) *fresh_out = size - dirty;
  char *p = user_of(h);
  UNPOISON(p - sizeof(uint64_t), h->map_len - off + sizeof(uint64_t));
  if (h->flags & HAK_LARGE_GUARDED) *canary_of(h) = canary_for(h);
  if (zero) memset(p, 0, dirty);
  HAK_ASSERT_INTERNAL(off + size <= h->map_len);
  HAK_ASSERT_INTERNAL(h->cls == HAK_LARGE_NO_CLASS || h->map_len == hak_large_class_bytes(h->cls));
  HAK_STAT_INC(large_allocs);
  HAK_STAT_ADD(large_bytes_live, size);
  hak_site_record_alloc(site, size, 1);
  hak_large_validate();
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

// --- configuration and trimming -----------------------------------------------------

uint64_t hak_large_canary_secret;

void hak_large_check_canary(hak_large_t *h, const char *what) {
  if (HAK_LIKELY(!HAK_RELEASE_CHECKS || !(h->flags & HAK_LARGE_GUARDED) || *canary_of(h) == canary_for(h))) return;
  hak_log("%s(): the 8 bytes before large block %p were overwritten (an underflow?)", what, (void *)user_of(h));
  hak_fatal("corrupted large block: underflow", __FILE__, __LINE__);
}

void hak_large_configure(void) {
  if (!hak_large_canary_secret) hak_large_canary_secret = hak_os_secret() | 1;
  hak_large_checked_mode = hak_opt(HAK_OPT_CHECK) != 0;
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
  hak_large_unmap_held();  // those refused before: once (a refusal now waits for the next)
  hak_bigcache_victims_t v;
  do {  // out of BigCache, straight to munmap
    hak_bigcache_drain(&v);
    for (unsigned i = 0; i < v.n; i++) hak_large_unmap_block((hak_large_t *)v.v[i].blk);
  } while (v.n);
  hak_spare_work_t w;
  do {
    hak_spare_drain(&w);
    hak_large_spare_work(&w, now);
  } while (w.n_unmap);
  hak_batch_flush();
  hak_large_quarantine_drain();
  hak_large_validate();
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
