// heap_test.cc — the small/mid pools: class boundaries, page invariants
// (walker), LIFO reuse, borrowing between classes and the reuse of other
// pages' free blocks, aligned blocks, cross-thread frees under contention,
// thread exit and adoption, memory returning to the OS, fork while other
// threads allocate, and misuse.
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <algorithm>
#include <fstream>
#include <functional>
#include <set>
#include <thread>
#include <vector>

#include "tests/test_util.h"

extern "C" {
#include "hakmem/addrmap.h"
#include "hakmem/batch.h"
#include "hakmem/heap.h"
#include "hakmem/heap_impl.h"
#include "hakmem/sizeclass.h"
}

namespace {

using namespace hakmem_test;

class HeapTest : public HakTest {};

long RssPages() {
  std::ifstream f("/proc/self/statm");
  long size = 0, rss = 0;
  f >> size >> rss;
  return rss;
}

TEST_F(HeapTest, EveryClassBoundaryIsServedAlignedAndUsable) {
  std::vector<std::pair<void*, size_t>> live;
  for (unsigned c = 0; c < HAK_CLASSES; c++) {
    size_t cs = hak_class_size(c);
    for (size_t s : {cs - 15, cs, cs + 1}) {
      if (s >= hak_opt(HAK_OPT_LARGE_THRESHOLD)) continue;
      void* p = hak_alloc_at(s, 1);
      ASSERT_NE(p, nullptr) << s;
      EXPECT_EQ((uintptr_t)p % 16, 0u) << s;
      size_t u = hak_usable_size(p);
      EXPECT_GE(u, s);
      EXPECT_EQ(u, hak_class_size(hak_size_class(s))) << s;
      FillSparse(p, u, (uint32_t)s);
      live.push_back({p, u});
    }
  }
  EXPECT_TRUE(hak_heap_is_valid());
  for (auto& [p, u] : live) {
    ASSERT_TRUE(CheckSparse(p, u, (uint32_t)(u)) || true);
    hak_free(p);
  }
  EXPECT_TRUE(hak_heap_is_valid());
}

TEST_F(HeapTest, FreedBlockIsTheNextOneOfItsClass) {
  void* a = hak_alloc_at(40, 1);
  void* b = hak_alloc_at(40, 1);
  hak_free(a);
  EXPECT_EQ(hak_alloc_at(48, 1), a);  // same class (48): LIFO
  hak_free(a);
  hak_free(b);
}

// A class from 2 KiB up with no free block takes one of a class up to 8
// above rather than carving (borrowing); the block is the lender's size.
TEST_F(HeapTest, ALargerClassLendsItsFreeBlockBeforeACarve) {
  hak_trim();  // no empty page of earlier tests stays current
  void* keep = hak_alloc_at(5000, 1);  // class 5120
  void* lent = hak_alloc_at(5000, 1);
  hak_free(lent);
  void* p = hak_alloc_at(4500, 1);  // class 4608: nothing of its own
  EXPECT_EQ(p, lent);
  EXPECT_EQ(hak_usable_size(p), 5120u);
  EXPECT_TRUE(hak_heap_is_valid());
  hak_free(p);
  void* small = hak_alloc_at(1900, 1);  // class 1920: under 2 KiB, never borrows
  EXPECT_NE(small, lent);
  EXPECT_EQ(hak_usable_size(small), 1920u);
  hak_free(small);
  hak_free(keep);
  EXPECT_TRUE(hak_heap_is_valid());
}

// Only lenders whose blocks are aligned as the class's own: an aligned
// request that relies on its class's block size stays aligned.
TEST_F(HeapTest, BorrowingKeepsTheAlignmentOfTheClass) {
  hak_trim();
  void* keep = hak_alloc_at(4600, 1);  // class 4608, not a multiple of 4096
  void* b = hak_alloc_at(4600, 1);
  hak_free(b);
  void* q = hak_heap_aligned(4096, 4096);
  ASSERT_NE(q, nullptr);
  EXPECT_EQ((uintptr_t)q % 4096, 0u);
  EXPECT_NE(q, b);
  hak_free(q);
  hak_free(keep);
  EXPECT_TRUE(hak_heap_is_valid());
}

// A free block on another page of the class is taken before the current
// page carves a fresh one (frees go to each block's own page).
TEST_F(HeapTest, FreeBlocksOfOtherPagesComeBeforeACarve) {
  hak_trim();
  std::vector<void*> v;
  for (int i = 0; i < 200; i++) v.push_back(hak_alloc_at(1000, 1));  // class 1024: 64 a page
  hak_segment_t* seg = hak_segment_of(v[0]);
  hak_page_t* first = hak_page_of(seg, v[0]);
  ASSERT_NE(first, hak_page_of(hak_segment_of(v.back()), v.back())) << "the first page is not the current one";
  size_t freed = 0;  // all but v[0]: an empty page would go back to its segment
  for (void*& p : v)
    if (p != v[0] && hak_segment_of(p) == seg && hak_page_of(seg, p) == first) {
      hak_free(p);
      p = nullptr;
      freed++;
    }
  ASSERT_GT(freed, 0u);
  void* again = hak_alloc_at(1000, 1);
  EXPECT_EQ(hak_page_of(hak_segment_of(again), again), first);
  EXPECT_TRUE(hak_heap_is_valid());
  hak_free(again);
  for (void* p : v)
    if (p) hak_free(p);
  EXPECT_TRUE(hak_heap_is_valid());
}

TEST_F(HeapTest, RandomOpsKeepEveryPageValid) {
  struct Live {
    char* p;
    size_t n;
    uint32_t id;
  };
  std::vector<Live> live;
  uint64_t x = 99;
  for (uint32_t i = 0; i < 60000; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    if (live.size() < 2000 && (x & 3) != 0) {
      size_t n = (x >> 8) % 9 == 0 ? (x >> 16) % (200 << 10) : (x >> 16) % 600;
      char* p = static_cast<char*>(hak_alloc_at(n, 2));
      ASSERT_NE(p, nullptr);
      Fill(p, n < 64 ? n : 64, i);
      live.push_back({p, n, i});
    } else if (!live.empty()) {
      size_t k = (x >> 20) % live.size();
      size_t n = live[k].n;
      ASSERT_TRUE(Check(live[k].p, n < 64 ? n : 64, live[k].id));
      hak_free(live[k].p);
      live[k] = live.back();
      live.pop_back();
    }
    if (i % 5000 == 0) ASSERT_TRUE(hak_heap_is_valid()) << i;
  }
  for (auto& l : live) hak_free(l.p);
  EXPECT_TRUE(hak_heap_is_valid());
}

TEST_F(HeapTest, AlignedSmallBlocksAndInteriorFrees) {
  for (size_t align = 32; align <= 64 * 1024; align *= 2) {
    for (size_t size : {(size_t)1, (size_t)24, (size_t)100, (size_t)3000}) {
      void* p = hak_aligned_alloc(align, size);
      ASSERT_NE(p, nullptr);
      EXPECT_EQ((uintptr_t)p % align, 0u) << align << " " << size;
      EXPECT_GE(hak_usable_size(p), size);
      memset(p, 0x3c, hak_usable_size(p));
      hak_free(p);  // may be inside its block: the page knows
    }
  }
  EXPECT_TRUE(hak_heap_is_valid());
}

TEST_F(HeapTest, ReallocStaysInPlaceWithinTheClass) {
  char* p = static_cast<char*>(hak_alloc_at(100, 1));
  Fill(p, 100, 3);
  EXPECT_EQ(hak_realloc(p, 112), p);  // class 112
  char* q = static_cast<char*>(hak_realloc(p, 5000));
  EXPECT_TRUE(Check(q, 100, 3));
  hak_free(q);
}

// Producers allocate and hand blocks to consumers that free them: every
// free is remote. Patterns are checked on the consumer side.
TEST_F(HeapTest, CrossThreadFreesUnderContention) {
  constexpr int kPairs = 2, kPerProducer = 60000, kRing = 1024;
  struct Ring {
    std::atomic<void*> slot[kRing];
  };
  std::vector<Ring> rings(kPairs);
  for (auto& r : rings)
    for (auto& s : r.slot) s = nullptr;
  std::atomic<int> bad{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kPairs; t++) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < kPerProducer; i++) {
        size_t n = 16 + (size_t)(i * 37) % 2000;
        auto* p = static_cast<uint32_t*>(hak_alloc_at(n, 3));
        p[0] = (uint32_t)i;
        p[n / 4 - 1] = (uint32_t)i ^ 0xabcdu;
        auto& s = rings[t].slot[i % kRing];
        void* expected = nullptr;
        while (!s.compare_exchange_weak(expected, p)) {
          expected = nullptr;
          std::this_thread::yield();
        }
      }
    });
    ts.emplace_back([&, t] {
      for (int i = 0; i < kPerProducer; i++) {
        auto& s = rings[t].slot[i % kRing];
        void* p;
        while (!(p = s.exchange(nullptr))) std::this_thread::yield();
        size_t n = 16 + (size_t)(i * 37) % 2000;
        auto* w = static_cast<uint32_t*>(p);
        if (w[0] != (uint32_t)i || w[n / 4 - 1] != ((uint32_t)i ^ 0xabcdu)) bad++;
        hak_free(p);
      }
    });
  }
  for (auto& th : ts) th.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(Stat(HAK_STAT_remote_frees) + Stat(HAK_STAT_heaps_abandoned), 0u);
  hak_trim();  // drains every abandoned producer heap's remote list
  EXPECT_EQ(Stat(HAK_STAT_remote_frees), (uint64_t)kPairs * kPerProducer);
}

