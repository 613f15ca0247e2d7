// free_policy_test.cc — the default learner's space (placement and free
// policy, strategy.h) on simulated sites: a reuse-heavy site keeps its
// cache, a hold-and-release site returns its memory, the memory term makes
// a faster but fatter policy lose, and a short site freezes on its own rate
// (windows of window.h, costs of meter.h, simulated clock).
#include <cstdio>
#include <set>

#include "tests/policy/sim.h"

extern "C" {
#include "hakmem/policy/meter.h"
#include "hakmem/policy/window.h"
}

namespace {

using policy_sim::History;
using policy_sim::Noise;

constexpr double kMiB = 1 << 20;

// A site of one size (1 MiB, bucket 20) whose time and resident bytes per
// strategy row are given; requests arrive at `rate` per second, and windows
// end when the lifecycle says so (window.h), as the front door would.
struct Site {
  std::array<double, HAK_STRAT_COUNT> cpu{};
  std::array<double, HAK_STRAT_COUNT> resident{};
  double rate = 5000;
  double mem_ns = HAK_METER_MEM_NS_DEFAULT;
  bool frees = true;  // it frees a block per request (false: it keeps every block)
  unsigned bucket = 20;  // its requests' log2 size bucket (20: 1 MiB)
  std::array<double, HAK_STRAT_COUNT> faults{};  // page faults per request per row (used when known_faults)
  bool known_faults = false;  // false: the windows report faults unknown (-1)
};

class RateDriver {
 public:
  RateDriver(const hak_evo_config_t *cfg, uint64_t seed, double sigma = 0.02) : noise_(seed, sigma) {
    hak_evo_init(&site, cfg, seed, now_);
  }
  // Plays requests until the window ends; returns its ops.
  uint64_t Window(const Site &env) {
    uint64_t ops = 0, step = (uint64_t)(1e9 / env.rate);
    do {
      ops++;
      now_ += step;
    } while (!hak_evo_window_due(&site, ops, now_));
    unsigned row = hak_evo_strategy(&site);
    hak_window_stats_t ws = {};
    ws.main.ops = ops;
    ws.main.cpu_per_op = noise_(env.cpu[row]);
    ws.main.faults = env.known_faults ? (int64_t)std::llround(env.faults[row] * (double)ops) : -1;
    ws.main.bytes_mapped = (int64_t)env.resident[row];
    ws.main.mem_per_op = hak_meter_mem_per_op(ws.main.cpu_per_op, env.resident[row], env.mem_ns);
    uint64_t hist[HAK_DIST_BUCKETS] = {};
    hist[env.bucket] = ops;
    ws.hist = hist;
    ws.large_frees = env.frees ? ops : 0;
    hak_evo_window_end(&site, &ws, now_);
    return ops;
  }
  // Runs until FROZEN or max_ns of simulated time; returns the time taken.
  uint64_t RunUntilFrozen(const Site &env, uint64_t max_ns) {
    uint64_t t0 = now_;
    while (site.state != HAK_EVO_FROZEN && now_ - t0 < max_ns) Window(env);
    return now_ - t0;
  }
  hak_policy_t Policy() const { return hak_strategy_info[hak_evo_strategy(&site)].policy; }
  uint64_t Pulls(unsigned row) const {
    for (unsigned a = 0; a < site.n_arms; a++)
      if (site.l.ucb1.arm[a] == row) return site.l.ucb1.pulls[a];
    return 0;
  }
  hak_evo_site_t site;

