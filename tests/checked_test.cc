// checked_test.cc — checked mode (HAKMEM_CHECK=1) catches misuse with a
// message naming the problem and the address: double frees (immediate,
// delayed, interleaved, cross-thread), invalid frees (interior, misaligned,
// stack, static, another allocator's, never handed out), 1- and 8-byte
// overflows of small and large blocks, and a free-list pointer overwritten
// after free. Correct programs run unchanged. The binary re-executes itself
// with HAKMEM_CHECK=1 so the whole process runs checked from the start.
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "tests/test_util.h"

extern "C" {
#include "hakmem/checked.h"
}

namespace {

using namespace hakmem_test;

constexpr size_t kMiB = 1 << 20;

// Under AddressSanitizer freed blocks are poisoned: ASan reports the access
// itself before checked mode can.
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SKIP_UNDER_ASAN() GTEST_SKIP() << "ASan catches the access first"
#endif
#endif
#ifndef SKIP_UNDER_ASAN
#define SKIP_UNDER_ASAN() (void)0
#endif
// ThreadSanitizer turns a fault into its own report and exit status.
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SKIP_UNDER_TSAN() GTEST_SKIP() << "TSan reports the fault itself"
#endif
#endif
#ifndef SKIP_UNDER_TSAN
#define SKIP_UNDER_TSAN() (void)0
#endif
static char static_buffer[64];

TEST(Checked, IsOn) {
  ASSERT_TRUE(hak_checked);
  EXPECT_EQ(hak_fast_limit, 0u);
}

TEST(Checked, CorrectProgramsRunUnchanged) {
  std::vector<std::pair<char*, size_t>> live;
  uint64_t x = 5;
  for (int i = 0; i < 20000; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    size_t n = (x >> 7) % 5 == 0 ? (x >> 20) % (3 * kMiB) : (x >> 20) % 3000;
    char* p = static_cast<char*>((x & 1) ? hak_alloc_at(n, 1) : hak_calloc(1, n));
    ASSERT_NE(p, nullptr);
    EXPECT_GE(hak_usable_size(p), n);
    memset(p, 0x11, n);  // every requested byte is writable
    live.push_back({p, n});
    if (live.size() > 100) {
      size_t k = (x >> 30) % live.size();
      char* q = static_cast<char*>(hak_realloc(live[k].first, live[k].second + 100));
      ASSERT_NE(q, nullptr);
      hak_free(q);
      live[k] = live.back();
      live.pop_back();
    }
  }
  for (auto& l : live) hak_free(l.first);
  for (size_t align = 32; align <= 4096; align *= 2) {
    void* p = hak_aligned_alloc(align, 100);
    EXPECT_EQ((uintptr_t)p % align, 0u);
    memset(p, 1, 100);
    hak_free(p);
  }
  EXPECT_TRUE(hak_heap_is_valid());
}

TEST(CheckedDeathTest, ImmediateDoubleFree) {
  void* p = hak_alloc_at(48, 1);
  hak_free(p);
  EXPECT_DEATH(hak_free(p), "double free");
}

TEST(CheckedDeathTest, DelayedAndInterleavedDoubleFree) {
  void* p = hak_alloc_at(48, 1);
  hak_free(p);
  std::vector<void*> others;
  for (int i = 0; i < 100; i++) others.push_back(hak_alloc_at(48, 1));  // p may be reused...
  bool reused = false;
  for (void* o : others) reused |= o == p;
  if (!reused) EXPECT_DEATH(hak_free(p), "double free");
  void* a = hak_alloc_at(200, 2);
  void* b = hak_alloc_at(200, 2);
  hak_free(a);
  hak_free(b);
  EXPECT_DEATH(hak_free(a), "double free");
  for (void* o : others) hak_free(o);
}

TEST(CheckedDeathTest, CrossThreadDoubleFree) {
  void* p = hak_alloc_at(64, 3);
  std::thread([p] { hak_free(p); }).join();
  EXPECT_DEATH(hak_free(p), "double free");
}

TEST(CheckedDeathTest, LargeDoubleFree) {
  void* p = hak_alloc_at(2 * kMiB, 4);
  hak_free(p);
  EXPECT_DEATH(hak_free(p), "double free");
}

TEST(CheckedDeathTest, InvalidFrees) {
  char* small = static_cast<char*>(hak_alloc_at(100, 5));
  char* large = static_cast<char*>(hak_alloc_at(kMiB, 5));
  int on_stack = 0;
  void* glibc = malloc(32);
  EXPECT_DEATH(hak_free(small + 16), "invalid free");
  EXPECT_DEATH(hak_free(small + 1), "invalid free");
  EXPECT_DEATH(hak_free(large + 4096), "invalid pointer");
  EXPECT_DEATH(hak_free(&on_stack), "not a pointer hakmem handed out");
  EXPECT_DEATH(hak_free(static_buffer), "not a pointer hakmem handed out");
  EXPECT_DEATH(hak_free(glibc), "not a pointer hakmem handed out");
  // A block of a live page that was never handed out.
  EXPECT_DEATH(hak_free(small + 2 * hak_class_size(hak_size_class(hak_checked_pool_need(100)))), "double free|invalid");
  free(glibc);
  hak_free(small);
  hak_free(large);
}

TEST(CheckedDeathTest, OverflowsAreFoundAtFree) {
  for (size_t n : {(size_t)24, (size_t)100, (size_t)1000}) {
    for (size_t over : {(size_t)1, (size_t)8}) {
      char* p = static_cast<char*>(hak_alloc_at(n, 6));
      char saved = p[n + over - 1];  // a canary byte, or the trailer's
      p[n + over - 1] = 'X';
      EXPECT_DEATH(hak_free(p), "overflow") << n << " + " << over;
      p[n + over - 1] = saved;
      hak_free(p);
    }
  }
  for (size_t over : {(size_t)1, (size_t)8}) {
    char* p = static_cast<char*>(hak_alloc_at(kMiB + 3, 7));
    char saved = p[kMiB + 3 + over - 1];
    p[kMiB + 3 + over - 1] = 'X';
    EXPECT_DEATH(hak_free(p), "overflow");
    p[kMiB + 3 + over - 1] = saved;
    hak_free(p);
  }
}

TEST(CheckedDeathTest, FreeListPointerOverwrittenAfterFreeIsNotFollowed) {
  // Two blocks of one class: free both, scribble on the head's next pointer,
  // then allocate: the pop checks the new head before anyone follows it.
  void* a = hak_alloc_at(300, 8);
  void* b = hak_alloc_at(300, 8);
  hak_free(a);
  hak_free(b);  // b is the head, b->next == a
  // The link is the block's first word, HAK_CHECKED_HEAD bytes before the pointer.
  EXPECT_DEATH(
      {
        static_cast<uintptr_t*>(b)[-(int)(HAK_CHECKED_HEAD / 8)] = 0xdeadbeef000;  // use after free
        hak_free(hak_alloc_at(300, 8));
      },
      "free list corrupted");
}

// The trailer's offset field once had 16 bits: 128 KiB alignments aborted.
TEST(Checked, AlignmentsOf128KiBAndMoreFreeCleanly) {
  for (size_t align : {(size_t)65536, (size_t)131072, (size_t)262144}) {
    void* p = hak_aligned_alloc(align, 16);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ((uintptr_t)p % align, 0u);
    EXPECT_EQ(hak_usable_size(p), 16u);
    memset(p, 1, 16);
    hak_free(p);
  }
}

TEST(CheckedDeathTest, UnderflowsAreFoundAtFree) {
  for (size_t n : {(size_t)8, (size_t)4096, 256 * (size_t)1024}) {
    for (size_t under : {(size_t)1, (size_t)16}) {
      char* p = static_cast<char*>(hak_alloc_at(n, 9));
      char saved = p[-(ptrdiff_t)under];
      p[-(ptrdiff_t)under] = 'X';
      EXPECT_DEATH(hak_free(p), "underflow") << n << " - " << under;
      p[-(ptrdiff_t)under] = saved;
      hak_free(p);
    }
  }
}

TEST(CheckedDeathTest, WriteAfterFreeIsFoundWhenTheBlockComesBack) {
  SKIP_UNDER_ASAN();
  for (size_t n : {(size_t)8, (size_t)4096}) {
    char* p = static_cast<char*>(hak_alloc_at(n, 10));
    hak_free(p);
    EXPECT_DEATH(
        {
          p[n / 2] = 'X';
          for (int i = 0; i < 5000; i++) hak_free(hak_alloc_at(n, 10));
        },
        "write after free")
        << n;
  }
}

TEST(CheckedDeathTest, FreedLargeBlocksFault) {
  SKIP_UNDER_ASAN();
  SKIP_UNDER_TSAN();
  char* p = static_cast<char*>(hak_alloc_at(256 * 1024, 11));
  memset(p, 1, 256 * 1024);
  hak_free(p);
  EXPECT_EXIT(p[100] = 'X', ::testing::KilledBySignal(SIGSEGV), "");
  EXPECT_EXIT(if (*(volatile char*)(p + 5000) == 1) abort(), ::testing::KilledBySignal(SIGSEGV), "");
}

TEST(CheckedDeathTest, DoubleFreeAfterReuseIsCaught) {
  void* p = hak_alloc_at(48, 12);
  hak_free(p);
  void* q = hak_alloc_at(48, 12);
  EXPECT_NE(p, q);  // the quarantine keeps p out of reuse
  EXPECT_DEATH(hak_free(p), "double free");
  hak_free(q);
}

TEST(CheckedDeathTest, AllocationKindsMustMatch) {
  for (size_t n : {(size_t)8, (size_t)4096, 256 * (size_t)1024})
    ExpectKindChecks([](size_t k) { return hak_alloc_at(k, 13); }, n);
}

}  // namespace

int main(int argc, char** argv) {
  if (!getenv("HAKMEM_CHECK")) {  // run the whole process checked
    setenv("HAKMEM_CHECK", "1", 1);
    setenv("HAKMEM_CHECK_GUARD", "0", 0);  // the pool path (guarded blocks: checked_guard_test)
    execv("/proc/self/exe", argv);
    return 127;
  }
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::FLAGS_gtest_death_test_style = "threadsafe";
  return RUN_ALL_TESTS();
}
