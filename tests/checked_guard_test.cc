// checked_guard_test.cc — checked mode's guarded pool blocks
// (checked_guard.c): a pool-sized block on pages of its own faults on any
// access after its free (8 B and 4 KiB) and on an overflow past its canaries
// into the next page; double and invalid frees and kind mismatches abort
// with checked mode's messages; realloc, usable size, aligned requests and
// calloc behave as on any block; past the budget (HAKMEM_CHECK_GUARD)
// requests take the pool path, which still catches what it caught; threads,
// fork and the mapping count stay sane. The binary re-executes itself with
// HAKMEM_CHECK=1.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/test_util.h"

extern "C" {
#include "hakmem/addrmap.h"
#include "hakmem/checked.h"
}

namespace {

using namespace hakmem_test;

// ASan and TSan turn a fault into their own report and exit status.
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SKIP_UNDER_SANITIZER() GTEST_SKIP() << "the sanitizer reports the fault itself"
#endif
#endif
#ifndef SKIP_UNDER_SANITIZER
#define SKIP_UNDER_SANITIZER() (void)0
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1  // freed pool blocks are poisoned: ASan reports a write after free first
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

constexpr uintptr_t kPage = 4096;

char* Alloc(size_t n) { return static_cast<char*>(hak_alloc_at(n, 21)); }

// The first byte of the page before the block's canary head.
char* FirstPage(const char* p) { return reinterpret_cast<char*>(((uintptr_t)p - HAK_CHECKED_HEAD) & ~(kPage - 1)); }

// Mappings (VMAs) inside the guard region.
size_t Mappings() {
  uintptr_t lo = hak_checked_guard_lo, hi = hak_checked_guard_hi;
  std::ifstream maps("/proc/self/maps");
  size_t n = 0;
  for (std::string line; std::getline(maps, line);) {
    uintptr_t start = std::stoul(line, nullptr, 16);
    n += start >= lo && start < hi;
  }
  return n;
}

TEST(CheckedGuard, PoolRequestsAreGuarded) {
  ASSERT_TRUE(hak_checked);
  for (size_t n : {(size_t)0, (size_t)1, (size_t)8, (size_t)100, (size_t)4080, (size_t)4096, (size_t)100000}) {
    char* p = Alloc(n);
    ASSERT_TRUE(hak_checked_guarded(p)) << n;
    EXPECT_EQ(hak_addrmap_get(p), HAK_ADDR_NONE) << n;  // no 4 MiB slot of the address map
    EXPECT_EQ((uintptr_t)p % 16, 0u) << n;
    EXPECT_EQ(((uintptr_t)p + ((n + 15 + !n) & ~(size_t)15)) % kPage, 0u) << n;  // its rounded end: a page end
    EXPECT_EQ(hak_usable_size(p), n);
    memset(p, 0x5a, n);
    hak_free(p);
  }
}

TEST(CheckedGuardDeathTest, ReadAfterFreeFaults) {
  SKIP_UNDER_SANITIZER();
  for (size_t n : {(size_t)8, (size_t)4096}) {
    for (int i = 0; i < 10000; i++) hak_free(Alloc(n));  // the quarantine full: its oldest leave first
    char* p = Alloc(n);
    ASSERT_TRUE(hak_checked_guarded(p));
    p[n / 2] = 'Q';
    hak_free(p);
    EXPECT_EXIT(
        {
          if (static_cast<volatile char*>(p)[n / 2] == 'Q') std::exit(0);
          std::exit(1);
        },
        ::testing::KilledBySignal(SIGSEGV), "")
        << n;
  }
}

TEST(CheckedGuardDeathTest, WriteAfterFreeFaults) {
  SKIP_UNDER_SANITIZER();
  for (size_t n : {(size_t)8, (size_t)4096}) {
    char* p = Alloc(n);
    ASSERT_TRUE(hak_checked_guarded(p));
    hak_free(p);
    for (int i = 0; i < 100; i++) hak_free(Alloc(n));  // still in the quarantine
    EXPECT_EXIT(
        {
          static_cast<volatile char*>(p)[n / 2] = 'X';
          std::exit(0);
        },
        ::testing::KilledBySignal(SIGSEGV), "")
        << n;
  }
}

TEST(CheckedGuardDeathTest, OverflowIntoTheGuardFaults) {
  SKIP_UNDER_SANITIZER();
  for (size_t n : {(size_t)16, (size_t)4096, (size_t)100000}) {
    char* p = Alloc(n);
    ASSERT_TRUE(hak_checked_guarded(p));
    EXPECT_EXIT(
        {
          static_cast<volatile char*>(p)[n] = 'X';
          std::exit(0);
        },
        ::testing::KilledBySignal(SIGSEGV), "")
        << n;
    char* before = FirstPage(p) - 1;  // past the canary head: the slot's guard page
    EXPECT_EXIT(
        {
          *static_cast<volatile char*>(before) = 'X';
          std::exit(0);
        },
        ::testing::KilledBySignal(SIGSEGV), "")
        << n;
    hak_free(p);
  }
}

TEST(CheckedGuardDeathTest, OverflowsAndUnderflowsIntoTheSlackAbortAtFree) {
  for (size_t n : {(size_t)8, (size_t)100, (size_t)4096}) {
    char* p = Alloc(n);
    ASSERT_TRUE(hak_checked_guarded(p));
    size_t slack = ((n + 15) & ~(size_t)15) - n;
    if (slack) EXPECT_DEATH({ p[n] = 'X'; hak_free(p); }, "heap overflow") << n;
    EXPECT_DEATH({ p[-1] = 'X'; hak_free(p); }, "heap underflow") << n;
    EXPECT_DEATH({ FirstPage(p)[0] = 'X'; hak_free(p); }, "heap underflow") << n;
    hak_free(p);
  }
}

TEST(CheckedGuardDeathTest, DoubleAndInvalidFreesAbort) {
  char* p = Alloc(8);
  ASSERT_TRUE(hak_checked_guarded(p));
  hak_free(p);
  EXPECT_DEATH(hak_free(p), "double free");
  EXPECT_DEATH(hak_realloc(p, 100), "double free");
  char* q = Alloc(4096);
  EXPECT_DEATH(hak_free(q + 16), "invalid free \\(pointer inside a block\\)");
  EXPECT_DEATH(hak_free(q + 4096), "invalid free \\(not a live block\\)");  // the guard page
  EXPECT_DEATH(hak_free(q + 8192 + 4096 - 16), "double free|invalid free");  // a slot never handed out
  EXPECT_DEATH(std::thread([q] { hak_free(q); hak_free(q); }).join(), "double free");
  hak_free(q);
  EXPECT_EQ(hak_usable_size(p), 0u);  // freed: nothing to use
}

TEST(CheckedGuardDeathTest, AllocationKindsMustMatch) {
  for (size_t n : {(size_t)8, (size_t)4096}) {
    char* g = Alloc(n);
    ASSERT_TRUE(hak_checked_guarded(g)) << "blocks of n are guarded ones";
    hak_free(g);
    ExpectKindChecks([](size_t k) { return static_cast<void*>(Alloc(k)); }, n);
  }
}

TEST(CheckedGuard, ReallocUsableSizeAlignedAndCalloc) {
  char* p = Alloc(10);
  ASSERT_TRUE(hak_checked_guarded(p));
  memcpy(p, "0123456789", 10);
  char* q = static_cast<char*>(hak_realloc(p, 5000));
  ASSERT_TRUE(hak_checked_guarded(q));
  EXPECT_EQ(memcmp(q, "0123456789", 10), 0);
  EXPECT_EQ(hak_usable_size(q), 5000u);
  memset(q + 10, 'z', 4990);
  char* r = static_cast<char*>(hak_realloc(q, 3));
  EXPECT_EQ(memcmp(r, "012", 3), 0);
  EXPECT_EQ(hak_usable_size(r), 3u);
  hak_free(r);
  for (size_t align : {(size_t)32, (size_t)64, (size_t)256, (size_t)4096}) {
    for (size_t n : {(size_t)1, (size_t)100, (size_t)5000}) {
      void* a = hak_aligned_alloc(align, n);
      ASSERT_NE(a, nullptr);
      EXPECT_TRUE(hak_checked_guarded(a)) << align << " " << n;
      EXPECT_EQ((uintptr_t)a % align, 0u);
      EXPECT_EQ(hak_usable_size(a), n);
      memset(a, 1, n);
      hak_free(a);
    }
  }
  // More frees than the quarantine holds: slots come back, and calloc's
  // bytes are zero on a reused slot too.
  size_t guarded = 0;
  for (int i = 0; i < 10000; i++) {
    size_t n = 1 + (size_t)i % 300;
    char* c = static_cast<char*>(hak_calloc(1, n));
    guarded += hak_checked_guarded(c);
    for (size_t k = 0; k < n; k++) ASSERT_EQ(c[k], 0) << i;
    memset(c, 0xab, n);
    hak_free(c);
  }
  EXPECT_EQ(guarded, 10000u);
  EXPECT_EQ(hak_checked_guard_live(), 0u);
}

TEST(CheckedGuardDeathTest, PastTheBudgetThePoolPathStillCatches) {
  uint64_t budget = hak_opt(HAK_OPT_CHECK_GUARD);
  SetOption(HAK_OPT_CHECK_GUARD, 64);
  std::vector<char*> live;
  for (;;) {
    char* p = Alloc(24);
    if (!hak_checked_guarded(p)) {
      hak_free(p);
      break;
    }
    live.push_back(p);
    ASSERT_LE(live.size(), 64u);
  }
  EXPECT_EQ(live.size(), 64u);
  EXPECT_EQ(hak_checked_guard_live(), 64u);
  EXPECT_LE(Mappings(), 2 * 64 + 1);  // at most two VMAs per live guarded block
  char* p = Alloc(24);
  EXPECT_EQ(hak_addrmap_get(p), HAK_ADDR_SEGMENT);  // the pool path
  EXPECT_DEATH({ p[24] = 'X'; hak_free(p); }, "overflow");
  hak_free(p);
  EXPECT_DEATH(hak_free(p), "double free");
  char* w = Alloc(24);
  hak_free(w);
  if (!UNDER_ASAN)
    EXPECT_DEATH(
        {
          w[8] = 'X';
          for (int i = 0; i < 5000; i++) hak_free(Alloc(24));
        },
        "write after free");
  hak_free(live.back());  // a guarded block freed: room again
  live.pop_back();
  char* g = Alloc(24);
  EXPECT_TRUE(hak_checked_guarded(g));
  live.push_back(g);
  SetOption(HAK_OPT_CHECK_GUARD, 0);  // none at all
  char* none = Alloc(24);
  EXPECT_FALSE(hak_checked_guarded(none));
  hak_free(none);
  for (char* l : live) hak_free(l);
  SetOption(HAK_OPT_CHECK_GUARD, budget);
}

// Freed blocks' pages merge back with their neighbours: the mappings stay
// at most two per live guarded block, however long the program churns.
TEST(CheckedGuard, MappingsStayBoundedByTheLiveBlocks) {
  std::vector<char*> live(3000, nullptr);
  uint64_t x = 7;
  for (int i = 0; i < 60000; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    char*& slot = live[(x >> 8) % live.size()];
    if (slot) hak_free(slot);
    slot = Alloc(1 + (x >> 20) % ((x & 3) ? 200 : 9000));
    slot[0] = 1;
  }
  size_t guarded = hak_checked_guard_live();
  EXPECT_GT(guarded, 1000u);
  EXPECT_LE(Mappings(), 2 * guarded + 1) << guarded << " guarded blocks live";
  for (char* p : live) hak_free(p);
  EXPECT_EQ(Mappings(), 1u);
}

TEST(CheckedGuard, ThreadsAllocateAndFreeEachOthersBlocks) {
  std::vector<std::thread> ts;
  std::vector<char*> handed(4000);
  for (int t = 0; t < 4; t++) {
    ts.emplace_back([t, &handed] {
      for (int i = 0; i < 1000; i++) {
        size_t n = 1 + (size_t)(i * 37 + t) % 6000;
        char* p = Alloc(n);
        memset(p, t, n);
        if (i % 2) hak_free(p);
        else handed[t * 1000 + i] = p;
      }
    });
  }
  for (auto& th : ts) th.join();
  size_t guarded = 0;
  for (char* p : handed) guarded += p && hak_checked_guarded(p);
  EXPECT_GT(guarded, 1000u);  // (blocks over a page: 256 slots, the rest pooled)
  std::vector<std::thread> freers;
  for (int t = 0; t < 4; t++)  // every block freed by another thread than its allocator
    freers.emplace_back([t, &handed] {
      for (int i = 0; i < 1000; i++)
        if (handed[((t + 1) % 4) * 1000 + i]) hak_free(handed[((t + 1) % 4) * 1000 + i]);
    });
  for (auto& th : freers) th.join();
  EXPECT_EQ(hak_checked_guard_live(), 0u);
  EXPECT_TRUE(hak_heap_is_valid());
}

TEST(CheckedGuard, ForkedChildAllocatesAndFrees) {
  char* p = Alloc(100);
  ASSERT_TRUE(hak_checked_guarded(p));
  memset(p, 7, 100);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int bad = p[99] != 7;
    hak_free(p);
    for (int i = 0; i < 1000; i++) hak_free(Alloc(1 + (size_t)i % 5000));
    _exit(bad || hak_checked_guard_live() != 0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(p[99], 7);
  hak_free(p);
}

}  // namespace

int main(int argc, char** argv) {
  if (!getenv("HAKMEM_CHECK")) {  // run the whole process checked
    setenv("HAKMEM_CHECK", "1", 1);
    execv("/proc/self/exe", argv);
    return 127;
  }
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::FLAGS_gtest_death_test_style = "threadsafe";
  return RUN_ALL_TESTS();
}