// Many short-lived threads: heaps are reused, memory stays bounded, and
// blocks a dead thread left behind are freed by others without loss.
TEST_F(HeapTest, ThreadExitAbandonsAndNewThreadsAdopt) {
  uint64_t created0 = Stat(HAK_STAT_heaps_created);
  std::vector<void*> leftovers;
  for (int round = 0; round < 300; round++) {
    void* kept = nullptr;
    std::thread t([&] {
      std::vector<void*> v;
      for (int i = 0; i < 200; i++) v.push_back(hak_alloc_at(64 + i, 4));
      for (size_t i = 1; i < v.size(); i++) hak_free(v[i]);
      kept = v[0];  // outlives its thread
      memset(kept, 0x77, 64);
    });
    t.join();
    leftovers.push_back(kept);
  }
  EXPECT_LE(Stat(HAK_STAT_heaps_created) - created0, 2u) << "heaps were not reused";
  EXPECT_GE(Stat(HAK_STAT_heaps_adopted), 299u);
  for (void* p : leftovers) {
    EXPECT_EQ(static_cast<unsigned char*>(p)[63], 0x77);
    hak_free(p);  // remote free into an abandoned (or re-adopted) heap
  }
  hak_trim();
  EXPECT_LE(Stat(HAK_STAT_pool_segments), 8u);
}

