// site_test.cc — the call-site table: stable ids, bounded memory with
// counted overflow, histograms, and concurrent inserts.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <thread>
#include <vector>

extern "C" {
#include "hakmem/site.h"
#include "hakmem/stats.h"
}

namespace {

class SiteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    hak_site_reset();
    hak_stats_reset();
  }
  void TearDown() override { hak_site_reset(); }
};

TEST_F(SiteTest, SameAddressSameIdDifferentAddressesDiffer) {
  hak_site_id_t a = hak_site_id(0x401000), b = hak_site_id(0x401008);
  EXPECT_NE(a, 0u);
  EXPECT_NE(b, 0u);
  EXPECT_NE(a, b);
  EXPECT_EQ(hak_site_id(0x401000), a);
  EXPECT_EQ(hak_site_get(a)->addr, 0x401000u);
  EXPECT_EQ(hak_site_id(0), 0u);  // no address: the shared entry
  EXPECT_EQ(hak_stat_read(HAK_STAT_sites_used), 2u);
}

TEST_F(SiteTest, HoldsAtLeast256SitesThenOverflowsToZero) {
  std::set<hak_site_id_t> ids;
  unsigned overflow = 0;
  hak_site_id_t first = hak_site_id(0x400000 + 16);
  for (uintptr_t i = 1; i <= 4 * HAK_SITE_CAP; i++) {
    hak_site_id_t id = hak_site_id(0x400000 + i * 16);
    if (id == 0) overflow++;
    else EXPECT_TRUE(ids.insert(id).second) << "two sites share an id";
  }
  EXPECT_GE(ids.size(), 256u);
  EXPECT_LT(ids.size(), (size_t)HAK_SITE_CAP);
  EXPECT_EQ(ids.size() + overflow, 4 * HAK_SITE_CAP);
  EXPECT_EQ(hak_stat_read(HAK_STAT_sites_overflow), overflow);
  // Earlier sites keep their ids after the table filled up.
  EXPECT_NE(first, 0u);
  EXPECT_EQ(hak_site_id(0x400000 + 16), first);
}

TEST_F(SiteTest, CountersAndHistogram) {
  hak_site_id_t s = hak_site_id(0xdead0);
  hak_site_record_alloc(s, 0, 1);
  hak_site_record_alloc(s, 1000, 1);
  hak_site_record_alloc(s, 1 << 20, 64);  // sampled: weighs 64
  hak_site_record_free(s);
  const hak_site_t* e = hak_site_get(s);
  EXPECT_EQ(e->allocs, 66u);
  EXPECT_EQ(e->frees, 1u);
  EXPECT_EQ(e->bytes, 1000u + 64u * (1u << 20));
  EXPECT_EQ(e->hist[0], 1u);
  EXPECT_EQ(e->hist[9], 1u);  // 1000 in [512, 1024)
  EXPECT_EQ(e->hist[20], 64u);
  EXPECT_EQ(hak_site_bucket(SIZE_MAX), HAK_SITE_HIST - 1);
  EXPECT_EQ(hak_site_bucket(1), 0u);
  EXPECT_EQ(hak_site_bucket(2), 1u);
}

TEST_F(SiteTest, ConcurrentInsertsAgree) {
  constexpr int kThreads = 4;
  std::vector<std::vector<hak_site_id_t>> got(kThreads);
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; t++)
    ts.emplace_back([&, t] {
      for (uintptr_t i = 0; i < 200; i++) got[t].push_back(hak_site_id(0x7000000 + i * 64));
    });
  for (auto& th : ts) th.join();
  for (int t = 1; t < kThreads; t++) EXPECT_EQ(got[t], got[0]);
  std::set<hak_site_id_t> distinct(got[0].begin(), got[0].end());
  distinct.erase(0);
  EXPECT_EQ(distinct.size() + (size_t)std::count(got[0].begin(), got[0].end(), 0), 200u);
  EXPECT_EQ(hak_stat_read(HAK_STAT_sites_used), distinct.size());
}

}  // namespace
