/* asan_uaf.c — a use-after-free of hakmem memory, for asan_uaf_test.sh.
 *
 *   asan_uaf MODE   MODE: cached (a large block in BigCache), spare (a HOT
 *                   spare), small (the small path), live (no bug: control)
 *
 * Frees a block and reads it. Built with ASan (FUZZ_COPTS), hakmem poisons
 * blocks it caches or has freed (HAK_ASAN, POISON in large.c), so every mode
 * but `live` must die with an AddressSanitizer report.
 */
#include <stdio.h>
#include <string.h>

#include "hakmem/include/hakmem.h"
#include "hakmem/alloc.h"
#include "hakmem/options.h"

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "cached";
  hak_init();
  if (!strcmp(mode, "spare")) {  // no BigCache: the block becomes a HOT spare
    hak_options.v[HAK_OPT_BIGCACHE] = 0;
    hak_options.v[HAK_OPT_HOT_MAX] = 64 << 20;
    hak_apply_options();
  }
  size_t size = !strcmp(mode, "small") ? 100 : (size_t)1 << 20;
  // The site's first large free unmaps its block (a use of it then faults,
  // not what this checks): free one before, so the next is cached or spare.
  hak_free(hak_alloc_at(size, 0x1234));
  volatile char *p = hak_alloc_at(size, 0x1234);
  memset((char *)p, 7, size);
  if (strcmp(mode, "live")) hak_free((void *)p);
  char c = p[size / 2];  // the use after free
  printf("read %d: no report\n", c);
  if (!strcmp(mode, "live")) hak_free((void *)p);
  return 0;
}
