// evo_test.cc — the LEARN -> FROZEN -> CANARY lifecycle driven window by
// window through a simulated site (sim.h): freezing on the best strategy,
// a cost drift that a better challenger wins, challengers that lose and are
// rolled back, size-class drift, the HAKMEM_EVO modes, the transition ring
// and the JSON.
#include <algorithm>
#include <set>
#include <cstdio>
#include <string>

#include "tests/policy/sim.h"

namespace {

using policy_sim::Driver;
using policy_sim::Env;
using policy_sim::FlatEnv;
using policy_sim::History;

// UCB1 ladder costs (CPU per op): 512 KiB cheapest, then 1 MiB, 256 KiB, ...
Env Ucb1Env() {
  Env e = FlatEnv(200);
  e.cpu[HAK_STRAT_T64K] = 150, e.cpu[HAK_STRAT_T128K] = 130, e.cpu[HAK_STRAT_T256K] = 120;
  e.cpu[HAK_STRAT_T512K] = 100, e.cpu[HAK_STRAT_T1M] = 112, e.cpu[HAK_STRAT_T2M] = 125;
  return e;
}

// The placement ladder alone (the lifecycle's tests; the free-policy rows
// join in the default set, free_policy_test.cc).
hak_evo_config_t Ucb1Config() {
  hak_evo_config_t c = hak_evo_config_default();
  c.sets = HAK_STRAT_SET_UCB1;
  return c;
}

bool SamePolicy(hak_policy_t a, hak_policy_t b) { return hak_policy_to_word(a) == hak_policy_to_word(b); }

unsigned CountTransitionsTo(const hak_evo_site_t *s, hak_evo_state_t to) {
  unsigned n = 0;
  for (const auto &ev : History(s)) n += ev.to == to && ev.reason != HAK_EVO_R_START;
  return n;
}

// Learns and freezes on 512 KiB; returns the windows it took.
unsigned LearnAndFreeze(Driver &d, const Env &env) {
  unsigned w = d.RunUntil(env, 1000, [&] { return d.State() == HAK_EVO_FROZEN; });
  EXPECT_LE(w, 1000u);
  return w;
}

TEST(EvoTest, Ucb1SiteFreezesOnTheCheapestStrategyAndStaysFrozen) {
  const hak_evo_config_t cfg = Ucb1Config();
  const Env env = Ucb1Env();
  std::vector<unsigned> took;
  for (uint64_t seed = 1; seed <= 30; seed++) {
    Driver d(&cfg, seed);
    EXPECT_EQ(d.State(), HAK_EVO_LEARN);
    unsigned w = LearnAndFreeze(d, env);
    took.push_back(w);
    ASSERT_EQ(d.Strategy(), (unsigned)HAK_STRAT_T512K) << "seed " << seed;
    EXPECT_TRUE(SamePolicy(d.site.policy, hak_strategy_info[HAK_STRAT_T512K].policy));
    EXPECT_GE(w, 2u + 6u * 2u);  // the start-up's 2 windows, then every arm twice
    auto h = History(&d.site);
    ASSERT_EQ(h.size(), 2u);
    EXPECT_EQ(h[1].from, HAK_EVO_LEARN);
    EXPECT_EQ(h[1].to, HAK_EVO_FROZEN);
    EXPECT_EQ(h[1].reason, HAK_EVO_R_STABLE);
    // Same environment: nothing moves for 300 windows, the record is untouched.
    for (int i = 0; i < 300; i++) EXPECT_FALSE(d.Window(env));
    EXPECT_EQ(d.State(), HAK_EVO_FROZEN);
    EXPECT_EQ(History(&d.site).size(), 2u) << "seed " << seed;
  }
  std::sort(took.begin(), took.end());
  std::printf("evo/UCB1: froze on the best strategy after median %u, max %u windows (30 seeds, 3%% noise)\n",
              took[took.size() / 2], took.back());
  EXPECT_LE(took.back(), 200u);
}

// An arm 4% cheaper than the initial one (T256K) never wins the 8% x 3
// windows adoption margin, so it never becomes the incumbent; LEARN still
// freezes on it, and on the initial arm when that is the cheaper one. The
// other arms (1.3x) are not culled here: the rule under test needs the two
// close arms measured as often as UCB1 plays them, not a learning cut short.
TEST(EvoTest, Ucb1FreezesOnTheCheapestArmEvenWithinTheAdoptionMargin) {
  hak_evo_config_t cfg = Ucb1Config();
  cfg.cull_factor = 0;
  for (double other : {96.0, 104.0}) {
    Env env = FlatEnv(130);
    env.cpu[HAK_STRAT_T256K] = 100, env.cpu[HAK_STRAT_T512K] = other;
    const unsigned want = other < 100 ? HAK_STRAT_T512K : HAK_STRAT_T256K;
    for (uint64_t seed = 1; seed <= 30; seed++) {
      Driver d(&cfg, seed, 0.01);
      LearnAndFreeze(d, env);
      EXPECT_EQ(d.site.l.ucb1.switches, 0u) << "seed " << seed;  // within the margin: never adopted
      EXPECT_EQ(d.Strategy(), want) << "T512K costs " << other << ", seed " << seed;
      // Settled, LEARN played the arm it froze on: the baseline is its p99.
      EXPECT_FALSE(d.site.baseline_pending) << "seed " << seed;
    }
  }
}

// Successive elimination: an arm whose first window costs 1.25x the
// leader's or more is not explored again (UCB1 would otherwise play it
// until it has settle_pulls windows, it being under twice the leader's
// cost); it shows as not alive in the JSON.
TEST(EvoTest, AnArmFarWorseInItsFirstWindowIsCulled) {
  Env env = Ucb1Env();
  env.cpu[HAK_STRAT_T64K] = 150;  // 1.5x the leader (512 KiB, 100)
  for (double cull : {1.25, 0.0}) {
    hak_evo_config_t cfg = Ucb1Config();
    cfg.cull_factor = cull;
    for (uint64_t seed = 1; seed <= 20; seed++) {
      Driver d(&cfg, seed, 0.01);
      LearnAndFreeze(d, env);
      ASSERT_EQ(d.Strategy(), (unsigned)HAK_STRAT_T512K) << "seed " << seed;
      unsigned arm = 0;
      while (d.site.l.ucb1.arm[arm] != HAK_STRAT_T64K) arm++;
      if (cull > 0) {
        EXPECT_EQ(d.site.l.ucb1.pulls[arm], 1u) << "seed " << seed;
        EXPECT_TRUE(d.site.culled >> arm & 1u);
        char js[8192];
        hak_evo_to_json(js, sizeof js, &d.site, 0);
        EXPECT_NE(std::string(js).find("{\"name\":\"64k\",\"n\":1,\"mean\":"), std::string::npos) << js;
        EXPECT_NE(std::string(js).find("\"alive\":0"), std::string::npos) << js;
      } else {
        EXPECT_GE(d.site.l.ucb1.pulls[arm], cfg.settle_pulls) << "seed " << seed;
        EXPECT_EQ(d.site.culled, 0u);
      }
    }
  }
}

TEST(EvoTest, EloSiteFreezesOnTheBestStrategy) {
  hak_evo_config_t cfg = hak_evo_config_default();
  cfg.learner = HAK_EVO_ELO;
  Env env = FlatEnv(0);
  env.sizes.fill(0);  // sizes across the ELO ladder (512 KiB ... 32 MiB): no two rows route them alike
  for (unsigned b = 19; b <= 25; b++) env.sizes[b] = 1.0 / 7;
  uint8_t ids[HAK_STRATEGY_MAX];
  unsigned n = hak_strategy_set(HAK_STRAT_SET_ELO, ids, HAK_STRATEGY_MAX);
  for (unsigned i = 0; i < n; i++) {
    int dist = std::abs((int)i - 4);  // 2304 KiB best
    env.cpu[ids[i]] = 100 * (1 + 0.08 * dist), env.faults[ids[i]] = 0.01 * (1 + 0.1 * dist);
    env.bytes[ids[i]] = (64 << 20) * (1 + 0.05 * dist);
  }
  std::vector<unsigned> took;
  for (uint64_t seed = 1; seed <= 30; seed++) {
    Driver d(&cfg, seed);
    unsigned w = LearnAndFreeze(d, env);
    took.push_back(w);
    EXPECT_EQ(d.Strategy(), (unsigned)HAK_STRAT_T2304K) << "seed " << seed;
  }
  std::sort(took.begin(), took.end());
  std::printf("evo/ELO: froze on the best strategy after median %u, max %u windows (30 seeds)\n",
              took[took.size() / 2], took.back());
  EXPECT_LE(took.back(), 250u);
}

TEST(EvoTest, CostDriftTriggersCanaryAndTheBetterChallengerIsAdopted) {
  const hak_evo_config_t cfg = Ucb1Config();
  Driver d(&cfg, 7);
  LearnAndFreeze(d, Ucb1Env());
  ASSERT_EQ(d.Strategy(), (unsigned)HAK_STRAT_T512K);
  Env later = Ucb1Env();
  later.cpu[HAK_STRAT_T512K] = 160;  // the site's workload changed: 512 KiB is now poor
  later.cpu[HAK_STRAT_T1M] = 100;    // and 1 MiB the best
  unsigned w = d.RunUntil(later, 50, [&] { return d.State() == HAK_EVO_CANARY; });
  EXPECT_EQ(w, 3u);  // three windows worse by >= 20%
  EXPECT_EQ(d.site.policy.canary, 1 + HAK_STRAT_T1M);
  EXPECT_EQ(d.site.policy.large_threshold, 512u << 10);  // 95% of ops stay on the incumbent
  w = d.RunUntil(later, 50, [&] { return d.State() != HAK_EVO_CANARY; });
  EXPECT_EQ(w, 3u);  // one trial of three windows
  EXPECT_EQ(d.State(), HAK_EVO_FROZEN);
  EXPECT_EQ(d.Strategy(), (unsigned)HAK_STRAT_T1M);
  EXPECT_TRUE(SamePolicy(d.site.policy, hak_strategy_info[HAK_STRAT_T1M].policy));
  auto h = History(&d.site);
  ASSERT_EQ(h.size(), 4u);
  EXPECT_EQ(h[2].reason, HAK_EVO_R_WORSE);
  EXPECT_EQ(h[3].reason, HAK_EVO_R_WON);
  EXPECT_EQ(h[3].strategy, HAK_STRAT_T1M);
  EXPECT_EQ(d.site.adoptions, 1u);
  for (int i = 0; i < 200; i++) d.Window(later);
  EXPECT_EQ(d.State(), HAK_EVO_FROZEN);
  EXPECT_EQ(History(&d.site).size(), 4u);
}

TEST(EvoTest, ADecisiveCanaryEndsAtTheFirstWindowThatShowsIt) {
  const hak_evo_config_t cfg = Ucb1Config();
  Driver d(&cfg, 9);
  LearnAndFreeze(d, Ucb1Env());
  Env later = Ucb1Env();
  later.cpu[HAK_STRAT_T512K] = 400;  // the frozen strategy is now 4x the best
  later.cpu[HAK_STRAT_T1M] = 100;
  d.RunUntil(later, 50, [&] { return d.State() == HAK_EVO_CANARY; });
  ASSERT_EQ(d.site.policy.canary, 1 + HAK_STRAT_T1M);
  unsigned w = d.RunUntil(later, 50, [&] { return d.State() != HAK_EVO_CANARY; });
  EXPECT_EQ(w, 1u);  // 500 challenger ops at a quarter of the cost: no need for three windows
  EXPECT_EQ(d.Strategy(), (unsigned)HAK_STRAT_T1M);
  EXPECT_EQ(History(&d.site).back().reason, HAK_EVO_R_WON);
  // Not decisive (0.625x): the full three windows, as before.
  hak_evo_config_t slow = Ucb1Config();
  slow.canary_decisive = 0;
  Driver e(&slow, 9);
  LearnAndFreeze(e, Ucb1Env());
  e.RunUntil(later, 50, [&] { return e.State() == HAK_EVO_CANARY; });
  EXPECT_EQ(e.RunUntil(later, 50, [&] { return e.State() != HAK_EVO_CANARY; }), 3u);
}

TEST(EvoTest, AnExploringWindowMayBeCutAtElevenTenthsOfTheLeader) {
  const hak_evo_config_t cfg = Ucb1Config();
  Driver d(&cfg, 10);
  const Env env = Ucb1Env();
  bool saw_cut = false, saw_leader = false;
  for (int i = 0; i < 40 && d.State() == HAK_EVO_LEARN; i++) {
    double cut = hak_evo_cut_cost(&d.site);
    unsigned lead = hak_ucb1_leader(&d.site.l.ucb1);
    if (d.site.cur == lead || !d.site.l.ucb1.pulls[lead]) {
      EXPECT_EQ(cut, 0.0);  // the leader itself (or nothing measured yet): never cut
      EXPECT_FALSE(hak_evo_exploring(&d.site) && d.site.l.ucb1.pulls[lead]);
      saw_leader = true;
    } else {
      EXPECT_DOUBLE_EQ(cut, 1.1 * hak_ucb1_mean(&d.site.l.ucb1, lead));
      EXPECT_TRUE(hak_evo_exploring(&d.site));
      saw_cut = true;
    }
    d.Window(env);
  }
  EXPECT_TRUE(saw_cut);
  EXPECT_TRUE(saw_leader);
}

TEST(EvoTest, WithoutTheExplorationTurnASitePlaysItsLeader) {
  const hak_evo_config_t cfg = Ucb1Config();
  Driver d(&cfg, 11);
  const Env env = Ucb1Env();
  for (int i = 0; i < 12; i++) d.Window(env);  // every arm measured
  d.exploit_only = true;
  for (int i = 0; i < 20; i++) {
    d.Window(env);
    EXPECT_EQ(d.site.cur, hak_ucb1_leader(&d.site.l.ucb1)) << "window " << i;
    EXPECT_FALSE(hak_evo_exploring(&d.site));
  }
  d.exploit_only = false;  // the turn comes back: exploration resumes
  bool explored = false;
  for (int i = 0; i < 40 && !explored; i++) d.Window(env), explored = hak_evo_exploring(&d.site);
  EXPECT_TRUE(explored);
}

TEST(EvoTest, ArmsThatRouteTheSitesSizesAlikeShareTheirMeasurements) {
  const hak_evo_config_t cfg = Ucb1Config();
  Driver d(&cfg, 12);
  Env env = Ucb1Env();
  env.sizes.fill(0), env.sizes[16] = 1;  // every request ~96 KiB: 128 KiB ... 2 MiB all mean "the pools"
  ASSERT_EQ(d.Strategy(), (unsigned)HAK_STRAT_T256K);
  d.Window(env), d.Window(env), d.Window(env);  // the first 3 windows play the initial arm; the 3rd is credited
  const hak_ucb1_t &u = d.site.l.ucb1;
  for (unsigned a = 0; a < u.n; a++) {
    unsigned want = u.arm[a] == HAK_STRAT_T64K ? 0u : 1u;  // 64 KiB alone sends them to the large engine
    EXPECT_EQ(u.pulls[a], want) << hak_strategy_info[u.arm[a]].name;
  }
  EXPECT_EQ(d.Strategy(), (unsigned)HAK_STRAT_T64K) << "the only arm not measured yet";
  // Two choices, not six: the site settles and freezes on the pools' side.
  env.cpu[HAK_STRAT_T64K] = 200;
  for (unsigned i = 0; i < u.n; i++)
    if (u.arm[i] != HAK_STRAT_T64K) env.cpu[u.arm[i]] = 100;
  unsigned w = d.RunUntil(env, 1000, [&] { return d.State() == HAK_EVO_FROZEN; });
  EXPECT_LE(w, 40u);
  EXPECT_NE(d.Strategy(), (unsigned)HAK_STRAT_T64K);
}

// A site of ~384 KiB requests: 64 KiB ... 256 KiB all mean "the large
// engine", 512 KiB ... 2 MiB "the pools". An arm alike with the leader is
// never played as itself: the leader plays, and does not count as exploring
// (it is not cut, and the switch back from a real exploration is its
// warm-up, not an exploring window's cost charged to the leader's side).
TEST(EvoTest, AnArmAlikeWithTheLeaderIsPlayedAsTheLeader) {
  const hak_evo_config_t cfg = Ucb1Config();
  Env env = Ucb1Env();
  env.sizes.fill(0), env.sizes[18] = 1;
  env.cpu[HAK_STRAT_T64K] = env.cpu[HAK_STRAT_T128K] = env.cpu[HAK_STRAT_T256K] = 100;
  env.cpu[HAK_STRAT_T512K] = env.cpu[HAK_STRAT_T1M] = env.cpu[HAK_STRAT_T2M] = 300;
  unsigned explored = 0;
  for (uint64_t seed = 1; seed <= 10; seed++) {
    Driver d(&cfg, seed);
    for (int i = 0; i < 40 && d.State() == HAK_EVO_LEARN; i++) {
      d.Window(env);
      if (d.State() != HAK_EVO_LEARN) break;
      unsigned lead = hak_ucb1_leader(&d.site.l.ucb1), played = d.Strategy();
      bool lead_large = hak_strategy_info[hak_evo_arm_strategy(&d.site, lead)].policy.large_threshold <= 256 * 1024;
      bool played_large = hak_strategy_info[played].policy.large_threshold <= 256 * 1024;
      if (hak_evo_exploring(&d.site)) {
        explored++;
        EXPECT_NE(played_large, lead_large) << "seed " << seed << " window " << i << ": exploring "
                                            << hak_strategy_info[played].name << ", alike with the leader";
      } else if (d.site.window >= cfg.explore_after && d.site.cur != d.site.incumbent) {
        EXPECT_EQ(d.site.cur, lead) << "seed " << seed << " window " << i;
      }
    }
    EXPECT_EQ(d.State(), HAK_EVO_FROZEN) << "seed " << seed;
    EXPECT_LE(hak_strategy_info[d.Strategy()].policy.large_threshold, 256u * 1024) << "seed " << seed;
  }
  EXPECT_GT(explored, 0u) << "the pools' side is tried";
}

TEST(EvoTest, CanaryOnlyTriesChallengersThatRouteTheNewSizesDifferently) {
  const hak_evo_config_t cfg = Ucb1Config();
  Driver d(&cfg, 13);
  LearnAndFreeze(d, Ucb1Env());
  ASSERT_EQ(d.Strategy(), (unsigned)HAK_STRAT_T512K);
  Env small = Ucb1Env();
  small.sizes.fill(0), small.sizes[16] = 1;  // drift to ~96 KiB: only 64 KiB routes them unlike 512 KiB
  d.Window(small);
  ASSERT_EQ(d.State(), HAK_EVO_CANARY);
  EXPECT_EQ(d.site.policy.canary, 1 + HAK_STRAT_T64K);
  d.RunUntil(small, 50, [&] { return d.State() != HAK_EVO_CANARY; });
  EXPECT_EQ(d.site.rollbacks, 1u);  // 64 KiB costs 150 here, 512 KiB 100
  // Sizes beyond every threshold (32 MiB+): every arm routes them alike, so
  // a drift there has nothing to try and returns to FROZEN at once.
  Env huge = Ucb1Env();
  huge.sizes.fill(0), huge.sizes[25] = 1;
  d.Window(huge);
  EXPECT_EQ(d.State(), HAK_EVO_FROZEN);
  EXPECT_EQ(History(&d.site).back().reason, HAK_EVO_R_LOST);
  EXPECT_EQ(d.site.drifts, 2u);
}

TEST(EvoTest, ALosingFirstChallengerIsFollowedByTheNext) {
  const hak_evo_config_t cfg = Ucb1Config();
  Driver d(&cfg, 8);
  LearnAndFreeze(d, Ucb1Env());
  d.RunUntil(Ucb1Env(), 5, [] { return false; });  // FROZEN measures its baseline
  Env later = Ucb1Env();
  later.cpu[HAK_STRAT_T512K] = 160, later.cpu[HAK_STRAT_T1M] = 170, later.cpu[HAK_STRAT_T256K] = 100;
  d.RunUntil(later, 50, [&] { return d.State() == HAK_EVO_CANARY; });
  EXPECT_EQ(d.site.policy.canary, 1 + HAK_STRAT_T1M);  // the learner's runner-up first
  d.RunUntil(later, 3, [] { return false; });
  EXPECT_EQ(d.State(), HAK_EVO_CANARY);
  EXPECT_EQ(d.site.policy.canary, 1 + HAK_STRAT_T256K);  // it lost; the next one
  d.RunUntil(later, 50, [&] { return d.State() != HAK_EVO_CANARY; });
  EXPECT_EQ(d.Strategy(), (unsigned)HAK_STRAT_T256K);
  EXPECT_EQ(History(&d.site).back().reason, HAK_EVO_R_WON);
}

TEST(EvoTest, WorseChallengersAreRolledBackAndTheBaselineIsRemeasured) {
  const hak_evo_config_t cfg = Ucb1Config();
  Driver d(&cfg, 9);
  LearnAndFreeze(d, Ucb1Env());
  // Everything gets 50% dearer (say, the machine got busy): 512 KiB is still best.
  Env busy = Ucb1Env();
  for (double &c : busy.cpu) c *= 1.5;
  d.RunUntil(busy, 50, [&] { return d.State() == HAK_EVO_CANARY; });
  ASSERT_EQ(d.State(), HAK_EVO_CANARY);
  d.RunUntil(busy, 50, [&] { return d.State() != HAK_EVO_CANARY; });
  EXPECT_EQ(d.State(), HAK_EVO_FROZEN);
  EXPECT_EQ(d.Strategy(), (unsigned)HAK_STRAT_T512K);
  EXPECT_TRUE(SamePolicy(d.site.policy, hak_strategy_info[HAK_STRAT_T512K].policy));  // canary off
  auto h = History(&d.site);
  EXPECT_EQ(h.back().reason, HAK_EVO_R_LOST);
  EXPECT_EQ(d.site.rollbacks, 1u);
  // The new level becomes the baseline: no canary storm.
  for (int i = 0; i < 200; i++) d.Window(busy);
  EXPECT_EQ(CountTransitionsTo(&d.site, HAK_EVO_CANARY), 1u);
  EXPECT_NEAR(d.site.baseline / 150.0, 1.0, 0.15);
}

TEST(EvoTest, SizeClassDriftTriggersCanaryAndAWorseChallengerIsRolledBack) {
  const hak_evo_config_t cfg = Ucb1Config();
  Driver d(&cfg, 10);
  LearnAndFreeze(d, Ucb1Env());
  Env moved = Ucb1Env();
  policy_sim::MoveSizes(moved);  // TV distance 0.5 from the learned one
  EXPECT_TRUE(d.Window(moved));  // drift is judged on one window
  EXPECT_EQ(d.State(), HAK_EVO_CANARY);
  EXPECT_EQ(History(&d.site).back().reason, HAK_EVO_R_DRIFT);
  d.RunUntil(moved, 50, [&] { return d.State() != HAK_EVO_CANARY; });
  EXPECT_EQ(d.Strategy(), (unsigned)HAK_STRAT_T512K);
  EXPECT_EQ(History(&d.site).back().reason, HAK_EVO_R_LOST);
  EXPECT_EQ(d.site.drifts, 1u);
  // The moved distribution is the new reference.
  for (int i = 0; i < 100; i++) d.Window(moved);
  EXPECT_EQ(CountTransitionsTo(&d.site, HAK_EVO_CANARY), 1u);
  // A small move (10%) is not drift.
  Env nudged = moved;
  nudged.sizes[21] = 0.1, nudged.sizes[22] = 0.1;
  for (int i = 0; i < 50; i++) d.Window(nudged);
  EXPECT_EQ(CountTransitionsTo(&d.site, HAK_EVO_CANARY), 1u);
}

TEST(EvoTest, CanaryRoutesFivePercentOfOps) {
  const hak_evo_config_t cfg = Ucb1Config();
  Driver d(&cfg, 11);
  LearnAndFreeze(d, Ucb1Env());
  Env moved = Ucb1Env();
  policy_sim::MoveSizes(moved);
  d.Window(moved);
  ASSERT_EQ(d.State(), HAK_EVO_CANARY);
  unsigned ch = 0;
  for (uint64_t op = 12345; op < 12345 + 100000; op++) ch += hak_policy_is_canary_op(d.site.policy, op);
  EXPECT_EQ(ch, 5000u);
}

TEST(EvoTest, ModeOffDoesNothing) {
  hak_evo_config_t cfg = hak_evo_config_default();
  cfg.mode = HAK_EVO_MODE_OFF;
  Driver d(&cfg, 1);
  EXPECT_EQ(d.State(), HAK_EVO_OFF);
  EXPECT_TRUE(SamePolicy(d.site.policy, hak_strategy_info[HAK_STRAT_T256K].policy));  // nearest to 256 KiB
  EXPECT_FALSE(hak_evo_window_due(&d.site, 1 << 30, ~0ull));
  hak_window_stats_t ws = {};
  ws.main.ops = 10000, ws.main.cpu_per_op = 1;
  EXPECT_FALSE(hak_evo_window_end(&d.site, &ws, 5));
  EXPECT_EQ(d.site.window, 0u);
}

TEST(EvoTest, ModeFrozenPinsTheInitialStrategy) {
  hak_evo_config_t cfg = hak_evo_config_default();
  cfg.mode = HAK_EVO_MODE_FROZEN;
  Driver d(&cfg, 1);
  EXPECT_EQ(d.State(), HAK_EVO_FROZEN);
  Env env = Ucb1Env();
  for (int i = 0; i < 100; i++) EXPECT_FALSE(d.Window(env));
  env.cpu[HAK_STRAT_T256K] = 1000, env.sizes.fill(0), env.sizes[25] = 1;
  for (int i = 0; i < 100; i++) EXPECT_FALSE(d.Window(env));
  EXPECT_EQ(d.State(), HAK_EVO_FROZEN);
  EXPECT_EQ(d.Strategy(), (unsigned)HAK_STRAT_T256K);
  EXPECT_EQ(History(&d.site).size(), 1u);
  EXPECT_EQ(d.site.window, 200u);
}

TEST(EvoTest, ModeLearnNeverFreezes) {
  hak_evo_config_t cfg = Ucb1Config();
  cfg.mode = HAK_EVO_MODE_LEARN;
  Driver d(&cfg, 1);
  std::set<unsigned> played;
  for (int i = 0; i < 500; i++) d.Window(Ucb1Env()), played.insert(d.Strategy());
  EXPECT_EQ(d.State(), HAK_EVO_LEARN);
  EXPECT_EQ(played.size(), 6u);  // it keeps exploring
  EXPECT_EQ(d.site.l.ucb1.arm[d.site.l.ucb1.incumbent], HAK_STRAT_T512K);
}

// window.h's rules through the lifecycle: the first window ends at 50 ms
// with 64 requests or more (the rate is unknown), later ones at the op count
// the site's rate makes in 50 ms, any at 2 s.
TEST(EvoTest, WindowsFollowTheSitesRate) {
  const hak_evo_config_t cfg = hak_evo_config_default();
  hak_evo_site_t s;
  hak_evo_init(&s, &cfg, 1, 1000);
  EXPECT_FALSE(hak_evo_window_due(&s, 9999, 1000 + 49999999));  // before 50 ms
  EXPECT_TRUE(hak_evo_window_due(&s, 10000, 1000));             // the cap
  EXPECT_TRUE(hak_evo_window_due(&s, 64, 1000 + 50000000));
  EXPECT_FALSE(hak_evo_window_due(&s, 63, 1000 + 50000000));    // too few to judge yet
  EXPECT_TRUE(hak_evo_window_due(&s, 1, 1000 + 2000000000));
  hak_window_stats_t ws = {};
  ws.main.ops = 250, ws.main.cpu_per_op = 10, ws.main.faults = -1, ws.main.bytes_mapped = -1;
  hak_evo_window_end(&s, &ws, 1000 + 50000000);  // 250 requests in 50 ms: 5,000 a second
  EXPECT_EQ(s.window, 1u);
  EXPECT_EQ(s.win.limit, 250u);
  EXPECT_FALSE(hak_evo_window_due(&s, 249, 1000 + 50000001));
  EXPECT_TRUE(hak_evo_window_due(&s, 250, 1000 + 50000001));
  ws.main.ops = 0;  // an empty window only restarts the clock
  EXPECT_FALSE(hak_evo_window_end(&s, &ws, 8000000000ull));
  EXPECT_EQ(s.window, 1u);
  EXPECT_FALSE(hak_evo_window_due(&s, 0, 9000000000ull));
}

// --- history and JSON ---------------------------------------------------------

bool BalancedJson(const std::string &s) {
  int depth = 0;
  bool in_str = false;
  for (size_t i = 0; i < s.size(); i++) {
    char c = s[i];
    if (in_str) {
      if (c == '\\') i++;
      else if (c == '"') in_str = false;
      continue;
    }
    if (c == '"') in_str = true;
    else if (c == '{' || c == '[') depth++;
    else if (c == '}' || c == ']') {
      if (--depth < 0) return false;
    }
  }
  return depth == 0 && !in_str;
}

std::string Json(const hak_evo_site_t *s) {
  size_t need = hak_evo_to_json(nullptr, 0, s, 0);
  std::string out(need + 1, '\0');
  EXPECT_EQ(hak_evo_to_json(&out[0], out.size(), s, 0), need);
  out.resize(need);
  return out;
}

size_t Count(const std::string &s, const std::string &what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) n++;
  return n;
}

