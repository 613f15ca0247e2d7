// bigcache_test.cc — BigCache alone: hits, misses, LIFO order, per-ring slot
// cap, byte cap, age limit, ring steals, drain, counters, the walker, and
// many threads at once. Blocks are fake addresses: BigCache never touches them.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>
#include <vector>

extern "C" {
#include "hakmem/bigcache.h"
#include "hakmem/stats.h"
}

namespace {

void* Blk(uintptr_t i) { return reinterpret_cast<void*>(0x100000000ull + i * 0x1000); }

class BigCacheTest : public ::testing::Test {
 protected:
  void SetUp() override { Configure(4, 1ull << 30, 1000); }
  void TearDown() override { DrainAll(); }
  void Configure(unsigned slots, size_t max_bytes, uint64_t age) {
    DrainAll();
    hak_bigcache_cfg_t c = {true, slots, max_bytes, age};
    hak_bigcache_configure(&c);
    hak_stats_reset();
  }
  std::vector<hak_bigcache_victim_t> DrainAll() {
    std::vector<hak_bigcache_victim_t> all;
    hak_bigcache_victims_t v;
    do {
      hak_bigcache_drain(&v);
      all.insert(all.end(), v.v, v.v + v.n);
    } while (v.n);
    return all;
  }
  bool Put(uint16_t site, uint8_t cls, void* b, size_t bytes, uint64_t now, std::vector<void*>* victims = nullptr) {
    hak_bigcache_victims_t v;
    bool ok = hak_bigcache_put(site, cls, b, bytes, now, &v);
    for (unsigned i = 0; i < v.n; i++)
      if (victims) victims->push_back(v.v[i].blk);
    return ok;
  }
  void* Get(uint16_t site, uint8_t cls, uint64_t now, size_t* bytes = nullptr) {
    size_t b = 0;
    void* p = hak_bigcache_get(site, cls, now, &b);
    if (bytes) *bytes = b;
    return p;
  }
  static uint64_t S(hak_stat_id_t id) { return hak_stat_read(id); }
};

TEST_F(BigCacheTest, MissThenHitSameSiteAndClass) {
  EXPECT_EQ(Get(1, 5, 0), nullptr);
  EXPECT_TRUE(Put(1, 5, Blk(1), 1 << 20, 0));
  EXPECT_EQ(Get(1, 6, 0), nullptr);  // other class
  EXPECT_EQ(Get(2, 5, 0), nullptr);  // other site
  size_t bytes;
  EXPECT_EQ(Get(1, 5, 0, &bytes), Blk(1));
  EXPECT_EQ(bytes, 1u << 20);
  EXPECT_EQ(Get(1, 5, 0), nullptr);  // handed out once only
  EXPECT_EQ(S(HAK_STAT_bigcache_hits), 1u);
  EXPECT_EQ(S(HAK_STAT_bigcache_misses), 4u);
  EXPECT_EQ(S(HAK_STAT_bigcache_puts), 1u);
  EXPECT_EQ(S(HAK_STAT_bigcache_bytes), 0u);
  EXPECT_TRUE(hak_bigcache_is_valid());
}

TEST_F(BigCacheTest, NewestFirst) {
  for (uintptr_t i = 1; i <= 3; i++) ASSERT_TRUE(Put(7, 9, Blk(i), 4096, i));
  EXPECT_EQ(Get(7, 9, 10), Blk(3));
  EXPECT_EQ(Get(7, 9, 10), Blk(2));
  EXPECT_EQ(Get(7, 9, 10), Blk(1));
}

TEST_F(BigCacheTest, FullRingEvictsItsOldest) {
  std::vector<void*> victims;
  for (uintptr_t i = 1; i <= 4; i++) ASSERT_TRUE(Put(3, 3, Blk(i), 4096, i, &victims));
  EXPECT_TRUE(victims.empty());
  ASSERT_TRUE(Put(3, 3, Blk(5), 4096, 5, &victims));
  ASSERT_EQ(victims.size(), 1u);
  EXPECT_EQ(victims[0], Blk(1));
  EXPECT_EQ(hak_bigcache_count(), 4u);
  EXPECT_EQ(S(HAK_STAT_bigcache_evictions), 1u);
  EXPECT_TRUE(hak_bigcache_is_valid());
}

TEST_F(BigCacheTest, ByteCapEvictsTheOldestAnywhere) {
  Configure(4, 10 << 20, 1000);
  std::vector<void*> victims;
  ASSERT_TRUE(Put(1, 1, Blk(1), 4 << 20, 1, &victims));
  ASSERT_TRUE(Put(2, 2, Blk(2), 4 << 20, 2, &victims));
  ASSERT_TRUE(Put(3, 3, Blk(3), 4 << 20, 3, &victims));  // 12 MiB > 10: site 1's goes
  ASSERT_EQ(victims, std::vector<void*>{Blk(1)});
  EXPECT_EQ(hak_bigcache_bytes(), 8u << 20);
  EXPECT_EQ(S(HAK_STAT_bigcache_bytes), 8u << 20);
  EXPECT_FALSE(Put(4, 4, Blk(4), 6 << 20, 4, &victims));  // more than half the cap: not cached
  EXPECT_EQ(S(HAK_STAT_bigcache_rejects), 1u);
  EXPECT_TRUE(hak_bigcache_is_valid());
}

TEST_F(BigCacheTest, AgeLimitExpiresOldestFirst) {
  ASSERT_TRUE(Put(1, 1, Blk(1), 4096, 100));
  ASSERT_TRUE(Put(2, 1, Blk(2), 4096, 600));
  hak_bigcache_victims_t v;
  hak_bigcache_expire(1099, &v);
  EXPECT_EQ(v.n, 0u);
  hak_bigcache_expire(1100, &v);
  ASSERT_EQ(v.n, 1u);
  EXPECT_EQ(v.v[0].blk, Blk(1));
  EXPECT_EQ(v.v[0].site, 1u);
  EXPECT_EQ(v.v[0].cls, 1u);
  hak_bigcache_expire(1600, &v);
  ASSERT_EQ(v.n, 1u);
  EXPECT_EQ(v.v[0].blk, Blk(2));
  EXPECT_EQ(hak_bigcache_count(), 0u);
}

TEST_F(BigCacheTest, ClockGoingBackwardsIsTreatedAsStill) {
  ASSERT_TRUE(Put(1, 1, Blk(1), 4096, 5000));
  ASSERT_TRUE(Put(1, 1, Blk(2), 4096, 10));  // stamped 5000, not 10
  hak_bigcache_victims_t v;
  hak_bigcache_expire(5999, &v);
  EXPECT_EQ(v.n, 0u);
  EXPECT_TRUE(hak_bigcache_is_valid());
}

TEST_F(BigCacheTest, DisabledOrCappedCacheRejects) {
  hak_bigcache_cfg_t off = {false, 4, 1 << 30, 1000};
  hak_bigcache_configure(&off);
  EXPECT_FALSE(Put(1, 1, Blk(1), 4096, 0));
  EXPECT_EQ(hak_bigcache_count(), 0u);
  Configure(4, 0, 1000);
  EXPECT_FALSE(Put(1, 1, Blk(1), 4096, 0));
}

// Sites whose keys land in the same two-way set take rings from each other.
TEST_F(BigCacheTest, StealEvictsTheLeastRecentlyUsedWay) {
  std::vector<void*> victims;
  unsigned steals_needed = 0;
  // 2 ways × 512/2 sets: 600 distinct keys must collide somewhere.
  for (uintptr_t i = 0; i < 600; i++) ASSERT_TRUE(Put((uint16_t)i, 1, Blk(i), 4096, i, &victims));
  steals_needed = (unsigned)S(HAK_STAT_bigcache_ring_steals);
  EXPECT_GE(steals_needed, 88u);  // at least 600 - 512 keys had no free ring
  EXPECT_EQ(victims.size(), steals_needed);
  EXPECT_EQ(hak_bigcache_count() + victims.size(), 600u);  // nothing lost, nothing twice
  std::set<void*> seen(victims.begin(), victims.end());
  for (auto& v : DrainAll()) EXPECT_TRUE(seen.insert(v.blk).second);
  EXPECT_EQ(seen.size(), 600u);
}

TEST_F(BigCacheTest, DrainReturnsEverythingExactlyOnce) {
  for (uintptr_t i = 0; i < 100; i++) ASSERT_TRUE(Put((uint16_t)(i % 10), (uint8_t)(i / 10), Blk(i), 4096, i));
  auto all = DrainAll();
  std::set<void*> seen;
  for (auto& v : all) EXPECT_TRUE(seen.insert(v.blk).second);
  EXPECT_EQ(seen.size(), 100u);
  EXPECT_EQ(hak_bigcache_bytes(), 0u);
  EXPECT_TRUE(hak_bigcache_is_valid());
}

TEST_F(BigCacheTest, SlotsOptionBoundsEachRing) {
  for (unsigned slots : {1u, 2u, 16u}) {
    Configure(slots, 1ull << 30, 1000);
    std::vector<void*> victims;
    for (uintptr_t i = 0; i < 20; i++) ASSERT_TRUE(Put(9, 9, Blk(i), 4096, i, &victims));
    EXPECT_EQ(hak_bigcache_count(), slots);
    EXPECT_EQ(victims.size(), 20u - slots);
  }
}

// Threads put and get their own and each other's keys; every block comes
// out exactly once (by a get, a victim or the final drain).
TEST_F(BigCacheTest, ConcurrentPutsAndGetsLoseNothing) {
  Configure(4, 64 << 20, 1000000);
  constexpr int kThreads = 4, kOps = 20000;
  std::vector<std::vector<void*>> out(kThreads);
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; t++) {
    ts.emplace_back([&, t] {
      uint64_t x = 0x9E3779B97F4A7C15ull * (t + 1);
      for (int i = 0; i < kOps; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint16_t site = (uint16_t)(x % 8);
        uint8_t cls = (uint8_t)((x >> 8) % 4);
        if (x & 0x10000) {
          hak_bigcache_victims_t v;
          void* b = Blk((uintptr_t)t * kOps + i + 1);
          if (!hak_bigcache_put(site, cls, b, 1 << 20, (uint64_t)i, &v)) out[t].push_back(b);
          for (unsigned k = 0; k < v.n; k++) out[t].push_back(v.v[k].blk);
        } else {
          size_t bytes;
          void* b = hak_bigcache_get(site, cls, (uint64_t)i, &bytes);
          if (b) out[t].push_back(b);
        }
      }
    });
  }
  for (auto& th : ts) th.join();
  EXPECT_TRUE(hak_bigcache_is_valid());
  std::set<void*> seen;
  size_t total = 0;
  for (auto& v : out)
    for (void* b : v) {
      EXPECT_TRUE(seen.insert(b).second) << "block came out twice";
      total++;
    }
  for (auto& v : DrainAll()) {
    EXPECT_TRUE(seen.insert(v.blk).second) << "block came out twice";
    total++;
  }
  EXPECT_EQ(total, S(HAK_STAT_bigcache_puts) + S(HAK_STAT_bigcache_rejects));
}

