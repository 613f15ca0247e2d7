/* small.c — requests below the large threshold, served by glibc for now
 * (layer L3). See small.h. Called by alloc.c only.
 */
#include "hakmem/small.h"

#include <dlfcn.h>
#include <stdatomic.h>

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
