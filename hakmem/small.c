/* small.c — requests below the large threshold, served by glibc for now
 * (layer L3). See small.h. Called by alloc.c only.
 */
#include "hakmem/small.h"

#include <dlfcn.h>
#include <stdatomic.h>

// A sanitizer owns malloc and defines some __libc_* names itself (ASan, TSan and
// MSan define __libc_memalign), so __libc_memalign + __libc_free would mix two
// allocators. Sanitizer builds never replace malloc (tests that do are tagged
// replaces_malloc and skipped), so there the public names are safe and give the
// sanitizer the small blocks too.
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define HAK_SMALL_SANITIZER 1
#endif
#endif

#ifdef HAK_SMALL_SANITIZER
#include <malloc.h>
#include <stdlib.h>

void *hak_small_alloc(size_t size) { return malloc(size); }
void *hak_small_calloc(size_t n, size_t size) { return calloc(n, size); }
void *hak_small_memalign(size_t align, size_t size) { return memalign(align, size); }
void *hak_small_realloc(void *p, size_t size) { return realloc(p, size); }
void hak_small_free(void *p) { free(p); }
size_t hak_small_usable(void *p) { return malloc_usable_size(p); }
#else
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

void *hak_small_alloc(size_t size) { return __libc_malloc(size); }
void *hak_small_calloc(size_t n, size_t size) { return __libc_calloc(n, size); }
void *hak_small_memalign(size_t align, size_t size) { return __libc_memalign(align, size); }
void *hak_small_realloc(void *p, size_t size) { return __libc_realloc(p, size); }
void hak_small_free(void *p) { __libc_free(p); }

size_t hak_small_usable(void *p) {
  // glibc has no __libc_ name for it: find the definition after ours.
  typedef size_t (*usable_fn)(void *);
  static _Atomic(usable_fn) fn;
  usable_fn f = atomic_load_explicit(&fn, memory_order_acquire);
  if (!f) {
    f = (usable_fn)dlsym(RTLD_NEXT, "malloc_usable_size");
    if (!f) return 0;
    atomic_store_explicit(&fn, f, memory_order_release);
  }
  return f(p);
}
#endif