TEST_F(BigCacheTest, CappedPutHoldsAtMostCapBlocksPerRing) {
  hak_bigcache_victims_t v;
  EXPECT_FALSE(hak_bigcache_put_capped(1, 5, Blk(1), 100, 0, 0, &v));  // cap 0: never cached
  EXPECT_TRUE(hak_bigcache_put_capped(1, 5, Blk(2), 100, 2, 0, &v));
  EXPECT_TRUE(hak_bigcache_put_capped(1, 5, Blk(3), 100, 2, 1, &v));
  EXPECT_EQ(v.n, 0u);
  EXPECT_TRUE(hak_bigcache_put_capped(1, 5, Blk(4), 100, 2, 2, &v));
  ASSERT_EQ(v.n, 1u);  // the ring's oldest made room
  EXPECT_EQ(v.v[0].blk, Blk(2));
  EXPECT_TRUE(hak_bigcache_put_capped(1, 5, Blk(5), 100, 200, 3, &v));  // past the slots: the ring's own cap (4)
  EXPECT_EQ(v.n, 0u);
  EXPECT_EQ(hak_bigcache_count(), 3u);
  EXPECT_TRUE(hak_bigcache_is_valid());
}

TEST_F(BigCacheTest, PerSiteBytesFollowPutsGetsAndVictims) {
  EXPECT_TRUE(Put(7, 5, Blk(1), 100, 0));
  EXPECT_TRUE(Put(7, 6, Blk(2), 200, 0));
  EXPECT_TRUE(Put(8, 5, Blk(3), 400, 0));
  EXPECT_EQ(hak_bigcache_site_bytes(7), 300u);
  EXPECT_EQ(hak_bigcache_site_bytes(8), 400u);
  EXPECT_EQ(Get(7, 6, 1), Blk(2));
  EXPECT_EQ(hak_bigcache_site_bytes(7), 100u);
  EXPECT_EQ(DrainAll().size(), 2u);  // victims leave their site's count
  EXPECT_EQ(hak_bigcache_site_bytes(7), 0u);
  EXPECT_EQ(hak_bigcache_site_bytes(8), 0u);
  EXPECT_TRUE(hak_bigcache_is_valid());
}

}  // namespace
