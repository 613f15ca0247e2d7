// sim.h — simulated environments for the policy tests: seeded noise around a
// cost per strategy, and a driver that plays a site's windows through
// hak_evo_window_end with a simulated clock, as the front door would.
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <vector>

extern "C" {
#include "hakmem/policy/dist.h"
#include "hakmem/policy/elo.h"
#include "hakmem/policy/evo.h"
#include "hakmem/policy/p2.h"
#include "hakmem/policy/strategy.h"
#include "hakmem/policy/ucb1.h"
}

namespace policy_sim {

// Multiplicative Gaussian noise: base * (1 + sigma * N(0, 1)), never below 0.
class Noise {
 public:
  Noise(uint64_t seed, double sigma) : rng_(seed), sigma_(sigma) {}
  double operator()(double base) {
    double c = base * (1.0 + sigma_ * normal_(rng_));
    return c > 0 ? c : 0;
  }
  std::mt19937_64 &rng() { return rng_; }

 private:
  std::mt19937_64 rng_;
  std::normal_distribution<double> normal_{0.0, 1.0};
  double sigma_;
};

// The environment a site sees: mean costs per strategy row (CPU per op,
// faults per op, bytes mapped) and the share of its requests per size class.
struct Env {
  std::array<double, HAK_STRAT_COUNT> cpu{};
  std::array<double, HAK_STRAT_COUNT> faults{};  // per op
  std::array<double, HAK_STRAT_COUNT> bytes{};
  std::array<double, HAK_DIST_BUCKETS> sizes{};  // share per log2 bucket
};

inline Env FlatEnv(double cpu) {
  Env e;
  e.cpu.fill(cpu);
  e.faults.fill(0.01);
  e.bytes.fill(64 << 20);
  // Requests in every bucket from 64 KiB to 2 MiB: each UCB1 threshold
  // routes them differently, so no two arms are alike (evo.c credits arms
  // that route a site's sizes alike together).
  e.sizes[12] = 0.3, e.sizes[16] = 0.2, e.sizes[17] = 0.15, e.sizes[18] = 0.15, e.sizes[19] = 0.1, e.sizes[20] = 0.1;
  return e;
}

// A distribution at total variation distance 0.5 from FlatEnv's (a drift)
// that still tells every arm apart.
inline void MoveSizes(Env &e) {
  e.sizes.fill(0);
  e.sizes[16] = 0.1, e.sizes[17] = 0.1, e.sizes[18] = 0.1, e.sizes[19] = 0.1, e.sizes[20] = 0.1;
  e.sizes[21] = 0.2, e.sizes[25] = 0.3;
}

// Drives one site window by window, as the front door would: 10,000 ops per
// window (5% to the challenger in CANARY), 0.5 s per window.
class Driver {
 public:
  Driver(const hak_evo_config_t *cfg, uint64_t seed, double sigma = 0.03) : noise_(seed, sigma) {
    hak_evo_init(&site, cfg, seed, now_);
  }

  // One window under env; returns the window_end result.
  bool Window(const Env &env) {
    const uint64_t ops = 10000;
    uint64_t canary_ops = 0;
    for (uint64_t i = 0; i < ops; i++) canary_ops += hak_policy_is_canary_op(site.policy, op_ + i);
    op_ += ops;
    unsigned inc = hak_evo_strategy(&site);
    hak_window_stats_t ws = {};
    ws.main = Obs(env, inc, ops - canary_ops);
    if (canary_ops) ws.canary = Obs(env, site.policy.canary - 1u, canary_ops);
    std::array<uint64_t, HAK_DIST_BUCKETS> hist{};
    for (unsigned b = 0; b < HAK_DIST_BUCKETS; b++) hist[b] = (uint64_t)std::llround(env.sizes[b] * (double)ops);
    ws.hist = hist.data();
    ws.exploit_only = exploit_only;
    ws.large_frees = large_frees;
    now_ += 500000000ull;
    EXPECT_TRUE(hak_evo_window_due(&site, ops, now_));
    return hak_evo_window_end(&site, &ws, now_);
  }

  // Runs windows until pred() or max windows; returns windows run.
  unsigned RunUntil(const Env &env, unsigned max, const std::function<bool()> &pred) {
    for (unsigned w = 1; w <= max; w++) {
      Window(env);
      if (pred()) return w;
    }
    return max + 1;
  }

  hak_evo_state_t State() const { return (hak_evo_state_t)site.state; }
  unsigned Strategy() const { return hak_evo_strategy(&site); }

  hak_evo_site_t site;
  bool exploit_only = false;  // as when another site holds the exploration turn
  uint64_t large_frees = 1;   // large blocks the site frees per window (0: none, every free policy alike)

 private:
  hak_evo_obs_t Obs(const Env &env, unsigned strat, uint64_t ops) {
    hak_evo_obs_t o = {};  // mem_per_op 0: these environments price time alone
    o.ops = ops;
    o.cpu_per_op = noise_(env.cpu[strat]);
    o.faults = (int64_t)std::llround(noise_(env.faults[strat]) * (double)ops);
    o.bytes_mapped = (int64_t)std::llround(noise_(env.bytes[strat]));
    return o;
  }

  Noise noise_;
  uint64_t now_ = 1000000000ull;
  uint64_t op_ = 0;
};

// The transitions of a site, oldest first.
inline std::vector<hak_evo_event_t> History(const hak_evo_site_t *s) {
  std::vector<hak_evo_event_t> v;
  hak_evo_event_t ev;
  for (unsigned i = 0; hak_evo_history(s, i, &ev); i++) v.insert(v.begin(), ev);
  return v;
}

}  // namespace policy_sim