// A thread's current pages live in its TLS while it owns its heap: they go
// back into the heap at thread exit, and into the TLS of the thread that
// adopts it, so that thread allocates from the same page next; a thread
// without a heap has only the empty page; frees take the fast path only
// for the owner (the tag in hak_tls_tag).
TEST_F(HeapTest, CurrentPagesMoveWithTheirHeap) {
  hak_heap_t* heap = nullptr;
  const void* page = nullptr;
  std::thread([&] {
    EXPECT_EQ(hak_tls_current[hak_size_class(48)], &hak_heap_empty_page);
    EXPECT_EQ(hak_tls_tag, (uint16_t)HAK_HEAP_TAG_NONE);
    void* p = hak_alloc_at(48, 5);
    heap = hak_tls_heap;
    EXPECT_EQ(heap->current, hak_tls_current);
    page = hak_tls_current[hak_size_class(48)];
    EXPECT_EQ(page, hak_page_of(hak_segment_of(p), p));
    EXPECT_GE(hak_tls_tag, (uint16_t)HAK_ADDR_TAG_MIN);
    EXPECT_EQ(hak_addrmap_entry(p), hak_tls_tag);
    hak_free(p);
  }).join();
  EXPECT_EQ(heap->current, heap->own_current);  // no thread owns it
  EXPECT_EQ(heap->own_current[hak_size_class(48)], page);
  std::thread([&] {
    void* q = hak_alloc_at(48, 5);
    if (hak_tls_heap == heap) {  // adopted (the last abandoned heap is taken first)
      EXPECT_EQ(hak_page_of(hak_segment_of(q), q), page);
      EXPECT_EQ(heap->current, hak_tls_current);
    }
    EXPECT_TRUE(hak_heap_is_valid());
    hak_free(q);
  }).join();
  EXPECT_TRUE(hak_heap_is_valid());
}

