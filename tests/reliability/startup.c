/* startup.c — start-up orders, run by startup_test.sh:
 *   its own constructor (priority 101) calls posix_memalign first, then the
 *   rest of the API; linked with //hakmem:malloc (startup_linked) that runs
 *   before hakmem's own constructor; preloaded, after it;
 *   a preloaded libearly.so whose constructor allocated (early_check);
 *   dlopen of a library that allocates in its constructor, hands blocks
 *   across and frees its own in its destructor (argv[1]);
 *   any environment, also an empty one (env -i).
 * Prints ok lines; exit 1 on the first failure.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(name, cond)                          \
  do {                                             \
    if (!(cond)) {                                 \
      printf("FAIL %s (line %d)\n", name, __LINE__); \
      exit(1);                                     \
    }                                              \
    printf("ok   %s\n", name);                     \
  } while (0)

static void *first, *second, *third;

__attribute__((constructor(101))) static void very_early(void) {
  // posix_memalign is this process's first allocation call.
  if (posix_memalign(&first, 4096, 5000) == 0) memset(first, 0x42, 5000);
  second = calloc(100, 1000);
  third = realloc(malloc(16), 1 << 20);
}

int main(int argc, char **argv) {
  CHECK("constructor(101): posix_memalign first, aligned and intact",
        first && ((uintptr_t)first & 4095) == 0 && ((unsigned char *)first)[4999] == 0x42);
  int zero = second != NULL;
  for (int i = 0; zero && i < 100000; i++) zero = ((char *)second)[i] == 0;
  CHECK("constructor(101): calloc zero, realloc grew", zero && third && malloc_usable_size(third) >= (1 << 20));
  free(first);
  free(second);
  free(third);

  int (*early_check)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "early_check");
  if (early_check) CHECK("a preloaded library's constructor allocated; blocks intact, freed here", early_check() == 0);

  if (argc > 1) {
    for (int round = 0; round < 3; round++) {
      void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
      CHECK("dlopen of a library that allocates in its constructor", h != NULL);
      char *(*make)(size_t, int) = (char *(*)(size_t, int))dlsym(h, "dl_make");
      void (*release)(void *) = (void (*)(void *))dlsym(h, "dl_release");
      CHECK("its functions", make && release);
      char *a = make(100, 'a'), *b = make(3 << 20, 'b');
      CHECK("blocks it allocates are freed by the program", a && b && a[99] == 'a' && b[(3 << 20) - 1] == 'b');
      free(a);
      free(b);
      char *c = malloc(300000);
      memset(c, 'c', 300000);
      release(c);  // and the other way round
      CHECK("dlclose: its destructor frees its own blocks", dlclose(h) == 0);
    }
  }
  char *s = strdup(getenv("HOME") ? getenv("HOME") : "no HOME");
  CHECK("strdup of the environment", s != NULL);
  free(s);
  printf("allocator: %s\n", dlsym(RTLD_DEFAULT, "hak_trim") ? "hakmem" : "glibc");
  return 0;
}
