// spare_test.cc — the spare pool alone: per-class LIFO, the address-space
// cap, the HOT cap (cooling), ageing, draining, and the walker.
#include <gtest/gtest.h>

#include <set>
#include <vector>

extern "C" {
#include "hakmem/spare.h"
}

namespace {

class SpareTest : public ::testing::Test {
 protected:
  // The pool's clock never goes back: each test runs in its own era.
  void SetUp() override {
    static uint64_t era;
    base_ = (era += 1000000);
    Configure(100, 40, 1000);
  }
  uint64_t T(uint64_t t) const { return base_ + t; }
  uint64_t base_ = 0;
  void TearDown() override { Drain(); }
  void Configure(size_t max, size_t hot, uint64_t age) {
    Drain();
    hak_spare_cfg_t c = {max, hot, age};
    hak_spare_configure(&c);
  }
  std::vector<hak_spare_node_t*> Drain() {
    std::vector<hak_spare_node_t*> all;
    hak_spare_work_t w;
    do {
      hak_spare_drain(&w);
      all.insert(all.end(), w.unmap, w.unmap + w.n_unmap);
    } while (w.n_unmap);
    return all;
  }
  hak_spare_work_t Put(int i, uint8_t cls, size_t bytes, hak_thermal_t t, uint64_t now, uint16_t site = 0) {
    hak_spare_work_t w;
    hak_spare_put(&nodes_[i], cls, bytes, t, site, now, &w);
    return w;
  }
  hak_spare_node_t nodes_[64];
};

TEST_F(SpareTest, GetReturnsNewestOfTheClass) {
  Put(0, 3, 10, HAK_COLD, T(1));
  Put(1, 3, 10, HAK_COLD, T(2));
  Put(2, 4, 10, HAK_COLD, T(3));
  EXPECT_EQ(hak_spare_get(3, 3, T(4)), &nodes_[1]);
  EXPECT_EQ(hak_spare_get(3, 3, T(4)), &nodes_[0]);
  EXPECT_EQ(hak_spare_get(3, 3, T(4)), nullptr);
  EXPECT_EQ(hak_spare_get(4, 4, T(4)), &nodes_[2]);
  EXPECT_EQ(hak_spare_get(200, 255, T(4)), nullptr);  // out-of-range class: nothing
  EXPECT_EQ(hak_spare_bytes(), 0u);
  EXPECT_TRUE(hak_spare_is_valid());
}

TEST_F(SpareTest, GetTakesTheSmallestFittingClass) {
  Put(0, 9, 10, HAK_COLD, T(1));
  Put(1, 6, 10, HAK_COLD, T(2));
  Put(2, 12, 10, HAK_COLD, T(3));
  EXPECT_EQ(hak_spare_get(5, 5, T(4)), nullptr);       // exact only: none
  EXPECT_EQ(hak_spare_get(5, 10, T(4)), &nodes_[1]);   // class 6 before 9
  EXPECT_EQ(hak_spare_get(5, 10, T(4)), &nodes_[0]);
  EXPECT_EQ(hak_spare_get(5, 10, T(4)), nullptr);      // 12 is too big
  EXPECT_EQ(hak_spare_get(12, 12, T(4)), &nodes_[2]);
}

TEST_F(SpareTest, AddressSpaceCapUnmapsTheOldest) {
  for (int i = 0; i < 5; i++) EXPECT_EQ(Put(i, 1, 20, HAK_COLD, T(i)).n_unmap, 0u);
  hak_spare_work_t w = Put(5, 2, 30, HAK_COLD, T(5));  // 130 > 100
  ASSERT_EQ(w.n_unmap, 2u);
  EXPECT_EQ(w.unmap[0], &nodes_[0]);
  EXPECT_EQ(w.unmap[1], &nodes_[1]);
  EXPECT_EQ(hak_spare_bytes(), 90u);
  EXPECT_TRUE(hak_spare_is_valid());
}

TEST_F(SpareTest, OversizedSpareIsGivenUpAtOnce) {
  hak_spare_work_t w = Put(0, 1, 500, HAK_HOT, T(0));
  ASSERT_EQ(w.n_unmap, 1u);
  EXPECT_EQ(w.unmap[0], &nodes_[0]);
  EXPECT_EQ(hak_spare_bytes(), 0u);
  EXPECT_TRUE(hak_spare_is_valid());
}

TEST_F(SpareTest, ResidentCapCoolsTheOldestIdleHotOrWarmSpares) {
  Put(0, 1, 20, HAK_WARM, T(0));
  Put(1, 1, 20, HAK_COLD, T(1));
  Put(2, 1, 20, HAK_HOT, T(2));
  EXPECT_EQ(hak_spare_resident_bytes(), 40u);
  // Over the cap (60 > 40), but nothing has been idle long: nothing cools.
  hak_spare_work_t w = Put(3, 1, 20, HAK_HOT, T(3));
  EXPECT_EQ(w.n_cool, 0u);
  EXPECT_EQ(hak_spare_resident_bytes(), 60u);
  // Later, the oldest resident one has been idle long enough.
  w = Put(4, 1, 20, HAK_COLD, T(3 + HAK_SPARE_COOL_MS));
  ASSERT_EQ(w.n_cool, 1u);
  EXPECT_EQ(w.cool[0], &nodes_[0]);
  EXPECT_EQ(hak_spare_resident_bytes(), 40u);
  hak_spare_work_t w2;
  hak_spare_put(w.cool[0], 1, 20, HAK_COLD, 0, T(4 + HAK_SPARE_COOL_MS), &w2);
  EXPECT_EQ(w2.n_cool, 0u);
  EXPECT_TRUE(hak_spare_is_valid());
}

TEST_F(SpareTest, FourTimesTheResidentCapCoolsAtOnce) {
  Configure(1000, 10, 100000);
  for (int i = 0; i < 4; i++) EXPECT_EQ(Put(i, 1, 10, HAK_HOT, T(0)).n_cool, 0u);  // 40 = 4x: still soft
  hak_spare_work_t w = Put(4, 1, 10, HAK_HOT, T(0));  // 50 > 4x
  EXPECT_GE(w.n_cool, 1u);
  EXPECT_EQ(w.cool[0], &nodes_[0]);
}

TEST_F(SpareTest, ExpireAlsoCoolsIdleResidentSpares) {
  Configure(1000, 10, 100000);
  Put(0, 1, 10, HAK_HOT, T(0));
  Put(1, 1, 10, HAK_HOT, T(0));
  hak_spare_work_t w;
  hak_spare_expire(T(HAK_SPARE_COOL_MS), &w);
  EXPECT_EQ(w.n_unmap, 0u);
  ASSERT_EQ(w.n_cool, 1u);
  EXPECT_EQ(w.cool[0], &nodes_[0]);
  hak_spare_work_t w2;
  hak_spare_put(w.cool[0], 1, 10, HAK_COLD, 0, T(HAK_SPARE_COOL_MS), &w2);
}

TEST_F(SpareTest, ExpireUnmapsOnlyOldSpares) {
  Put(0, 1, 10, HAK_WARM, T(100));
  Put(1, 2, 10, HAK_HOT, T(700));
  hak_spare_work_t w;
  hak_spare_expire(T(1099), &w);
  EXPECT_EQ(w.n_unmap, 0u);
  hak_spare_expire(T(1100), &w);
  ASSERT_EQ(w.n_unmap, 1u);
  EXPECT_EQ(w.unmap[0], &nodes_[0]);
  EXPECT_EQ(hak_spare_get(2, 2, T(1100)), &nodes_[1]);
}

TEST_F(SpareTest, DrainReturnsEachSpareOnce) {
  Configure(1 << 30, 1 << 30, 1000);
  for (int i = 0; i < 64; i++) Put(i, (uint8_t)(i % 7), 100, (hak_thermal_t)(i % 3), T(i));
  auto all = Drain();
  std::set<hak_spare_node_t*> seen(all.begin(), all.end());
  EXPECT_EQ(all.size(), 64u);
  EXPECT_EQ(seen.size(), 64u);
  EXPECT_EQ(hak_spare_bytes(), 0u);
  EXPECT_EQ(hak_spare_resident_bytes(), 0u);
}

TEST_F(SpareTest, PerSiteResidentBytesCountHotAndWarmOnly) {
  Configure(1 << 30, 1 << 30, 1000);
  Put(0, 1, 100, HAK_HOT, T(1), 5);
  Put(1, 1, 200, HAK_WARM, T(2), 5);
  Put(2, 1, 400, HAK_COLD, T(3), 5);
  Put(3, 2, 800, HAK_HOT, T(4), 6);
  EXPECT_EQ(hak_spare_site_resident(5), 300u);
  EXPECT_EQ(hak_spare_site_resident(6), 800u);
  EXPECT_EQ(hak_spare_get(2, 2, T(5)), &nodes_[3]);  // out of the pool: no longer the site's
  EXPECT_EQ(hak_spare_site_resident(6), 0u);
  EXPECT_TRUE(hak_spare_is_valid());
  Drain();
  EXPECT_EQ(hak_spare_site_resident(5), 0u);
}

TEST_F(SpareTest, TakeSiteTakesOnlyThatSitesResidentSparesOldestFirst) {
  Configure(1 << 30, 1 << 30, 1000);
  // 40 spares, sites 5 and 6 interleaved, every other one of site 5 COLD.
  for (int i = 0; i < 40; i++) Put(i, (uint8_t)(i % 3), 10, i % 4 == 2 ? HAK_COLD : HAK_HOT, T(i), i % 2 ? 6 : 5);
  size_t six = hak_spare_site_resident(6), bytes = hak_spare_bytes();
  std::vector<hak_spare_node_t*> got;
  hak_spare_work_t w;
  do {
    hak_spare_take_site(5, &w);
    EXPECT_EQ(w.n_cool, 0u);
    got.insert(got.end(), w.unmap, w.unmap + w.n_unmap);
  } while (w.n_unmap == HAK_SPARE_WORK);
  std::vector<hak_spare_node_t*> want;
  for (int i = 0; i < 40; i += 2)
    if (i % 4 != 2) want.push_back(&nodes_[i]);  // site 5's, not COLD, in the order put
  EXPECT_EQ(got, want);
  EXPECT_EQ(hak_spare_site_resident(5), 0u);
  EXPECT_EQ(hak_spare_site_resident(6), six);
  EXPECT_EQ(hak_spare_bytes(), bytes - 10 * want.size());
  EXPECT_TRUE(hak_spare_is_valid());
  hak_spare_take_site(5, &w);
  EXPECT_EQ(w.n_unmap, 0u);
}

}  // namespace

