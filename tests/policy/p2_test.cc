// p2_test.cc — the P² estimator's p99 against the exact p99 (nearest rank)
// of 100,000 samples from several distributions, several seeds each.
#include <algorithm>
#include <cstdio>
#include <string>

#include "tests/policy/sim.h"

namespace {

double ExactQuantile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  size_t rank = (size_t)std::ceil(p * (double)v.size());
  return v[rank ? rank - 1 : 0];
}

struct Case {
  std::string name;
  std::function<double(std::mt19937_64 &)> draw;
};

std::vector<Case> Distributions() {
  return {
      {"uniform", [](std::mt19937_64 &r) { return std::uniform_real_distribution<double>(0, 1000)(r); }},
      {"exponential", [](std::mt19937_64 &r) { return std::exponential_distribution<double>(0.01)(r); }},
      {"lognormal", [](std::mt19937_64 &r) { return std::lognormal_distribution<double>(5, 1)(r); }},
      {"bimodal", [](std::mt19937_64 &r) {  // 80% around 100, 20% around 1000
         bool hi = std::uniform_real_distribution<double>(0, 1)(r) < 0.2;
         return std::normal_distribution<double>(hi ? 1000 : 100, hi ? 50 : 10)(r);
       }},
      {"bimodal-2pct", [](std::mt19937_64 &r) {  // p99 inside the rare mode
         bool hi = std::uniform_real_distribution<double>(0, 1)(r) < 0.02;
         return std::normal_distribution<double>(hi ? 5000 : 100, hi ? 200 : 10)(r);
       }},
  };
}

TEST(P2Test, P99WithinTwoPercentOfExactOn100kSamples) {
  for (const Case &c : Distributions()) {
    double worst = 0;
    for (uint64_t seed = 1; seed <= 5; seed++) {
      std::mt19937_64 rng(seed * 7919);
      std::vector<double> xs(100000);
      hak_p2_t e;
      hak_p2_init(&e, 0.99);
      for (double &x : xs) {
        x = c.draw(rng);
        hak_p2_add(&e, x);
      }
      double exact = ExactQuantile(xs, 0.99), est = hak_p2_value(&e);
      double err = std::fabs(est - exact) / exact;
      worst = std::max(worst, err);
      EXPECT_LT(err, 0.02) << c.name << " seed " << seed << ": exact " << exact << " P² " << est;
    }
    std::printf("P2 p99 %-13s worst relative error over 5 seeds: %.4f%%\n", c.name.c_str(), 100 * worst);
  }
}

TEST(P2Test, MedianAndSortedInputToo) {
  hak_p2_t e;
  hak_p2_init(&e, 0.5);
  std::vector<double> xs;
  for (int i = 0; i < 100000; i++) xs.push_back(i), hak_p2_add(&e, i);  // ascending: the hardest order
  EXPECT_NEAR(hak_p2_value(&e) / ExactQuantile(xs, 0.5), 1.0, 0.02);
  hak_p2_t f;
  hak_p2_init(&f, 0.99);
  for (int i = 100000; i > 0; i--) hak_p2_add(&f, i);  // descending
  EXPECT_NEAR(hak_p2_value(&f) / 99000.0, 1.0, 0.02);
}

TEST(P2Test, ExactBeforeFiveObservations) {
  hak_p2_t e;
  hak_p2_init(&e, 0.99);
  EXPECT_EQ(hak_p2_value(&e), 0.0);
  hak_p2_add(&e, 30);
  EXPECT_EQ(hak_p2_value(&e), 30.0);
  hak_p2_add(&e, 10);
  hak_p2_add(&e, 20);
  EXPECT_EQ(hak_p2_value(&e), 30.0);  // nearest rank: ceil(0.99 * 3) = 3rd smallest
  hak_p2_t m;
  hak_p2_init(&m, 0.5);
  for (double x : {5.0, 1.0, 3.0, 2.0}) hak_p2_add(&m, x);
  EXPECT_EQ(hak_p2_value(&m), 2.0);  // ceil(0.5 * 4) = 2nd smallest
}

TEST(P2Test, ConstantStreamStaysExact) {
  hak_p2_t e;
  hak_p2_init(&e, 0.99);
  for (int i = 0; i < 10000; i++) hak_p2_add(&e, 42.0);
  EXPECT_EQ(hak_p2_value(&e), 42.0);
}

}  // namespace
