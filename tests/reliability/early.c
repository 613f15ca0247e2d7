/* early.c — libearly.so: a library whose constructor allocates, preloaded
 * before or after libhakmem.so by startup_test.sh (so its constructor may run
 * before hakmem's own). startup.c finds early_check() by name, checks the
 * blocks and frees them.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void *blocks[6];
static const size_t sizes[6] = {0, 24, 4000, 100000, 300000, 3 << 20};

__attribute__((constructor)) static void early_init(void) {
  void *p = NULL;
  if (posix_memalign(&p, 256, 1000) == 0) memset(p, 0x11, 1000);
  blocks[0] = p;
  for (int i = 1; i < 6; i++) {
    blocks[i] = i % 2 ? malloc(sizes[i]) : calloc(1, sizes[i]);
    if (blocks[i]) memset(blocks[i], i, sizes[i]);
  }
  char *s = strdup("early");
  free(s);
  free(realloc(malloc(10), 1 << 20));
}

// 0 when every block made by the constructor is intact; frees them.
__attribute__((visibility("default"))) int early_check(void) {
  int bad = 0;
  unsigned char *p = blocks[0];
  if (!p || ((uintptr_t)p & 255) || p[0] != 0x11 || p[999] != 0x11) bad = 1;
  for (int i = 1; i < 6; i++) {
    unsigned char *b = blocks[i];
    if (!b || b[0] != i || b[sizes[i] - 1] != i || malloc_usable_size(b) < sizes[i]) bad = 1;
  }
  for (int i = 0; i < 6; i++) free(blocks[i]);
  return bad;
}