// The joins' look-ups (large.c splits blocks and joins neighbours): only a
// HOT or WARM node of the pool is ever taken, found by address alone.
class SpareRunTest : public SpareTest {
 protected:
  void SetUp() override {
    SpareTest::SetUp();
    Configure(1 << 20, 1 << 20, 1000);
  }
  // A node `at` bytes into the buffer, as a block's header sits at its base.
  hak_spare_node_t* At(size_t at) { return reinterpret_cast<hak_spare_node_t*>(buf_ + at); }
  hak_spare_work_t PutAt(size_t at, uint8_t cls, size_t bytes, hak_thermal_t t) {
    hak_spare_work_t w;
    hak_spare_put(At(at), cls, bytes, t, 0, T(1), &w);
    return w;
  }
  alignas(64) char buf_[4096];
};

TEST_F(SpareRunTest, TakeNodeTakesOnlyAResidentNodeOfThePool) {
  PutAt(0, 2, 10, HAK_HOT);
  PutAt(512, 2, 10, HAK_COLD);
  EXPECT_FALSE(hak_spare_take_node(At(0), 11));   // too small
  EXPECT_FALSE(hak_spare_take_node(At(512), 0));  // COLD: its pages are gone
  EXPECT_FALSE(hak_spare_take_node(At(1024), 0)); // not in the pool (never read)
  EXPECT_TRUE(hak_spare_take_node(At(0), 10));
  EXPECT_FALSE(hak_spare_take_node(At(0), 0));  // taken once
  EXPECT_EQ(hak_spare_bytes(), 10u);
  EXPECT_EQ(hak_spare_resident_bytes(), 0u);
  EXPECT_TRUE(hak_spare_is_valid());
}

