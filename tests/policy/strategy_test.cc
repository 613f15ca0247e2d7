// strategy_test.cc — the strategy table: sorted, uniquely named, the two
// learners' ladders as documented, and the one-word policy record's routing.
#include <cstring>
#include <set>
#include <string>

#include "tests/policy/sim.h"

namespace {

TEST(StrategyTest, TableIsSortedAndNamesAreUnique) {
  std::set<std::string> names;
  for (unsigned i = 0; i < HAK_STRAT_COUNT; i++) {
    const hak_strategy_info_t &s = hak_strategy_info[i];
    EXPECT_TRUE(names.insert(s.name).second) << s.name;
    EXPECT_LT(std::strlen(s.name), 12u);
    if (i) EXPECT_GE(s.policy.large_threshold, hak_strategy_info[i - 1].policy.large_threshold);
    // Rows of one threshold differ in their free policy, the engine's own first.
    if (i && s.policy.large_threshold == hak_strategy_info[i - 1].policy.large_threshold) {
      EXPECT_FALSE(hak_policy_same_free(s.policy, hak_strategy_info[i - 1].policy)) << s.name;
      EXPECT_NE(s.policy.release == HAK_STRAT_AUTO && s.policy.cache_slots == HAK_STRAT_RING, true) << s.name;
    }
    EXPECT_EQ(s.policy.canary, 0);
    EXPECT_NE(s.sets, 0u);
    EXPECT_EQ(hak_strategy_find(s.name), (int)i);
  }
  EXPECT_EQ(hak_strategy_find("nope"), -1);
}

TEST(StrategyTest, Ucb1LadderIsSixDoublingsFrom64K) {
  uint8_t ids[HAK_STRATEGY_MAX];
  ASSERT_EQ(hak_strategy_set(HAK_STRAT_SET_UCB1, ids, HAK_STRATEGY_MAX), 6u);
  for (unsigned i = 0; i < 6; i++) EXPECT_EQ(hak_strategy_info[ids[i]].policy.large_threshold, (64u << 10) << i);
}

TEST(StrategyTest, EloLadderIsTwelveGeometricSteps512KTo32M) {
  uint8_t ids[HAK_STRATEGY_MAX];
  ASSERT_EQ(hak_strategy_set(HAK_STRAT_SET_ELO, ids, HAK_STRATEGY_MAX), 12u);
  EXPECT_EQ(hak_strategy_info[ids[0]].policy.large_threshold, 512u << 10);
  EXPECT_EQ(hak_strategy_info[ids[11]].policy.large_threshold, 32u << 20);
  const double ratio = std::pow(64.0, 1.0 / 11);
  for (unsigned i = 0; i < 12; i++) {
    double ideal = (512 << 10) * std::pow(ratio, i);
    EXPECT_NEAR(hak_strategy_info[ids[i]].policy.large_threshold / ideal, 1.0, 0.05) << i;
  }
  // Fewer slots than rows: counts them all, writes only cap.
  uint8_t two[2] = {0xff, 0xff};
  EXPECT_EQ(hak_strategy_set(HAK_STRAT_SET_ELO, two, 2), 12u);
  EXPECT_EQ(two[0], ids[0]);
}

TEST(StrategyTest, NearestPicksClosestRowWithinTheSet) {
  EXPECT_EQ(hak_strategy_nearest(256 << 10, HAK_STRAT_SET_UCB1), (int)HAK_STRAT_T256K);
  EXPECT_EQ(hak_strategy_nearest(256 << 10, HAK_STRAT_SET_ELO), (int)HAK_STRAT_T512K);
  EXPECT_EQ(hak_strategy_nearest(1ull << 40, 0), (int)HAK_STRAT_T32M);
  EXPECT_EQ(hak_strategy_nearest(0, 0), (int)HAK_STRAT_T64K);
  EXPECT_EQ(hak_strategy_nearest(0, 0x80000000u), -1);
}

TEST(StrategyTest, PolicyRecordIsOneWordAndRoundTrips) {
  hak_policy_t p = hak_strategy_info[HAK_STRAT_T1M].policy;
  hak_policy_t q = hak_policy_from_word(hak_policy_to_word(p));
  EXPECT_EQ(std::memcmp(&p, &q, sizeof p), 0);
  EXPECT_EQ(p.large_threshold, 1u << 20);
  EXPECT_EQ(p.cache_slots, HAK_STRAT_RING);
  EXPECT_EQ(p.release, HAK_STRAT_AUTO);
  EXPECT_EQ(p.resident_shift, 0);
}

// The free-policy rows: at the default threshold, the lean ones first and
// KEEP (memory-hungry) last, KEEP without a site cap (the engine's caps bound it).
TEST(StrategyTest, FreeSetVariesTheFreePolicyAtTheDefaultThreshold) {
  uint8_t ids[HAK_STRATEGY_MAX];
  ASSERT_EQ(hak_strategy_set(HAK_STRAT_SET_FREE, ids, HAK_STRATEGY_MAX), 4u);
  const unsigned want[4][3] = {{0, HAK_STRAT_AUTO, 0}, {0, HAK_STRAT_RETURN, 0}, {0, HAK_STRAT_LAZY, 0},
                               {HAK_STRAT_RING, HAK_STRAT_KEEP, 0}};
  for (unsigned i = 0; i < 4; i++) {
    hak_policy_t p = hak_strategy_info[ids[i]].policy;
    EXPECT_EQ(p.large_threshold, 256u << 10);
    EXPECT_EQ(p.cache_slots, want[i][0]) << i;
    EXPECT_EQ(p.release, want[i][1]) << i;
    EXPECT_EQ(p.resident_shift, want[i][2]) << i;
  }
  EXPECT_EQ(hak_strategy_find("256k/keep"), (int)HAK_STRAT_T256K_KEEP);
  // A request below the threshold gets the plain route, whatever the row.
  hak_policy_t keep = hak_strategy_info[HAK_STRAT_T256K_KEEP].policy;
  hak_policy_t f = hak_policy_free_for(keep, 100 << 10);
  EXPECT_EQ(f.cache_slots, 0);
  EXPECT_EQ(f.release, HAK_STRAT_AUTO);
  EXPECT_EQ(f.resident_shift, 0);
  f = hak_policy_free_for(keep, 1 << 20);
  EXPECT_TRUE(hak_policy_same_free(f, keep));
  char text[64];
  hak_strategy_free_text(keep, text, sizeof text);
  EXPECT_STREQ(text, "cache, keep");  // no site cap: it would send a hot site's blocks COLD
  EXPECT_EQ(keep.resident_shift, 0);
  hak_policy_t capped = keep;
  capped.resident_shift = 24;
  hak_strategy_free_text(capped, text, sizeof text);
  EXPECT_STREQ(text, "cache, keep <= 16M");
  hak_strategy_free_text(hak_strategy_info[HAK_STRAT_T256K_RET].policy, text, sizeof text);
  EXPECT_STREQ(text, "no cache, return");
}

TEST(StrategyTest, RouteSendsEveryTwentiethOpToTheChallengerInCanaryOnly) {
  hak_policy_t p = hak_strategy_info[HAK_STRAT_T512K].policy;
  for (uint64_t op = 0; op < 1000; op++) EXPECT_EQ(hak_policy_route(p, op).large_threshold, 512u << 10);
  p.canary = 1 + HAK_STRAT_T2M;
  unsigned to_challenger = 0;
  for (uint64_t op = 0; op < 1000; op++) {
    hak_policy_t r = hak_policy_route(p, op);
    bool ch = r.large_threshold == (2u << 20);
    EXPECT_EQ(ch, hak_policy_is_canary_op(p, op));
    if (!ch) EXPECT_EQ(r.large_threshold, 512u << 10);
    to_challenger += ch;
  }
  EXPECT_EQ(to_challenger, 50u);  // 5%
}

}  // namespace
