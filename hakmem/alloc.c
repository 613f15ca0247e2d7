/* alloc.c — the front door (layer L5): classifies every request by size and
 * sends it to the large-block engine or the small path; owns the public
 * hak_* allocation calls. Called by programs directly and by override.c.
 *
 * Ownership: free/realloc/usable_size ask addrmap.c (through
 * hak_large_lookup) whether a pointer is a large block; anything else
 * belongs to the small path. errno is preserved by every free.
 */
#include "hakmem/alloc.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "hakmem/include/hakmem.h"
#include "hakmem/large.h"
#include "hakmem/libc.h"
#include "hakmem/options.h"
#include "hakmem/site.h"
#include "hakmem/small.h"
#include "hakmem/stats.h"

HAK_INLINE void ensure_init(void) {
  if (HAK_UNLIKELY(atomic_load_explicit(&hak_init_state, memory_order_acquire) != HAK_INIT_DONE)) hak_init();
}

HAK_INLINE bool is_large(size_t size) { return size >= hak_opt(HAK_OPT_LARGE_THRESHOLD); }

// Record 1 in SITE_SAMPLE small allocations, weighted, in the site table.
static __thread uint32_t sample_countdown __attribute__((tls_model("initial-exec")));

HAK_INLINE void sample_small(size_t size, uintptr_t site) {
  uint64_t rate = hak_opt(HAK_OPT_SITE_SAMPLE);
  if (!rate || HAK_LIKELY(sample_countdown-- > 1)) return;
  sample_countdown = (uint32_t)rate;
  hak_site_record_alloc(hak_site_id(site), size, rate);
  HAK_STAT_ADD(small_allocs, rate);
}

void *hak_alloc_at(size_t size, uintptr_t site) {
  ensure_init();
  if (HAK_UNLIKELY(is_large(size))) {
    if (size > HAK_MAX_REQUEST) {
      errno = ENOMEM;
      return NULL;
    }
    return hak_large_alloc(size, 0, hak_site_id(site), false);
  }
  sample_small(size, site);
  return hak_small_alloc(size);
}

HAK_NOINLINE void *hak_alloc_cs(size_t size) {
  return hak_alloc_at(size, (uintptr_t)__builtin_return_address(0));
}

void hak_free(void *p) {
  if (!p) return;
  int saved = errno;
  hak_large_t *h = hak_large_lookup(p);
  if (h) hak_large_free(h);
  else hak_small_free(p);
  errno = saved;
}

void *hak_calloc_at(size_t n, size_t size, uintptr_t site) {
  ensure_init();
  size_t total;
  if (__builtin_mul_overflow(n, size, &total) || total > HAK_MAX_REQUEST) {
    errno = ENOMEM;
    return NULL;
  }
  if (is_large(total)) return hak_large_alloc(total, 0, hak_site_id(site), true);
  sample_small(total, site);
  return hak_small_calloc(n, size);
}

HAK_NOINLINE void *hak_calloc(size_t n, size_t size) {
  return hak_calloc_at(n, size, (uintptr_t)__builtin_return_address(0));
}

void *hak_realloc_at(void *p, size_t size, uintptr_t site) {
  if (!p) return hak_alloc_at(size, site);
  if (size == 0) {  // glibc: free and return NULL
    hak_free(p);
    return NULL;
  }
  ensure_init();
  if (size > HAK_MAX_REQUEST) {
    errno = ENOMEM;
    return NULL;
  }
  hak_large_t *h = hak_large_lookup(p);
  if (h) {
    if (is_large(size)) return hak_large_realloc(h, size);
    void *n = hak_small_alloc(size);  // shrinking below the threshold
    if (!n) return NULL;
    memcpy(n, p, size);
    hak_large_free(h);
    HAK_STAT_INC(realloc_copied);
    return n;
  }
  if (!is_large(size)) return hak_small_realloc(p, size);
  void *n = hak_large_alloc(size, 0, hak_site_id(site), false);  // growing past it
  if (!n) return NULL;
  size_t old = hak_small_usable(p);
  memcpy(n, p, old < size ? old : size);
  hak_small_free(p);
  HAK_STAT_INC(realloc_copied);
  return n;
}

HAK_NOINLINE void *hak_realloc(void *p, size_t size) {
  return hak_realloc_at(p, size, (uintptr_t)__builtin_return_address(0));
}

void *hak_aligned_at(size_t align, size_t size, uintptr_t site) {
  if (!hak_is_pow2(align)) {
    errno = EINVAL;
    return NULL;
  }
  ensure_init();
  if (align < HAK_MIN_ALIGN) align = HAK_MIN_ALIGN;
  if (size > HAK_MAX_REQUEST) {
    errno = ENOMEM;
    return NULL;
  }
  if (is_large(size) || align > HAK_MAX_REQUEST - size || is_large(size + align))
    return hak_large_alloc(size, align, hak_site_id(site), false);
  sample_small(size, site);
  return hak_small_memalign(align, size);
}

HAK_NOINLINE void *hak_aligned_alloc(size_t align, size_t size) {
  return hak_aligned_at(align, size, (uintptr_t)__builtin_return_address(0));
}

size_t hak_usable_size(const void *p) {
  if (!p) return 0;
  hak_large_t *h = hak_large_lookup(p);
  return h ? hak_large_usable(h) : hak_small_usable((void *)p);
}

size_t hak_trim(void) {
  ensure_init();
  return hak_large_trim();
}
