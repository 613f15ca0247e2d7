/* edge.c — the edges of the malloc API through the real libc names.
 *
 * Run by edge_test.sh twice: under glibc and with libhakmem.so preloaded
 * (in several modes). Every line it prints is a fact glibc defines, so the
 * two outputs must be equal; a line starting with FAIL is a check that
 * failed under this allocator. Nothing printed depends on addresses,
 * usable sizes or timing.
 *
 * Built with -fno-builtin so that the compiler cannot fold the calls.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures;

#define CHECK(name, cond)                                                  \
  do {                                                                     \
    if (cond) printf("ok   %s\n", name);                                   \
    else {                                                                 \
      printf("FAIL %s (%s:%d: %s)\n", name, __FILE__, __LINE__, #cond);    \
      failures++;                                                          \
    }                                                                      \
  } while (0)

// Sizes the compiler cannot see through.
static volatile size_t v_size_max = SIZE_MAX;
static volatile size_t v_ptrdiff_max = PTRDIFF_MAX;

static int aligned(const void *p, size_t a) { return ((uintptr_t)p & (a - 1)) == 0; }

static int all_zero(const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i]) return 0;
  return 1;
}

// Fills n bytes with a pattern tied to id; check_fill verifies it.
static void fill(void *p, size_t n, unsigned id) {
  unsigned char *b = p;
  for (size_t i = 0; i < n; i++) b[i] = (unsigned char)(i * 31u + id);
}
static int check_fill(const void *p, size_t n, unsigned id) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i] != (unsigned char)(i * 31u + id)) return 0;
  return 1;
}

// --- malloc -------------------------------------------------------------------------

static void test_malloc(void) {
  void *a = malloc(0), *b = malloc(0);
  CHECK("malloc(0) is non-NULL and unique", a && b && a != b);
  free(a);
  free(b);

  size_t bad[] = {v_size_max, v_size_max - 1, v_size_max - 4095, v_size_max - (64u << 20),
                  v_ptrdiff_max + 1, v_ptrdiff_max, v_ptrdiff_max - 4096};
  int all = 1;
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    errno = 0;
    void *p = malloc(bad[i]);
    if (p || errno != ENOMEM) all = 0;
    free(p);
  }
  CHECK("malloc(SIZE_MAX, > PTRDIFF_MAX, PTRDIFF_MAX) -> NULL, ENOMEM", all);
  char *s = malloc(24);
  CHECK("a small malloc after a failed one works", s != NULL);
  if (s) memset(s, 1, 24);
  free(s);
  char *l = malloc(1 << 20);
  CHECK("a large malloc after a failed one works", l != NULL);
  if (l) memset(l, 1, 1 << 20);
  free(l);
  CHECK("malloc_usable_size(NULL) == 0", malloc_usable_size(NULL) == 0);
  int usable_ok = 1;
  for (size_t n = 1; n < (8u << 20); n = n * 5 / 3 + 1) {
    char *p = malloc(n);
    if (!p || malloc_usable_size(p) < n) usable_ok = 0;
    else memset(p, 0x5a, malloc_usable_size(p));
    free(p);
  }
  CHECK("malloc_usable_size >= n and writable, 1 B .. 8 MiB", usable_ok);
}

// --- calloc -------------------------------------------------------------------------

static void test_calloc(void) {
  size_t pairs[][2] = {{v_size_max / 2, 4}, {4, v_size_max / 2}, {v_size_max, v_size_max},
                       {(size_t)1 << 32, (size_t)1 << 32}, {v_size_max / 3 + 1, 3},
                       {v_ptrdiff_max, 2}, {v_ptrdiff_max, 1}, {v_size_max, 1}};
  int all = 1;
  for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++) {
    errno = 0;
    void *p = calloc(pairs[i][0], pairs[i][1]);
    if (p || errno != ENOMEM) all = 0;
    free(p);
  }
  CHECK("calloc overflow and huge -> NULL, ENOMEM", all);
  void *z = calloc(0, 0);
  void *z2 = calloc(0, 16);
  CHECK("calloc(0, n) is non-NULL", z && z2 && z != z2);
  free(z);
  free(z2);

  // Zero also when the block is recycled: same size from the same and from
  // another call site, after the block was dirtied, across every tier (pools,
  // BigCache, HOT/WARM/COLD spares).
  static const size_t sizes[] = {1,       16,        100,       1000,      4096,      20000,    65536,
                                 131072,  200000,    262143,    262144,    300000,    600000,   1 << 20,
                                 1600000, 2 << 20,   3 << 20,   5 << 20,   9 << 20,   17 << 20, 33 << 20};
  int zero_same = 1, zero_other = 1, zero_bigger = 1;
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
    size_t n = sizes[i];
    for (int round = 0; round < 3; round++) {
      char *p = malloc(n);
      if (!p) { zero_same = 0; break; }
      memset(p, 0xa5, malloc_usable_size(p));
      free(p);
      char *q = calloc(1, n);  // another call site than the malloc above
      if (!q || !all_zero(q, n)) zero_other = 0;
      if (q) memset(q, 0xa5, malloc_usable_size(q));
      free(q);
      q = calloc(n, 1);
      if (!q || !all_zero(q, n)) zero_same = 0;
      free(q);
    }
    // A dirty block of a larger size freed, then a calloc of the smaller.
    char *big = malloc(n * 2 + 64);
    if (big) memset(big, 0x3c, n * 2 + 64);
    free(big);
    char *q = calloc(n, 1);
    if (!q || !all_zero(q, n)) zero_bigger = 0;
    free(q);
  }
  CHECK("calloc is zero after a dirty block of the size was freed (another site)", zero_other);
  CHECK("calloc is zero after a dirty block was freed (repeated)", zero_same);
  CHECK("calloc is zero after a larger dirty block was freed", zero_bigger);

  // Many dirty blocks freed at once (they fill the caches and spill to the
  // free policy), then as many callocs.
  enum { N = 48 };
  char *blocks[N];
  for (int i = 0; i < N; i++) {
    size_t n = (size_t)(i % 6 + 1) << 19;
    blocks[i] = malloc(n);
    if (blocks[i]) memset(blocks[i], 0x77, n);
  }
  for (int i = 0; i < N; i++) free(blocks[i]);
  int zero_spill = 1;
  for (int i = 0; i < N; i++) {
    size_t n = (size_t)((i + 3) % 6 + 1) << 19;
    blocks[i] = calloc(1, n);
    if (!blocks[i] || !all_zero(blocks[i], n)) zero_spill = 0;
  }
  for (int i = 0; i < N; i++) free(blocks[i]);
  CHECK("calloc is zero after 48 dirty large blocks were freed together", zero_spill);
}

// --- realloc and reallocarray -------------------------------------------------------

static void test_realloc(void) {
  char *p = realloc(NULL, 100);
  CHECK("realloc(NULL, n) allocates", p != NULL);
  if (p) fill(p, 100, 1);
  free(p);
  p = realloc(NULL, 0);
  CHECK("realloc(NULL, 0) is non-NULL", p != NULL);
  free(p);
  p = malloc(100);
  errno = 0;
  char *q = realloc(p, 0);  // glibc: frees p and returns NULL
  CHECK("realloc(p, 0) -> NULL (p freed)", q == NULL);

  static const size_t sizes[] = {10, 1000, 100000, 300000, 3 << 20};
  int intact = 1, enomem = 1;
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
    size_t n = sizes[i];
    p = malloc(n);
    if (!p) { intact = 0; continue; }
    fill(p, n, (unsigned)i);
    size_t bad[] = {v_size_max, v_size_max - 8, v_ptrdiff_max + 1, v_ptrdiff_max};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
      errno = 0;
      q = realloc(p, bad[k]);
      if (q) { intact = 0; p = q; }
      else if (errno != ENOMEM) enomem = 0;
    }
    if (!check_fill(p, n, (unsigned)i)) intact = 0;
    q = realloc(p, n * 3);  // and it still grows normally
    if (!q || !check_fill(q, n, (unsigned)i)) intact = 0;
    free(q ? q : p);
  }
  CHECK("realloc(p, SIZE_MAX / > PTRDIFF_MAX) -> NULL, ENOMEM", enomem);
  CHECK("a failed realloc leaves p intact and usable", intact);

  // Growth and shrink keep the contents, across every boundary.
  int kept = 1;
  p = malloc(1);
  size_t have = 1;
  fill(p, have, 9);
  for (size_t n = 2; n < (24u << 20); n = n * 3 / 2 + 7) {
    q = realloc(p, n);
    if (!q || !check_fill(q, have, 9)) { kept = 0; free(q ? q : p); p = NULL; break; }
    p = q;
    fill(p, n, 9);
    have = n;
  }
  for (size_t n = have; p && n > 1; n = n / 2) {
    q = realloc(p, n);
    if (!q || !check_fill(q, n, 9)) { kept = 0; free(q ? q : p); p = NULL; break; }
    p = q;
  }
  free(p);
  CHECK("realloc keeps contents growing 1 B -> 24 MiB and shrinking back", kept);

  errno = 0;
  p = reallocarray(NULL, v_size_max, 2);
  CHECK("reallocarray(NULL, overflow) -> NULL, ENOMEM", p == NULL && errno == ENOMEM);
  p = malloc(64);
  fill(p, 64, 3);
  errno = 0;
  q = reallocarray(p, (size_t)1 << 33, (size_t)1 << 33);
  CHECK("reallocarray(p, overflow) -> NULL, ENOMEM, p intact", q == NULL && errno == ENOMEM && check_fill(p, 64, 3));
  q = reallocarray(p, 100, 10);
  CHECK("reallocarray(p, 100, 10) keeps the contents", q && check_fill(q, 64, 3));
  free(q ? q : p);
}

// --- aligned allocation -------------------------------------------------------------

static void test_posix_memalign(void) {
  static const size_t bad_align[] = {0, 1, 2, 3, 4, 12, 24, 48, 100, 4097, (size_t)3 << 20};
  int einval = 1;
  for (size_t i = 0; i < sizeof bad_align / sizeof *bad_align; i++) {
    void *out = (void *)(uintptr_t)0xdeadbeef;
    errno = 1234;
    int r = posix_memalign(&out, bad_align[i], 64);
    if (r != EINVAL || out != (void *)(uintptr_t)0xdeadbeef || errno != 1234) einval = 0;
  }
  CHECK("posix_memalign(0, non-power-of-two, < sizeof(void*)) -> EINVAL, out untouched, errno kept", einval);
  void *out = (void *)(uintptr_t)0xdeadbeef;
  int r = posix_memalign(&out, 64, v_size_max);
  CHECK("posix_memalign(64, SIZE_MAX) -> ENOMEM, out untouched", r == ENOMEM && out == (void *)(uintptr_t)0xdeadbeef);
  r = posix_memalign(&out, 4096, v_ptrdiff_max);
  CHECK("posix_memalign(4096, PTRDIFF_MAX) -> ENOMEM, out untouched", r == ENOMEM && out == (void *)(uintptr_t)0xdeadbeef);
  r = posix_memalign(&out, (size_t)1 << 63, 16);
  CHECK("posix_memalign(2^63, 16) -> ENOMEM", r == ENOMEM && out == (void *)(uintptr_t)0xdeadbeef);
  r = posix_memalign(&out, sizeof(void *), 0);
  CHECK("posix_memalign(sizeof(void*), 0) works", r == 0 && out != (void *)(uintptr_t)0xdeadbeef);
  if (r == 0) free(out);
}

static void test_memalign_family(void) {
  // glibc 2.36: memalign and aligned_alloc round a non-power-of-two alignment
  // up; alignments above SIZE_MAX/2+1 are EINVAL; 0 and 1 act like malloc.
  static const size_t odd[] = {0, 1, 3, 24, 100, 1000, 3000, 5000, 40000, 3 << 20};
  int ok_memalign = 1, ok_aligned_alloc = 1;
  for (size_t i = 0; i < sizeof odd / sizeof *odd; i++) {
    size_t want = 1;
    while (want < odd[i]) want <<= 1;
    if (want < 16) want = 16;
    char *p = memalign(odd[i], 100);
    if (!p || !aligned(p, want)) ok_memalign = 0;
    else memset(p, 1, 100);
    free(p);
    p = aligned_alloc(odd[i], 100);
    if (!p || !aligned(p, want)) ok_aligned_alloc = 0;
    else memset(p, 1, 100);
    free(p);
  }
  CHECK("memalign rounds a non-power-of-two alignment up", ok_memalign);
  CHECK("aligned_alloc rounds a non-power-of-two alignment up (glibc 2.36)", ok_aligned_alloc);

  size_t huge_align[] = {v_size_max, v_size_max / 2 + 2, v_size_max - 4095};
  int einval = 1;
  for (size_t i = 0; i < sizeof huge_align / sizeof *huge_align; i++) {
    errno = 0;
    void *p = memalign(huge_align[i], 16);
    if (p || errno != EINVAL) einval = 0;
    errno = 0;
    p = aligned_alloc(huge_align[i], 16);
    if (p || errno != EINVAL) einval = 0;
  }
  CHECK("memalign/aligned_alloc(align > SIZE_MAX/2+1) -> NULL, EINVAL", einval);
  size_t near_align[] = {v_size_max / 2 + 1, ((size_t)1 << 62) + 1, (size_t)1 << 62};
  int enomem = 1;
  for (size_t i = 0; i < sizeof near_align / sizeof *near_align; i++) {
    errno = 0;
    void *p = memalign(near_align[i], 16);
    if (p || errno != ENOMEM) enomem = 0;
  }
  CHECK("memalign(2^62 .. 2^63) -> NULL, ENOMEM", enomem);
  errno = 0;
  void *p = memalign(4096, v_size_max);
  CHECK("memalign(4096, SIZE_MAX) -> NULL, ENOMEM", p == NULL && errno == ENOMEM);
  errno = 0;
  p = aligned_alloc(64, v_ptrdiff_max + 1);
  CHECK("aligned_alloc(64, > PTRDIFF_MAX) -> NULL, ENOMEM", p == NULL && errno == ENOMEM);

  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  int ok_valloc = 1, ok_pvalloc = 1;
  for (size_t n = 0; n < (6u << 20); n = n * 2 + 1) {
    char *v = valloc(n);
    if (!v || !aligned(v, page) || malloc_usable_size(v) < n) ok_valloc = 0;
    else memset(v, 2, malloc_usable_size(v));
    free(v);
    v = pvalloc(n);
    size_t rounded = (n + page - 1) / page * page;
    if (!v || !aligned(v, page) || malloc_usable_size(v) < rounded) ok_pvalloc = 0;
    else memset(v, 2, malloc_usable_size(v));
    free(v);
  }
  CHECK("valloc is page-aligned and usable", ok_valloc);
  CHECK("pvalloc is page-aligned and usable to the next page", ok_pvalloc);
  errno = 0;
  p = valloc(v_size_max);
  CHECK("valloc(SIZE_MAX) -> NULL, ENOMEM", p == NULL && errno == ENOMEM);
  errno = 0;
  p = pvalloc(v_size_max);
  CHECK("pvalloc(SIZE_MAX) -> NULL, ENOMEM", p == NULL && errno == ENOMEM);
  errno = 0;
  p = pvalloc(v_size_max - page);
  CHECK("pvalloc(SIZE_MAX - page) -> NULL, ENOMEM", p == NULL && errno == ENOMEM);
}

// Sizes x alignments up to 2 MiB: every pointer aligned, the whole usable
// size writable, and no two live blocks overlap (each keeps its pattern
// while all of a round are live).
static void test_alignment_sweep(void) {
  static const size_t sizes[] = {1,      8,      16,     24,      100,     1000,     4095,    4096,
                                 4097,   65536,  100000, 200000,  262143,  262144,   262145,  1 << 20,
                                 3 << 20, 5 << 20};
  enum { NS = sizeof sizes / sizeof *sizes, NA = 18 };  // alignments 16 .. 2 MiB
  int ok = 1, overlap_ok = 1;
  for (int how = 0; how < 3; how++) {
    void *live[NS * NA];
    size_t live_n[NS * NA];
    int k = 0;
    for (size_t si = 0; si < NS; si++) {
      for (int ai = 0; ai < NA; ai++) {
        size_t align = (size_t)16 << ai, n = sizes[si];
        void *p = NULL;
        if (how == 0 && posix_memalign(&p, align, n) != 0) p = NULL;
        if (how == 1) p = aligned_alloc(align, n);
        if (how == 2) p = memalign(align, n);
        if (!p || !aligned(p, align) || malloc_usable_size(p) < n) {
          if (ok) printf("  (%s size %zu align %zu: %p)\n", how == 0 ? "posix_memalign" : how == 1 ? "aligned_alloc" : "memalign", n, align, p);
          ok = 0;
          free(p);
          continue;
        }
        size_t u = malloc_usable_size(p);
        memset(p, 0xee, u);
        fill(p, n < 4096 ? n : 4096, (unsigned)k);
        live[k] = p;
        live_n[k] = n < 4096 ? n : 4096;
        k++;
      }
    }
    for (int i = 0; i < k; i++) {
      if (!check_fill(live[i], live_n[i], (unsigned)i)) overlap_ok = 0;
      free(live[i]);
    }
  }
  CHECK("alignment sweep: 18 sizes x 16 B..2 MiB, aligned and usable (3 calls)", ok);
  CHECK("alignment sweep: no two live aligned blocks overlap", overlap_ok);
}

// --- errno and frees ----------------------------------------------------------------

static void test_errno(void) {
  static const size_t sizes[] = {0, 1, 100, 5000, 100000, 262144, 1 << 20, 5 << 20, (size_t)1100 << 20};
  int kept = 1;
  errno = 4321;
  free(NULL);
  CHECK("free(NULL) preserves errno", errno == 4321);
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
    void *p = malloc(sizes[i]);
    void *a = NULL;
    if (posix_memalign(&a, 4096, sizes[i])) a = NULL;
    errno = 4321;
    free(p);
    if (errno != 4321) kept = 0;
    free(a);
    if (errno != 4321) kept = 0;
  }
  CHECK("free of every kind of block preserves errno", kept);
  // A successful malloc does not clear errno (glibc leaves it).
  errno = 4321;
  void *p = malloc(100);
  void *q = malloc(3 << 20);
  CHECK("a successful malloc leaves errno alone", errno == 4321);
  free(p);
  free(q);
}

// --- pointers allocated inside libc -------------------------------------------------

static char *my_asprintf(const char *fmt, ...) {
  va_list ap;
  char *s = NULL;
  va_start(ap, fmt);
  if (vasprintf(&s, fmt, ap) < 0) s = NULL;
  va_end(ap);
  return s;
}

static void test_libc_pointers(const char *self) {
  char *s = strdup("hakmem");
  char *t = strndup("hakmem-reliability", 6);
  CHECK("strdup/strndup", s && t && !strcmp(s, "hakmem") && !strcmp(t, "hakmem"));
  free(s);
  free(t);

  char *a = NULL;
  int n = asprintf(&a, "%s-%d-%0*d", "x", 42, 300000, 7);  // 300 KB: a large block
  CHECK("asprintf of 300 KB", n == 300005 && a && a[n - 1] == '7');
  free(a);
  a = my_asprintf("%d", 12345);
  CHECK("vasprintf", a && !strcmp(a, "12345"));
  free(a);

  FILE *f = tmpfile();
  for (int i = 0; i < 2000; i++) fprintf(f, "%0*d\n", i * 97 % 5000, i);
  rewind(f);
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  long lines = 0, total = 0;
  while ((len = getline(&line, &cap, f)) > 0) {
    lines++;
    total += len;
  }
  free(line);
  line = NULL;
  cap = 0;
  rewind(f);
  long fields = 0;
  while (getdelim(&line, &cap, '\n', f) > 0) fields++;
  free(line);
  fclose(f);
  CHECK("getline/getdelim through 2000 lines", lines == 2000 && fields == 2000 && total > 0);

  char *rp = realpath(self, NULL);
  CHECK("realpath(path, NULL)", rp && rp[0] == '/');
  free(rp);
  char *cwd = getcwd(NULL, 0);
  CHECK("getcwd(NULL, 0)", cwd != NULL);
  free(cwd);
  char *buf = NULL;
  size_t bufsize = 0;
  FILE *m = open_memstream(&buf, &bufsize);
  for (int i = 0; i < 100000; i++) fputs("memstream ", m);
  fclose(m);
  CHECK("open_memstream of 1 MB", buf && bufsize == 1000000);
  free(buf);
  regex_t re;
  int rc = regcomp(&re, "^(a|b)+c[0-9]{2,}$", REG_EXTENDED);
  CHECK("regcomp/regexec/regfree", rc == 0 && regexec(&re, "abab c12", 0, NULL, 0) != 0 && regexec(&re, "ababc123", 0, NULL, 0) == 0);
  if (rc == 0) regfree(&re);
}

int main(int argc, char **argv) {
  (void)argc;
  setvbuf(stdout, NULL, _IOLBF, 0);
  test_malloc();
  test_calloc();
  test_realloc();
  test_posix_memalign();
  test_memalign_family();
  test_alignment_sweep();
  test_errno();
  test_libc_pointers(argv[0]);
  printf("%d failed\n", failures);
  return failures != 0;
}
