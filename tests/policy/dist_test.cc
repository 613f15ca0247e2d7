// dist_test.cc — the size-class distance: a metric in [0, 1] that ignores
// totals, and the drift trigger at 0.25.
#include "tests/policy/sim.h"

namespace {

using Hist = std::array<uint64_t, HAK_DIST_BUCKETS>;

TEST(DistTest, ZeroForTheSameShapeWhateverTheTotals) {
  Hist a{}, b{};
  a[10] = 3, a[12] = 1;
  b[10] = 300, b[12] = 100;
  EXPECT_DOUBLE_EQ(hak_dist_tv(a.data(), a.data()), 0.0);
  EXPECT_DOUBLE_EQ(hak_dist_tv(a.data(), b.data()), 0.0);
  Hist e{};
  EXPECT_DOUBLE_EQ(hak_dist_tv(e.data(), e.data()), 0.0);
}

TEST(DistTest, OneForDisjointSupportsAndForEmptyAgainstNonEmpty) {
  Hist a{}, b{}, e{};
  a[3] = 10, a[4] = 5;
  b[20] = 1, b[31] = 7;
  EXPECT_DOUBLE_EQ(hak_dist_tv(a.data(), b.data()), 1.0);
  EXPECT_DOUBLE_EQ(hak_dist_tv(a.data(), e.data()), 1.0);
}

TEST(DistTest, SymmetricBoundedAndTriangle) {
  std::mt19937_64 rng(5);
  for (int t = 0; t < 200; t++) {
    Hist a{}, b{}, c{};
    for (unsigned i = 0; i < HAK_DIST_BUCKETS; i++) a[i] = rng() % 4 ? 0 : rng() % 1000, b[i] = rng() % 3 ? 0 : rng() % 1000,
                                                   c[i] = rng() % 1000;
    double ab = hak_dist_tv(a.data(), b.data()), ba = hak_dist_tv(b.data(), a.data());
    EXPECT_DOUBLE_EQ(ab, ba);
    EXPECT_GE(ab, 0.0);
    EXPECT_LE(ab, 1.0);
    EXPECT_LE(ab, hak_dist_tv(a.data(), c.data()) + hak_dist_tv(c.data(), b.data()) + 1e-12);
  }
}

TEST(DistTest, IsTheShareOfRequestsThatMoved) {
  Hist a{}, b{};
  a[10] = 100;
  b[10] = 70, b[11] = 30;  // 30% moved one class up
  EXPECT_NEAR(hak_dist_tv(a.data(), b.data()), 0.30, 1e-12);
}

TEST(DistTest, DriftTriggersAtAQuarter) {
  Hist ref{}, now{};
  ref[12] = 1000;
  now[12] = 760, now[20] = 240;  // 24% moved
  EXPECT_FALSE(hak_dist_drifted(ref.data(), now.data(), HAK_DIST_DRIFT));
  now[12] = 750, now[20] = 250;  // 25%
  EXPECT_TRUE(hak_dist_drifted(ref.data(), now.data(), HAK_DIST_DRIFT));
  EXPECT_EQ(hak_dist_total(now.data()), 1000u);
}

}  // namespace
