/* override.c — the libc allocation names (layer L6). Linked only into
 * libhakmem.so (LD_PRELOAD) and //hakmem:malloc (link-time replacement),
 * never into the unit tests' hakmem library.
 *
 * The call site of each request is the return address of the libc-named
 * function: the program's code that called malloc. Semantics follow glibc
 * (Debian 12, glibc 2.36) so that preloading is transparent:
 *   malloc(0) unique pointer; realloc(p, 0) frees p, returns NULL;
 *   memalign/aligned_alloc round a non-power-of-two alignment up;
 *   posix_memalign returns EINVAL and leaves *out alone for bad alignments;
 *   valloc page-aligns; pvalloc also rounds the size up to a page;
 *   malloc_trim gives cached and empty memory back (returns 1 when it did);
 *   malloc_stats prints hakmem's report on stderr.
 */
#include <errno.h>
#include <malloc.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "hakmem/alloc.h"
#include "hakmem/include/hakmem.h"
#include "hakmem/libc.h"
#include "hakmem/os.h"

#define HAK_EXPORT __attribute__((visibility("default")))
#define CALLER ((uintptr_t)__builtin_return_address(0))

HAK_EXPORT void *malloc(size_t size) { return hak_front_alloc(size, CALLER); }
HAK_EXPORT void free(void *p) { hak_front_free(p); }
HAK_EXPORT void *calloc(size_t n, size_t size) { return hak_calloc_at(n, size, CALLER); }
HAK_EXPORT void *realloc(void *p, size_t size) { return hak_realloc_at(p, size, CALLER); }
HAK_EXPORT size_t malloc_usable_size(void *p) { return hak_usable_size(p); }

HAK_EXPORT void *reallocarray(void *p, size_t n, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(n, size, &total)) {
    errno = ENOMEM;
    return NULL;
  }
  return hak_realloc_at(p, total, CALLER);
}

// glibc's memalign: alignments that are not powers of two are rounded up.
static void *memalign_at(size_t align, size_t size, uintptr_t site) {
  if (align > SIZE_MAX / 2 + 1) {  // as glibc: larger ones cannot be rounded to a power of two
    errno = EINVAL;
    return NULL;
  }
  if (!hak_is_pow2(align)) align = align ? (size_t)1 << (hak_log2(align) + 1) : 1;
  return hak_aligned_at(align, size, site);
}

HAK_EXPORT void *memalign(size_t align, size_t size) { return memalign_at(align, size, CALLER); }
HAK_EXPORT void *aligned_alloc(size_t align, size_t size) { return memalign_at(align, size, CALLER); }

HAK_EXPORT int posix_memalign(void **out, size_t align, size_t size) {
  if (!hak_is_pow2(align) || align % sizeof(void *) != 0) return EINVAL;
  int saved = errno;
  void *p = hak_aligned_at(align, size, CALLER);
  if (!p) {
    int err = errno;
    errno = saved;
    return err ? err : ENOMEM;
  }
  *out = p;
  errno = saved;
  return 0;
}

HAK_EXPORT void *valloc(size_t size) { return hak_aligned_at(hak_os_page_size(), size, CALLER); }

HAK_EXPORT void *pvalloc(size_t size) {
  size_t page = hak_os_page_size(), rounded;
  if (!hak_align_up(size ? size : 1, page, &rounded)) {
    errno = ENOMEM;
    return NULL;
  }
  return hak_aligned_at(page, rounded, CALLER);
}

HAK_EXPORT int malloc_trim(size_t pad) {
  (void)pad;  // hakmem keeps no top-of-heap pad to honour
  return hak_trim() > 0;
}

HAK_EXPORT void malloc_stats(void) { hak_stats_print(STDERR_FILENO); }
