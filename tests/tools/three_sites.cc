// three_sites.cc — the program //tests:tools_test profiles: three functions
// that allocate different amounts and keep them until exit, so
// `google-pprof --text three_sites PROFILE` must name all three, largest
// first. Built by the test itself (with -g), like a user's program.
#include <cstdio>
#include <cstdlib>
#include <cstring>

static void *keep[1 << 18];
static int kept;

// Each function allocates through its own call site.
__attribute__((noinline)) void make_names(int n) {
  for (int i = 0; i < n; i++) keep[kept++] = std::malloc(64);  // 64 B each
}
__attribute__((noinline)) void make_buffers(int n) {
  for (int i = 0; i < n; i++) keep[kept++] = std::calloc(1, 16384);  // 16 KiB each
}
__attribute__((noinline)) void make_images(int n) {
  for (int i = 0; i < n; i++) {
    char *p = static_cast<char *>(std::malloc(1 << 20));  // 1 MiB each
    std::memset(p, 1, 4096);
    keep[kept++] = p;
  }
}

int main() {
  // Sizes such that with the default 512 KiB period even the smallest site
  // gets ~15 samples (no sample at all: odds below 1e-6) and the order of
  // the three by bytes is many standard deviations apart.
  make_names(120000);  // 7.3 MiB
  make_buffers(1600);  // 25 MiB
  make_images(48);     // 48 MiB
  std::printf("kept %d blocks\n", kept);
  return 0;
}
