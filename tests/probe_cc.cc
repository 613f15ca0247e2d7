// probe_cc.cc — a C++ program run with libhakmem.so preloaded by
// fastpath_test.sh: the same loop of allocation pairs through malloc/free or
// through operator new/delete, so that callgrind compares the two.
//   probe_cc malloc N [SIZE]   N malloc(SIZE)/free pairs (default 32)
//   probe_cc new N [SIZE]      N operator new(SIZE)/operator delete pairs
#include <cstdlib>
#include <cstring>
#include <new>

namespace {

void* volatile sink;

__attribute__((noinline)) void pair_malloc(size_t size) {
  sink = std::malloc(size);
  std::free(sink);
}

__attribute__((noinline)) void pair_new(size_t size) {
  sink = ::operator new(size);
  ::operator delete(sink);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  bool use_new = !std::strcmp(argv[1], "new");
  long n = std::atol(argv[2]);
  size_t size = argc >= 4 ? (size_t)std::atol(argv[3]) : 32;
  void (*pair)(size_t) = use_new ? pair_new : pair_malloc;
  for (int i = 0; i < 1000; i++) pair(size);  // warm: heap, page, TLS
  for (long i = 0; i < n; i++) pair(size);
  return 0;
}
