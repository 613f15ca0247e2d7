/* config.h — build levels and fixed constants (layer L0).
 *
 * Build levels. Choose them for the whole build with --define (every hakmem
 * target, the fuzzers' own copies and the tests compile them in through
 * copts.bzl), or through the configs of .bazelrc:
 *
 *   --define hak_debug=N   (--config=debug: 3)
 *     HAK_DEBUG 0  release: HAK_CHECK only (always on; cheap, guards memory
 *                  safety: never hand out memory twice, never follow a
 *                  corrupt header)
 *               1  + HAK_ASSERT (assertions at module boundaries)
 *               2  + HAK_ASSERT_INTERNAL (internal assertions on every path)
 *               3  + HAK_DEBUG_WALK: invariant walkers (bool functions such
 *                  as hak_heap_is_valid, hak_bigcache_is_valid,
 *                  hak_evo_is_valid) run after slow-path operations and
 *                  abort with their name when they return false
 *     copts.bzl passes the level as HAK_DEBUG_BUILD; a target's own
 *     -DHAK_DEBUG=N (the fuzzers ask for 2) and the build's level combine as
 *     the larger of the two.
 *   --define hak_opt=O0|O1|O2   the optimisation level of hakmem's own code
 *     (default -O2, -O0 under -c dbg; --config=debug: O0, asan/tsan: O1).
 *     A --copt=-O1 alone would lose to the target's copts, which come after.
 *   HAK_STATS  0  counters (stats.h) compiled out: HAK_STAT_* only
 *                 type-check their arguments, every counter reads 0
 *                 (--copt=-DHAK_STATS=0: no target sets it)
 *              1  process-wide counters (the default)
 *   HAK_ASAN   1 when built with AddressSanitizer (detected): cached and
 *              freed blocks are poisoned so a use-after-free inside hakmem's
 *              memory is reported.
 *   HAK_RELEASE_CHECKS  1 in every build that is used (no config turns it
 *     off). 0 only in a measurement build, --define hak_release_checks=off,
 *     that prices release mode's misuse checks (tools/release_checks_cost.sh):
 *     the owner's free neither tests nor stores the free-block key (no
 *     double-free detection), free-list links are not encoded (HAK_RC(x)
 *     is x, or 0 without the checks), pool segments have no guards and
 *     pages no frontier check (segment.h), and a site's first large free
 *     takes the site's how like any other (large_free.c).
 *
 * Everything else that can change at run time is an option (options.h).
 */
#ifndef HAK_CONFIG_H
#define HAK_CONFIG_H

#ifndef HAK_DEBUG
#define HAK_DEBUG 0
#endif
#if defined(HAK_DEBUG_BUILD) && HAK_DEBUG_BUILD > HAK_DEBUG
#undef HAK_DEBUG
#define HAK_DEBUG HAK_DEBUG_BUILD
#endif
#ifndef HAK_RELEASE_CHECKS
#define HAK_RELEASE_CHECKS 1
#endif
#define HAK_RC(x) (HAK_RELEASE_CHECKS ? (x) : 0)
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
