// pool_safety_test.cc — release mode's misuse checks in the small/mid pools
// (heap.h, segment.h): every kind of double free, interior, misaligned and
// header frees, and a free-list link overwritten after free abort with the
// address; legitimate patterns (a live block holding the key's value,
// threads freeing each other's blocks) never do. Also: never-used pages
// are not advised, and fork during a trim keeps the abandoned heaps.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "tests/test_util.h"

extern "C" {
#include "hakmem/heap.h"
#include "hakmem/segment.h"
}

namespace {

using namespace hakmem_test;

class PoolSafetyTest : public HakTest {};
using PoolSafetyDeathTest = PoolSafetyTest;

char* Alloc(size_t n) { return static_cast<char*>(hak_alloc_at(n, 11)); }

// First in the file: the heap has no segment yet, so the one made here is
// fresh. A maintenance must not queue its never-used pages for madvise.
TEST_F(PoolSafetyTest, NeverUsedPagesAreNotAdvised) {
  SetOption(HAK_OPT_POOL_RELEASE_MS, 0);
  rec_.Attach();
  char* p = Alloc(64);  // a page of a fresh small segment (a random one); the other 62 never used
  hak_segment_t* s = hak_segment_of(p);
  if (s->pages_used != 1) GTEST_SKIP() << "not a fresh segment";
  char* seg = reinterpret_cast<char*>(s);
  size_t used = (size_t)hak_page_of(s, p)->index << 16;
  hak_trim();  // maintenance with no delay: every empty page that was used goes back
  rec_.Detach();
  for (size_t off = (size_t)64 << 10; off < HAK_SEGMENT_SIZE; off += (size_t)64 << 10)
    if (off != used) EXPECT_EQ(rec_.AdviceCovering(HAK_ADVISE_DONTNEED, seg + off), 0u) << "page at " << off;
  hak_free(p);
}

TEST_F(PoolSafetyDeathTest, ImmediateDoubleFree) {
  char* a = Alloc(64);
  hak_free(a);
  EXPECT_DEATH(hak_free(a), DoubleFree(a));
}

// glibc's cheap check looks at the list head only: a, b, a got past it.
TEST_F(PoolSafetyDeathTest, InterleavedDoubleFree) {
  char* a = Alloc(64);
  char* b = Alloc(64);
  hak_free(a);
  hak_free(b);
  EXPECT_DEATH(hak_free(a), DoubleFree(a));
  hak_free(Alloc(64));  // the parent's lists are intact
  EXPECT_TRUE(hak_heap_is_valid());
}

TEST_F(PoolSafetyDeathTest, DoubleFreeOfAnOlderBlock) {
  std::vector<char*> v;
  for (int i = 0; i < 100; i++) v.push_back(Alloc(200));
  for (char* p : v) hak_free(p);
  EXPECT_DEATH(hak_free(v[3]), DoubleFree(v[3]));
}

// After reuse: a is freed, handed out again as x, and x freed. The block is
// free once; a second free of it (by either name) is a double free. The
// first free after the reuse is legitimate.
TEST_F(PoolSafetyDeathTest, DoubleFreeAfterReuse) {
  char* a = Alloc(48);
  char* keep = Alloc(48);
  hak_free(a);
  char* x = Alloc(48);
  ASSERT_EQ(x, a);
  hak_free(x);  // legitimate
  EXPECT_DEATH(hak_free(a), DoubleFree(a));
  hak_free(keep);
}

TEST_F(PoolSafetyDeathTest, DoubleFreeOfEveryClass) {
  for (unsigned c = 0; c < HAK_CLASSES; c += 7) {
    size_t n = hak_class_size(c);
    if (n >= hak_opt(HAK_OPT_LARGE_THRESHOLD)) break;
    char* a = Alloc(n);
    char* b = Alloc(n);
    hak_free(a);
    hak_free(b);
    EXPECT_DEATH(hak_free(a), DoubleFree(a)) << n;
  }
}

// Cross-thread (death tests fork a parent with no other thread alive, and
// make their threads in the child): the block is freed by another thread,
// then again by the owner (found at once: the owner drains its remote list
// and looks).
TEST_F(PoolSafetyDeathTest, RemoteThenLocalDoubleFree) {
  char* a = Alloc(64);
  std::thread([a] { hak_free(a); }).join();
  EXPECT_DEATH(hak_free(a), DoubleFree(a));
}

// Freed by the owner, then by another thread: that thread cannot look at the
// owner's lists, so the block waits as a suspect until the owner's next slow
// path (here, a trim), which finds it free.
TEST_F(PoolSafetyDeathTest, LocalThenRemoteDoubleFree) {
  char* a = Alloc(64);
  char* keep = Alloc(64);
  hak_free(a);
  EXPECT_DEATH(
      {
        std::thread([a] { hak_free(a); }).join();
        hak_trim();
      },
      DoubleFree(a));
  hak_free(keep);
}

TEST_F(PoolSafetyDeathTest, RemoteThenRemoteDoubleFree) {
  char* a = Alloc(64);
  EXPECT_DEATH(
      {
        std::thread([a] { hak_free(a); }).join();
        std::thread([a] { hak_free(a); }).join();
        hak_trim();
      },
      DoubleFree(a));
}

// A double free into the heap of a thread that exited: whoever tidies the
// abandoned heap finds it.
TEST_F(PoolSafetyDeathTest, DoubleFreeIntoAnAbandonedHeap) {
  EXPECT_DEATH(
      {
        char* a = nullptr;
        std::thread([&a] { a = Alloc(64); }).join();
        hak_free(a);
        hak_free(a);
        hak_trim();
      },
      "double free of 0x");
}

TEST_F(PoolSafetyDeathTest, InteriorAndMisalignedFrees) {
  char* p = Alloc(64);
  EXPECT_DEATH(hak_free(p + 16), Invalid(p + 16));
  EXPECT_DEATH(hak_free(p + 1), Invalid(p + 1));
  EXPECT_DEATH(hak_free(p + 8), Invalid(p + 8));
  char* m = Alloc(20000);  // a medium page
  EXPECT_DEATH(hak_free(m + 4096), Invalid(m + 4096));
  // Not yet carved: never handed out.
  EXPECT_DEATH(hak_free(p + 64 * 200), Invalid(p + 64 * 200));
  hak_free(p);
  hak_free(m);
}

TEST_F(PoolSafetyDeathTest, InteriorFreeFromAnotherThread) {
  char* p = Alloc(96);
  EXPECT_DEATH(std::thread([p] { hak_free(p + 32); }).join(), Invalid(p + 32));
  EXPECT_DEATH(std::thread([p] { hak_free(p + 3); }).join(), Invalid(p + 3));
  hak_free(p);
}

// Over-aligned blocks may be freed by their aligned pointer only.
TEST_F(PoolSafetyDeathTest, OverAlignedBlockByAnotherInteriorPointer) {
  char* p = static_cast<char*>(hak_aligned_alloc(64, 100));
  ASSERT_EQ((uintptr_t)p % 64, 0u);
  EXPECT_DEATH(hak_free(p + 16), Invalid(p + 16));
  hak_free(p);
}

// A stray free into a segment's header (page structs, lists) must not write
// there: small (the header is page 0) and medium (page 0 starts after it).
TEST_F(PoolSafetyDeathTest, StrayFreeIntoASegmentHeader) {
  char* s = Alloc(64);
  char* m = Alloc(20000);
  char* hs = reinterpret_cast<char*>(hak_segment_of(s));
  char* hm = reinterpret_cast<char*>(hak_segment_of(m));
  EXPECT_DEATH(hak_free(hs + 128), Invalid(hs + 128));
  EXPECT_DEATH(hak_free(hs + 0x8000), Invalid(hs + 0x8000));
  EXPECT_DEATH(hak_free(hm + 64), Invalid(hm + 64));
  EXPECT_DEATH(std::thread([hm] { hak_free(hm + 4096); }).join(), Invalid(hm + 4096));
  EXPECT_TRUE(hak_heap_is_valid());
  hak_free(s);
  hak_free(m);
}

// The fast free masks a pointer's slot to the map instead of testing its
// range: a pointer above 2^48 whose low bits name a live block of this
// thread (so it reads this thread's tag and the block's real page) must
// still be a foreign pointer, and the block must stay live.
TEST_F(PoolSafetyDeathTest, PointersAboveTheMapAliasNoBlock) {
  for (size_t n : {16, 64, 1000, 20000, 200000}) {
    char* p = Alloc(n);
    for (int bit : {48, 52, 63}) {
      char* alias = reinterpret_cast<char*>(reinterpret_cast<uintptr_t>(p) | (uintptr_t)1 << bit);
      EXPECT_DEATH(hak_free(alias), "free\\(\\): invalid pointer " + Hex(alias)) << n << " bit " << bit;
    }
    std::memset(p, 0x5a, n);  // still this program's
    hak_free(p);
  }
  EXPECT_TRUE(hak_heap_is_valid());
}

// A write after free overwrites a's link: the pop that would follow it
// stops first, and the walker sees it.
TEST_F(PoolSafetyDeathTest, CorruptedLinkIsCaughtBeforeItIsFollowed) {
  char* a = Alloc(32);
  char* b = Alloc(32);
  hak_free(b);
  hak_free(a);  // a is the head; its link names b
  uint64_t saved;
  memcpy(&saved, a, 8);
  uint64_t evil = (uint64_t)(uintptr_t)(b + 32 * 5);  // a pointer an attacker would like
  memcpy(a, &evil, 8);
  EXPECT_FALSE(hak_heap_is_valid());
  EXPECT_DEATH(
      {
        void* x = Alloc(32);  // a: its (corrupt) link becomes the head
        void* y = Alloc(32);  // the head is checked before it is used
        std::fprintf(stderr, "served %p %p\n", x, y);
      },
      "corrupted free list at " + Hex(a));
  memcpy(a, &saved, 8);
  EXPECT_TRUE(hak_heap_is_valid());
  hak_free(Alloc(32));
}

// Every one of many random overwrites is caught (the encoding turns them
// into indices far above any page's bound).
TEST_F(PoolSafetyTest, RandomOverwritesNeverDecodeToABlock) {
  char* a = Alloc(16);
  char* keep = Alloc(16);
  hak_free(a);
  hak_segment_t* seg = hak_segment_of(a);
  hak_page_t* pg = hak_page_of(seg, a);
  uint64_t x = 12345;
  for (int i = 0; i < 100000; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    EXPECT_GE(hak_page_link(pg, x), pg->carved) << x;
  }
  hak_free(keep);
}

TEST_F(PoolSafetyDeathTest, CorruptedRemoteLinkIsCaughtAtTheDrain) {
  char* a = Alloc(64);
  char* b = Alloc(64);
  EXPECT_DEATH(
      {
        std::thread([&] {
          hak_free(a);
          hak_free(b);  // b's remote link names a
        }).join();
        uint64_t evil = 0x4141414141414141ull;
        memcpy(b, &evil, 8);  // a write after free
        hak_trim();
      },
      "corrupted free list at " + Hex(b));
  hak_free(a);
  hak_free(b);
}

// A program may store any value, the key's too, in a live block.
TEST_F(PoolSafetyTest, TheKeyValueInALiveBlockIsNotADoubleFree) {
  for (size_t n : {(size_t)16, (size_t)64, (size_t)5000, (size_t)100000}) {
    std::vector<char*> v;
    for (int i = 0; i < 50; i++) {
      char* p = Alloc(n);
      memcpy(p + 8, &hak_pool_key, 8);
      v.push_back(p);
    }
    for (char* p : v) hak_free(p);
    EXPECT_TRUE(hak_heap_is_valid()) << n;
    // Freed once each: the next 50 allocations are those blocks, once each.
    std::vector<char*> w;
    for (int i = 0; i < 50; i++) w.push_back(Alloc(n));
    std::sort(w.begin(), w.end());
    EXPECT_EQ(std::unique(w.begin(), w.end()), w.end()) << n;
    for (char* p : w) hak_free(p);
  }
}

// The same from other threads: the blocks wait as suspects and the owner
// frees them when it finds them live.
TEST_F(PoolSafetyTest, TheKeyValueInABlockFreedByAnotherThread) {
  std::vector<char*> v;
  for (int i = 0; i < 16; i++) {
    char* p = Alloc(64);
    memcpy(p + 8, &hak_pool_key, 8);
    v.push_back(p);
  }
  for (int i = 0; i < 16; i += 4) {
    std::thread([&v, i] {
      for (int k = i; k < i + 4; k++) hak_free(v[k]);
    }).join();
    hak_trim();  // the owner settles the suspects
  }
  EXPECT_TRUE(hak_heap_is_valid());
  std::vector<char*> w;
  for (int i = 0; i < 200; i++) w.push_back(Alloc(64));
  std::sort(w.begin(), w.end());
  EXPECT_EQ(std::unique(w.begin(), w.end()), w.end());
  for (char* p : w) hak_free(p);
}

// Threads free each other's blocks at random, in every order: no abort, no
// block handed out twice while live, every heap valid.
TEST_F(PoolSafetyTest, ThreadsFreeingEachOthersBlocks) {
  constexpr int kThreads = 4, kRounds = 30000;
  std::vector<std::atomic<char*>> slots(256);
  for (auto& s : slots) s = nullptr;
  std::atomic<int> bad{0}, invalid{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; t++)
    ts.emplace_back([&, t] {
      uint64_t x = 0x9e3779b97f4a7c15ull * (t + 1);
      for (int i = 0; i < kRounds; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t n = 16 + (x >> 40) % 3000;
        char* p = Alloc(n);
        memset(p, t + 1, 16);
        char* old = slots[x % slots.size()].exchange(p);
        if (old) {
          if (old[0] < 1 || old[0] > kThreads || memcmp(old, old + 1, 15) != 0) bad++;
          hak_free(old);
        }
      }
      if (!hak_heap_is_valid()) invalid++;
    });
  for (auto& th : ts) th.join();
  for (auto& s : slots) hak_free(s.exchange(nullptr));
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(invalid.load(), 0);
  hak_trim();
  EXPECT_TRUE(hak_heap_is_valid());
}

// fork() while another thread trims: the trim holds the abandoned heaps off
// the list; the child must still be able to adopt every one of them (and
// the heap of the trimming thread).
TEST_F(PoolSafetyTest, ForkDuringATrimKeepsTheAbandonedHeaps) {
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
  GTEST_SKIP() << "ThreadSanitizer does not support threads in the child of a multi-threaded fork";
#endif
#endif
  constexpr int kAbandoned = 4;
  std::atomic<bool> stop{false}, trimmer_has_heap{false};
  std::thread trimmer([&] {
    hak_free(Alloc(64));
    trimmer_has_heap = true;
    while (!stop) {
      hak_trim();
      std::this_thread::yield();
    }
  });
  while (!trimmer_has_heap) std::this_thread::yield();
  {
    std::vector<std::thread> ts;
    std::atomic<int> ready{0};
    for (int i = 0; i < kAbandoned; i++)
      ts.emplace_back([&] {
        hak_free(Alloc(100));
        ready++;
        while (ready < kAbandoned) std::this_thread::yield();  // all alive at once: 4 heaps
      });
    for (auto& t : ts) t.join();
  }
  int ok = 0, forks = 60;
  for (int f = 0; f < forks; f++) {
    pid_t pid = fork();
    if (pid == 0) {
      alarm(10);
      uint64_t created = hak_stat_read(HAK_STAT_heaps_created);
      std::atomic<int> alive{0}, valid{0};
      std::vector<std::thread> ts;
      // One after the other (a slow path may hold an abandoned heap for a
      // while to tidy it), all alive at the end: the abandoned heaps and the
      // trimmer's.
      for (int i = 0; i < kAbandoned + 1; i++)
        ts.emplace_back([&, i] {
          while (alive < i) std::this_thread::yield();
          hak_free(Alloc(100));
          valid += hak_heap_is_valid();
          alive++;
          while (alive < kAbandoned + 1) std::this_thread::yield();
        });
      for (auto& t : ts) t.join();
      if (hak_stat_read(HAK_STAT_heaps_created) != created) _exit(3);  // a heap was lost
      _exit(valid == kAbandoned + 1 ? 0 : 4);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    ok += WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  stop = true;
  trimmer.join();
  EXPECT_EQ(ok, forks);
}

}  // namespace
