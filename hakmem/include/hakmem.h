/* hakmem.h — the public API of hakmem, a call-site-aware allocator.
 *
 * Every allocation carries the call site that made it. hak_alloc_cs() captures
 * the caller's code address itself; hak_alloc_at() takes an explicit site (any
 * stable pointer-sized value, usually a code address). Per-site policies decide
 * how large blocks are cached, returned to the OS and backed by huge pages.
 *
 * Contract for every call below:
 *   - Thread-safe. No call takes a lock across a system call that can block
 *     for long; none calls the libc malloc family on the large path.
 *   - Failure returns NULL (or an error number) and sets errno to ENOMEM or
 *     EINVAL; it never aborts and never leaves a half-built block behind.
 *   - hak_free(NULL) and hak_free of any live block preserve errno.
 *   - Blocks are aligned to at least 16 bytes (alignof(max_align_t)).
 *   - hak_init() is idempotent and runs automatically (library constructor or
 *     first allocation); hak_shutdown() releases cached memory and prints the
 *     verbose report when the mode asks for it. The allocator keeps working
 *     after hak_shutdown() (late frees from other destructors are normal).
 */
#ifndef HAKMEM_H
#define HAKMEM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define HAK_API __attribute__((visibility("default")))
#define HAK_MALLOC_LIKE __attribute__((malloc, warn_unused_result))
#else
#define HAK_API
#define HAK_MALLOC_LIKE
#endif

/* --- allocation ------------------------------------------------------------ */

/* Allocate `size` bytes for the call site `site`. size 0 returns a unique,
 * freeable block. Sizes above PTRDIFF_MAX fail with ENOMEM. */
HAK_API HAK_MALLOC_LIKE void *hak_alloc_at(size_t size, uintptr_t site);

/* Allocate `size` bytes; the call site is the caller's return address. */
HAK_API HAK_MALLOC_LIKE void *hak_alloc_cs(size_t size);

/* Release a block from any hak_* allocation call (or NULL: nothing happens). */
HAK_API void hak_free(void *ptr);

/* n * size zeroed bytes; overflow of n * size fails with ENOMEM. */
HAK_API HAK_MALLOC_LIKE void *hak_calloc(size_t n, size_t size);

/* glibc semantics: realloc(NULL, n) == malloc(n); realloc(p, 0) frees p and
 * returns NULL; on failure p is left intact and NULL is returned (ENOMEM). */
HAK_API void *hak_realloc(void *ptr, size_t size);

/* `alignment` must be a power of two (any power, also below 16: rounded up).
 * Otherwise NULL with EINVAL. */
HAK_API HAK_MALLOC_LIKE void *hak_aligned_alloc(size_t alignment, size_t size);

/* Bytes usable at ptr (>= the size asked for); 0 for NULL. */
HAK_API size_t hak_usable_size(const void *ptr);

/* --- life cycle ------------------------------------------------------------ */
HAK_API void hak_init(void);
HAK_API void hak_shutdown(void);

/* Give cached memory back to the OS now: empties BigCache and the spare pool
 * and flushes the batched madvise queue. Returns bytes released. */
HAK_API size_t hak_trim(void);

/* --- modes ------------------------------------------------------------------ */
typedef enum hak_mode {
  HAK_MODE_MINIMAL = 0,  /* every feature off: fresh mmap / munmap per large block */
  HAK_MODE_FAST = 1,     /* caches on, no madvise on free, no site sampling */
  HAK_MODE_BALANCED = 2, /* default: BigCache, thermal free policy, batching, THP auto */
  HAK_MODE_LEARNING = 3, /* BALANCED + per-site learning (HAKMEM_EVO=auto) */
  HAK_MODE_RESEARCH = 4  /* LEARNING + full site statistics + report at exit */
} hak_mode_t;

/* The mode chosen at start-up (HAKMEM_MODE), and its name ("BALANCED"...). */
HAK_API hak_mode_t hak_mode_get(void);
HAK_API const char *hak_mode_name(hak_mode_t mode);

#ifdef __cplusplus
}
#endif

#include "hakmem_stats.h"

#endif /* HAKMEM_H */
