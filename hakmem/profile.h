/* profile.h — the sampled per-site heap profile (layer L5, beside the front
 * door that feeds it).
 *
 * HAKMEM_PROFILE=FILE turns it on: about one allocation per
 * HAKMEM_PROFILE_SAMPLE bytes is sampled (a Poisson process over the bytes
 * allocated, as gperftools does, so pprof's heap_v2 correction unsamples it
 * without bias) and remembered in a pointer table until it is freed. FILE is
 * written at exit (hak_shutdown) and every HAKMEM_PROFILE_INTERVAL seconds
 * (checked when a sample is taken) in the text heap-profile format
 * google-pprof reads.
 *
 * How every allocation and every free of a sampled block is seen, at no cost
 * while the profile is off:
 *   - init.c sets hak_fast_limit to 0 when hak_profile_on, so every request
 *     takes hak_alloc_slow (as with HAKMEM_SITE_SAMPLE) and passes through
 *     hak_profile_note.
 *   - a sampled pool block's page is made careful (hak_heap_watch), so every
 *     free of a block of that page leaves the inline fast free for
 *     hak_heap_free_careful (or hak_heap_free_remote from another thread),
 *     which call the pools' freeing watcher, hak_profile_note_free; large blocks'
 *     frees all pass hak_free_slow, which does the same. A counting filter
 *     answers "not sampled" for most of those frees without the lock.
 * Everything lives in memory mapped through os.h; nothing here calls malloc.
 */
#ifndef HAK_PROFILE_H
#define HAK_PROFILE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hakmem/config.h"
#include "hakmem/large.h"

/* True while a profile is being recorded (set by hak_profile_configure). */
HAK_INTERNAL extern bool hak_profile_on;

/* Read the PROFILE options; called by hak_apply_options before it derives
 * hak_fast_limit. Maps the profile's tables the first time it is on. */
HAK_INTERNAL void hak_profile_configure(void);

/* An allocation of size bytes for site just returned p (not NULL); frame:
 * the entry point's frame, from which hak_callsite_id sees through wrappers
 * (NULL: the plain site). */
HAK_INTERNAL void hak_profile_alloc(void *p, size_t size, uintptr_t site, const void *frame);
/* p is about to be freed (or moved): forget it if it was sampled. */
HAK_INTERNAL void hak_profile_free(const void *p);
/* hak_large_realloc of the large block h at p, with p's sample (if any)
 * forgotten before the block can move and the result sampled anew. */
HAK_INTERNAL void *hak_profile_large_realloc(hak_large_t *h, void *p, size_t size, uintptr_t site, const void *frame);

/* Write the profile now (at exit: hak_shutdown). Returns false when the
 * profile is off or the file could not be written. */
HAK_INTERNAL bool hak_profile_write(void);

/* Bytes this thread allocates before its next sample (0: not drawn yet),
 * and the counting filter over the sampled pointers (FILTER_SLOTS slots,
 * NULL while the profile was never on): both read inline so that the
 * requests and frees that are not sampled cost a few instructions. */
HAK_INTERNAL extern __thread uint64_t hak_profile_until __attribute__((tls_model("initial-exec")));
HAK_INTERNAL extern _Atomic uint32_t *hak_profile_filter;
#define HAK_PROFILE_FILTER_SLOTS (1u << 16)

HAK_INLINE unsigned hak_profile_hash(uintptr_t p) { return (unsigned)(((uint64_t)p * 0x9E3779B97F4A7C15ull) >> 32); }

HAK_INLINE void *hak_profile_note(void *p, size_t size, uintptr_t site, const void *frame) {
  if (HAK_UNLIKELY(hak_profile_on) && p) {
    if (HAK_LIKELY(size < hak_profile_until)) hak_profile_until -= size;
    else hak_profile_alloc(p, size, site, frame);
  }
  return p;
}

HAK_INLINE void hak_profile_note_free(const void *p) {
  // Lock-free "not sampled": p's own insert happened before p was handed
  // to the program, so a zero slot means p is not in the table.
  if (HAK_UNLIKELY(hak_profile_on) && p && hak_profile_filter &&
      atomic_load_explicit(&hak_profile_filter[hak_profile_hash((uintptr_t)p) & (HAK_PROFILE_FILTER_SLOTS - 1)],
                           memory_order_relaxed))
    hak_profile_free(p);
}

/* realloc that kept the block at p: the profile counts it as a free and a
 * new allocation of size bytes, as pprof expects. */
HAK_INLINE void *hak_profile_resized(void *p, size_t size, uintptr_t site, const void *frame) {
  if (HAK_UNLIKELY(hak_profile_on)) {
    hak_profile_free(p);
    hak_profile_alloc(p, size, site, frame);
  }
  return p;
}

/* Tests: the samples taken and the live samples now; forget every sample
 * (not safe while other threads allocate). */
HAK_INTERNAL uint64_t hak_profile_samples(void);
HAK_INTERNAL uint64_t hak_profile_live(void);
HAK_INTERNAL void hak_profile_reset(void);

#endif /* HAK_PROFILE_H */
