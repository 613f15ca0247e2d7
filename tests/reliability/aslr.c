/* aslr.c — prints where a fresh small (32 B), large (300 KiB), huge
 * (64 MiB) and medium-sized pool (4 KiB) block land, one hex address each,
 * in that order, for aslr_test.sh, which runs it
 * many times under hakmem and counts how the address bits vary across runs.
 * Plain C: whatever malloc the process has (hakmem when preloaded).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(void) {
  static const size_t sizes[] = {32, (size_t)300 << 10, (size_t)64 << 20, 4096};
  void *p[4];
  for (int i = 0; i < 4; i++) {
    p[i] = malloc(sizes[i]);
    if (!p[i]) return 1;
  }
  printf("%lx %lx %lx %lx\n", (unsigned long)(uintptr_t)p[0], (unsigned long)(uintptr_t)p[1],
         (unsigned long)(uintptr_t)p[2], (unsigned long)(uintptr_t)p[3]);
  for (int i = 0; i < 4; i++) free(p[i]);
  return 0;
}
