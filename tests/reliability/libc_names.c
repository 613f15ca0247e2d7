/* libc_names.c — the libc allocation names beyond malloc/free (glibc's
 * __libc_* aliases, cfree, C23's free_sized / free_aligned_sized) and the
 * introspection calls, with hakmem preloaded (libc_names_test.sh):
 *   libc_names names   every name allocates and frees hakmem's memory (a
 *                      name left to glibc aborts on hakmem's pointers);
 *                      mallinfo2 / mallinfo / malloc_info / mallopt answer
 *   libc_names hint    prints the address of a fresh 1 MiB block and of a
 *                      stack variable (the test compares runs)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *__libc_malloc(size_t);
void __libc_free(void *);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void *__libc_memalign(size_t, size_t);
void *__libc_valloc(size_t);
void *__libc_pvalloc(size_t);

#define CHECK(c)                                         \
  do {                                                   \
    if (!(c)) {                                          \
      fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c); \
      return 1;                                          \
    }                                                    \
  } while (0)

static int names(void) {
  char *p = __libc_malloc(100);
  CHECK(p);
  memset(p, 1, 100);
  free(p);
  char *q = malloc(100);
  __libc_free(q);
  char *z = __libc_calloc(100, 10);
  CHECK(z);
  for (int i = 0; i < 1000; i++) CHECK(z[i] == 0);
  z = __libc_realloc(z, 300000);
  CHECK(z && z[999] == 0);
  free(z);
  char *a = __libc_memalign(4096, 100);
  CHECK(a && (uintptr_t)a % 4096 == 0);
  free(a);
  a = __libc_valloc(10);
  CHECK(a && (uintptr_t)a % 4096 == 0);
  __libc_free(a);
  a = __libc_pvalloc(10);
  CHECK(a && (uintptr_t)a % 4096 == 0 && malloc_usable_size(a) >= 4096);
  free(a);
  void (*cfree_fn)(void *) = (void (*)(void *))dlsym(RTLD_DEFAULT, "cfree");
  void (*free_sized_fn)(void *, size_t) = (void (*)(void *, size_t))dlsym(RTLD_DEFAULT, "free_sized");
  void (*free_aligned_sized_fn)(void *, size_t, size_t) =
      (void (*)(void *, size_t, size_t))dlsym(RTLD_DEFAULT, "free_aligned_sized");
  CHECK(cfree_fn && free_sized_fn && free_aligned_sized_fn);
  cfree_fn(malloc(40));
  free_sized_fn(malloc(50), 50);
  free_aligned_sized_fn(aligned_alloc(64, 128), 64, 128);
  free_sized_fn(malloc(300000), 300000);

  char *big = malloc(8 << 20);
  CHECK(big);
  memset(big, 1, 8 << 20);
  struct mallinfo2 m2 = mallinfo2();
  CHECK(m2.hblkhd >= (8u << 20) && m2.hblks >= 1 && m2.uordblks >= (8u << 20));
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  struct mallinfo m = mallinfo();  // deprecated, still called by old programs
#pragma GCC diagnostic pop
  CHECK(m.hblkhd > 0);
  free(big);
  CHECK(mallopt(M_MMAP_THRESHOLD, 65536) == 1);
  CHECK(mallopt(M_ARENA_MAX, 2) == 1);
  CHECK(mallopt(M_MXFAST, 1000) == 0);
  FILE *null = fopen("/dev/null", "w");
  CHECK(null && malloc_info(0, null) == 0);
  fclose(null);
  printf("names ok\n");
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "names") == 0) return names();
  if (argc == 2 && strcmp(argv[1], "hint") == 0) {
    int local = 0;
    void *p = malloc(1 << 20);
    printf("%lx %lx\n", (unsigned long)(uintptr_t)p, (unsigned long)(uintptr_t)&local);
    free(p);
    return local;
  }
  return 2;
}
