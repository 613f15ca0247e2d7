/* misuse.c — one misuse of the C allocation API per run, for
 * tests/misuse/run.sh: `misuse KIND SIZE` does KIND to a block of SIZE bytes
 * and exits 0 if nothing stopped it; 3 when the allocator refused (returned
 * NULL where a valid call cannot fail); 4 when the case does not apply (the
 * allocator made it legal, e.g. realloc kept the block in place). Plain C:
 * whatever malloc the process has (glibc, or hakmem preloaded).
 */
#define _GNU_SOURCE
#include <alloca.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static char static_buffer[1 << 19];
static volatile char sink;
static char src[(1 << 20) + 64];

static void *thread_free(void *p) {
  free(p);
  return NULL;
}

// Frees and allocations after a misuse, so that checks made at the next
// allocation or when a quarantine evicts can run.
static void churn(size_t n) {
  for (int i = 0; i < 5000; i++) free(malloc(n));
}

static void store(char *at, size_t k) {
  for (size_t i = 0; i < k; i++) ((volatile char *)at)[i] = 'X';
}

int main(int argc, char **argv) {
  if (argc != 3) return 2;
  const char *kind = argv[1];
  size_t n = strtoull(argv[2], NULL, 0);
  memset(src, 'Y', sizeof src);
  char *p = malloc(n);
  if (!p) return 3;
  memset(p, 'A', n);
#define IS(name) (strcmp(kind, name) == 0)
  if (IS("double-free")) {
    free(p);
    free(p);
  } else if (IS("double-free-interleaved")) {
    char *q = malloc(n);
    free(p);
    free(q);
    free(p);
  } else if (IS("double-free-after-reuse")) {
    free(p);
    char *q = malloc(n);
    if (q == p) return 4;  // reused at once: the second free is then legal
    free(p);
  } else if (IS("double-free-cross-thread")) {
    pthread_t t;
    pthread_create(&t, NULL, thread_free, p);
    pthread_join(t, NULL);
    free(p);
  } else if (IS("double-free-realloced-away")) {
    char *q = realloc(p, n * 4 + 4096);
    if (!q) return 3;
    if (q == p) return 4;
    free(p);
  } else if (IS("double-free-realloc-zero")) {
    if (realloc(p, 0)) return 4;
    free(p);
  } else if (IS("realloc-after-free")) {
    free(p);
    char *q = realloc(p, n + 16);
    if (!q) return 3;
  } else if (IS("free-stack")) {
    char local[64];
    sink = local[0] = 1;
    free(local);
  } else if (IS("free-alloca")) {
    char *a = alloca(n);
    a[0] = 1;
    free(a);
  } else if (IS("free-static")) {
    free(static_buffer + (n & 4095));
  } else if (IS("free-far")) {
    char *m = mmap(NULL, n + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return 2;
    free(m + 16);
  } else if (IS("free-near")) {
    free(p + ((n + 15) & ~(size_t)15) + 16);
  } else if (IS("free-interior")) {
    free(p + (n == 8 ? 8 : n / 2));
  } else if (IS("free-unaligned")) {
    free(p + 1);
  } else if (IS("realloc-interior")) {
    if (!realloc(p + (n == 8 ? 8 : n / 2), n * 2)) return 3;
  } else if (!strncmp(kind, "overflow-", 9) || !strncmp(kind, "underflow-", 10)) {
    // overflow-store-1, underflow-memcpy-1m, ...: k bytes after the block, or before it
    const char *how = strchr(kind, '-') + 1;
    const char *amount = strchr(how, '-') + 1;
    size_t k = strcmp(amount, "1") == 0 ? 1 : strcmp(amount, "32") == 0 ? 32 : (size_t)1 << 20;
    char *at = kind[0] == 'o' ? p + n : p - k;
    if (!strncmp(how, "store", 5)) store(at, k);
    else memcpy(at, src, k);
    free(p);
    churn(n);
  } else if (IS("write-after-free")) {
    free(p);
    p[n / 2] = 'X';
    churn(n);
  } else if (IS("read-after-free")) {
    p[n / 2] = 'Q';
    free(p);
    char c = ((volatile char *)p)[n / 2];
    churn(n);
    return c == 'Q' ? 0 : 0;  // nothing stops a read: the outcome is the same either way
  } else if (IS("zero-size-write")) {
    char *z = malloc(0);
    if (!z) return 3;
    store(z, n);
    free(z);
    churn(0);
  } else {
    fprintf(stderr, "unknown kind %s\n", kind);
    return 2;
  }
  return 0;
}
