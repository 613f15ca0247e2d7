/* config.h — build levels and fixed constants (layer L0).
 *
 * Build levels (set with -D, or through the Bazel configs in .bazelrc):
 *   HAK_DEBUG  0  release: HAK_CHECK only (always on; cheap, guards memory safety)
 *              1  + HAK_ASSERT (internal assertions on public-API boundaries)
 *              2  + internal asserts on every path
 *              3  + expensive invariant walkers after each operation
 *                 (hak_bigcache_is_valid, hak_batch_is_valid, hak_spare_is_valid)
 *   HAK_SECURE 0–2  reserved for the checked/secure build (reliability issue)
 *   HAK_STATS  0–2  0: counters compiled out; 1: process counters (default);
 *                   2: also per-site size histograms on every allocation
 *   HAK_ASAN   1 when built with AddressSanitizer: cached and freed blocks are
 *              poisoned so a use-after-free inside hakmem's memory is reported.
 *
 * Everything else that can change at run time is an option (options.h).
 */
#ifndef HAK_CONFIG_H
#define HAK_CONFIG_H

#ifndef HAK_DEBUG
#define HAK_DEBUG 0
#endif
#ifndef HAK_SECURE
#define HAK_SECURE 0
#endif
#ifndef HAK_STATS
#define HAK_STATS 1
#endif
#ifndef HAK_ASAN
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAK_ASAN 1
#endif
#endif
#endif
#ifndef HAK_ASAN
#define HAK_ASAN 0
#endif

// Poisoning of memory hakmem holds but the program must not touch (cached,
// spare and freed blocks): ASan reports a use after free inside hakmem.
#if HAK_ASAN
#include <sanitizer/asan_interface.h>
#define HAK_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define HAK_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define HAK_POISON(p, n) ((void)(p), (void)(n))
#define HAK_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define HAK_INTERNAL __attribute__((visibility("hidden")))
#define HAK_LIKELY(x) __builtin_expect(!!(x), 1)
#define HAK_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define HAK_NOINLINE __attribute__((noinline))
#define HAK_INLINE static inline __attribute__((always_inline))

// --- sizes -------------------------------------------------------------------
#define HAK_MIN_ALIGN 16u                      /* every block is 16-byte aligned */
#define HAK_SEGMENT_SHIFT 22                   /* address-map granularity: 4 MiB */
#define HAK_SEGMENT_SIZE ((size_t)1 << HAK_SEGMENT_SHIFT)
#define HAK_HUGE_PAGE ((size_t)2 << 20)        /* x86-64 transparent huge page */
#define HAK_MAX_REQUEST ((size_t)PTRDIFF_MAX)  /* larger requests fail: ENOMEM */

#endif /* HAK_CONFIG_H */
