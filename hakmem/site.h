/* site.h — the call-site table (layer L3).
 *
 * Maps a call-site address to a small id in O(1) with bounded memory:
 * HAK_SITE_CAP entries, open addressing with at most HAK_SITE_PROBES probes.
 * A site that finds no room gets id 0, the shared "other sites" entry, and is
 * counted (sites_overflow); the table never grows. Entries are never removed,
 * so an id stays valid for the life of the process.
 *
 * Per site: allocations, frees, bytes and a log2 histogram of request sizes
 * (bucket b holds sizes in [2^b, 2^(b+1)); bucket 0 also holds size 0). The
 * learning engine reads them. Lock-free: inserts CAS the key, counters are
 * relaxed atomics.
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

typedef uint16_t hak_site_id_t;

typedef struct hak_site {
  _Atomic uintptr_t addr;     /* the call site; 0 while the entry is free */
  _Atomic uint64_t allocs;    /* allocations recorded (large: all; small: sampled) */
  _Atomic uint64_t frees;     /* frees recorded (large blocks only) */
  _Atomic uint64_t bytes;     /* bytes requested by the recorded allocations */
  _Atomic uint64_t hist[HAK_SITE_HIST];
} hak_site_t;

/* The id of site addr, inserting it when new. addr 0 and overflow give 0. */
HAK_INTERNAL hak_site_id_t hak_site_id(uintptr_t addr);

HAK_INTERNAL void hak_site_record_alloc(hak_site_id_t id, size_t size, uint64_t weight);
HAK_INTERNAL void hak_site_record_free(hak_site_id_t id);

/* The entry for id (id < HAK_SITE_CAP). */
HAK_INTERNAL const hak_site_t *hak_site_get(hak_site_id_t id);

/* Histogram bucket of a request size. */
HAK_INLINE unsigned hak_site_bucket(size_t size) {
  unsigned b = size ? 63u - (unsigned)__builtin_clzll((unsigned long long)size) : 0;
  return b < HAK_SITE_HIST ? b : HAK_SITE_HIST - 1;
}

/* Forget every site (tests only; not safe while other threads allocate). */
HAK_INTERNAL void hak_site_reset(void);

/* --- site frames (placeholder) --- */
/* The calling context of site id, innermost first (return addresses), into
 * out[0 .. max); returns how many. This placeholder gives the site's own
 * address (0 frames for the shared "other sites" entry). */
HAK_INTERNAL unsigned hak_site_frames(hak_site_id_t id, uintptr_t *out, unsigned max);
/* --- end site frames --- */

#endif /* HAK_SITE_H */
