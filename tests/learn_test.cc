// learn_test.cc — the learning engine wired into the front door: requests of
// 64 KiB and more follow their site's policy record; windows end by request
// count and feed the lifecycle; a site's state shows in the stats JSON; with
// learning off nothing changes.
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "tests/test_util.h"

extern "C" {
#include "hakmem/addrmap.h"
#include "hakmem/bigcache.h"
#include "hakmem/spare.h"
#include "hakmem/large.h"
#include "hakmem/learn.h"
#include "hakmem/learn_site.h"
#include "hakmem/os.h"
#include "hakmem/policy/strategy.h"
#include "hakmem/site.h"
}

namespace {

using namespace hakmem_test;

constexpr size_t kKiB = 1024;

class LearnTest : public HakSiteTest {
 protected:
  void Learn(unsigned mode /* index in hak_evo_names */) {
    SetOption(HAK_OPT_EVO, mode);
    SetOption(HAK_OPT_EVO_WINDOW_OPS, 50);
    SetOption(HAK_OPT_EVO_MIN_LEARN_MS, 0);
    // Windows end by count only (no timing in these tests; the rate rule
    // has its own test on a simulated clock, below and in tests/policy).
    SetOption(HAK_OPT_EVO_TARGET_MS, 3600000);
    SetOption(HAK_OPT_EVO_WINDOW_MS, 3600000);
  }
  std::string Json() {
    size_t n = hak_stats_json(nullptr, 0);
    std::string s(n + 1, '\0');
    hak_stats_json(s.data(), s.size());
    s.resize(n);
    return s;
  }
};

__attribute__((noinline, disable_tail_calls)) void* SiteA(size_t n) { return hak_alloc_cs(n); }

TEST_F(LearnTest, BalancedLearnsMinimalAndFastDoNot) {
  EXPECT_TRUE(hak_learn_on);  // BALANCED, the default: HAKMEM_EVO=auto
  EXPECT_EQ(hak_fast_limit, HAK_LEARN_MIN);
  hak_free(SiteA(300 * kKiB));
  EXPECT_EQ(Json().find("\"learn\":null"), std::string::npos) << "the site learns";
  EXPECT_NE(Json().find("\"state\":\"LEARN\""), std::string::npos);
  for (hak_mode_t m : {HAK_MODE_MINIMAL, HAK_MODE_FAST}) {
    UseMode(m);
    EXPECT_FALSE(hak_learn_on) << hak_mode_name(m);
    EXPECT_EQ(hak_fast_limit, hak_opt(HAK_OPT_LARGE_THRESHOLD));
  }
  hak_learn_reset();
  hak_site_reset();
  void* p = SiteA(128 * kKiB);
  EXPECT_EQ(hak_addrmap_get(p), HAK_ADDR_SEGMENT);  // the static threshold (256 KiB): pools
  hak_free(p);
  hak_free(SiteA(300 * kKiB));  // a large block: the site shows in the JSON, not learning
  EXPECT_NE(Json().find("\"learn\":null"), std::string::npos);
}

TEST_F(LearnTest, RequestsFollowTheSitesPolicyRecord) {
  Learn(2 /* frozen */);
  EXPECT_TRUE(hak_learn_on);
  EXPECT_EQ(hak_fast_limit, 64 * kKiB);
  void* p = SiteA(128 * kKiB);  // frozen on the initial strategy: 256 KiB
  EXPECT_EQ(hak_addrmap_get(p), HAK_ADDR_SEGMENT);
  hak_free(p);
  hak_site_id_t id = hak_large_lookup(SiteA(300 * kKiB))->site;
  ASSERT_NE(id, 0u);
  // Move the site to the 64 KiB strategy: the same request goes large.
  hak_policy_t pol = hak_strategy_info[HAK_STRAT_T64K].policy;
  hak_learn_set_policy_word(id, hak_policy_to_word(pol));
  void* q = SiteA(128 * kKiB);
  EXPECT_GE(hak_addrmap_get(q), HAK_ADDR_LARGE);
  hak_free(q);
  // Small requests never look at a site.
  void* s = SiteA(1000);
  EXPECT_EQ(hak_addrmap_get(s), HAK_ADDR_SEGMENT);
  hak_free(s);
}

TEST_F(LearnTest, BelowTheThresholdButTooBigForThePoolsGoesLargeWithoutBigCache) {
  Learn(2);
  hak_site_id_t id = hak_large_lookup(SiteA(600 * kKiB))->site;
  hak_learn_set_policy_word(id, hak_policy_to_word(hak_strategy_info[HAK_STRAT_T2M].policy));
  hak_stats_reset();
  void* p = SiteA(600 * kKiB);  // < 2 MiB threshold, > the pools' 512 KiB
  hak_large_t* h = hak_large_lookup(p);
  ASSERT_NE(h, nullptr);
  EXPECT_TRUE(h->flags & HAK_LARGE_NOCACHE);
  hak_free(p);
  EXPECT_EQ(Stat(HAK_STAT_bigcache_puts), 0u);
}

TEST_F(LearnTest, WindowsEndAndTheSiteLearns) {
  Learn(1 /* learn: never freezes */);
  for (int i = 0; i < 2000; i++) {
    void* p = SiteA(96 * kKiB + (i % 7) * 4096);
    static_cast<char*>(p)[0] = 1;
    hak_free(p);
  }
  std::string js = Json();
  EXPECT_NE(js.find("\"state\":\"LEARN\""), std::string::npos) << js.substr(0, 2000);
  size_t w = js.find("\"window\":");
  ASSERT_NE(w, std::string::npos);
  EXPECT_GE(std::stoul(js.substr(w + 9)), 30u) << "2000 requests / 50 per window";
  EXPECT_NE(js.find("\"ratings\":[{"), std::string::npos);
}

TEST_F(LearnTest, AutoModeFreezesAndTheRecordStaysPut) {
  Learn(0 /* auto */);
  for (int i = 0; i < 20000; i++) hak_free(SiteA(100 * kKiB));
  std::string js = Json();
  bool settled = js.find("\"state\":\"FROZEN\"") != std::string::npos || js.find("\"state\":\"CANARY\"") != std::string::npos;
  EXPECT_TRUE(settled) << js.substr(0, 3000);
  EXPECT_NE(js.find("\"reason\":\"stable\""), std::string::npos);
}

// The one site with learning state.
hak_site_id_t LearningSite() {
  for (unsigned id = 0; id < HAK_SITE_CAP; id++)
    if (hak_learn_has((hak_site_id_t)id)) return (hak_site_id_t)id;
  return 0;
}

// LEARNING and RESEARCH explore free policies too (HAKMEM_EVO_FREE_ARMS): a
// site's leaderboard lists the free-policy rows beside the thresholds;
// BALANCED learns placement alone.
TEST_F(LearnTest, LearningAndResearchLearnTheFreePolicyToo) {
  EXPECT_EQ(hak_opt(HAK_OPT_EVO_FREE_ARMS), 0u);
  hak_free(SiteA(300 * kKiB));
  EXPECT_EQ(Json().find("\"name\":\"256k/keep\""), std::string::npos);
  for (hak_mode_t m : {HAK_MODE_LEARNING, HAK_MODE_RESEARCH}) {
    UseMode(m);
    EXPECT_EQ(hak_opt(HAK_OPT_EVO_FREE_ARMS), 1u) << hak_mode_name(m);
    hak_learn_reset();
    hak_site_reset();
    hak_free(SiteA(300 * kKiB));
    std::string js = Json();
    for (const char* row : {"\"name\":\"256k/nc\"", "\"name\":\"256k/ret\"", "\"name\":\"256k/lazy\"",
                            "\"name\":\"256k/keep\"", "\"name\":\"512k\""})
      EXPECT_NE(js.find(row), std::string::npos) << row << " in " << js.substr(0, 3000);
  }
}

// A site that frees none of its large blocks has no free-policy choice: its
// free-policy arms are its placement's and are never played as themselves
// (LEARN for ever, windows of 50 requests, the exploration turn its own).
TEST_F(LearnTest, ASiteThatFreesNoLargeBlockNeverPlaysAFreePolicyArm) {
  Learn(1 /* learn */);
  SetOption(HAK_OPT_EVO_FREE_ARMS, 1);
  std::vector<void*> kept;
  hak_site_id_t id = 0;
  unsigned free_rows = 0, on_large = 0;
  for (int i = 0; i < 1500; i++) {
    void* p = SiteA(300 * kKiB);
    ASSERT_NE(p, nullptr);
    kept.push_back(p);
    if (!id) id = LearningSite();
    hak_policy_t pol = hak_policy_from_word(hak_learn_policy_word(id));
    for (unsigned r = 0; r < HAK_STRAT_COUNT; r++)
      if ((hak_strategy_info[r].sets & HAK_STRAT_SET_FREE) &&
          hak_policy_to_word(hak_strategy_info[r].policy) == hak_policy_to_word(pol))
        free_rows++;
    on_large += pol.large_threshold <= 256 * kKiB;
  }
  EXPECT_EQ(free_rows, 0u) << Json().substr(0, 3000);
  EXPECT_GT(on_large, 0u) << "the large engine's placement was played";
  std::string js = Json();
  EXPECT_NE(js.find("\"state\":\"LEARN\""), std::string::npos);
  for (void* p : kept) hak_free(p);
}

hak_learn_quiet_t Quiet(hak_site_id_t id) { return hak_learn_quiet_load(id); }
bool IsQuiet(hak_learn_quiet_t q) { return q.threshold_4k != 0; }  // a zero word: counting

unsigned Windows(const std::string& js) {
  size_t w = js.find("\"window\":");
  return w == std::string::npos ? 0 : (unsigned)std::stoul(js.substr(w + 9));
}

TEST_F(LearnTest, AFrozenSiteGoesQuietAndANewSizeWakesIt) {
  Learn(2 /* frozen */);
  SetOption(HAK_OPT_EVO_WINDOW_OPS, 100);  // enough requests per window to judge a drift (64)
  for (int i = 0; i < 200; i++) hak_free(SiteA(100 * kKiB));  // bucket 16
  hak_site_id_t id = LearningSite();
  ASSERT_NE(id, 0u);
  hak_learn_quiet_t q = Quiet(id);
  ASSERT_EQ(IsQuiet(q), true) << "a frozen site with a window behind it is quiet";
  EXPECT_EQ(q.lo, 16u);
  EXPECT_EQ(q.hi, 16u);
  EXPECT_EQ(hak_learn_quiet_policy(q).large_threshold, 256 * kKiB);
  // Quiet: requests are not counted, so no window ends however many there are.
  unsigned before = Windows(Json());
  for (int i = 0; i < 1000; i++) hak_free(SiteA(100 * kKiB));
  EXPECT_EQ(Windows(Json()), before);
  EXPECT_EQ(IsQuiet(Quiet(id)), true);
  // A size the site never showed (1 MiB, bucket 20) leaves the quiet path
  // and starts a watched window at once...
  void* big = SiteA(1024 * kKiB);
  EXPECT_EQ(IsQuiet(Quiet(id)), false);
  hak_free(big);
  // ... a short one (4 x 64 requests to judge a drift), after which the site
  // is quiet again with the new size in its range.
  for (int i = 0; i < 300; i++) hak_free(SiteA(1024 * kKiB));
  q = Quiet(id);
  ASSERT_EQ(IsQuiet(q), true);
  EXPECT_EQ(q.lo, 16u);
  EXPECT_EQ(q.hi, 20u);
  EXPECT_GT(Windows(Json()), before);
}

TEST_F(LearnTest, AQuietSiteIsWatchedAgainWhenItsTimeComes) {
  Learn(2);
  SetOption(HAK_OPT_EVO_WINDOW_OPS, 100);
  SetOption(HAK_OPT_EVO_WATCH_MS, 50);
  for (int i = 0; i < 200; i++) hak_free(SiteA(100 * kKiB));
  hak_site_id_t id = LearningSite();
  ASSERT_EQ(IsQuiet(Quiet(id)), true);
  hak_learn_wake(hak_os_now_ms());  // not yet due
  EXPECT_EQ(IsQuiet(Quiet(id)), true);
  hak_learn_wake(hak_os_now_ms() + 1000);  // a slow path, a second later
  EXPECT_EQ(IsQuiet(Quiet(id)), false) << "the watched window has started";
  for (int i = 0; i < 120; i++) hak_free(SiteA(100 * kKiB));  // it ends after 100 requests
  EXPECT_EQ(IsQuiet(Quiet(id)), true);
}

TEST_F(LearnTest, AnAutoSiteThatFrozeSeesADriftAtTheFirstRequestsOfANewSize) {
  Learn(0 /* auto */);
  SetOption(HAK_OPT_EVO_WINDOW_OPS, 100);
  for (int i = 0; i < 20000 && Json().find("\"state\":\"FROZEN\"") == std::string::npos; i++)
    hak_free(SiteA(100 * kKiB));
  hak_site_id_t id = LearningSite();
  for (int i = 0; i < 400; i++) hak_free(SiteA(100 * kKiB));  // baseline measured: quiet
  ASSERT_EQ(IsQuiet(Quiet(id)), true) << Json().substr(0, 3000);
  for (int i = 0; i < 300; i++) hak_free(SiteA(1536 * kKiB));
  std::string js = Json();
  EXPECT_NE(js.find("\"reason\":\"drift\""), std::string::npos) << js.substr(0, 3000);
}

__attribute__((noinline, disable_tail_calls)) void* SiteB(size_t n) { return hak_alloc_cs(n); }

TEST_F(LearnTest, OneSiteExploresAtATime) {
  Learn(1 /* learn */);
  unsigned max_exploring = 0, both_learning_windows = 0;
  for (int i = 0; i < 6000; i++) {
    hak_free(SiteA(100 * kKiB));
    hak_free(SiteB(300 * kKiB));
    unsigned n = hak_learn_exploring();
    max_exploring = n > max_exploring ? n : max_exploring;
    both_learning_windows += n == 1;
  }
  EXPECT_EQ(max_exploring, 1u) << "sites are charged whole-program cycles: one explores, the other plays its leader";
  EXPECT_GT(both_learning_windows, 0u);
}

TEST_F(LearnTest, AnotherSitesArmSwitchMovesThisWindowsCostMark) {
  Learn(1 /* learn */);
  SetOption(HAK_OPT_EVO_WINDOW_OPS, 1000);
  hak_free(SiteA(100 * kKiB));
  hak_site_id_t a = LearningSite();
  hak_free(SiteB(300 * kKiB));
  hak_site_id_t b = 0;
  for (unsigned id = 0; id < HAK_SITE_CAP; id++)
    if (id != a && hak_learn_has((hak_site_id_t)id)) b = (hak_site_id_t)id;
  ASSERT_NE(b, 0u);
  // Site B runs 300 requests into its window; then site A plays until its
  // arm changes (after its first 3 windows on the initial arm).
  for (int i = 0; i < 300; i++) hak_free(SiteB(300 * kKiB));
  uint64_t word = hak_learn_policy_word(a);
  for (int i = 0; i < 20000 && hak_learn_policy_word(a) == word; i++) hak_free(SiteA(100 * kKiB));
  ASSERT_NE(hak_learn_policy_word(a), word) << "site A never switched arms";
  uint64_t counted, from;
  hak_learn_window_marks(b, &counted, &from);
  EXPECT_LT(from, counted + 1) << "nothing moved yet: B has not looked";
  for (int i = 0; i < 64; i++) hak_free(SiteB(300 * kKiB));  // B's next check sees the switch
  hak_learn_window_marks(b, &counted, &from);
  EXPECT_GT(from, counted) << "B measures its window's cost from after A's switch (and its warm-up)";
  EXPECT_LE(from, counted + 256);
}

// A site whose sizes move to the pools gives the large engine's bytes it
// kept back (exploring must not hold both engines' bytes): its rings and its
// resident spares are unmapped, another site's rings and spares stay.
TEST_F(LearnTest, ASiteLeavingTheLargeEngineGivesItsCachedBytesBack) {
  Learn(2 /* frozen */);
  std::vector<void*> a, b;
  for (int i = 0; i < 40; i++) a.push_back(SiteA(300 * kKiB)), b.push_back(SiteB(300 * kKiB));
  hak_site_id_t ia = hak_large_lookup(a[0])->site, ib = hak_large_lookup(b[0])->site;
  ASSERT_NE(ia, ib);
  // Interleaved, so that the spare pool's age list mixes the two sites.
  for (size_t i = 0; i < a.size(); i++) hak_free(a[i]), hak_free(b[i]);
  size_t ring_a = hak_bigcache_site_bytes(ia), ring_b = hak_bigcache_site_bytes(ib);
  size_t kept_a = hak_large_site_resident(ia), kept_b = hak_large_site_resident(ib);
  size_t spares_b = hak_spare_site_resident(ib);
  ASSERT_GE(ring_a, 300 * kKiB) << "the freed blocks are cached";
  ASSERT_GT(kept_a, ring_a) << "... and kept as spares past the ring";
  ASSERT_GT(spares_b, 0u);
  size_t spares_a = hak_spare_site_resident(ia), live_a = kept_a - ring_a - spares_a;  // live: other tests'
  EXPECT_EQ(hak_large_site_give_back(ia), ring_a + spares_a) << "its rings and its spares";
  EXPECT_EQ(hak_bigcache_site_bytes(ia), 0u);
  EXPECT_EQ(hak_spare_site_resident(ia), 0u);
  EXPECT_EQ(hak_large_site_resident(ia), live_a);
  EXPECT_EQ(hak_bigcache_site_bytes(ib), ring_b);
  EXPECT_EQ(hak_spare_site_resident(ib), spares_b) << "another site's spares stay";
  EXPECT_EQ(hak_large_site_resident(ib), kept_b);
  EXPECT_TRUE(hak_spare_is_valid());
  EXPECT_EQ(hak_large_site_give_back(ia), 0u) << "nothing taken again";
  for (void*& p : b) p = SiteB(300 * kKiB);  // B's blocks come back from its ring and the spares
  EXPECT_EQ(hak_bigcache_site_bytes(ia), 0u);
  for (void* p : b) hak_free(p);
}

// An exploring window throws nothing away: a site on the large engine that
// tries the pools keeps the blocks its leader cached, so that coming back
// refaults nothing (giving them back at the switch made every exploration
// of the pools refault the site's working set twice).
TEST_F(LearnTest, AnExploringWindowKeepsTheLeadersCachedBlocks) {
  Learn(1 /* learn: explores for ever */);
  hak_free(SiteA(300 * kKiB));
  hak_site_id_t id = LearningSite();
  ASSERT_NE(id, 0u);
  unsigned tried_pools = 0, back = 0, refilled = 0;
  for (int i = 0; i < 20000 && back < 3; i++) {
    uint64_t maps = Stat(HAK_STAT_os_maps);
    void* p = SiteA(300 * kKiB);
    bool pools = hak_addrmap_get(p) == HAK_ADDR_SEGMENT;
    if (tried_pools && !pools) back++, refilled += Stat(HAK_STAT_os_maps) != maps;
    tried_pools += pools;
    hak_free(p);
  }
  EXPECT_GT(tried_pools, 0u) << "the site explored the pools";
  EXPECT_EQ(refilled, 0u) << "back on the large engine, its first request finds the block it cached";
  EXPECT_EQ(back, 3u) << "... and came back to the large engine";
}

// An exploring window ends at its next check once the process's peak RSS
// grew past 1.1x what it was when the window began (window.h): here the
// test itself touches a fifth of its peak more, outside hakmem.
TEST_F(LearnTest, AnExploringWindowThatRaisesThePeakRssEndsAtItsNextCheck) {
  Learn(1 /* learn */);
  SetOption(HAK_OPT_EVO_WINDOW_OPS, 5000);
  hak_learn_cfg.cull_factor = 0;  // the explorer is tried again however its first windows fared
  // ~100 KiB: the leader (256 KiB) sends them to the pools, the explorer
  // (64 KiB) to the large engine, whose ring then serves them.
  hak_free(SiteA(100 * kKiB));
  hak_site_id_t id = LearningSite();
  uint64_t counted = 0, from = 0;
  for (int tries = 0; tries < 50 && counted < 16; tries++) {  // an exploring window past its first requests
    for (int i = 0; i < 100000 && !hak_learn_exploring(); i++) hak_free(SiteA(100 * kKiB));
    for (int i = 0; i < 16 && hak_learn_exploring(); i++) hak_free(SiteA(100 * kKiB));
    hak_learn_window_marks(id, &counted, &from);
  }
  ASSERT_EQ(hak_learn_exploring(), 1u);
  ASSERT_GE(counted, 16u);
  struct rusage ru;
  ASSERT_EQ(getrusage(RUSAGE_SELF, &ru), 0);
  // Past the peak from here: what earlier tests held and gave back is in
  // the peak, not in the resident set now.
  size_t pages = 0, resident = 0;
  FILE* statm = fopen("/proc/self/statm", "r");
  ASSERT_NE(statm, nullptr);
  ASSERT_EQ(fscanf(statm, "%zu %zu", &pages, &resident), 2);
  fclose(statm);
  size_t now_kib = resident * ((size_t)sysconf(_SC_PAGESIZE) / 1024);
  size_t below = (size_t)ru.ru_maxrss > now_kib ? (size_t)ru.ru_maxrss - now_kib : 0;
  size_t grow = (below + (size_t)ru.ru_maxrss / 5 + 1024) * 1024;
  void* m = mmap(nullptr, grow, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(m, MAP_FAILED);
  memset(m, 1, grow);
  uint64_t before = counted;
  for (int i = 0; i < 8; i++) hak_free(SiteA(100 * kKiB));
  hak_learn_window_marks(id, &counted, &from);
  EXPECT_LT(counted, before) << "the window ended: a new one counts from 0";
  munmap(m, grow);
}

TEST_F(LearnTest, CanaryTimesTheFreeOfTheLargeBlocksItTimed) {
  Learn(1 /* learn: counting */);
  hak_free(SiteA(1024 * kKiB));
  hak_site_id_t id = LearningSite();
  hak_policy_t pol = hak_strategy_info[HAK_STRAT_T256K].policy;
  pol.canary = 1 + HAK_STRAT_T2M;  // a CANARY trial of 2 MiB against 256 KiB
  hak_learn_set_policy_word(id, hak_policy_to_word(pol));
  std::vector<void*> blocks;
  for (int i = 0; i < 40; i++) blocks.push_back(SiteA(1024 * kKiB));  // fewer than a window: the trial stays
  unsigned main_timed = 0, canary_timed = 0, nocache = 0;
  for (void* p : blocks) {
    hak_large_t* h = hak_large_lookup(p);
    ASSERT_NE(h, nullptr);
    main_timed += (h->flags & HAK_LARGE_TIMED_MAIN) != 0;
    canary_timed += (h->flags & HAK_LARGE_TIMED_CANARY) != 0;
    nocache += (h->flags & HAK_LARGE_NOCACHE) != 0;
  }
  EXPECT_EQ(canary_timed, 2u);  // 1 request in 20 goes to the challenger, timed ...
  EXPECT_EQ(main_timed, 2u);    // ... and as many of the incumbent's
  EXPECT_EQ(nocache, 2u);       // the challenger's blocks follow 2 MiB: below its threshold, no BigCache
  uint64_t allocs = Stat(HAK_STAT_large_allocs), frees = Stat(HAK_STAT_large_frees);
  for (void* p : blocks) hak_free(p);
  EXPECT_EQ(Stat(HAK_STAT_large_frees) - frees, 40u);
  EXPECT_EQ(Stat(HAK_STAT_large_allocs), allocs);
}

std::string Report() {
  char path[] = "/tmp/hak_learn_XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return "";
  hak_stats_print(fd);
  lseek(fd, 0, SEEK_SET);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) out.append(buf, (size_t)n);
  close(fd);
  unlink(path);
  return out;
}

TEST_F(LearnTest, TheExitReportNamesEachSitesStatePlacementAndFreePolicy) {
  Learn(0);
  for (int i = 0; i < 300; i++) hak_free(SiteA(80 * kKiB));
  std::string out = Report();
  EXPECT_NE(out.find("learning sites"), std::string::npos);
  bool state = out.find(": LEARN on ") != std::string::npos || out.find(": FROZEN on ") != std::string::npos ||
               out.find(": CANARY on ") != std::string::npos;  // two choices at ~80 KiB: it may have frozen already
  EXPECT_TRUE(state) << out;
  EXPECT_NE(out.find("(large from "), std::string::npos) << out;  // the placement ...
  bool free_policy = out.find(", auto)") != std::string::npos || out.find(", keep") != std::string::npos ||
                     out.find(", lazy)") != std::string::npos || out.find(", return)") != std::string::npos;
  EXPECT_TRUE(free_policy) << out;  // ... and the free policy
  EXPECT_EQ(out.find("rank"), std::string::npos) << "the leaderboard is RESEARCH's";
}

TEST_F(LearnTest, ResearchPrintsTheLeaderboardAsATable) {
  UseMode(HAK_MODE_RESEARCH);
  SetOption(HAK_OPT_EVO_WINDOW_OPS, 50);
  for (int i = 0; i < 300; i++) hak_free(SiteA(1024 * kKiB));
  std::string out = Report();
  for (const char* col : {"rank", "strategy", "large", "free policy", "mean cost", "windows", "<- in force",
                          "256k/keep", "cache, keep", "no cache, return", "alive"})
    EXPECT_NE(out.find(col), std::string::npos) << col << " in " << out;
  EXPECT_EQ(out.find("\"ratings\""), std::string::npos) << "a table, not JSON";
  std::printf("%s", out.substr(out.find("learning sites")).c_str());
}

// A program of 2 seconds making 6,000 large requests from one site (3,000 a
// second; the engine's clock is simulated, 1/3 ms per request): with
// BALANCED's defaults (no option changed) its windows follow its rate
// (50 ms: 150 requests), so it learns and freezes within the program.
uint64_t fake_now;
uint64_t FakeClock() { return fake_now; }

TEST_F(LearnTest, ATwoSecondProgramOfSixThousandRequestsEndsFrozen) {
  fake_now = 1000000000ull;
  hak_learn_set_clock(FakeClock);
  for (int i = 0; i < 6000; i++) {
    void* p = SiteA(1024 * kKiB);
    static_cast<char*>(p)[0] = 1;
    hak_free(p);
    fake_now += 333333;
  }
  hak_learn_set_clock(nullptr);
  std::string js = Json();
  size_t learn = js.find("\"learn\":{");
  ASSERT_NE(learn, std::string::npos);
  js = js.substr(learn);
  bool settled = js.find("\"state\":\"FROZEN\"") != std::string::npos || js.find("\"state\":\"CANARY\"") != std::string::npos;
  EXPECT_TRUE(settled) << js.substr(0, 3000);
  size_t froze = js.find("\"to\":\"FROZEN\",\"reason\":\"stable\"");
  ASSERT_NE(froze, std::string::npos) << js.substr(0, 3000);
  size_t w = js.rfind("{\"window\":", froze);
  unsigned at = (unsigned)std::stoul(js.substr(w + 10));
  EXPECT_LE(at, 20u) << "LEARN lasts at most 20 windows once settled";
  EXPECT_NE(js.find("\"window_limit\":150"), std::string::npos) << "50 ms of 3,000 requests a second";
  std::printf("a 2 s program of 6,000 requests froze at window %u (%.2f s simulated, 150 requests a window) on %s\n",
              at, at * 0.05, js.substr(js.find("\"strategy\":"), 24).c_str());
}

}  // namespace
