/* bigcache.h — per (call site x size class) caches of freed large blocks
 * (layer L3).
 *
 * A freed large block goes back, in O(1), to the next request of the same
 * site and class: no system call, no page fault. Storage is fixed: RINGS
 * rings of up to HAK_BIGCACHE_MAX_SLOTS blocks, two-way set-associative by
 * hash(site, class); a ring claimed by another key when both ways are busy
 * is emptied first ("steal", counted).
 *
 * Bounds: at most `slots` blocks per ring, at most max_bytes in all (the
 * oldest block leaves first), and no block stays longer than age_ms. Blocks
 * that leave ("victims") are handed back to the caller, which releases them
 * through the free policy after BigCache's lock is dropped: every block that
 * enters leaves exactly once, by a get or as a victim.
 *
 * Per site (HAK_BIGCACHE_SITES entries, id modulo that): the bytes its rings
 * hold, exact under the lock (the walker recounts them).
 *
 * Pure data structure: no system calls, no allocation, the clock is passed
 * in (`now`, milliseconds; a clock that goes backwards is treated as still).
 * Thread-safe (one internal lock, never held across a call out).
 */
#ifndef HAK_BIGCACHE_H
#define HAK_BIGCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hakmem/config.h"

#define HAK_BIGCACHE_RINGS 512u
#define HAK_BIGCACHE_MAX_SLOTS 16u
#define HAK_BIGCACHE_VICTIMS 32u
#define HAK_BIGCACHE_SITES 1024u /* per-site byte counts (HAK_SITE_CAP, checked in large_free.c) */

typedef struct hak_bigcache_cfg {
  bool enabled;
  unsigned slots;    /* 1 .. HAK_BIGCACHE_MAX_SLOTS */
  size_t max_bytes;  /* total cap; a block larger than half of it is not cached */
  uint64_t age_ms;   /* age limit */
} hak_bigcache_cfg_t;

typedef struct hak_bigcache_victim {
  void *blk;
  size_t bytes;
  uint16_t site;
  uint8_t cls;
} hak_bigcache_victim_t;

typedef struct hak_bigcache_victims {
  unsigned n;
  hak_bigcache_victim_t v[HAK_BIGCACHE_VICTIMS];
} hak_bigcache_victims_t;

/* Set the configuration; call it before the cache holds blocks (start-up,
 * or a test's set-up after a drain): the walker checks the caps in force. */
HAK_INTERNAL void hak_bigcache_configure(const hak_bigcache_cfg_t *cfg);

/* The most recently cached block of (site, cls), removed from the cache, or
 * NULL. *bytes receives its size. */
HAK_INTERNAL void *hak_bigcache_get(uint16_t site, uint8_t cls, uint64_t now, size_t *bytes);
/* The same from the rings of (site, c) for c in [cls, max_cls], the smallest
 * (largest: the largest) class that has a block first. */
HAK_INTERNAL void *hak_bigcache_get_fit(uint16_t site, uint8_t cls, uint8_t max_cls, bool largest, uint64_t now,
                                        size_t *bytes);

/* Offer a freed block. True: BigCache owns it now. False: the caller keeps
 * it. Either way `out` receives blocks that had to leave to make room
 * (out->n is reset first). */
HAK_INTERNAL bool hak_bigcache_put(uint16_t site, uint8_t cls, void *blk, size_t bytes, uint64_t now,
                                   hak_bigcache_victims_t *out);
/* The same with the ring of (site, cls) holding at most `cap` blocks (and
 * never more than the configured slots); cap 0 rejects. */
HAK_INTERNAL bool hak_bigcache_put_capped(uint16_t site, uint8_t cls, void *blk, size_t bytes, unsigned cap,
                                          uint64_t now, hak_bigcache_victims_t *out);

/* Blocks older than age_ms, oldest first, at most HAK_BIGCACHE_VICTIMS; call
 * again while it fills `out`. */
HAK_INTERNAL void hak_bigcache_expire(uint64_t now, hak_bigcache_victims_t *out);

/* Every block, in batches: call until out->n == 0. */
HAK_INTERNAL void hak_bigcache_drain(hak_bigcache_victims_t *out);

/* Every block of site's rings, in batches: call until out->n == 0 (a site
 * that leaves the large engine gives its cached bytes back). */
HAK_INTERNAL void hak_bigcache_drain_site(uint16_t site, hak_bigcache_victims_t *out);
/* Bytes and blocks held now. */
HAK_INTERNAL size_t hak_bigcache_bytes(void);
HAK_INTERNAL size_t hak_bigcache_count(void);
/* Bytes held for site (relaxed, no lock). */
HAK_INTERNAL size_t hak_bigcache_site_bytes(uint16_t site);

/* Invariant walker: ring counts, slot bitmaps, the age list and the byte
 * total agree; caps hold. */
HAK_INTERNAL bool hak_bigcache_is_valid(void);

/* fork(): prepare takes the lock, parent and child release it. */
HAK_INTERNAL void hak_bigcache_fork_prepare(void);
HAK_INTERNAL void hak_bigcache_fork_release(void);

#endif /* HAK_BIGCACHE_H */
