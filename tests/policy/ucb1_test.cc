// ucb1_test.cc — UCB1 on simulated costs: it adopts the cheapest arm within
// a stated number of windows, and its hysteresis keeps it from flip-flopping
// between arms whose costs are within noise.
#include <algorithm>
#include <cstdio>

#include "tests/policy/sim.h"

namespace {

using policy_sim::Noise;

std::vector<uint8_t> Ucb1Arms() {
  std::vector<uint8_t> ids(HAK_STRATEGY_MAX);
  ids.resize(hak_strategy_set(HAK_STRAT_SET_UCB1, ids.data(), HAK_STRATEGY_MAX));
  return ids;
}

TEST(Ucb1Test, PlaysEveryArmOnceStartingWithTheInitialOne) {
  auto arms = Ucb1Arms();
  hak_ucb1_t u;
  hak_ucb1_init(&u, arms.data(), arms.size(), 2, nullptr);
  std::vector<unsigned> order;
  for (unsigned i = 0; i < arms.size(); i++) {
    unsigned a = hak_ucb1_select(&u);
    order.push_back(a);
    hak_ucb1_update(&u, a, 100);
  }
  EXPECT_EQ(order, (std::vector<unsigned>{2, 3, 4, 5, 0, 1}));
}

TEST(Ucb1Test, AdoptsOnlyAfterThreeWinningWindowsThenCoolsDown) {
  uint8_t arms[2] = {HAK_STRAT_T64K, HAK_STRAT_T128K};
  hak_ucb1_t u;
  hak_ucb1_init(&u, arms, 2, 0, nullptr);
  EXPECT_EQ(hak_ucb1_update(&u, 0, 100), 0);
  EXPECT_EQ(hak_ucb1_update(&u, 1, 93), 0);  // 7% cheaper: not enough
  EXPECT_EQ(u.streak, 0u);
  EXPECT_EQ(hak_ucb1_update(&u, 1, 80), 0);  // mean 86.5: 13.5% cheaper, 1st
  EXPECT_EQ(hak_ucb1_update(&u, 1, 86), 0);  // 2nd
  EXPECT_EQ(u.incumbent, 0);
  EXPECT_EQ(hak_ucb1_update(&u, 0, 100), 1);  // 3rd window in a row: adopted
  EXPECT_EQ(u.incumbent, 1);
  EXPECT_EQ(u.switches, 1u);
  // Arm 0 becomes far cheaper, but the cooldown holds for 10 updates...
  for (int i = 0; i < 10; i++) EXPECT_EQ(hak_ucb1_update(&u, 0, 1), 0) << i;
  EXPECT_EQ(u.incumbent, 1);
  // ... and then it still needs three windows in a row.
  EXPECT_EQ(hak_ucb1_update(&u, 0, 1), 0);
  EXPECT_EQ(hak_ucb1_update(&u, 0, 1), 0);
  EXPECT_EQ(hak_ucb1_update(&u, 0, 1), 1);
  EXPECT_EQ(u.incumbent, 0);
}

// Six arms (64 KiB ... 2 MiB), the 512 KiB one cheapest; the runner-up is
// `gap` dearer.
constexpr unsigned kBest = 3;

struct SimRun {
  unsigned converged;  // first window from which the incumbent stays the best
  double best_share;   // share of the last 200 windows that played the best
  unsigned switches;
};

SimRun Simulate(uint64_t seed, unsigned initial, unsigned windows, double sigma, double gap) {
  const double costs[6] = {150, 130, 120, 100, 100 * (1 + gap), 125};
  auto arms = Ucb1Arms();
  hak_ucb1_t u;
  hak_ucb1_init(&u, arms.data(), arms.size(), initial, nullptr);
  Noise noise(seed, sigma);
  SimRun r = {0, 0, 0};
  unsigned best_plays = 0;
  for (unsigned w = 1; w <= windows; w++) {
    unsigned a = hak_ucb1_select(&u);
    hak_ucb1_update(&u, a, noise(costs[a]));
    if (u.incumbent != kBest) r.converged = w + 1;
    if (w > windows - 200) best_plays += a == kBest;
  }
  r.best_share = best_plays / 200.0;
  r.switches = u.switches;
  return r;
}

struct Summary {
  std::vector<unsigned> conv;
  unsigned most_switches = 0;
  double min_share = 1;
  void Add(const SimRun &r) {
    conv.push_back(r.converged);
    most_switches = std::max(most_switches, r.switches);
    min_share = std::min(min_share, r.best_share);
  }
  void Print(const char *what) {
    std::sort(conv.begin(), conv.end());
    std::printf("UCB1 %s, %zu runs: adopted the best for good by window median %u, p90 %u, max %u; at most %u "
                "switches; best arm played in >= %.0f%% of windows 800-1000\n",
                what, conv.size(), conv[conv.size() / 2], conv[conv.size() * 9 / 10], conv.back(), most_switches,
                100 * min_share);
  }
};

TEST(Ucb1Test, ConvergesToTheCheapestArmWithin80Windows) {
  Summary sum;
  for (uint64_t seed = 1; seed <= 100; seed++) {
    for (unsigned initial : {0u, 2u}) {
      SimRun r = Simulate(seed, initial, 1000, 0.05, 0.15);
      EXPECT_LE(r.converged, 80u) << "seed " << seed << " initial " << initial;
      EXPECT_LE(r.switches, 2u) << "seed " << seed;
      sum.Add(r);
    }
  }
  sum.Print("(6 arms, 5% noise, runner-up 15% dearer)");
  // Exploration goes on (UCB1 never stops), but the best arm is played most.
  EXPECT_GE(sum.min_share, 0.30);
}

// A runner-up only 9% dearer sits just past the 8% adoption margin: when
// noise lets it be adopted first, displacing it needs mean estimates good to
// a fraction of a percent. The price of the hysteresis: a long tail.
TEST(Ucb1Test, RunnerUpNearTheMarginConvergesSlowly) {
  Summary sum;
  for (uint64_t seed = 1; seed <= 100; seed++) {
    for (unsigned initial : {0u, 2u}) {
      SimRun r = Simulate(seed, initial, 1500, 0.05, 0.09);
      EXPECT_LE(r.converged, 1000u) << "seed " << seed << " initial " << initial;
      sum.Add(r);
    }
  }
  sum.Print("(6 arms, 5% noise, runner-up 9% dearer)");
  EXPECT_LE(sum.conv[sum.conv.size() / 2], 40u);  // the median run is still quick
}

// Two arms 1% apart under 5% noise: adoption should (almost) never change.
TEST(Ucb1Test, HysteresisPreventsFlipFloppingWithinNoise) {
  uint8_t arms[2] = {HAK_STRAT_T256K, HAK_STRAT_T512K};
  const double costs[2] = {101, 100};
  unsigned most = 0, total_plain = 0;
  for (uint64_t seed = 1; seed <= 40; seed++) {
    hak_ucb1_t u, plain;
    hak_ucb1_init(&u, arms, 2, 0, nullptr);
    hak_ucb1_config_t none = HAK_UCB1_CONFIG_DEFAULT;
    none.margin = 0, none.streak = 1, none.cooldown = 0;  // no hysteresis
    hak_ucb1_init(&plain, arms, 2, 0, &none);
    Noise noise(seed, 0.05), noise2(seed, 0.05);
    for (int w = 0; w < 1000; w++) {
      unsigned a = hak_ucb1_select(&u);
      hak_ucb1_update(&u, a, noise(costs[a]));
      unsigned b = hak_ucb1_select(&plain);
      hak_ucb1_update(&plain, b, noise2(costs[b]));
    }
    EXPECT_LE(u.switches, 1u) << "seed " << seed;
    most = std::max(most, u.switches);
    total_plain += plain.switches;
  }
  std::printf("UCB1 two arms 1%% apart, 5%% noise, 1000 windows x 40 seeds: at most %u switch(es) with hysteresis, "
              "%.1f on average without\n",
              most, total_plain / 40.0);
  EXPECT_GT(total_plain / 40.0, 2.0);  // the hysteresis is what holds it still (measured 3.5 without it)
}

TEST(Ucb1Test, RankOrdersByMeanCostWithUnplayedLast) {
  uint8_t arms[3] = {HAK_STRAT_T64K, HAK_STRAT_T128K, HAK_STRAT_T256K};
  hak_ucb1_t u;
  hak_ucb1_init(&u, arms, 3, 0, nullptr);
  hak_ucb1_update(&u, 0, 50);
  hak_ucb1_update(&u, 2, 20);
  uint8_t order[3];
  hak_ucb1_rank(&u, order);
  EXPECT_EQ(order[0], 2);
  EXPECT_EQ(order[1], 0);
  EXPECT_EQ(order[2], 1);
  EXPECT_EQ(hak_ucb1_leader(&u), 2u);
}

// Selecting among some arms: never one outside them, unplayed ones first,
// then the bonus rule over those arms alone; none: the leader.
TEST(Ucb1Test, SelectAmongPlaysOnlyTheAllowedArms) {
  const uint8_t arms[] = {0, 1, 2, 7};
  hak_ucb1_t u;
  hak_ucb1_init(&u, arms, 4, 0, nullptr);
  const uint32_t allowed = 1u << 1 | 1u << 3;
  std::vector<unsigned> played;
  for (int w = 0; w < 40; w++) {
    unsigned a = hak_ucb1_select_among(&u, allowed);
    ASSERT_TRUE(allowed >> a & 1u) << "window " << w << ": arm " << a;
    played.push_back(a);
    hak_ucb1_update(&u, a, a == 3 ? 50.0 : 100.0);
  }
  EXPECT_EQ(played[0], 1u);  // unplayed, in arm order from the initial one
  EXPECT_EQ(played[1], 3u);
  EXPECT_EQ(u.pulls[0] + u.pulls[2], 0u);
  EXPECT_GT(u.pulls[3], u.pulls[1]);
  EXPECT_EQ(hak_ucb1_select_among(&u, 0), hak_ucb1_leader(&u));
  EXPECT_EQ(hak_ucb1_select(&u), 0u) << "all arms: the unplayed first";
}

TEST(Ucb1Test, AForgottenArmIsUnplayedAgain) {
  const uint8_t arms[] = {0, 1, 2};
  hak_ucb1_t u;
  hak_ucb1_init(&u, arms, 3, 0, nullptr);
  for (unsigned a = 0; a < 3; a++) hak_ucb1_update(&u, a, 10.0 * (a + 1));
  hak_ucb1_update(&u, 1, 20.0);
  hak_ucb1_forget(&u, 1);
  EXPECT_EQ(u.pulls[1], 0u);
  EXPECT_EQ(u.total, 2u);
  EXPECT_EQ(hak_ucb1_mean(&u, 1), 0.0);
  EXPECT_TRUE(hak_ucb1_is_valid(&u));
  EXPECT_EQ(hak_ucb1_select(&u), 1u);
}

}  // namespace
