// misuse_cc.cc — the C++ misuse kinds for tests/misuse/run.sh (see
// misuse.c for the exit codes): mismatched operator new / delete pairs,
// malloc / delete, new / free, and a sized delete with the wrong size.
#include <cstdlib>
#include <cstring>
#include <new>

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  const char* kind = argv[1];
  size_t n = strtoull(argv[2], nullptr, 0);
  auto is = [&](const char* k) { return strcmp(kind, k) == 0; };
  if (is("new-free")) {
    void* p = ::operator new(n);
    memset(p, 1, n);
    free(p);
  } else if (is("new-array-free")) {
    void* p = ::operator new[](n);
    free(p);
  } else if (is("malloc-delete")) {
    void* p = malloc(n);
    ::operator delete(p);
  } else if (is("new-delete-array")) {
    void* p = ::operator new(n);
    ::operator delete[](p);
  } else if (is("new-array-delete")) {
    void* p = ::operator new[](n);
    ::operator delete(p);
  } else if (is("sized-delete-mismatch")) {
    void* p = ::operator new(n);
    ::operator delete(p, n + 16);
  } else {
    return 2;
  }
  return 0;
}