 private:
  Noise noise_;
  uint64_t now_ = 1000000000ull;
};

bool FreeRow(unsigned row) { return (hak_strategy_info[row].sets & HAK_STRAT_SET_FREE) != 0; }

// Rows whose freed blocks' pages go back to the kernel (no cache; RETURN or LAZY).
bool GivesBack(unsigned row) {
  hak_policy_t p = hak_strategy_info[row].policy;
  return p.cache_slots == 0 && (p.release == HAK_STRAT_RETURN || p.release == HAK_STRAT_LAZY);
}

// Rows that keep freed 1 MiB blocks for reuse (BigCache on).
bool Caches(unsigned row) { return hak_strategy_info[row].policy.cache_slots != 0 && hak_strategy_info[row].policy.large_threshold <= (1u << 20); }

// Reuse-heavy: the site frees a block and asks for one again at once. With a
// cache each request is a hit (100 cycles); without, a fresh mapping and its
// page faults (1,500 cycles). The cache holds 4 blocks (4 MiB).
Site ReuseHeavy() {
  Site s;
  for (unsigned r = 0; r < HAK_STRAT_COUNT; r++) {
    bool c = Caches(r);
    s.cpu[r] = c ? 100 : 1500;
    s.resident[r] = (c ? 5 : 1) * kMiB;
  }
  return s;
}

TEST(FreePolicyTest, AReuseHeavySiteKeepsItsCache) {
  const hak_evo_config_t cfg = hak_evo_config_default();
  for (uint64_t seed = 1; seed <= 20; seed++) {
    RateDriver d(&cfg, seed);
    uint64_t took = d.RunUntilFrozen(ReuseHeavy(), 10000000000ull);
    ASSERT_EQ(d.site.state, HAK_EVO_FROZEN) << "seed " << seed;
    EXPECT_TRUE(Caches(hak_evo_strategy(&d.site))) << hak_strategy_info[hak_evo_strategy(&d.site)].name;
    EXPECT_LE(took, 2000000000ull) << "seed " << seed;
  }
}

// Hold-and-release: the site allocates 64 blocks, holds them, frees them all,
// and starts again later; a kept block is not reused before it ages out, so
// keeping saves no time (all rows cost 400 cycles a request) but holds the
// freed 64 MiB resident: KEEP, the cache and LAZY's MADV_FREE (the kernel
// takes the pages only under pressure) keep them; RETURN gives them back.
TEST(FreePolicyTest, AHoldAndReleaseSiteReturnsItsMemory) {
  const hak_evo_config_t cfg = hak_evo_config_default();
  Site s;
  for (unsigned r = 0; r < HAK_STRAT_COUNT; r++) {
    hak_policy_t p = hak_strategy_info[r].policy;
    bool returns = p.large_threshold <= (1u << 20) && p.release == HAK_STRAT_RETURN;
    s.cpu[r] = 400;
    s.resident[r] = (returns ? 64 : 128) * kMiB;
  }
  std::set<std::string> chosen;
  for (uint64_t seed = 1; seed <= 20; seed++) {
    RateDriver d(&cfg, seed);
    d.RunUntilFrozen(s, 10000000000ull);
    ASSERT_EQ(d.site.state, HAK_EVO_FROZEN) << "seed " << seed;
    EXPECT_EQ(d.Policy().release, HAK_STRAT_RETURN) << hak_strategy_info[hak_evo_strategy(&d.site)].name;
    EXPECT_EQ(d.Policy().cache_slots, 0);
  }
  // Memory-blind (HAKMEM_EVO_MEM_COST=0), nothing tells the rows apart: the
  // site keeps the initial arm's cache.
  s.mem_ns = 0;
  RateDriver d(&cfg, 99, 0.0);
  d.RunUntilFrozen(s, 10000000000ull);
  EXPECT_EQ(hak_evo_strategy(&d.site), (unsigned)HAK_STRAT_T256K);
}

// Faster but fatter: one policy 2% faster holding 60% more (16 vs 25.6 MiB)
// loses with the memory term (each MiB adds 0.4%: 106.4 vs 108.0) and wins
// without it.
TEST(FreePolicyTest, TheMemoryTermMakesAFasterButFatterPolicyLose) {
  const hak_evo_config_t cfg = hak_evo_config_default();
  Site s;
  for (unsigned r = 0; r < HAK_STRAT_COUNT; r++) s.cpu[r] = 200, s.resident[r] = 16 * kMiB;
  s.cpu[HAK_STRAT_T256K_LAZY] = 100, s.resident[HAK_STRAT_T256K_LAZY] = 16 * kMiB;
  s.cpu[HAK_STRAT_T256K_KEEP] = 98, s.resident[HAK_STRAT_T256K_KEEP] = 25.6 * kMiB;
  for (double mem : {HAK_METER_MEM_NS_DEFAULT, 0.0}) {
    s.mem_ns = mem;
    unsigned want = mem > 0 ? HAK_STRAT_T256K_LAZY : HAK_STRAT_T256K_KEEP;
    for (uint64_t seed = 1; seed <= 10; seed++) {
      RateDriver d(&cfg, seed, 0.002);
      d.RunUntilFrozen(s, 10000000000ull);
      ASSERT_EQ(d.site.state, HAK_EVO_FROZEN);
      EXPECT_EQ(hak_evo_strategy(&d.site), want) << "memory rate " << mem << ", seed " << seed << ": "
                                                 << hak_strategy_info[hak_evo_strategy(&d.site)].name;
    }
  }
}

// 5,000 requests a second: windows of 250 requests (50 ms), and the site
// freezes within a second of its own time, with no wall-clock minimum.
TEST(FreePolicyTest, AShortSiteFreezesOnItsOwnRateWithinASecond) {
  const hak_evo_config_t cfg = hak_evo_config_default();
  uint64_t worst = 0;
  for (uint64_t seed = 1; seed <= 20; seed++) {
    RateDriver d(&cfg, seed);
    Site env = ReuseHeavy();
    EXPECT_EQ(d.Window(env), 250u) << "the first window ends at 50 ms";
    EXPECT_EQ(d.Window(env), 250u);
    uint64_t took = 100000000ull + d.RunUntilFrozen(env, 5000000000ull);
    ASSERT_EQ(d.site.state, HAK_EVO_FROZEN);
    EXPECT_LE(took, 1000000000ull) << "seed " << seed << ": " << d.site.window << " windows";
    worst = took > worst ? took : worst;
    // The first explore_after windows played the initial arm.
    auto h = History(&d.site);
    EXPECT_GE(h.back().window, cfg.explore_after);
  }
  std::printf("free policy: a 5,000 requests/s site froze within %.2f s (worst of 20 seeds)\n", worst / 1e9);
}

// A site that frees none of its large blocks has no free-policy choice: its
// free-policy rows behave as their placement (256 KiB) does, so they are
// credited with its windows and never played as themselves, however cheap
// they would be (here the environment would make KEEP the winner).
TEST(FreePolicyTest, ASiteThatFreesNoLargeBlockNeverExploresAFreePolicyArm) {
  const hak_evo_config_t cfg = hak_evo_config_default();
  Site s = ReuseHeavy();
  s.frees = false;
  s.cpu[HAK_STRAT_T256K_KEEP] = 10;
  for (uint64_t seed = 1; seed <= 20; seed++) {
    RateDriver d(&cfg, seed);
    unsigned played_free = 0;
    for (int w = 0; w < 200 && d.site.state != HAK_EVO_FROZEN; w++) {
      played_free += FreeRow(hak_evo_strategy(&d.site));
      d.Window(s);
    }
    ASSERT_EQ(d.site.state, HAK_EVO_FROZEN) << "seed " << seed;
    EXPECT_EQ(played_free, 0u) << "seed " << seed;
    EXPECT_FALSE(FreeRow(hak_evo_strategy(&d.site))) << hak_strategy_info[hak_evo_strategy(&d.site)].name;
    for (unsigned r : {HAK_STRAT_T256K_NC, HAK_STRAT_T256K_RET, HAK_STRAT_T256K_LAZY, HAK_STRAT_T256K_KEEP})
      EXPECT_EQ(d.Pulls(r), d.Pulls(HAK_STRAT_T256K)) << hak_strategy_info[r].name << ", seed " << seed;
  }
}

// A site of ~384 KiB requests that frees them: 64 ... 256 KiB send them to
// the large engine, 512 KiB ... 2 MiB to the pools. The free-policy rows
// (256 KiB) refine the large engine's placement: they are explored only once
// every placement row is measured, and only when the large engine leads; a
// site whose pools lead never tries them.
TEST(FreePolicyTest, FreePolicyArmsAreExploredAfterPlacementWithinTheLeadersPlacement) {
  const hak_evo_config_t cfg = hak_evo_config_default();
  for (bool large_leads : {true, false}) {
    Site s;
    s.bucket = 18;
    for (unsigned r = 0; r < HAK_STRAT_COUNT; r++) {
      bool large = hak_strategy_info[r].policy.large_threshold <= (256u << 10);
      s.cpu[r] = large == large_leads ? 100 : 118;
      s.resident[r] = 4 * kMiB;
    }
    s.cpu[HAK_STRAT_T256K_KEEP] = large_leads ? 80 : 108;
    for (uint64_t seed = 1; seed <= 20; seed++) {
      RateDriver d(&cfg, seed);
      int first_free = -1;
      bool placement_measured_then = false;
      for (int w = 0; w < 200 && d.site.state != HAK_EVO_FROZEN; w++) {
        if (first_free < 0 && FreeRow(hak_evo_strategy(&d.site))) {
          first_free = w;
          placement_measured_then = d.Pulls(HAK_STRAT_T512K) >= cfg.settle_pulls && d.Pulls(HAK_STRAT_T256K) >= cfg.settle_pulls;
        }
        d.Window(s);
      }
      ASSERT_EQ(d.site.state, HAK_EVO_FROZEN) << "seed " << seed;
      if (large_leads) {
        EXPECT_GE(first_free, 0) << "seed " << seed;
        EXPECT_TRUE(placement_measured_then) << "seed " << seed << ": a free-policy arm at window " << first_free;
        EXPECT_EQ(hak_evo_strategy(&d.site), (unsigned)HAK_STRAT_T256K_KEEP) << "seed " << seed;
      } else {
        EXPECT_EQ(first_free, -1) << "seed " << seed;
        EXPECT_GE(hak_strategy_info[hak_evo_strategy(&d.site)].policy.large_threshold, 512u << 10);
      }
    }
  }
}

// A site that reuses its freed 1 MiB blocks (the cache hands each back: 0.05
// faults a request) would refault all 256 pages of every block under a
// give-back row (RETURN, LAZY): those rows are never played, neither in
// LEARN nor as a challenger when the site's cost worsens, however much
// memory the site holds (its 64 live MiB are priced too); the rows that keep
// blocks (no cache with the global rule, KEEP) are still explored. With
// faults unknown, the rows are explored as before.
TEST(FreePolicyTest, ASiteThatReusesItsBlocksNeverPlaysAGiveBackArm) {
  hak_evo_config_t cfg = hak_evo_config_default();
  cfg.canary_challengers = HAK_STRATEGY_MAX;  // a canary would try every other behaviour
  Site s = ReuseHeavy();
  s.known_faults = true;
  for (unsigned r = 0; r < HAK_STRAT_COUNT; r++) {
    s.faults[r] = GivesBack(r) ? 256 : 0.05;
    s.resident[r] += 64 * kMiB;
    if (GivesBack(r)) s.cpu[r] = 100 + 256 * 1500.0, s.resident[r] = 65 * kMiB;
  }
  for (uint64_t seed = 1; seed <= 20; seed++) {
    RateDriver d(&cfg, seed);
    unsigned gave_back = 0, kept_free_rows = 0;
    for (int w = 0; w < 400 && d.site.state != HAK_EVO_FROZEN; w++) {
      unsigned row = hak_evo_strategy(&d.site);
      gave_back += GivesBack(row), kept_free_rows += FreeRow(row) && !GivesBack(row);
      d.Window(s);
    }
    ASSERT_EQ(d.site.state, HAK_EVO_FROZEN) << "seed " << seed;
    EXPECT_EQ(gave_back, 0u) << "seed " << seed;
    EXPECT_GT(kept_free_rows, 0u) << "seed " << seed << ": the keeping free-policy rows are explored";
    EXPECT_TRUE(Caches(hak_evo_strategy(&d.site))) << hak_strategy_info[hak_evo_strategy(&d.site)].name;
    // Its cost worsens 1.5x: CANARY tries challengers, never a give-back one.
    Site worse = s;
    for (unsigned r = 0; r < HAK_STRAT_COUNT; r++) worse.cpu[r] *= GivesBack(r) ? 1.0 : 1.5;
    unsigned canaries = 0, give_back_trials = 0;
    for (int w = 0; w < 200; w++) {
      d.Window(worse);
      if (d.site.policy.canary) canaries++, give_back_trials += GivesBack(d.site.policy.canary - 1u);
    }
    EXPECT_GT(canaries, 0u) << "seed " << seed;
    EXPECT_EQ(give_back_trials, 0u) << "seed " << seed;
  }
  // Faults unknown: nothing tells that the blocks are reused, and the
  // give-back rows get their window.
  s.known_faults = false;
  unsigned gave_back = 0;
  RateDriver d(&cfg, 7);
  for (int w = 0; w < 400 && d.site.state != HAK_EVO_FROZEN; w++) {
    gave_back += GivesBack(hak_evo_strategy(&d.site));
    d.Window(s);
  }
  EXPECT_GT(gave_back, 0u);
}

// Hold-and-release with faults known: the blocks are not reused (every
// request faults its 256 pages under every row), so giving them back costs
// no refaults, and the site still learns to return its memory.
TEST(FreePolicyTest, AHoldAndReleaseSiteWhoseBlocksFaultAnywayStillReturnsItsMemory) {
  const hak_evo_config_t cfg = hak_evo_config_default();
  Site s;
  s.known_faults = true;
  for (unsigned r = 0; r < HAK_STRAT_COUNT; r++) {
    hak_policy_t p = hak_strategy_info[r].policy;
    bool returns = p.large_threshold <= (1u << 20) && p.release == HAK_STRAT_RETURN;
    s.cpu[r] = 400;
    s.resident[r] = (returns ? 64 : 128) * kMiB;
    s.faults[r] = 256;
  }
  for (uint64_t seed = 1; seed <= 20; seed++) {
    RateDriver d(&cfg, seed);
    d.RunUntilFrozen(s, 10000000000ull);
    ASSERT_EQ(d.site.state, HAK_EVO_FROZEN) << "seed " << seed;
    EXPECT_EQ(d.Policy().release, HAK_STRAT_RETURN) << hak_strategy_info[hak_evo_strategy(&d.site)].name;
  }
}

}  // namespace