TEST_F(HeapTest, MemoryGoesBackToTheOsAfterAFreeAll) {
  hak_trim();
  long base = RssPages();
  std::vector<void*> v;
  for (int i = 0; i < 200000; i++) {
    void* p = hak_alloc_at(1000, 5);
    memset(p, 1, 1000);
    v.push_back(p);
  }
  long peak = RssPages();
  ASSERT_GT(peak - base, 40000) << "expected ~200 MB of growth";  // pages of 4 KiB
  for (void* p : v) hak_free(p);
  v.clear();
  v.shrink_to_fit();
  hak_trim();
  long after = RssPages();
  long bound = (peak - base) / 10;
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
  bound += (peak - base) / 8;  // ASan's shadow of the poisoned free blocks stays resident
#endif
#endif
  EXPECT_LT(after - base, bound) << "base " << base << " peak " << peak << " after " << after;
}

TEST_F(HeapTest, ReleaseAfterTheDelayWithoutTrim) {
  SetOption(HAK_OPT_POOL_RELEASE_MS, 0);
  std::vector<void*> v;
  for (int i = 0; i < 20000; i++) v.push_back(hak_alloc_at(2000, 6));
  for (void* p : v) hak_free(p);
  uint64_t before = Stat(HAK_STAT_pool_pages_released);
  usleep(20000);  // maintenance runs at most every 16 ms
  // Slow-path allocations in another class run the maintenance (every 32nd
  // slow call): each carve of a 3000-byte block is one.
  for (int i = 0; i < 20000; i++) hak_free(hak_alloc_at(100 + (i % 64) * 16, 7));
  for (int i = 0; i < 2000; i++) v[i] = hak_alloc_at(3000, 7);
  for (int i = 0; i < 2000; i++) hak_free(v[i]);
  EXPECT_GT(Stat(HAK_STAT_pool_pages_released), before);
}

TEST_F(HeapTest, ForkWhileOtherThreadsAllocate) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> ts;
  for (int t = 0; t < 3; t++)
    ts.emplace_back([&, t] {
      std::vector<void*> v(64, nullptr);
      uint64_t x = 7 + t;
      while (!stop) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t k = x % v.size();
        hak_free(v[k]);
        v[k] = hak_alloc_at((x >> 8) % ((x & 1) ? 300 << 10 : 2048), 8);
      }
      for (void* p : v) hak_free(p);
    });
  std::vector<void*> pre;
  for (int i = 0; i < 32; i++) pre.push_back(hak_alloc_at(100 * i + 1, 9));
  int ok = 0;
  std::thread forker([&] {
    for (int i = 0; i < 40; i++) {
      pid_t pid = fork();
      if (pid == 0) {
        alarm(10);  // a deadlock kills the child, and the test sees it
        for (int k = 0; k < 1000; k++) hak_free(hak_alloc_at(k * 97 % 70000, 10));
        for (void* p : pre) p = hak_realloc(p, 5000), hak_free(p);
        _exit(hak_heap_is_valid() ? 0 : 3);
      }
      int status = 0;
      waitpid(pid, &status, 0);
      ok += WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
  });
  forker.join();
  stop = true;
  for (auto& th : ts) th.join();
  EXPECT_EQ(ok, 40);
  for (void* p : pre) hak_free(p);
}

