// walker_test.cc — the learning engine's invariant walkers (hak_evo_is_valid,
// hak_ucb1_is_valid, hak_elo_is_valid), which HAK_DEBUG_WALK runs after
// every window end at HAK_DEBUG >= 3: true through a simulated lifecycle of
// either learner, false for each kind of broken state.
#include <gtest/gtest.h>

#include <limits>
#include <string>

extern "C" {
#include "hakmem/policy/evo.h"
}

namespace {

hak_evo_config_t Config(hak_evo_learner_t learner) {
  hak_evo_config_t c = hak_evo_config_default();
  c.learner = learner;
  c.min_learn_ns = 0;
  return c;
}

// Windows of one size bucket whose cost depends on the strategy played.
void RunWindows(hak_evo_site_t* s, int windows, uint64_t* now) {
  uint64_t hist[HAK_DIST_BUCKETS] = {};
  hist[17] = 1000;
  for (int w = 0; w < windows; w++) {
    hak_window_stats_t ws = {};
    ws.main = {1000, 100.0 + (double)(hak_evo_strategy(s) * 7 % 13), 10, 1 << 20};
    ws.canary = {50, 90.0, -1, -1};
    ws.hist = hist;
    *now += 3000000000ull;
    hak_evo_window_end(s, &ws, *now);
    ASSERT_TRUE(hak_evo_is_valid(s)) << "window " << w;
  }
}

class Walkers : public ::testing::TestWithParam<hak_evo_learner_t> {};

TEST_P(Walkers, TrueThroughALifecycle) {
  hak_evo_config_t c = Config(GetParam());
  hak_evo_site_t s;
  uint64_t now = 1;
  hak_evo_init(&s, &c, 3, now);
  EXPECT_TRUE(hak_evo_is_valid(&s));
  RunWindows(&s, 60, &now);
}

TEST_P(Walkers, FalseForBrokenState) {
  hak_evo_config_t c = Config(GetParam());
  hak_evo_site_t s, t;
  uint64_t now = 1;
  hak_evo_init(&s, &c, 3, now);
  RunWindows(&s, 10, &now);
  ASSERT_TRUE(hak_evo_is_valid(&s));

  t = s, t.cur = t.n_arms;  // an arm out of range
  EXPECT_FALSE(hak_evo_is_valid(&t));
  t = s, t.state = 7;  // no such state
  EXPECT_FALSE(hak_evo_is_valid(&t));
  t = s, t.state = t.state == HAK_EVO_FROZEN ? HAK_EVO_LEARN : HAK_EVO_FROZEN;  // not the last transition's
  EXPECT_FALSE(hak_evo_is_valid(&t));
  t = s, t.ref_hist[3] = 5, t.sizes_seen &= ~(1u << 3);  // a reference size never seen
  EXPECT_FALSE(hak_evo_is_valid(&t));
  t = s, t.cfg = nullptr;
  EXPECT_FALSE(hak_evo_is_valid(&t));
  if (GetParam() == HAK_EVO_UCB1) {
    t = s, t.l.ucb1.total++;  // total is not the sum of the pulls
    EXPECT_FALSE(hak_ucb1_is_valid(&t.l.ucb1));
    EXPECT_FALSE(hak_evo_is_valid(&t));
    t = s, t.l.ucb1.arm[0] = HAK_STRAT_COUNT;  // not a strategy row
    EXPECT_FALSE(hak_ucb1_is_valid(&t.l.ucb1));
  } else {
    t = s, t.l.elo.live = 0;  // live does not count the arms alive
    EXPECT_FALSE(hak_elo_is_valid(&t.l.elo));
    EXPECT_FALSE(hak_evo_is_valid(&t));
    t = s, t.l.elo.rating[1] = std::numeric_limits<double>::infinity();
    EXPECT_FALSE(hak_elo_is_valid(&t.l.elo));
  }
}

INSTANTIATE_TEST_SUITE_P(BothLearners, Walkers, ::testing::Values(HAK_EVO_UCB1, HAK_EVO_ELO),
                         [](const ::testing::TestParamInfo<hak_evo_learner_t>& i) {
                           return std::string(i.param == HAK_EVO_ELO ? "elo" : "ucb1");
                         });

}  // namespace