TEST_F(SpareRunTest, TheLongestRunOfSparesBackToBackWins) {
  PutAt(0, 2, 256, HAK_HOT);     // run 0 .. 1024: 256 + 512 + 256
  PutAt(256, 3, 512, HAK_WARM);
  PutAt(768, 2, 256, HAK_HOT);
  PutAt(1024, 2, 256, HAK_COLD);  // COLD: ends every run
  PutAt(2048, 3, 512, HAK_HOT);   // alone
  size_t run = 0;
  EXPECT_EQ(hak_spare_get_run(2, 3, 900, &run), At(0));
  EXPECT_EQ(run, 1024u);
  EXPECT_EQ(hak_spare_take_before(At(768)), At(256));  // ends where 768 starts
  EXPECT_EQ(hak_spare_take_before(At(768)), nullptr);
  EXPECT_EQ(hak_spare_take_before(At(1280)), nullptr);  // 1024 is COLD
  EXPECT_EQ(hak_spare_get_run(2, 3, 900, &run), At(2048));  // the longest left: 512 (768's is 256)
  EXPECT_EQ(run, 512u);
  EXPECT_EQ(hak_spare_get_run(4, 9, 1, &run), nullptr);
  EXPECT_EQ(run, 0u);
  EXPECT_TRUE(hak_spare_is_valid());
}
