// stress_test.cc — seeded threads allocating across every path (small,
// large, aligned, calloc, realloc) and freeing each other's blocks through a
// shared exchange table; every block carries a pattern tied to its id that is
// checked before free, and the caches' walkers must hold afterwards.
#include <atomic>
#include <thread>
#include <vector>

#include "tests/test_util.h"

extern "C" {
#include "hakmem/heap.h"
#include "hakmem/batch.h"
#include "hakmem/bigcache.h"
#include "hakmem/spare.h"
}

namespace {

using namespace hakmem_test;

struct Block {
  void* p;
  size_t n;
  uint32_t id;
};

constexpr int kSlots = 256;
std::atomic<Block*> g_exchange[kSlots];

size_t PickSize(uint64_t r) {
  switch (r % 8) {
    case 0: return r % 64;
    case 1: return 64 + r % 4096;
    case 2: return 200 * 1024 + r % (200 * 1024);
    case 3: return (1 << 20) + r % (3 << 20);
    case 4: return 2 << 20;
    case 5: return 8 * 1024 + r % (64 * 1024);
    case 6: return 512 * 1024;
    default: return (r % 16) << 20;
  }
}

void Release(Block* b) {
  ASSERT_TRUE(CheckSparse(b->p, b->n, b->id)) << "block " << b->id << " corrupted";
  hak_free(b->p);
  delete b;
}

void Worker(int t, int ops) {
  uint64_t x = 0x9E3779B97F4A7C15ull * (uint64_t)(t + 1);
  std::vector<Block*> mine;
  for (int i = 0; i < ops; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    size_t n = PickSize(x >> 8);
    uint32_t id = (uint32_t)(t * 1000000 + i);
    void* p;
    switch ((x >> 4) % 4) {
      case 0: p = hak_alloc_at(n, 0x1000 + (x % 7) * 64); break;
      case 1: {
        p = hak_calloc(1, n);
        ASSERT_TRUE(p);
        const unsigned char* c = static_cast<unsigned char*>(p);
        for (size_t k = 0; k < n; k += 4096) ASSERT_EQ(c[k], 0) << "calloc not zero";
        if (n) ASSERT_EQ(c[n - 1], 0);
        break;
      }
      case 2: p = hak_aligned_alloc((size_t)1 << (x % 22), n); break;
      default: {
        p = hak_alloc_at(n / 2 + 1, 0x2000);
        ASSERT_TRUE(p);
        FillSparse(p, n / 2 + 1, id);
        p = hak_realloc(p, n + 1);
        ASSERT_TRUE(p);
        ASSERT_TRUE(CheckSparse(p, n / 2 + 1, id));
        n += 1;
        break;
      }
    }
    ASSERT_NE(p, nullptr);
    FillSparse(p, n, id);
    Block* b = new Block{p, n, id};
    if (x & 0x100) {
      // Hand it to whoever takes this slot next; free what was there.
      Block* old = g_exchange[(x >> 12) % kSlots].exchange(b);
      if (old) Release(old);
    } else {
      mine.push_back(b);
    }
    if (mine.size() > 16) {
      size_t k = (x >> 20) % mine.size();
      Release(mine[k]);
      mine[k] = mine.back();
      mine.pop_back();
    }
  }
  for (Block* b : mine) Release(b);
}

class StressTest : public HakTest {};

TEST_F(StressTest, ThreadsAllocateAndFreeEachOthersBlocks) {
  for (hak_mode_t mode : {HAK_MODE_BALANCED, HAK_MODE_MINIMAL, HAK_MODE_FAST}) {
    UseMode(mode);
    if (mode == HAK_MODE_BALANCED) {
      SetOption(HAK_OPT_BIGCACHE_MAX_BYTES, 64 << 20);  // keep caps and evictions busy
      SetOption(HAK_OPT_SPARE_MAX_BYTES, 96 << 20);
      SetOption(HAK_OPT_SPARE_RESIDENT_BYTES, 8 << 20);
      SetOption(HAK_OPT_BATCH_BYTES, 8 << 20);
    }
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; t++) ts.emplace_back(Worker, t, 600);
    for (auto& th : ts) th.join();
    for (auto& slot : g_exchange) {
      Block* b = slot.exchange(nullptr);
      if (b) Release(b);
    }
    EXPECT_TRUE(hak_bigcache_is_valid()) << hak_mode_name(mode);
    EXPECT_TRUE(hak_spare_is_valid()) << hak_mode_name(mode);
    EXPECT_TRUE(hak_batch_is_valid()) << hak_mode_name(mode);
    EXPECT_EQ(Stat(HAK_STAT_large_bytes_live), 0u) << "every large block was freed";
    hak_trim();
    EXPECT_EQ(Stat(HAK_STAT_os_bytes_mapped), 0u) << "trim gives everything back in " << hak_mode_name(mode) << " spare=" << hak_spare_bytes() << " bc=" << hak_bigcache_bytes();
  }
}

}  // namespace

namespace {

// Short-lived threads exit while others allocate, free across threads and
// run maintenance with no release delay: abandoned heaps are tidied by
// live threads' slow paths at the same time as new threads adopt them.
TEST_F(StressTest, ThreadChurnWithAbandonedHeapTidying) {
  SetOption(HAK_OPT_POOL_RELEASE_MS, 0);
  std::atomic<bool> stop{false};
  std::atomic<void*> mailbox[64];
  for (auto& m : mailbox) m = nullptr;
  std::atomic<int> bad{0};
  auto churn = [&](uint64_t seed, int ops) {
    uint64_t x = seed;
    std::vector<std::pair<uint32_t*, uint32_t>> mine;
    for (int i = 0; i < ops; i++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      size_t n = 16 + (x >> 8) % ((x & 3) ? 512 : 100000);
      auto* p = static_cast<uint32_t*>(hak_alloc_at(n, 0x3000 + (x % 5)));
      p[0] = (uint32_t)x;
      void* old = mailbox[(x >> 20) % 64].exchange(p);
      if (old) {
        auto* o = static_cast<uint32_t*>(old);
        o[0] = 0;  // still writable: not freed under us
        hak_free(old);
      }
      if (x & 0x40) {
        // Taking p back out of the mailbox makes it ours whoever put it
        // there: between the exchange and this CAS another thread may have
        // taken p, freed it, got the same address from malloc and posted it
        // to the same slot (ABA). So the value to expect is the one it holds
        // once it is ours, not the one written above.
        if (mailbox[(x >> 20) % 64].compare_exchange_strong(old = p, nullptr)) mine.push_back({p, p[0]});
      }
      if (mine.size() > 32) {
        if (mine.front().first[0] != mine.front().second) bad++;
        hak_free(mine.front().first);
        mine.erase(mine.begin());
      }
    }
    for (auto& m : mine) {
      if (m.first[0] != m.second) bad++;
      hak_free(m.first);
    }
  };
  std::vector<std::thread> steady;
  for (int t = 0; t < 2; t++)
    steady.emplace_back([&, t] {
      uint64_t s = 11 + t;
      while (!stop) churn(s += 7919, 2000);
    });
  for (int round = 0; round < 600; round++) {
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; t++) ts.emplace_back(churn, 1000u + round * 4 + t, 300);
    for (auto& th : ts) th.join();
  }
  stop = true;
  for (auto& th : steady) th.join();
  for (auto& m : mailbox) hak_free(m.exchange(nullptr));
  EXPECT_EQ(bad.load(), 0);
  hak_trim();
  EXPECT_TRUE(hak_heap_is_valid());
  EXPECT_EQ(Stat(HAK_STAT_large_bytes_live), 0u);
}

}  // namespace