TEST(EvoTest, HistoryRingKeepsTheLastEightTransitions) {
  const hak_evo_config_t cfg = Ucb1Config();
  Driver d(&cfg, 12);
  LearnAndFreeze(d, Ucb1Env());
  Env a = Ucb1Env(), b = Ucb1Env();
  policy_sim::MoveSizes(b);
  for (int cycle = 0; cycle < 6; cycle++) d.RunUntil(cycle % 2 ? a : b, 20, [] { return false; });
  EXPECT_EQ(d.site.history_len, 2u + 6 * 2);  // start, stable, then drift + lost per cycle
  auto h = History(&d.site);
  ASSERT_EQ(h.size(), HAK_EVO_HISTORY);
  EXPECT_EQ(h.back().reason, HAK_EVO_R_LOST);
  for (size_t i = 1; i < h.size(); i++) EXPECT_GE(h[i].window, h[i - 1].window);
  std::string j = Json(&d.site);
  EXPECT_EQ(Count(j, "\"reason\":"), (size_t)HAK_EVO_HISTORY);
  EXPECT_EQ(Count(j, "\"reason\":\"start\""), 0u);  // pushed out of the ring
}

TEST(EvoTest, JsonIsBalancedAndCarriesStateStrategyRatingsAndHistory) {
  const hak_evo_config_t cfg = Ucb1Config();
  Driver d(&cfg, 13);
  std::string learning = Json(&d.site);
  EXPECT_TRUE(BalancedJson(learning)) << learning;
  EXPECT_NE(learning.find("\"state\":\"LEARN\""), std::string::npos) << learning;
  EXPECT_NE(learning.find("\"sizes_seen\":[],"), std::string::npos) << learning;  // no window yet
  LearnAndFreeze(d, Ucb1Env());
  Env moved = Ucb1Env();
  policy_sim::MoveSizes(moved);
  d.Window(moved);
  std::string j = Json(&d.site);
  EXPECT_TRUE(BalancedJson(j)) << j;
  for (const char *field : {"\"state\":\"CANARY\"", "\"mode\":\"auto\"", "\"learner\":\"ucb1\"",
                            "\"strategy\":\"512k\"", "\"challenger\":\"1m\"", "\"window\":", "\"p99\":",
                            "\"baseline\":", "\"ratings\":[{\"name\":\"512k\"", "\"history\":[",
                            "{\"window\":0,\"from\":\"LEARN\",\"to\":\"LEARN\",\"reason\":\"start\"",
                            "\"to\":\"FROZEN\",\"reason\":\"stable\",\"strategy\":\"512k\"",
                            "\"to\":\"CANARY\",\"reason\":\"drift\"",
                            // the buckets of both distributions (FlatEnv's and MoveSizes')
                            "\"sizes_seen\":[12,16,17,18,19,20,21,25],"})
    EXPECT_NE(j.find(field), std::string::npos) << field << " in " << j;
  EXPECT_EQ(Count(j, "\"name\":"), 6u);  // every arm of the UCB1 ladder
  std::printf("site JSON in CANARY: %s\n", j.c_str());
  // Truncation: same length reported, NUL-terminated prefix.
  char small[40];
  EXPECT_EQ(hak_evo_to_json(small, sizeof small, &d.site, 0), j.size());
  EXPECT_EQ(std::string(small), j.substr(0, sizeof small - 1));

  hak_evo_config_t ecfg = hak_evo_config_default();
  ecfg.learner = HAK_EVO_ELO;
  Driver e(&ecfg, 14);
  for (int i = 0; i < 30; i++) e.Window(Ucb1Env());
  std::string ej = Json(&e.site);
  EXPECT_TRUE(BalancedJson(ej)) << ej;
  EXPECT_NE(ej.find("\"learner\":\"elo\""), std::string::npos);
  EXPECT_EQ(Count(ej, "\"name\":"), 12u);
  EXPECT_NE(ej.find("\"rating\":15"), std::string::npos) << ej;
}

}  // namespace
