/* broken_malloc.c — a deliberately wrong allocator for the suite's own tests.
 *
 * Forwards to glibc, but on every 50th malloc it scribbles over the start of
 * the block it returned just before (which the workload has filled and still
 * holds). A workload must notice and exit with its check failure, and the
 * runner must report the cell as FAILED. Never use it for anything else.
 */
#include <stddef.h>
#include <string.h>

extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static void *last;
static size_t last_size;
static unsigned long count;

void *malloc(size_t n) {
  if (++count % 50 == 0 && last && last_size >= 16) memset(last, 0xEE, 16);
  void *p = __libc_malloc(n);
  last = p;
  last_size = n;
  return p;
}
void free(void *p) {
  if (p == last) last = NULL;
  __libc_free(p);
}
void *calloc(size_t a, size_t b) { return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) {
  if (p == last) last = NULL;
  return __libc_realloc(p, n);
}
void *aligned_alloc(size_t a, size_t n) { return __libc_memalign(a, n); }
void *memalign(size_t a, size_t n) { return __libc_memalign(a, n); }
int posix_memalign(void **r, size_t a, size_t n) {
  void *p = __libc_memalign(a, n);
  if (!p) return 12;
  *r = p;
  return 0;
}
