/* aslr.c — prints where a fresh small (32 B), large (300 KiB), huge
 * (64 MiB), small-pool 4 KiB, medium-pool 16 KiB and one-page-pool 128 KiB
 * block land, one hex address each, in that order, for aslr_test.sh, which
 * runs it many times under hakmem and counts how the address bits vary
 * across runs. Each is the process's first block of its kind of page, the
 * one the segment's fresh order and the page's first carve place.
 * Plain C: whatever malloc the process has (hakmem when preloaded).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(void) {
  static const size_t sizes[] = {32, (size_t)300 << 10, (size_t)64 << 20, 4096, (size_t)16 << 10, (size_t)128 << 10};
  enum { N = sizeof sizes / sizeof sizes[0] };
  void *p[N];
  for (int i = 0; i < N; i++) {
    p[i] = malloc(sizes[i]);
    if (!p[i]) return 1;
  }
  for (int i = 0; i < N; i++) printf(i ? " %lx" : "%lx", (unsigned long)(uintptr_t)p[i]);
  printf("\n");
  for (int i = 0; i < N; i++) free(p[i]);
  return 0;
}
