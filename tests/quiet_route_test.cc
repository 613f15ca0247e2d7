// quiet_route_test.cc — the front door's per-thread entries for quiet
// learning sites (alloc.c): an entry serves exactly the sizes that the slow
// path would send quietly to the pools, each from its own class (checked
// against the slow path's own rules over every size), a size outside the site's
// record still leaves the quiet path at its first request, a change of the
// record is seen at the next request, wrappers are never kept (candidate
// wrappers are, with one request in 64 still taking the slow path), and
// modes that watch every request never hit.
#include <cstddef>
#include <cstdint>
#include <thread>

#include "tests/test_util.h"

extern "C" {
#include "hakmem/addrmap.h"
#include "hakmem/alloc.h"
#include "hakmem/callsite.h"
#include "hakmem/checked.h"
#include "hakmem/learn.h"
#include "hakmem/os.h"
#include "hakmem/policy/strategy.h"
#include "hakmem/route.h"
#include "hakmem/site.h"
#include "hakmem/sizeclass.h"
}

namespace {

using namespace hakmem_test;

constexpr size_t kKiB = 1024;
constexpr uintptr_t kSite = 0x5a17e5;  // any return address (wrapper detection is off in the tests)

class QuietRouteTest : public HakSiteTest {
 protected:
  void SetUp() override {
    HakSiteTest::SetUp();
    SetOption(HAK_OPT_EVO, 2 /* frozen */);
    SetOption(HAK_OPT_EVO_WINDOW_OPS, 100);  // enough requests per window to judge a drift (64)
    SetOption(HAK_OPT_EVO_MIN_LEARN_MS, 0);
    SetOption(HAK_OPT_EVO_TARGET_MS, 3600000);  // windows end by count only
    SetOption(HAK_OPT_EVO_WINDOW_MS, 3600000);
    ASSERT_EQ(hak_fast_limit, HAK_LEARN_MIN);
  }
  static void Pairs(uintptr_t site, size_t size, int n) {
    for (int i = 0; i < n; i++) hak_free(hak_alloc_at(size, site));
  }
  static hak_site_id_t Id(uintptr_t site) { return hak_site_id(site); }
  static bool Quiet(uintptr_t site) { return hak_learn_quiet_load(Id(site)).threshold_4k != 0; }
  static bool Serves(size_t size, uintptr_t site) { return hak_quiet_route_class(size, site) >= 0; }
  // The slow path's own answer: a quiet request of size x from site goes to
  // the pools (its record's range and threshold, the pools' limit).
  static bool SlowPathPools(uintptr_t site, size_t x) {
    hak_learn_quiet_t q = hak_learn_quiet_load(Id(site));
    return x >= HAK_LEARN_MIN && hak_learn_quiet_fits(q, x) &&
           !hak_route_large(x, 0, hak_learn_quiet_policy(q).large_threshold);
  }
  // After a request of `filled`, the entry serves exactly the sizes the slow
  // path would pool, every one from its own class (every size from 1 KiB to
  // 600 KiB: those of the entry's class, and the others, which it would
  // take the class of).
  static void ExpectServesExactly(uintptr_t site, size_t filled) {
    for (int i = 0; i < 8; i++) hak_free(hak_alloc_at(filled, site));  // the entry takes a new class 1 time in 8
    ASSERT_TRUE(Serves(filled, site)) << filled;
    size_t served = 0, wrong = 0, first_wrong = 0;
    for (size_t x = kKiB; x <= 600 * kKiB; x++) {
      int cls = hak_quiet_route_class(x, site);
      served += cls >= 0;
      bool ok = (cls >= 0) == SlowPathPools(site, x) && (cls < 0 || (size_t)cls == hak_size_class(x));
      if (!ok && !wrong++) first_wrong = x;
    }
    EXPECT_EQ(wrong, 0u) << "filled with " << filled << ": first disagreement at " << first_wrong << " (class "
                         << hak_quiet_route_class(first_wrong, site) << ")";
    EXPECT_GT(served, 0u);
  }
};

TEST_F(QuietRouteTest, AHitServesExactlyTheSizesTheSlowPathPoolsInTheSameClass) {
  Pairs(kSite, 100 * kKiB, 200);  // bucket 16: quiet with the range 16..16, threshold 256 KiB
  ASSERT_TRUE(Quiet(kSite));
  for (size_t s : {65 * kKiB, 100 * kKiB, 112 * kKiB, 120 * kKiB, 127 * kKiB + 1000}) ExpectServesExactly(kSite, s);
  // A size of bucket 17 (the record's range does not hold it yet): not kept.
  EXPECT_FALSE(Serves(128 * kKiB, kSite));
  // Widen the range to 16..17 (a short watched window), then every class of
  // both buckets, up to the threshold.
  Pairs(kSite, 200 * kKiB, 300);
  hak_learn_quiet_t q = hak_learn_quiet_load(Id(kSite));
  ASSERT_TRUE(Quiet(kSite));
  ASSERT_EQ(q.lo, 16u);
  ASSERT_EQ(q.hi, 17u);
  for (size_t s : {70 * kKiB, 128 * kKiB, 129 * kKiB, 200 * kKiB, 240 * kKiB, 256 * kKiB - 1})
    ExpectServesExactly(kSite, s);
  EXPECT_FALSE(Serves(256 * kKiB, kSite)) << "the threshold: the large engine";
  // A lower threshold (128 KiB) cuts the class that straddles it.
  hak_learn_set_policy_word(Id(kSite), hak_policy_to_word(hak_strategy_info[HAK_STRAT_T128K].policy));
  ASSERT_TRUE(Quiet(kSite));
  for (size_t s : {100 * kKiB, 120 * kKiB, 128 * kKiB - 1}) ExpectServesExactly(kSite, s);
}

TEST_F(QuietRouteTest, ASizeOutsideTheRecordLeavesTheQuietPathAtItsFirstRequest) {
  Pairs(kSite, 124 * kKiB, 200);  // class (120 KiB, 128 KiB], bucket 16
  ASSERT_TRUE(Quiet(kSite));
  Pairs(kSite, 124 * kKiB, 1000);
  ASSERT_TRUE(Quiet(kSite)) << "quiet requests are not counted: no window ends";
  ASSERT_TRUE(Serves(124 * kKiB, kSite));
  // 128 KiB shares the class of 124 KiB but not its bucket: the entry does
  // not serve it, and the slow path starts a watched window at once.
  EXPECT_FALSE(Serves(128 * kKiB, kSite));
  void *p = hak_alloc_at(128 * kKiB, kSite);
  EXPECT_EQ(hak_addrmap_get(p), HAK_ADDR_SEGMENT);
  EXPECT_FALSE(Quiet(kSite)) << "a new size wakes the site";
  hak_free(p);
  // While it counts, nothing is served from the entry, and every request
  // (of the old size too) is counted in the window.
  EXPECT_FALSE(Serves(124 * kKiB, kSite));
  uint64_t before, after, mark;
  hak_learn_window_marks(Id(kSite), &before, &mark);
  Pairs(kSite, 124 * kKiB, 10);
  hak_learn_window_marks(Id(kSite), &after, &mark);
  EXPECT_EQ(after, before + 10);
  // Downwards too: a site quiet on bucket 17 alone is woken by a request of
  // bucket 16.
  const uintptr_t other = kSite + 0x1000;
  Pairs(other, 200 * kKiB, 200);
  ASSERT_TRUE(Quiet(other));
  ASSERT_EQ(hak_learn_quiet_load(Id(other)).lo, 17u);
  ASSERT_TRUE(Serves(200 * kKiB, other));
  EXPECT_FALSE(Serves(100 * kKiB, other));
  ExpectServesExactly(other, 128 * kKiB);  // bucket 17, in a class that holds sizes of 16
  ExpectServesExactly(other, 200 * kKiB);
  hak_free(hak_alloc_at(100 * kKiB, other));
  EXPECT_FALSE(Quiet(other)) << "a smaller size wakes the site";
}

TEST_F(QuietRouteTest, AChangeOfTheRecordIsSeenAtTheNextRequest) {
  SetOption(HAK_OPT_EVO_WATCH_MS, 50);
  Pairs(kSite, 120 * kKiB, 200);
  ASSERT_TRUE(Quiet(kSite));
  hak_free(hak_alloc_at(120 * kKiB, kSite));
  ASSERT_TRUE(Serves(120 * kKiB, kSite));
  // A watched window starts (the record goes to 0): the next request counts.
  hak_learn_wake(hak_os_now_ms() + 1000);
  ASSERT_FALSE(Quiet(kSite));
  EXPECT_FALSE(Serves(120 * kKiB, kSite));
  uint64_t before, after, mark;
  hak_learn_window_marks(Id(kSite), &before, &mark);
  hak_free(hak_alloc_at(120 * kKiB, kSite));
  hak_learn_window_marks(Id(kSite), &after, &mark);
  EXPECT_EQ(after, before + 1);
  Pairs(kSite, 120 * kKiB, 120);  // the window ends: quiet again, and kept again
  ASSERT_TRUE(Quiet(kSite));
  hak_free(hak_alloc_at(120 * kKiB, kSite));
  EXPECT_TRUE(Serves(120 * kKiB, kSite));
  // A new policy (64 KiB threshold): the same request goes large at once.
  hak_learn_set_policy_word(Id(kSite), hak_policy_to_word(hak_strategy_info[HAK_STRAT_T64K].policy));
  EXPECT_FALSE(Serves(120 * kKiB, kSite));
  void *p = hak_alloc_at(120 * kKiB, kSite);
  EXPECT_GE(hak_addrmap_get(p), HAK_ADDR_LARGE);
  hak_free(p);
  EXPECT_FALSE(Serves(120 * kKiB, kSite)) << "a large route is never kept";
}

TEST_F(QuietRouteTest, AWrappersReturnAddressIsNeverKept) {
  const uintptr_t wrapper = kSite + 0x2000;
  hak_site_entry(Id(wrapper))->wrap_kind = HAK_CALLSITE_WRAPPER;  // its contexts are the sites
  Pairs(wrapper, 120 * kKiB, 300);
  ASSERT_EQ(hak_callsite_kind(wrapper), HAK_CALLSITE_WRAPPER);
  EXPECT_FALSE(Serves(120 * kKiB, wrapper));
  Pairs(kSite, 120 * kKiB, 300);  // a plain one is
  EXPECT_TRUE(Serves(120 * kKiB, kSite));
}

// A candidate wrapper (one caller so far: its id is its own) is kept once
// past the lookups that walk at each of its requests, but one of its
// requests in 64 takes the slow path, whose site lookup goes on testing it
// for a second caller; once it is a wrapper, its entry is gone within 64
// requests and never made again.
TEST_F(QuietRouteTest, ACandidateWrapperIsKeptAndStillReachesTheSlowPath) {
  const uintptr_t candidate = kSite + 0x3000;
  hak_site_t *e = hak_site_entry(Id(candidate));
  e->wrap_kind = HAK_CALLSITE_CANDIDATE;
  Pairs(candidate, 120 * kKiB, HAK_CALLSITE_CANDIDATE_WALKS - 1);
  EXPECT_EQ(hak_quiet_route_class(120 * kKiB, candidate), -1) << "walked at every request so far: not kept";
  EXPECT_EQ(e->wrap_walks, HAK_CALLSITE_CANDIDATE_WALKS - 1);
  Pairs(candidate, 120 * kKiB, 300 - HAK_CALLSITE_CANDIDATE_WALKS + 1);
  ASSERT_TRUE(Quiet(candidate));
  ASSERT_EQ(hak_callsite_kind(candidate), HAK_CALLSITE_CANDIDATE);
  hak_free(hak_alloc_at(120 * kKiB, candidate));
  ASSERT_TRUE(Serves(120 * kKiB, candidate));
  ASSERT_EQ(hak_quiet_route_class(120 * kKiB, candidate), (int)hak_size_class(120 * kKiB));
  // The slow path's lookups are the candidate's walk count (callsite.c).
  uint32_t walks = e->wrap_walks;
  Pairs(candidate, 120 * kKiB, 640);
  uint32_t slow = e->wrap_walks - walks;
  EXPECT_GE(slow, 9u) << "one request in 64 takes the slow path";
  EXPECT_LE(slow, 11u) << "the other 63 take the entry";
  EXPECT_TRUE(Serves(120 * kKiB, candidate));
  // Every class of the record's sizes, from its own class, as for a plain site.
  ExpectServesExactly(candidate, 100 * kKiB);
  // Found a wrapper: its entry goes at its next slow request, and stays gone.
  e->wrap_kind = HAK_CALLSITE_WRAPPER;
  Pairs(candidate, 120 * kKiB, 64);
  EXPECT_FALSE(Serves(120 * kKiB, candidate));
  Pairs(candidate, 120 * kKiB, 300);
  EXPECT_FALSE(Serves(120 * kKiB, candidate));
}

// While a site counts its requests (LEARN, a watched window), its entry
// sends them to the learning engine without the slow path's site lookup:
// every one is still counted, a candidate's still reach the lookup one time
// in 64, and once the site is quiet the entry serves the pools again.
TEST_F(QuietRouteTest, ACountingSitesEntrySkipsTheLookupAndCountsEveryRequest) {
  const uintptr_t candidate = kSite + 0x4000;
  hak_site_t *e = hak_site_entry(Id(candidate));
  e->wrap_kind = HAK_CALLSITE_CANDIDATE;
  e->wrap_walks = HAK_CALLSITE_CANDIDATE_WALKS;  // past the walks at every request (callsite.h)
  hak_free(hak_alloc_at(120 * kKiB, candidate));  // the site's first request: its state, its first window
  ASSERT_FALSE(Quiet(candidate));
  EXPECT_EQ(hak_quiet_route_class(120 * kKiB, candidate), -3) << "the learning engine's entry";
  EXPECT_EQ(hak_quiet_route_class(300 * kKiB, candidate), -3) << "every size below the pools' limit";
  EXPECT_EQ(hak_quiet_route_class(600 * kKiB, candidate), -1);
  uint64_t before, after, mark;
  hak_learn_window_marks(Id(candidate), &before, &mark);
  uint32_t walks = e->wrap_walks;
  Pairs(candidate, 120 * kKiB, 64);
  hak_learn_window_marks(Id(candidate), &after, &mark);
  EXPECT_EQ(after, before + 64) << "every request counted";
  uint32_t slow = e->wrap_walks - walks;
  EXPECT_GE(slow, 1u);
  EXPECT_LE(slow, 2u) << "one request in 64 looks the site up";
  Pairs(candidate, 120 * kKiB, 100);  // the window ends: quiet (pinned FROZEN)
  ASSERT_TRUE(Quiet(candidate));
  hak_free(hak_alloc_at(120 * kKiB, candidate));
  EXPECT_TRUE(Serves(120 * kKiB, candidate)) << "quiet: the pools' entry again";
  // A plain site's entry (it shares the candidate's: taken one time in 8),
  // and a wrapper never has one.
  Pairs(kSite, 120 * kKiB, 16);
  ASSERT_FALSE(Quiet(kSite));
  EXPECT_EQ(hak_quiet_route_class(120 * kKiB, kSite), -3);
  const uintptr_t wrapper = kSite + 0x5000;
  hak_site_entry(Id(wrapper))->wrap_kind = HAK_CALLSITE_WRAPPER;
  Pairs(wrapper, 120 * kKiB, 10);
  EXPECT_EQ(hak_quiet_route_class(120 * kKiB, wrapper), -1);
  // The site table's test reset comes with the learning engine's: a
  // counting site's entry (no record to watch) is gone with it.
  hak_learn_reset();
  EXPECT_EQ(hak_quiet_route_class(120 * kKiB, kSite), -1);
}

TEST_F(QuietRouteTest, TwoSitesSharingAnEntryTakeItInTurnsNotAtEveryRequest) {
  const uintptr_t a = kSite, b = kSite + 32 * 64;  // the same entry (direct-mapped by the low bits)
  SetOption(HAK_OPT_EVO_WATCH_MS, 50);
  Pairs(a, 120 * kKiB, 200);
  Pairs(b, 200 * kKiB, 200);
  ASSERT_TRUE(Quiet(a) && Quiet(b));
  auto take = [](uintptr_t site, size_t n) {  // requests until site's entry is there
    for (int i = 0; i < 8; i++) {
      hak_free(hak_alloc_at(n, site));
      if (Serves(n, site)) return i;
    }
    return -1;
  };
  ASSERT_GE(take(a, 120 * kKiB), 0) << "a live entry is given up one time in 8";
  ASSERT_GE(take(b, 200 * kKiB), 0);
  EXPECT_FALSE(Serves(120 * kKiB, a));
  // Alternating, the entry changes hands about once in 8 requests, not at each.
  unsigned changes = 0;
  bool owner_a = false;
  for (int i = 0; i < 32; i++) {
    hak_free(hak_alloc_at(i % 2 ? 200 * kKiB : 120 * kKiB, i % 2 ? b : a));
    bool now_a = Serves(120 * kKiB, a);
    changes += now_a != owner_a;
    owner_a = now_a;
  }
  EXPECT_LE(changes, 6u);
  // An entry whose record changed is taken at the next request.
  ASSERT_GE(take(b, 200 * kKiB), 0);
  hak_learn_wake(hak_os_now_ms() + 1000);  // both sites' watched windows start
  ASSERT_FALSE(Quiet(b));
  Pairs(a, 120 * kKiB, 120);  // a's window ends: quiet again; b still counts
  ASSERT_TRUE(Quiet(a));
  ASSERT_FALSE(Quiet(b));
  hak_free(hak_alloc_at(120 * kKiB, a));
  EXPECT_TRUE(Serves(120 * kKiB, a)) << "b's entry was stale";
}

TEST_F(QuietRouteTest, ModesThatWatchEveryRequestNeverHit) {
  Pairs(kSite, 120 * kKiB, 300);
  ASSERT_TRUE(Serves(120 * kKiB, kSite));
  SetOption(HAK_OPT_CHECK, 1);  // the entry is still valid, but checked mode sees the request
  ASSERT_EQ(hak_fast_limit, 0u);
  void *p = hak_alloc_at(120 * kKiB, kSite);
  EXPECT_TRUE(hak_checked_guarded(p)) << "checked mode's own pages, not the pools' class";
  hak_free(p);
  SetOption(HAK_OPT_CHECK, 0);
  ASSERT_EQ(hak_fast_limit, HAK_LEARN_MIN);
}

TEST_F(QuietRouteTest, EachThreadKeepsItsOwn) {
  Pairs(kSite, 120 * kKiB, 300);
  ASSERT_TRUE(Serves(120 * kKiB, kSite));
  bool other = true;
  std::thread t([&] { other = Serves(120 * kKiB, kSite); });
  t.join();
  EXPECT_FALSE(other);
}

}  // namespace
