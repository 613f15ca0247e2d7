/* probe.c — a plain C program run with libhakmem.so preloaded by
 * preload_test.sh and fastpath_test.sh.
 *   probe glibc      exercises every allocation call and size range, then
 *                    prints glibc's own arena counters (libc.so.6's own
 *                    mallinfo2, hakmem reports its own under that name): with
 *                    hakmem preloaded they must stay 0 — no request reached
 *                    glibc's allocator.
 *   probe trim       frees 80 MB, then malloc_trim(0): prints trim=1 when
 *                    memory went back.
 *   probe pairs N [SIZE]  N malloc(SIZE)/free pairs (default 32) after a
 *                    warm-up (for callgrind).
 *   probe mixed N SIZE    the same, each pair SIZE plus 20 KiB times the
 *                    pair's number modulo 8 (eight pool classes in turn:
 *                    a site whose sizes vary).
 *   probe large N direct|wrapped  N malloc(300 KiB)/free pairs, called
 *                    directly or through a noinline xmalloc-style wrapper
 *                    (callgrind: the cost of seeing through a wrapper).
 *   probe maps       prints "libstdc++ loaded" or "no libstdc++" from
 *                    /proc/self/maps (a C program must not load it).
 *   probe foreign    frees a pointer to the stack (HAKMEM_FOREIGN_FREE).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int glibc_probe(void) {
  void *keep[64];
  int k = 0;
  for (size_t n = 1; n < ((size_t)64 << 20); n = n * 3 / 2 + 1) {
    char *p = malloc(n);
    char *q = calloc(1, n);
    if (!p || !q || q[n - 1]) return 1;
    p[n - 1] = 1;
    p = realloc(p, n * 2 + 1);
    void *a = NULL;
    if (posix_memalign(&a, 64, n)) return 1;
    void *b = aligned_alloc(4096, n);
    free(p);
    free(q);
    free(a);
    free(b);
    if (k < 64) keep[k++] = strdup("hakmem");
  }
  for (int i = 0; i < k; i++) free(keep[i]);
  void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
  struct mallinfo2 (*glibc_mallinfo2)(void) = libc ? (struct mallinfo2(*)(void))dlsym(libc, "mallinfo2") : NULL;
  if (!glibc_mallinfo2) return 1;
  struct mallinfo2 mi = glibc_mallinfo2();
  printf("arena=%zu hblkhd=%zu uordblks=%zu\n", mi.arena, mi.hblkhd, mi.uordblks);
  return 0;
}

static int pairs(long n, size_t size) {
  void *volatile sink;
  for (int i = 0; i < 1000; i++) free(malloc(size));  // warm: heap, page, TLS, site
  for (long i = 0; i < n; i++) {
    sink = malloc(size);
    free(sink);
  }
  return 0;
}

static int mixed(long n, size_t size) {
  void *volatile sink;
  for (int i = 0; i < 1000; i++) free(malloc(size + (size_t)(i % 8) * (20 << 10)));
  for (long i = 0; i < n; i++) {
    sink = malloc(size + (size_t)(i % 8) * (20 << 10));
    free(sink);
  }
  return 0;
}

// The shape of xmalloc: check the result, hand it back.
__attribute__((noinline)) static void *xmalloc(size_t n) {
  void *p = malloc(n);
  if (!p) abort();
  return p;
}

__attribute__((noinline)) static void large_direct(void) {
  void *volatile p = malloc(300 << 10);
  free(p);
}

__attribute__((noinline)) static void large_wrapped(void) {
  void *volatile p = xmalloc(300 << 10);
  free(p);
}

// Two callers of the wrapper, so that it is found to be one.
__attribute__((noinline)) static void large_wrapped2(void) {
  void *volatile p = xmalloc(300 << 10);
  free(p);
}

static int large(long n, int wrapped) {
  for (int i = 0; i < 1000; i++) wrapped ? (large_wrapped(), large_wrapped2()) : large_direct();
  for (long i = 0; i < n; i++) wrapped ? large_wrapped() : large_direct();
  return 0;
}

static int maps_probe(void) {
  FILE *f = fopen("/proc/self/maps", "r");
  if (!f) return 1;
  char line[512];
  int found = 0;
  while (fgets(line, sizeof line, f))
    if (strstr(line, "libstdc++")) found = 1;
  fclose(f);
  puts(found ? "libstdc++ loaded" : "no libstdc++");
  return 0;
}

static int foreign_probe(void) {
  static char not_heap[64];
  void *volatile p = not_heap + 16;
  free(p);
  puts("foreign free ignored");
  return 0;
}

// Free a lot, then malloc_trim: with hakmem preloaded it must give memory back.
static int trim_probe(void) {
  enum { N = 20000 };
  static void *v[N];
  for (int i = 0; i < N; i++) memset(v[i] = malloc(4000), 1, 4000);
  for (int i = 0; i < N; i++) free(v[i]);
  void *big = malloc(8u << 20);
  free(big);
  printf("trim=%d\n", malloc_trim(0));
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 2 && !strcmp(argv[1], "glibc")) return glibc_probe();
  if (argc >= 2 && !strcmp(argv[1], "trim")) return trim_probe();
  if (argc >= 2 && !strcmp(argv[1], "maps")) return maps_probe();
  if (argc >= 2 && !strcmp(argv[1], "foreign")) return foreign_probe();
  if (argc >= 4 && !strcmp(argv[1], "large")) return large(atol(argv[2]), !strcmp(argv[3], "wrapped"));
  if (argc >= 3 && !strcmp(argv[1], "pairs")) return pairs(atol(argv[2]), argc >= 4 ? (size_t)atol(argv[3]) : 32);
  if (argc >= 4 && !strcmp(argv[1], "mixed")) return mixed(atol(argv[2]), (size_t)atol(argv[3]));
  fprintf(stderr, "usage: probe glibc | trim | pairs N [SIZE] | mixed N SIZE | large N direct|wrapped | maps | foreign\n");
  return 2;
}
