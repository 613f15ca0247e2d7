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
  void SetUp() override { Configure(100, 40, 1000); }
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
  hak_spare_work_t Put(int i, uint8_t cls, size_t bytes, hak_thermal_t t, uint64_t now) {
    hak_spare_work_t w;
    hak_spare_put(&nodes_[i], cls, bytes, t, now, &w);
    return w;
  }
  hak_spare_node_t nodes_[64];
};

TEST_F(SpareTest, GetReturnsNewestOfTheClass) {
  Put(0, 3, 10, HAK_COLD, 1);
  Put(1, 3, 10, HAK_COLD, 2);
  Put(2, 4, 10, HAK_COLD, 3);
  EXPECT_EQ(hak_spare_get(3, 3, 4), &nodes_[1]);
  EXPECT_EQ(hak_spare_get(3, 3, 4), &nodes_[0]);
  EXPECT_EQ(hak_spare_get(3, 3, 4), nullptr);
  EXPECT_EQ(hak_spare_get(4, 4, 4), &nodes_[2]);
  EXPECT_EQ(hak_spare_get(200, 255, 4), nullptr);  // out-of-range class: nothing
  EXPECT_EQ(hak_spare_bytes(), 0u);
  EXPECT_TRUE(hak_spare_is_valid());
}

TEST_F(SpareTest, GetTakesTheSmallestFittingClass) {
  Put(0, 9, 10, HAK_COLD, 1);
  Put(1, 6, 10, HAK_COLD, 2);
  Put(2, 12, 10, HAK_COLD, 3);
  EXPECT_EQ(hak_spare_get(5, 5, 4), nullptr);       // exact only: none
  EXPECT_EQ(hak_spare_get(5, 10, 4), &nodes_[1]);   // class 6 before 9
  EXPECT_EQ(hak_spare_get(5, 10, 4), &nodes_[0]);
  EXPECT_EQ(hak_spare_get(5, 10, 4), nullptr);      // 12 is too big
  EXPECT_EQ(hak_spare_get(12, 12, 4), &nodes_[2]);
}

TEST_F(SpareTest, AddressSpaceCapUnmapsTheOldest) {
  for (int i = 0; i < 5; i++) EXPECT_EQ(Put(i, 1, 20, HAK_COLD, i).n_unmap, 0u);
  hak_spare_work_t w = Put(5, 2, 30, HAK_COLD, 5);  // 130 > 100
  ASSERT_EQ(w.n_unmap, 2u);
  EXPECT_EQ(w.unmap[0], &nodes_[0]);
  EXPECT_EQ(w.unmap[1], &nodes_[1]);
  EXPECT_EQ(hak_spare_bytes(), 90u);
  EXPECT_TRUE(hak_spare_is_valid());
}

TEST_F(SpareTest, OversizedSpareIsGivenUpAtOnce) {
  hak_spare_work_t w = Put(0, 1, 500, HAK_HOT, 0);
  ASSERT_EQ(w.n_unmap, 1u);
  EXPECT_EQ(w.unmap[0], &nodes_[0]);
  EXPECT_EQ(hak_spare_bytes(), 0u);
  EXPECT_TRUE(hak_spare_is_valid());
}

TEST_F(SpareTest, ResidentCapCoolsTheOldestHotOrWarmSpares) {
  Put(0, 1, 20, HAK_WARM, 0);
  Put(1, 1, 20, HAK_COLD, 1);
  Put(2, 1, 20, HAK_HOT, 2);
  EXPECT_EQ(hak_spare_resident_bytes(), 40u);
  hak_spare_work_t w = Put(3, 1, 20, HAK_HOT, 3);  // 60 hot > 40
  ASSERT_EQ(w.n_cool, 1u);
  EXPECT_EQ(w.cool[0], &nodes_[0]);
  EXPECT_EQ(hak_spare_resident_bytes(), 40u);
  EXPECT_EQ(hak_spare_bytes(), 60u);  // the cooled one is out until put back COLD
  hak_spare_work_t w2;
  hak_spare_put(w.cool[0], 1, 20, HAK_COLD, 4, &w2);
  EXPECT_EQ(w2.n_cool, 0u);
  EXPECT_EQ(hak_spare_bytes(), 80u);
  EXPECT_TRUE(hak_spare_is_valid());
}

TEST_F(SpareTest, ExpireUnmapsOnlyOldSpares) {
  Put(0, 1, 10, HAK_WARM, 100);
  Put(1, 2, 10, HAK_HOT, 700);
  hak_spare_work_t w;
  hak_spare_expire(1099, &w);
  EXPECT_EQ(w.n_unmap, 0u);
  hak_spare_expire(1100, &w);
  ASSERT_EQ(w.n_unmap, 1u);
  EXPECT_EQ(w.unmap[0], &nodes_[0]);
  EXPECT_EQ(hak_spare_get(2, 2, 1100), &nodes_[1]);
}

TEST_F(SpareTest, DrainReturnsEachSpareOnce) {
  Configure(1 << 30, 1 << 30, 1000);
  for (int i = 0; i < 64; i++) Put(i, (uint8_t)(i % 7), 100, (hak_thermal_t)(i % 3), i);
  auto all = Drain();
  std::set<hak_spare_node_t*> seen(all.begin(), all.end());
  EXPECT_EQ(all.size(), 64u);
  EXPECT_EQ(seen.size(), 64u);
  EXPECT_EQ(hak_spare_bytes(), 0u);
  EXPECT_EQ(hak_spare_resident_bytes(), 0u);
}

}  // namespace
