// sites_prog.cc — a C++ program run with libhakmem.so preloaded by
// sites_test.sh: three functions allocate with new[], three through an
// xmalloc-style wrapper, three call a function that allocates for itself
// (not a wrapper); it prints hakmem's stats JSON (hak_stats_json, found with
// dlsym) for the test to read the sites and their names. Sizes are large so
// that every request looks its site up. Linked -rdynamic: dladdr names it.
#include <dlfcn.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cstdint>
#define NOINLINE __attribute__((noinline))
static volatile char sink; static char *volatile keep;
static const size_t N = 300 << 10;
extern "C" NOINLINE void *xmalloc(size_t n) { void *p = malloc(n); if (!p) abort(); return p; }
extern "C" NOINLINE size_t own_use(size_t n) { char *p = (char *)malloc(n); memset(p, 1, n); size_t r = p[n - 1]; free(p); return r; }
extern "C" NOINLINE void new_site_a() { char *p = new char[N]; keep = p; p[0] = 1; sink = p[0]; delete[] keep; }
extern "C" NOINLINE void new_site_b() { char *p = new char[N]; keep = p; p[1] = 1; sink = p[1]; delete[] keep; }
extern "C" NOINLINE void new_site_c() { char *p = new char[N]; keep = p; p[2] = 1; sink = p[2]; delete[] keep; }
extern "C" NOINLINE void wrap_site_a() { char *p = (char *)xmalloc(N); p[0] = 1; sink = p[0]; free(p); }
extern "C" NOINLINE void wrap_site_b() { char *p = (char *)xmalloc(N); p[1] = 1; sink = p[1]; free(p); }
extern "C" NOINLINE void wrap_site_c() { char *p = (char *)xmalloc(N); p[2] = 1; sink = p[2]; free(p); }
extern "C" NOINLINE void own_a() { sink = (char)own_use(N); }
extern "C" NOINLINE void own_b() { sink = (char)own_use(N); }
extern "C" NOINLINE void own_c() { sink = (char)own_use(N); }
int main() {
  for (int i = 0; i < 100; i++) { new_site_a(); new_site_b(); new_site_c(); wrap_site_a(); wrap_site_b(); wrap_site_c(); own_a(); own_b(); own_c(); }
  auto json = reinterpret_cast<size_t (*)(char *, size_t)>(dlsym(RTLD_DEFAULT, "hak_stats_json"));
  if (!json) { std::puts("no hakmem"); return 1; }
  static char buf[1 << 20];
  json(buf, sizeof buf);
  std::puts(buf);
}
