// batch_test.cc — the batched madvise queue: thresholds, take-back, merging,
// exactly-once advice, and take during a concurrent flush. Advice is
// recorded through the OS seam and kept from the kernel except where a test
// checks real zeroing.
#include <gtest/gtest.h>

#include <sys/mman.h>

#include <atomic>
#include <thread>

#include "tests/test_util.h"

extern "C" {
#include "hakmem/batch.h"
}

namespace {

using hakmem_test::OsRecorder;

constexpr size_t kPage = 4096;

class BatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    region_ = static_cast<char*>(mmap(nullptr, kRegion, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(region_, MAP_FAILED);
    Configure(true, 1 << 20, 8);
    rec_.hooks().suppress_advice = true;
    rec_.Attach();
    hak_stats_reset();
  }
  void TearDown() override {
    hak_batch_flush();
    rec_.Detach();
    munmap(region_, kRegion);
    hak_batch_cfg_t c = {true, 16 << 20, 64};
    hak_batch_configure(&c);
  }
  void Configure(bool on, size_t bytes, unsigned ranges) {
    hak_batch_cfg_t c = {on, bytes, ranges};
    hak_batch_configure(&c);
  }
  char* R(size_t page) { return region_ + page * kPage; }
  static constexpr size_t kRegion = 1024 * kPage;
  char* region_ = nullptr;
  OsRecorder rec_;
};

TEST_F(BatchTest, QueuesWithoutAdvisingBelowThresholds) {
  hak_batch_add(R(0), kPage);
  hak_batch_add(R(10), 2 * kPage);
  EXPECT_EQ(hak_batch_queued_ranges(), 2u);
  EXPECT_EQ(hak_batch_queued_bytes(), 3 * kPage);
  EXPECT_EQ(rec_.Count(HAK_OS_ADVISE), 0u);
  EXPECT_TRUE(hak_batch_is_valid());
}

TEST_F(BatchTest, FlushesWhenRangeCountIsReached) {
  for (size_t i = 0; i < 7; i++) hak_batch_add(R(i * 2), kPage);
  EXPECT_EQ(rec_.Count(HAK_OS_ADVISE), 0u);
  hak_batch_add(R(14), kPage);  // the 8th range
  EXPECT_EQ(hak_batch_queued_ranges(), 0u);
  EXPECT_EQ(rec_.CountAdvice(HAK_ADVISE_DONTNEED), 8u);  // none adjacent: no merge
  EXPECT_EQ(hak_stat_read(HAK_STAT_batch_flushes), 1u);
  for (size_t i = 0; i < 8; i++) EXPECT_EQ(rec_.AdviceCovering(HAK_ADVISE_DONTNEED, R(i * 2)), 1u);
}

TEST_F(BatchTest, FlushesWhenBytesAreReached) {
  hak_batch_add(R(0), 128 * kPage);
  EXPECT_EQ(rec_.Count(HAK_OS_ADVISE), 0u);
  hak_batch_add(R(200), 128 * kPage);  // 1 MiB queued
  EXPECT_EQ(hak_batch_queued_bytes(), 0u);
  EXPECT_EQ(rec_.CountAdvice(HAK_ADVISE_DONTNEED), 2u);
}

TEST_F(BatchTest, AdjacentRangesAreMergedIntoOneCall) {
  hak_batch_add(R(4), kPage);
  hak_batch_add(R(2), 2 * kPage);  // [2,4) + [4,5) adjacent, added out of order
  hak_batch_add(R(9), kPage);
  hak_batch_flush();
  auto calls = rec_.Calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].addr, (uintptr_t)R(2));
  EXPECT_EQ(calls[0].len, 3 * kPage);
  EXPECT_EQ(calls[1].addr, (uintptr_t)R(9));
  EXPECT_EQ(hak_stat_read(HAK_STAT_batch_merged), 1u);
  EXPECT_EQ(hak_stat_read(HAK_STAT_batch_syscalls_saved), 1u);
}

TEST_F(BatchTest, TakenRangeIsNeverAdvised) {
  hak_batch_add(R(0), kPage);
  hak_batch_add(R(5), kPage);
  EXPECT_EQ(hak_batch_take(R(5)), HAK_BATCH_TAKEN);
  EXPECT_EQ(hak_batch_take(R(5)), HAK_BATCH_NOT_QUEUED);
  EXPECT_EQ(hak_batch_take(R(7)), HAK_BATCH_NOT_QUEUED);
  hak_batch_flush();
  EXPECT_EQ(rec_.AdviceCovering(HAK_ADVISE_DONTNEED, R(5)), 0u);
  EXPECT_EQ(rec_.AdviceCovering(HAK_ADVISE_DONTNEED, R(0)), 1u);
  EXPECT_EQ(hak_batch_take(R(0)), HAK_BATCH_NOT_QUEUED);  // already advised
  EXPECT_EQ(hak_stat_read(HAK_STAT_batch_cancelled), 1u);
}

