/* site.h — the call-site table (layer L3).
 *
 * Maps a call site to a small id in O(1) with bounded memory:
 * HAK_SITE_CAP entries, open addressing with at most HAK_SITE_PROBES probes.
 * A site that finds no room gets id 0, the shared "other sites" entry, and is
 * counted (sites_overflow); the table never grows. Entries are never removed,
 * so an id stays valid for the life of the process.
 *
 * Per site: allocations, frees, bytes and a log2 histogram of request sizes
 * (bucket b holds sizes in [2^b, 2^(b+1)); bucket 0 also holds size 0). The
 * learning engine reads them. Lock-free: inserts CAS the key, counters are
 * relaxed atomics.
 *
 * A site is a calling context: its frames, innermost first. A plain site
 * has one frame, the return address of the allocation call, and its key is
 * that address. A site seen through an allocation wrapper (callsite.h) has
 * the wrapper's return address and up to HAKMEM_SITE_DEPTH return addresses
 * above it; its key is a 64-bit hash of them with the top bit set (no user
 * code address has it), so two contexts share an id only if their hashes
 * collide. The frames are stored beside the key for the reports.
 */
#ifndef HAK_SITE_H
#define HAK_SITE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "hakmem/config.h"

#define HAK_SITE_CAP 1024u  /* entries, id 0 included */
#define HAK_SITE_PROBES 16u
#define HAK_SITE_HIST 32u
#define HAK_SITE_FRAMES 4u /* a wrapper's return address + up to 3 frames above it */

typedef uint16_t hak_site_id_t;

typedef struct hak_site {
  _Atomic uintptr_t addr;     /* the key: the call site, or a context's hash; 0 while free */
  _Atomic uint64_t allocs;    /* allocations recorded (large: all; small: sampled) */
  _Atomic uint64_t frees;     /* frees recorded (large blocks only) */
  _Atomic uint64_t bytes;     /* bytes requested by the recorded allocations */
  _Atomic uint64_t hist[HAK_SITE_HIST];
  _Atomic uint32_t nframes;   /* frames[0..nframes) are valid (0: a plain site, its addr) */
  uintptr_t frames[HAK_SITE_FRAMES];
  /* callsite.c's decision about a plain site's return address and its
   * evidence (kept here so that hak_site_reset forgets them too) */
  _Atomic uint8_t wrap_kind;
  _Atomic uint16_t wrap_slot;   /* words from ret's slot to the caller's (a wrapper's frame), 0: unknown */
  _Atomic uint16_t wrap_from;   /* words from the entry point's frame to ret's slot, last seen */
  _Atomic uint32_t wrap_walks;
  _Atomic uintptr_t wrap_caller;
  _Atomic uint64_t wrap_seen[4]; /* caller << 16 | context id: the contexts last seen (depth 1) */
} hak_site_t;

/* The id of site addr, inserting it when new. addr 0 and overflow give 0. */
HAK_INTERNAL hak_site_id_t hak_site_id(uintptr_t addr);

/* The id of the calling context frames[0..n) (innermost first, 1 <= n <=
 * HAK_SITE_FRAMES), inserting it when new; n == 1 is hak_site_id. */
HAK_INTERNAL hak_site_id_t hak_site_ctx_id(const uintptr_t *frames, unsigned n);

/* The site's calling-context frames, innermost first, into out (at most
 * max); returns how many (a plain site has one, a free entry none). */
HAK_INTERNAL unsigned hak_site_frames(hak_site_id_t id, uintptr_t *out, unsigned max);

HAK_INTERNAL void hak_site_record_alloc(hak_site_id_t id, size_t size, uint64_t weight);
HAK_INTERNAL void hak_site_record_free(hak_site_id_t id);

HAK_INTERNAL extern hak_site_t hak_sites[HAK_SITE_CAP];

/* The entry for id (id < HAK_SITE_CAP). */
HAK_INLINE const hak_site_t *hak_site_get(hak_site_id_t id) { return &hak_sites[id % HAK_SITE_CAP]; }
/* The same, for callsite.c's wrap_* fields. */
HAK_INLINE hak_site_t *hak_site_entry(hak_site_id_t id) { return &hak_sites[id % HAK_SITE_CAP]; }

/* Histogram bucket of a request size. */
HAK_INLINE unsigned hak_site_bucket(size_t size) {
  unsigned b = size ? 63u - (unsigned)__builtin_clzll((unsigned long long)size) : 0;
  return b < HAK_SITE_HIST ? b : HAK_SITE_HIST - 1;
}

/* Forget every site (tests only; not safe while other threads allocate). */
HAK_INTERNAL void hak_site_reset(void);

#endif /* HAK_SITE_H */
