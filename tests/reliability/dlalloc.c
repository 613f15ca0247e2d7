/* dlalloc.c — libdlalloc.so, dlopen'ed by startup.c: allocates in its
 * constructor, hands blocks to the program, frees its own in its destructor.
 */
#include <stdlib.h>
#include <string.h>

static char *mine[64];

__attribute__((constructor)) static void dl_init(void) {
  for (int i = 0; i < 64; i++) {
    size_t n = (size_t)1 << (i % 23);
    mine[i] = malloc(n);
    if (mine[i]) memset(mine[i], i, n);
  }
}

__attribute__((destructor)) static void dl_fini(void) {
  for (int i = 0; i < 64; i++) free(mine[i]);
}

// A block of n bytes filled with c (the program frees it).
__attribute__((visibility("default"))) char *dl_make(size_t n, int c) {
  char *p = malloc(n);
  if (p) memset(p, c, n);
  return p;
}

// Frees a block the program allocated.
__attribute__((visibility("default"))) void dl_release(void *p) { free(p); }