TEST_F(BatchTest, DisabledBatchAdvisesAtOnce) {
  Configure(false, 1 << 20, 8);
  hak_batch_add(R(3), kPage);
  EXPECT_EQ(hak_batch_queued_ranges(), 0u);
  EXPECT_EQ(rec_.AdviceCovering(HAK_ADVISE_DONTNEED, R(3)), 1u);
}

TEST_F(BatchTest, RealAdviceZeroesAndFailedAdviceStillZeroes) {
  rec_.hooks().suppress_advice = false;
  memset(R(0), 0xab, 2 * kPage);
  hak_batch_add(R(0), kPage);
  hak_batch_flush();
  EXPECT_TRUE(hakmem_test::AllZero(R(0), kPage));
  EXPECT_EQ((unsigned char)R(1)[0], 0xab);
  // A refused DONTNEED (the seam fails every call) must still leave zeroes.
  rec_.hooks().fail_every[HAK_OS_ADVISE] = 1;
  hak_batch_add(R(1), kPage);
  hak_batch_flush();
  EXPECT_TRUE(hakmem_test::AllZero(R(1), kPage));
  rec_.hooks().fail_every[HAK_OS_ADVISE] = 0;
}

// Every range added is either advised exactly once or taken, never both,
// and never advised after its take returned (the owner has it back), while
// another thread flushes as fast as it can.
std::atomic<int> g_handed_out[1024];
std::atomic<int> g_advised[1024];
std::atomic<int> g_late_advice;
char* g_region;

void ObserveLate(void*, hak_os_call_t call, void* addr, size_t len, hak_advice_t, bool) {
  if (call != HAK_OS_ADVISE) return;
  for (size_t off = 0; off < len; off += kPage) {
    size_t page = (size_t)((char*)addr + off - g_region) / kPage;
    if (g_handed_out[page].load()) g_late_advice++;
    g_advised[page]++;
  }
}

TEST_F(BatchTest, ExactlyOnceAndNeverAfterTakeUnderConcurrentFlushes) {
  Configure(true, 64 * kPage, 16);
  hak_os_hooks_t hooks = {};
  hooks.observe = ObserveLate;
  hooks.suppress_advice = true;
  g_region = region_;
  for (auto& h : g_handed_out) h = 0;
  for (auto& a : g_advised) a = 0;
  g_late_advice = 0;
  hak_os_set_hooks(&hooks);
  std::atomic<bool> done{false};
  std::thread flusher([&] {
    while (!done.load()) hak_batch_flush();
  });
  int taken = 0;
  constexpr int kRounds = 3000;
  for (int round = 0; round < kRounds; round++) {
    size_t page = (size_t)round % 1024;
    g_handed_out[page] = 0;
    int before = g_advised[page].load();
    hak_batch_add(R(page), kPage);
    if (round % 3 == 0) std::this_thread::yield();  // give the flusher a chance
    hak_batch_take_t t = hak_batch_take(R(page));
    g_handed_out[page] = 1;
    int advised = g_advised[page].load() - before;
    if (t == HAK_BATCH_TAKEN) {
      taken++;
      EXPECT_EQ(advised, 0) << "taken range was advised";
    } else {
      EXPECT_EQ(advised, 1) << "range not advised exactly once";
    }
  }
  done = true;
  flusher.join();
  hak_batch_flush();
  hak_os_set_hooks(nullptr);
  EXPECT_EQ(g_late_advice.load(), 0);
  EXPECT_TRUE(hak_batch_is_valid());
  EXPECT_EQ(hak_stat_read(HAK_STAT_batch_queued), (uint64_t)kRounds);
  EXPECT_EQ(hak_stat_read(HAK_STAT_batch_cancelled), (uint64_t)taken);
}

// Many threads add at once while flushes are in flight: the queue never
// holds more than its capacity (it once overflowed its array here).
TEST_F(BatchTest, ConcurrentAddsNeverOverfillTheQueue) {
  Configure(true, 1ull << 40, 4);  // flush by count only, and often
  std::vector<std::thread> ts;
  std::atomic<int> next{0};
  for (int t = 0; t < 4; t++)
    ts.emplace_back([&] {
      for (;;) {
        int page = next++;
        if (page >= 1024) break;
        hak_batch_add(R((size_t)page), kPage);
        EXPECT_LE(hak_batch_queued_ranges(), 4u);
      }
    });
  for (auto& th : ts) th.join();
  hak_batch_flush();
  EXPECT_TRUE(hak_batch_is_valid());
  EXPECT_EQ(hak_stat_read(HAK_STAT_batch_queued), 1024u);
  // Every page advised exactly once (ranges may have been merged).
  for (size_t page = 0; page < 1024; page++) ASSERT_EQ(rec_.AdviceCovering(HAK_ADVISE_DONTNEED, R(page)), 1u) << page;
}

}  // namespace
