// window_test.cc — the pure window rules (policy/window.h) and cost meter
// (policy/meter.h) on a simulated clock: the op limit follows the site's
// rate, windows end by count, target time or the cap, warm-up and its
// extension, the early cut by cost and by resident bytes, and a window's
// time and memory terms from two samples.
#include <gtest/gtest.h>

extern "C" {
#include "hakmem/policy/meter.h"
#include "hakmem/policy/window.h"
}

namespace {

constexpr uint64_t kMs = 1000000;
constexpr double kMiB = 1 << 20;

TEST(WindowTest, TheLimitIsTheOpsOfFiftyMillisecondsWithinItsBounds) {
  hak_window_rules_t r = hak_window_rules_default();
  EXPECT_EQ(hak_window_limit(&r, 0), 10000u);        // rate unknown: the cap
  EXPECT_EQ(hak_window_limit(&r, 5000), 250u);       // 50 ms of 5,000 a second
  EXPECT_EQ(hak_window_limit(&r, 100), 64u);         // at least min_ops
  EXPECT_EQ(hak_window_limit(&r, 1e9), 10000u);      // at most max_ops
  r.target_ns = 100 * kMs;
  EXPECT_EQ(hak_window_limit(&r, 3000), 300u);
}

TEST(WindowTest, AWindowEndsByCountByTargetTimeWithEnoughOpsOrAtTheCap) {
  hak_window_rules_t r = hak_window_rules_default();
  hak_window_t w;
  hak_window_init(&w, &r, 0);
  EXPECT_FALSE(hak_window_due(&r, &w, 63, 50 * kMs));
  EXPECT_TRUE(hak_window_due(&r, &w, 64, 50 * kMs));
  EXPECT_TRUE(hak_window_due(&r, &w, 1, 2000 * kMs));
  EXPECT_FALSE(hak_window_due(&r, &w, 0, 5000 * kMs));
  hak_window_close(&w, &r, 250, 50 * kMs);  // 5,000 a second
  EXPECT_EQ(w.limit, 250u);
  EXPECT_EQ(w.start_ns, 50 * kMs);
  EXPECT_TRUE(hak_window_due(&r, &w, 250, 51 * kMs));
  // The site slows to 1,000 a second: half the weight to the new window.
  hak_window_close(&w, &r, 50, 100 * kMs);
  EXPECT_DOUBLE_EQ(w.rate, 3000);
  EXPECT_EQ(w.limit, 150u);
  // An extended window's target time grows with its limit.
  EXPECT_EQ(hak_window_due_ns(&r, &w, 150), 150 * kMs);
  EXPECT_EQ(hak_window_due_ns(&r, &w, 300), 200 * kMs);
  EXPECT_FALSE(hak_window_due_at(&r, &w, 200, 300, 160 * kMs));
  EXPECT_TRUE(hak_window_due_at(&r, &w, 200, 300, 200 * kMs));
  hak_window_restart(&w, 500 * kMs);  // a quiet spell keeps the rate
  EXPECT_EQ(w.limit, 150u);
  EXPECT_FALSE(hak_window_due(&r, &w, 100, 520 * kMs));
}

TEST(WindowTest, WarmUpAndItsExtension) {
  hak_window_rules_t r = hak_window_rules_default();
  EXPECT_EQ(hak_window_warm(&r, 1000), 250u);
  EXPECT_EQ(hak_window_warm(&r, 40), 16u);  // at least warm_min
  EXPECT_EQ(hak_window_extend(&r, 1000, 500), 1000u);  // 500 costed by then: enough
  EXPECT_EQ(hak_window_extend(&r, 1000, 900), 1150u);  // a quarter after the mark
  EXPECT_EQ(hak_window_extend(&r, 1000, 1900), 2000u); // at most twice the limit
}

TEST(WindowTest, TheEarlyCutByCostAfterAQuarterAndByMemoryAtOnce) {
  hak_window_rules_t r = hak_window_rules_default();
  EXPECT_FALSE(hak_window_cut(&r, 1000, 249, 500, 110, -1, -1));  // not a quarter costed yet
  EXPECT_TRUE(hak_window_cut(&r, 1000, 250, 500, 110, -1, -1));
  EXPECT_FALSE(hak_window_cut(&r, 1000, 250, 100, 110, -1, -1));
  EXPECT_FALSE(hak_window_cut(&r, 1000, 250, 500, 0, -1, -1));    // no cut: the leader itself
  // Resident bytes past 1.1x the leader's + 1 MiB end the window at once.
  int64_t lead = 40 << 20;
  EXPECT_FALSE(hak_window_cut(&r, 1000, 10, 100, 110, 45 << 20, lead));
  EXPECT_TRUE(hak_window_cut(&r, 1000, 10, 100, 110, 46 << 20, lead));
  EXPECT_FALSE(hak_window_cut(&r, 1000, 10, 100, 110, 46 << 20, -1));  // the leader's bytes unknown
}

// The process's peak RSS past 1.1x its peak when the window began + 256 KiB
// ends an exploring window at once (the goal is the process's peak; the
// site's gauge cannot see the pools' resident pages).
TEST(WindowTest, AnExploringWindowThatRaisesThePeakRssIsCut) {
  hak_window_rules_t r = hak_window_rules_default();
  EXPECT_FALSE(hak_window_peak_cut(&r, 7000, 6400));  // 6400 x 1.1 + 256 = 7296 KiB
  EXPECT_FALSE(hak_window_peak_cut(&r, 7296, 6400));
  EXPECT_TRUE(hak_window_peak_cut(&r, 7297, 6400));
  EXPECT_FALSE(hak_window_peak_cut(&r, 1 << 30, 0));   // no start: not an exploring window
  EXPECT_FALSE(hak_window_peak_cut(&r, -1, 6400));     // unknown
}

// Overspent: a window that already spent more than cut x its whole limit
// cannot come back under the cut, however cheap its remaining requests; an
// arm 400x the leader's cost is so cut after 1.1 x 1000 / 400 = 3 requests'
// worth of the leader's time, at any point (the warm-up too).
TEST(WindowTest, AWindowThatSpentMoreThanTheCutTimesItsLimitIsCutAtOnce) {
  const double lead = 100, cut = 1.1 * lead;
  EXPECT_FALSE(hak_window_overspent(1000, 110000, cut));  // exactly the budget: may still tie
  EXPECT_TRUE(hak_window_overspent(1000, 110001, cut));
  double per = 400 * lead;  // a syscall per free
  uint64_t n = 1;
  while (!hak_window_overspent(1000, per * (double)n, cut)) n++;
  EXPECT_EQ(n, 3u);
  // An arm that only refills its caches runs on: a window of 10,000
  // requests at a leader's 1,500 cycles each, the refill of 8 blocks of 96
  // pages (~4,000 cycles a fault) and 2,000 requests at the leader's pace.
  EXPECT_FALSE(hak_window_overspent(10000, 8 * 96 * 4000.0 + 2000 * 1500.0, 1.1 * 1500));
  EXPECT_FALSE(hak_window_overspent(1000, 1e12, 0));  // no cut: the leader itself
  EXPECT_FALSE(hak_window_overspent(0, 1e12, cut));
}

TEST(MeterTest, TimePerRequestAndTheMemoryTerm) {
  hak_meter_t m;
  hak_meter_mark(&m, {.now_ns = 0, .cycles = 1000, .faults = 10, .resident = (int64_t)(8 * kMiB)});
  hak_meter_sample_t end = {.now_ns = 50 * kMs, .cycles = 201000, .faults = 30, .resident = (int64_t)(12 * kMiB)};
  hak_evo_obs_t o = hak_meter_obs(&m, end, 1000, HAK_METER_MEM_NS_DEFAULT);
  EXPECT_EQ(o.ops, 1000u);
  EXPECT_DOUBLE_EQ(o.cpu_per_op, 200);
  EXPECT_EQ(o.faults, 20);
  EXPECT_EQ(o.bytes_mapped, (int64_t)(12 * kMiB));
  // 10 MiB held on average, 0.4% each: 4% of the time term.
  EXPECT_NEAR(o.mem_per_op, 8.0, 1e-9);
  EXPECT_NEAR(hak_meter_cost_so_far(&m, end, 1000, HAK_METER_MEM_NS_DEFAULT), 208.0, 1e-9);
  // Memory-blind, unknown bytes, nothing costed.
  EXPECT_EQ(hak_meter_obs(&m, end, 1000, 0).mem_per_op, 0);
  end.resident = -1;
  EXPECT_EQ(hak_meter_obs(&m, end, 1000, HAK_METER_MEM_NS_DEFAULT).mem_per_op, 0);
  EXPECT_EQ(hak_meter_obs(&m, end, 0, HAK_METER_MEM_NS_DEFAULT).cpu_per_op, 0);
}

// The exchange rate's promise (meter.h): a policy 2% faster holding 60% more
// loses from ~9 MiB held, and wins below.
TEST(MeterTest, TwoPercentFasterAtSixtyPercentMoreLosesFromNineMiB) {
  auto cost = [](double cpu, double mib) { return cpu + hak_meter_mem_per_op(cpu, mib * kMiB, HAK_METER_MEM_NS_DEFAULT); };
  EXPECT_GT(cost(98, 1.6 * 10), cost(100, 10));
  EXPECT_GT(cost(98, 1.6 * 64), cost(100, 64));
  EXPECT_LT(cost(98, 1.6 * 8), cost(100, 8));
}

}  // namespace