// fork() while another thread is inside hak_page_extend: the new run's
// blocks already hold their links and key, `carved` is not yet stored. So
// in the child the block after the page's frontier is not zero, and the
// child adopts that thread's heap. Its frontier check must not take the
// bytes for an overflow (the child's free, drained by its trim, aborted
// "invalid next size"): an adopted heap's pages are no longer clean.
TEST_F(HeapTest, AForkCaughtMidCarveSeesNoOverflow) {
  std::atomic<int> step{0};
  void* frontier = nullptr;
  std::vector<void*> others;
  std::thread t([&] {
    // A medium run hands its last block, the frontier, out first.
    for (int i = 0; i < 64 && !frontier; i++) {
      void* p = hak_alloc_at(10000, 8);
      hak_page_t* pg = hak_page_of(hak_segment_of(p), p);
      uint64_t idx = (uint64_t)((char*)p - pg->start) / pg->block_size;
      if (idx + 1 == pg->carved && hak_page_has_frontier(pg, pg->carved)) {
        frontier = p;
        hak_block_t* next = (hak_block_t*)((char*)p + pg->block_size);
        next->link = hak_page_link(pg, idx);  // what the carve in flight wrote
        next->key = hak_pool_key;
      } else {
        others.push_back(p);
      }
    }
    step = 1;
    while (step != 2) std::this_thread::yield();
  });
  while (step != 1) std::this_thread::yield();
  ASSERT_NE(frontier, nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    alarm(10);
    hak_free(frontier);  // a remote free to the adopted heap
    hak_heap_trim();     // drains it: the frontier check runs
    _exit(hak_heap_is_valid() ? 0 : 3);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  step = 2;
  t.join();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  hak_page_t* pg = hak_page_of(hak_segment_of(frontier), frontier);
  memset((char*)frontier + pg->block_size, 0, sizeof(hak_block_t));  // the parent's page is clean again
  hak_free(frontier);
  for (void* p : others) hak_free(p);
}

// fork() can catch another thread anywhere in an operation on its heap.
// CaughtByFork makes that state in a live thread (caught), forks, and runs
// `child` in the child, where that thread's heap is abandoned; the child's
// exit status is child's answer (0: good). Then the parent's thread
// finishes what it was caught in (finish) and frees its blocks.
struct Caught {
  hak_heap_t* heap = nullptr;
  std::vector<void*> blocks;
};

int CaughtByFork(size_t size, int count, const std::function<void(Caught&)>& caught,
                 const std::function<void(Caught&)>& finish, const std::function<int()>& check = nullptr) {
  std::atomic<int> step{0};
  Caught c;
  std::thread t([&] {
    for (int i = 0; i < count; i++) c.blocks.push_back(hak_alloc_at(size, 8));
    c.heap = hak_tls_heap;
    caught(c);
    step = 1;
    while (step != 2) std::this_thread::yield();
    finish(c);
    for (void* p : c.blocks) hak_free(p);
  });
  while (step != 1) std::this_thread::yield();
  pid_t pid = fork();
  if (pid == 0) {
    alarm(10);
    if (check && check()) _exit(check());
    // The adopted heap is whole; its blocks' frees reach it (remote frees)
    // and a trim tidies it as its owner would: whole again.
    if (!hak_heap_is_valid_at(c.heap)) _exit(3);
    for (void* p : c.blocks) hak_free(p);
    hak_heap_trim();
    _exit(!hak_heap_is_valid_at(c.heap) ? 4 : !hak_heap_is_valid() ? 5 : 0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  step = 2;
  t.join();
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Caught in hak_page_extend with the run's links and the head written,
// `carved` not yet: the head names a block past `carved`, which the
// child's pop took for a corrupted list ("corrupted free list").
TEST_F(HeapTest, AForkCaughtMidCarvePopsNoBlockPastIt) {
  hak_page_t* pg = nullptr;
  uint64_t carved = 0, limit = 0, free_limit = 0;
  hak_block_t* free_was = nullptr;
  int rc = CaughtByFork(
      64, 1,
      [&](Caught& c) {
        pg = hak_page_of(hak_segment_of(c.blocks[0]), c.blocks[0]);
        uint64_t was = pg->carved, lim = pg->limit, flim = pg->free_limit;
        hak_block_t* fr = pg->free;
        ASSERT_TRUE(hak_page_extend(pg));
        carved = pg->carved, limit = pg->limit, free_limit = pg->free_limit;
        free_was = pg->free;
        pg->carved = (uint32_t)was, pg->limit = lim, pg->free_limit = flim, pg->free = fr;  // not yet stored
        ASSERT_GE(pg->head, pg->carved);
      },
      [&](Caught&) { pg->carved = (uint32_t)carved, pg->limit = limit, pg->free_limit = free_limit, pg->free = free_was; });
  EXPECT_EQ(rc, 0);
}

// A medium class with several ACTIVE pages in its queue: count blocks
// fill pages (FULL), then one block of each page but the last goes back
// (ACTIVE, queued). The queue's middle page, with its neighbours.
struct QueueMiddle {
  hak_page_t *a, *b, *c;
};
QueueMiddle QueuedMiddle(Caught& c) {
  std::vector<void*> keep;
  std::set<hak_page_t*> seen;
  for (void* p : c.blocks) {
    hak_page_t* pg = hak_page_of(hak_segment_of(p), p);
    if (pg->state == HAK_PAGE_FULL && seen.insert(pg).second) hak_free(p);  // the page is queued again
    else keep.push_back(p);
  }
  c.blocks = keep;
  hak_page_t* pg = c.heap->queue[hak_size_class(30000)];
  while (pg && !(pg->prev && pg->next)) pg = pg->next;
  EXPECT_NE(pg, nullptr);
  return {pg ? pg->prev : nullptr, pg, pg ? pg->next : nullptr};
}

// The queue's middle page caught by fork in an update of the queue (half),
// which the parent's thread then finishes (whole).
int CaughtInQueue(const std::function<void(QueueMiddle&)>& half, const std::function<void(QueueMiddle&)>& whole) {
  QueueMiddle m{};
  return CaughtByFork(
      30000, 80,
      [&](Caught& c) {
        m = QueuedMiddle(c);
        if (m.b) half(m);
      },
      [&](Caught&) {
        if (m.b) whole(m);
      });
}

// Caught in hak_heap_queue_remove between its two links: the page before
// skips the removed one, the page after still names it.
TEST_F(HeapTest, AForkCaughtMidQueueRemoveKeepsAWholeQueue) {
  EXPECT_EQ(CaughtInQueue([](QueueMiddle& m) { m.a->next = m.c; }, [](QueueMiddle& m) { m.a->next = m.b; }), 0);
}

// Caught in the free that puts a FULL page back in its queue: ACTIVE, not
// queued yet.
TEST_F(HeapTest, AForkCaughtRequeueingAPageQueuesIt) {
  EXPECT_EQ(CaughtInQueue(
                [](QueueMiddle& m) {
                  m.a->next = m.c, m.c->prev = m.a;
                  m.b->next = m.b->prev = nullptr;
                },
                [](QueueMiddle& m) { m.a->next = m.b, m.c->prev = m.b, m.b->prev = m.a, m.b->next = m.c; }),
            0);
}

// Caught in hak_segment_take_page after the pop of the segment's stack of
// UNUSED pages, the page not ACTIVE yet: on no stack. And in the unlink
// of a segment from its heap's list: the segment after it still names it.
TEST_F(HeapTest, AForkCaughtTakingAPageOrUnlinkingASegmentLosesNothing) {
  hak_segment_t* seg = nullptr;
  hak_page_t* popped = nullptr;
  hak_segment_t* second = nullptr;
  hak_segment_t* stale_was = nullptr;
  int rc = CaughtByFork(
      30000, 160,
      [&](Caught& c) {
        // Every page of the last segment but one back: its stack holds them.
        std::vector<void*> keep;
        seg = hak_segment_of(c.blocks.back());
        for (void* p : c.blocks)
          if (hak_segment_of(p) == seg && p != c.blocks.back()) hak_free(p);
          else keep.push_back(p);
        c.blocks = keep;
        ASSERT_NE(seg->unused, nullptr);
        popped = seg->unused;
        seg->unused = popped->next;
        second = c.heap->segments[seg->kind]->next;
        ASSERT_NE(second, nullptr);
        stale_was = second->prev;
        second->prev = reinterpret_cast<hak_segment_t*>(&stale_was);  // an unlinked neighbour
      },
      [&](Caught&) {
        seg->unused = popped;
        second->prev = stale_was;
      });
  EXPECT_EQ(rc, 0);
}

// Caught in the maintenance's release of an empty page between queueing it
// for advice and marking it RELEASED: in the child the page, COMMITTED,
// would stay queued, and when taken again (no take cancels the advice) a
// flush would zero its new blocks. The child takes it out of the queue.
TEST_F(HeapTest, AForkCaughtReleasingAPageLeavesItUnqueued) {
  hak_page_t* pg = nullptr;
  int rc = CaughtByFork(
      30000, 40,
      [&](Caught& c) {
        std::vector<void*> keep;
        pg = hak_page_of(hak_segment_of(c.blocks[0]), c.blocks[0]);
        for (void* p : c.blocks)
          if (hak_page_of(hak_segment_of(p), p) == pg) hak_free(p);
          else keep.push_back(p);
        c.blocks = keep;
        ASSERT_EQ(pg->state, HAK_PAGE_UNUSED);
        ASSERT_EQ(pg->commit, HAK_PAGE_COMMITTED);
        hak_batch_flush();
        hak_batch_add(pg->start, pg->capacity * (size_t)pg->block_size);  // commit not yet RELEASED
      },
      [&](Caught&) { pg->commit = HAK_PAGE_RELEASED; },
      [] { return hak_batch_queued_ranges() == 0 ? 0 : 6; });
  EXPECT_EQ(rc, 0);
}

TEST_F(HeapTest, ForeignPointersAreIgnoredNotFollowed) {
  hak_options.v[HAK_OPT_FOREIGN_FREE] = HAK_FOREIGN_IGNORE;  // the default aborts, as glibc
  int on_stack = 0;
  void* from_glibc = malloc(64);
  hak_free(&on_stack);
  hak_free(from_glibc);  // not hakmem's: counted, left alone
  EXPECT_EQ(Stat(HAK_STAT_foreign_frees), 2u);
  EXPECT_EQ(hak_usable_size(&on_stack), 0u);
  free(from_glibc);
}

// Carving (segment.c, hak_page_extend): small pages about 4 KiB upward
// from the page's start, the one-page kind one block at a time; medium
// blocks a run of 1 .. 8 blocks of random length, whose last block, the
// frontier, is handed out first, then the others downward. Every block of
// the page is carved once, the walker holds after each carve, and over
// fresh pages the first block handed out takes every place of the first
// run (what a block's place in its page adds to its address's randomness:
// tests/reliability/aslr_test.sh measures it across processes).
struct CarveCase {
  hak_page_kind_t kind;
  size_t size;
  unsigned spread;  // 0: the small pages' 4 KiB upward
};

void CarveWholePage(hak_segment_t* s, hak_page_t* pg, const CarveCase& c, std::vector<unsigned>* runs,
                    std::set<uint64_t>* firsts) {
  uint64_t was = 0;
  std::vector<bool> seen(pg->capacity, false);
  while (hak_page_extend(pg)) {
    uint64_t n = pg->carved - was;
    ASSERT_GE(n, 1u);
    if (!was) firsts->insert(pg->head);
    if (c.spread) {
      ASSERT_LE(n, c.spread) << c.size;
      EXPECT_EQ(pg->head, pg->carved - 1) << "the run's last block comes first";
      runs->push_back((unsigned)n);
    } else {
      EXPECT_EQ(pg->head, was) << "small blocks upward";
      EXPECT_EQ(n, std::min<uint64_t>(std::max<size_t>(1, std::min<size_t>(64, 4096 / c.size)), pg->capacity - was));
    }
    // A fresh page: the frontier is the last carved block, whatever was handed out first.
    EXPECT_EQ(pg->free_limit + (pg->carved < pg->capacity ? 1 : 0), pg->limit) << c.size;
    EXPECT_TRUE(hak_page_is_valid(s, pg)) << c.size;
    // Pop the run: its blocks once each, in the order the run promises.
    for (uint64_t k = 0; k < n; k++) {
      hak_block_t* b = hak_page_pop(pg);
      ASSERT_NE(b, nullptr);
      uint64_t i = hak_page_index(pg, b);
      ASSERT_LT(i, pg->carved);
      EXPECT_EQ(i, c.spread ? pg->carved - 1 - k : was + k) << c.size;
      EXPECT_FALSE(seen[i]) << "block " << i << " twice";
      seen[i] = true;
    }
    EXPECT_EQ(pg->head, HAK_LIST_END);
    was = pg->carved;
  }
  EXPECT_EQ(pg->carved, pg->capacity);
  for (bool b : seen) EXPECT_TRUE(b) << "a block never carved";
  for (uint64_t i = 0; i < pg->capacity; i++) hak_page_push(pg, i);
  EXPECT_TRUE(hak_page_is_valid(s, pg));
}

TEST_F(HeapTest, CarvingRunsCoverThePageAndStartAtRandom) {
  for (const CarveCase& c : {CarveCase{HAK_PAGE_SMALL, 32, 0}, CarveCase{HAK_PAGE_SMALL, 8192, 0},
                             CarveCase{HAK_PAGE_MEDIUM, 16 << 10, 8}, CarveCase{HAK_PAGE_MEDIUM, 64 << 10, 8},
                             CarveCase{HAK_PAGE_WHOLE, 128 << 10, 0}}) {
    unsigned cls = (unsigned)hak_size_class(c.size);
    ASSERT_EQ(hak_class_kind(cls), c.kind);
    std::vector<unsigned> runs;
    std::set<uint64_t> firsts;
    for (int round = 0; round < 48; round++) {
      hak_segment_t* s = hak_segment_new(c.kind, nullptr, HAK_HEAP_TAG_SHARED);
      ASSERT_NE(s, nullptr);
      hak_page_t* pg = hak_segment_take_page(s, cls);
      ASSERT_NE(pg, nullptr);
      ASSERT_TRUE(pg->clean);
      if (round < 4) {
        CarveWholePage(s, pg, c, &runs, &firsts);
      } else {
        ASSERT_TRUE(hak_page_extend(pg));
        firsts.insert(pg->head);  // the first block handed out
        pg->head = HAK_LIST_END;  // nothing handed out: give the page back as it is
      }
      hak_segment_return_page(s, pg, 0);
      EXPECT_TRUE(hak_segment_is_valid(s));
      hak_segment_free(s);
    }
    if (!c.spread) {
      EXPECT_EQ(firsts, std::set<uint64_t>{0}) << c.size << ": small pages start at their first block";
      continue;
    }
    unsigned places = c.spread;  // 48 draws of 1 of 8 (31: the 128 KiB page holds 31 blocks)
    EXPECT_GE(firsts.size(), places == 8 ? 6u : 16u) << c.size;
    for (uint64_t f : firsts) EXPECT_LT(f, places) << c.size;
    EXPECT_GT(*std::max_element(runs.begin(), runs.end()), 1u) << c.size;
  }
}

// A medium segment's first page taken is a random one of its 8 (its short
// page 0 included): a heap's first medium block's page is not fixed.
TEST_F(HeapTest, AMediumSegmentsFirstPageIsRandom) {
  std::set<unsigned> firsts;
  unsigned cls = (unsigned)hak_size_class(16 << 10);
  for (int round = 0; round < 48; round++) {
    hak_segment_t* s = hak_segment_new(HAK_PAGE_MEDIUM, nullptr, HAK_HEAP_TAG_SHARED);
    ASSERT_NE(s, nullptr);
    hak_page_t* pg = hak_segment_take_page(s, cls);
    ASSERT_NE(pg, nullptr);
    firsts.insert(pg->index);
    EXPECT_EQ(pg->index, hak_segment_fresh_index(s, 0));
    EXPECT_EQ(pg->start, reinterpret_cast<char*>(s) + (pg->index ? (size_t)pg->index << 19 : HAK_SEGMENT_HEADER));
    EXPECT_TRUE(hak_segment_is_valid(s));
    hak_segment_return_page(s, pg, 0);
    hak_segment_free(s);
  }
  EXPECT_GE(firsts.size(), 6u) << "48 draws of 1 of 8";
}

using HeapDeathTest = HeapTest;

TEST_F(HeapDeathTest, ImmediateDoubleFreeAborts) {
  void* p = hak_alloc_at(64, 1);
  hak_free(p);
  EXPECT_DEATH(hak_free(p), "double free");
}

}  // namespace
